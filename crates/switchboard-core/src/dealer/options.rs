//! The options of REGISTER, CALL and CANCEL, read once into typed values.
//! A present option of the wrong type is an error the caller hears about,
//! not something silently ignored.

use switchboard_proto::{Dict, Value};

use crate::dealer::invoke_policy::InvokePolicy;
use crate::matching::MatchPolicy;
use crate::ppt::Ppt;

/// A bad option, described for the `wamp.error.invalid_argument` reply.
pub(crate) type OptionError = String;

fn flag(options: &Dict, key: &str) -> Result<bool, OptionError> {
    match options.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(format!("option {key} must be a boolean, not {other:?}")),
    }
}

fn name<'a>(options: &'a Dict, key: &str) -> Result<Option<&'a str>, OptionError> {
    match options.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("option {key} must be a string, not {other:?}")),
    }
}

/// REGISTER.Options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RegisterOptions {
    pub(crate) match_policy: MatchPolicy,
    pub(crate) invoke: InvokePolicy,
    pub(crate) disclose_caller: bool,
    pub(crate) forward_timeout: bool,
}

impl RegisterOptions {
    pub(crate) fn parse(options: &Dict) -> Result<Self, OptionError> {
        let match_policy = match name(options, "match")? {
            None => MatchPolicy::Exact,
            Some(n) => {
                MatchPolicy::from_option(n).ok_or_else(|| format!("unknown match policy {n:?}"))?
            }
        };
        let invoke = match name(options, "invoke")? {
            None => InvokePolicy::Single,
            Some(n) => InvokePolicy::from_option(n)
                .ok_or_else(|| format!("unknown invoke policy {n:?}"))?,
        };
        Ok(Self {
            match_policy,
            invoke,
            disclose_caller: flag(options, "disclose_caller")?,
            forward_timeout: flag(options, "forward_timeout")?,
        })
    }
}

/// CALL.Options.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct CallOptions {
    /// `timeout` in ms (0 or absent: none).
    pub(crate) timeout: Option<u64>,
    pub(crate) receive_progress: bool,
    pub(crate) disclose_me: bool,
    /// `progress`: this CALL is a chunk of a progressive call invocation.
    pub(crate) progress: bool,
    /// The `ppt_*` attributes, for the INVOCATION.
    pub(crate) ppt: Option<Ppt>,
}

impl CallOptions {
    pub(crate) fn parse(options: &Dict) -> Result<Self, OptionError> {
        let timeout = match options.get("timeout") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                format!("option timeout must be a non-negative integer, not {v:?}")
            })?),
        };
        Ok(Self {
            timeout,
            receive_progress: flag(options, "receive_progress")?,
            disclose_me: flag(options, "disclose_me")?,
            progress: flag(options, "progress")?,
            ppt: Ppt::parse(options).map_err(|e| e.to_string())?,
        })
    }
}

/// CANCEL.Options.mode (and, between nodes, the mode of an INTERRUPT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CancelMode {
    /// Answer the caller now; leave the callee alone.
    Skip,
    /// Interrupt the callee; answer the caller when the callee answers.
    Kill,
    /// Answer the caller now and interrupt the callee.
    KillNoWait,
}

impl CancelMode {
    /// The spec names no default; like Crossbar we use `killnowait`, which answers the
    /// caller at once and still tells a callee that can stop to stop.
    pub(crate) fn parse(options: &Dict) -> Result<Self, OptionError> {
        match name(options, "mode")? {
            None | Some("killnowait") => Ok(CancelMode::KillNoWait),
            Some("kill") => Ok(CancelMode::Kill),
            Some("skip") => Ok(CancelMode::Skip),
            Some(other) => Err(format!("unknown cancel mode {other:?}")),
        }
    }

    /// The option's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CancelMode::Skip => "skip",
            CancelMode::Kill => "kill",
            CancelMode::KillNoWait => "killnowait",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(pairs: &[(&str, Value)]) -> Dict {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn register_defaults_are_exact_and_single() {
        let o = RegisterOptions::parse(&Dict::new()).unwrap();
        assert_eq!(
            (o.match_policy, o.invoke),
            (MatchPolicy::Exact, InvokePolicy::Single)
        );
    }

    #[test]
    fn unknown_policies_and_wrong_types_are_errors() {
        assert!(RegisterOptions::parse(&dict(&[("match", "fuzzy".into())])).is_err());
        assert!(RegisterOptions::parse(&dict(&[("invoke", 3.into())])).is_err());
        assert!(CallOptions::parse(&dict(&[("timeout", (-5).into())])).is_err());
        assert!(CallOptions::parse(&dict(&[("receive_progress", "yes".into())])).is_err());
        assert!(CallOptions::parse(&dict(&[("ppt_cipher", "aes256gcm".into())])).is_err());
        assert!(CancelMode::parse(&dict(&[("mode", "nuke".into())])).is_err());
    }

    #[test]
    fn cancel_defaults_to_killnowait() {
        assert_eq!(CancelMode::parse(&Dict::new()), Ok(CancelMode::KillNoWait));
        assert_eq!(
            CancelMode::parse(&dict(&[("mode", "skip".into())])),
            Ok(CancelMode::Skip)
        );
    }
}

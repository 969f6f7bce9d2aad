//! Payload Passthru Mode (`rfc/text/advanced/ap_50_payload_passthru_mode.md`):
//! the `ppt_*` attributes a caller, callee or publisher puts on CALL, YIELD,
//! ERROR and PUBLISH, and the router carries unchanged into INVOCATION, RESULT,
//! ERROR and EVENT. The dealer and the broker share this one reading of them.
//!
//! The router only checks what it needs to route: the attributes are strings,
//! and `ppt_scheme` (the spec's marker that the mode is in use) is there and not
//! empty. The spec says a router "shall not inspect and analyze the ppt_ options
//! and payload", so scheme names, ciphers and key ids are not checked against the
//! spec's table (custom `x_...` schemes must pass), and neither is the shape of
//! the payload (one binary item in Arguments): args and kwargs stay in their wire
//! bytes, and only the end peers know what the scheme requires.

use switchboard_proto::{Dict, Value};

/// The attribute the spec makes required and uses to tell that the mode is on.
const SCHEME: &str = "ppt_scheme";

/// Every attribute of the mode, as spelled in options and details.
const KEYS: [&str; 4] = [SCHEME, "ppt_serializer", "ppt_cipher", "ppt_keyid"];

/// Why a message's `ppt_*` attributes are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PptError {
    /// A `ppt_*` attribute that is not a string (the spec types them all `string`).
    #[error("option {0} must be a string, not {1}")]
    NotAString(&'static str, String),
    /// Other `ppt_*` attributes without the scheme that gives them a meaning.
    #[error("ppt_scheme must be a non-empty string when any ppt_* option is present")]
    MissingScheme,
}

/// The `ppt_*` attributes of one message; present only when the mode is in use.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ppt(Dict);

impl Ppt {
    /// Reads the attributes from a message's options (or an ERROR's details).
    /// `None`: the message does not use the mode. A `null` counts as absent, as
    /// for every other option.
    pub(crate) fn parse(options: &Dict) -> Result<Option<Self>, PptError> {
        let mut attributes = Dict::new();
        for key in KEYS {
            match options.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => {
                    attributes.insert(key.to_owned(), Value::from(s.as_str()));
                }
                Some(other) => return Err(PptError::NotAString(key, format!("{other:?}"))),
            }
        }
        if attributes.is_empty() {
            return Ok(None);
        }
        match attributes.get(SCHEME) {
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(Self(attributes))),
            _ => Err(PptError::MissingScheme),
        }
    }

    /// Puts the attributes, as received, into the details of the message that
    /// carries the payload on.
    pub(crate) fn copy_into(&self, details: &mut Dict) {
        details.extend(self.0.iter().map(|(k, v)| (k.clone(), v.clone())));
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
    fn no_ppt_attributes_means_the_mode_is_off() {
        assert_eq!(Ppt::parse(&Dict::new()), Ok(None));
        let other = dict(&[("timeout", 5.into()), ("ppt_keyid", Value::Null)]);
        assert_eq!(Ppt::parse(&other), Ok(None));
    }

    #[test]
    fn every_attribute_is_copied_unchanged_and_nothing_else() {
        let options = dict(&[
            ("ppt_scheme", "x_my_ppt".into()),
            ("ppt_serializer", "custom".into()),
            ("ppt_cipher", "xsalsa20poly1305".into()),
            (
                "ppt_keyid",
                "GTtQ37XGJO2O4R8Dvx4AUo8pe61D9evIWpKGQAPdOh0=".into(),
            ),
            ("receive_progress", true.into()),
        ]);
        let ppt = Ppt::parse(&options).unwrap().unwrap();
        let mut details = dict(&[("progress", true.into())]);
        ppt.copy_into(&mut details);
        let mut expected = options.clone();
        expected.remove("receive_progress");
        expected.insert("progress".into(), true.into());
        assert_eq!(details, expected);
    }

    #[test]
    fn scheme_values_are_not_judged() {
        for scheme in ["wamp.eth", "mqtt", "x_switchboard_test", "anything"] {
            let options = dict(&[("ppt_scheme", scheme.into())]);
            assert!(Ppt::parse(&options).unwrap().is_some());
        }
    }

    #[test]
    fn attributes_without_a_scheme_or_of_the_wrong_type_are_errors() {
        let no_scheme = dict(&[("ppt_serializer", "cbor".into())]);
        assert_eq!(Ppt::parse(&no_scheme), Err(PptError::MissingScheme));
        let empty = dict(&[("ppt_scheme", "".into())]);
        assert_eq!(Ppt::parse(&empty), Err(PptError::MissingScheme));
        let number = dict(&[("ppt_scheme", "mqtt".into()), ("ppt_keyid", 7.into())]);
        assert!(matches!(
            Ppt::parse(&number),
            Err(PptError::NotAString("ppt_keyid", _))
        ));
    }
}

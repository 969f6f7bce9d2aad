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

//!
//! The same holds for the draft that came before the mode, "payload
//! transparency", which Autobahn|Python still speaks: its `enc_algo`, `enc_key`
//! and `enc_serializer` attributes travel the same way, and its payload, one
//! binary in place of the Arguments list, is an opaque wire element like any
//! other (`switchboard_proto::TRANSPARENT_PAYLOAD_MARKER`). A peer uses the mode
//! it announced: `payload_passthru_mode` or `payload_transparency`.

use switchboard_proto::{Dict, Value, TRANSPARENT_PAYLOAD_MARKER};

use crate::dealer::ProtocolViolation;
use crate::features::{PayloadMode, PayloadModes, PayloadRole};
use crate::realm::{Context, SessionId};

/// The attributes of Payload Passthru Mode, its marker (the one the spec makes
/// required) first.
const PASSTHRU_KEYS: [&str; 4] = ["ppt_scheme", "ppt_serializer", "ppt_cipher", "ppt_keyid"];

/// The attributes of the payload transparency draft, its marker first.
const TRANSPARENCY_KEYS: [&str; 3] = [TRANSPARENT_PAYLOAD_MARKER, "enc_serializer", "enc_key"];

/// Why a message's `ppt_*` (or `enc_*`) attributes are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PptError {
    /// An attribute that is not a string (the spec types them all `string`).
    #[error("option {0} must be a string, not {1}")]
    NotAString(&'static str, String),
    /// Other attributes of a mode without the marker that gives them a meaning.
    #[error("{0} must be a non-empty string when any other attribute of its mode is present")]
    MissingMarker(&'static str),
    /// Attributes of both modes on one message.
    #[error("ppt_* and enc_* options cannot be mixed in one message")]
    BothModes,
}

/// The `ppt_*` (or `enc_*`) attributes of one message; present only when a
/// payload mode is in use.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ppt(Dict);

impl Ppt {
    /// Reads the attributes from a message's options (or an ERROR's details).
    /// `None`: the message does not use a payload mode. A `null` counts as
    /// absent, as for every other option.
    pub(crate) fn parse(options: &Dict) -> Result<Option<Self>, PptError> {
        match (
            attributes(options, &PASSTHRU_KEYS)?,
            attributes(options, &TRANSPARENCY_KEYS)?,
        ) {
            (None, None) => Ok(None),
            (Some(_), Some(_)) => Err(PptError::BothModes),
            (Some(found), None) | (None, Some(found)) => Ok(Some(Self(found))),
        }
    }

    /// Which of the two modes the attributes belong to (the stored form keeps
    /// only the attributes, so a record from a node that knew one mode reads).
    pub(crate) fn mode(&self) -> PayloadMode {
        if self.0.contains_key(TRANSPARENT_PAYLOAD_MARKER) {
            PayloadMode::Transparency
        } else {
            PayloadMode::Passthru
        }
    }

    /// Puts the attributes, as received, into the details of the message that
    /// carries the payload on.
    pub(crate) fn copy_into(&self, details: &mut Dict) {
        details.extend(self.0.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

/// The mode `ppt` is in when `announced` lacks it: a message in that mode may
/// not come from, or go to, the peer whose announcement that was.
pub(crate) fn unannounced_mode(ppt: Option<&Ppt>, announced: PayloadModes) -> Option<PayloadMode> {
    let mode = ppt?.mode();
    (!announced.allow(Some(mode))).then_some(mode)
}

/// The payload modes `session` (on this node) announced for `role`; none if
/// it is not here.
pub(crate) fn announced_modes(
    cx: &Context<'_>,
    session: SessionId,
    role: PayloadRole,
) -> PayloadModes {
    cx.sessions
        .get(session)
        .map(|s| s.features.payload_modes(role))
        .unwrap_or_default()
}

/// A message (`what`) from `session` in a mode it did not announce for `role`
/// is a protocol violation, which ends its session.
pub(crate) fn check_sender(
    cx: &Context<'_>,
    session: SessionId,
    role: PayloadRole,
    ppt: Option<&Ppt>,
    what: &str,
) -> Result<(), ProtocolViolation> {
    match unannounced_mode(ppt, announced_modes(cx, session, role)) {
        None => Ok(()),
        Some(mode) => Err(ProtocolViolation(format!(
            "{what} with {} options from a {} that did not announce {}",
            mode.attributes(),
            role.name(),
            mode.feature()
        ))),
    }
}

/// The attributes of one mode found in `options`, checked: `None` when there
/// are none.
fn attributes(options: &Dict, keys: &[&'static str]) -> Result<Option<Dict>, PptError> {
    let mut found = Dict::new();
    for &key in keys {
        match options.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => {
                found.insert(key.to_owned(), Value::from(s.as_str()));
            }
            Some(other) => return Err(PptError::NotAString(key, format!("{other:?}"))),
        }
    }
    if found.is_empty() {
        return Ok(None);
    }
    match found.get(keys[0]) {
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(found)),
        _ => Err(PptError::MissingMarker(keys[0])),
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
        assert_eq!(
            Ppt::parse(&no_scheme),
            Err(PptError::MissingMarker("ppt_scheme"))
        );
        let empty = dict(&[("ppt_scheme", "".into())]);
        assert_eq!(
            Ppt::parse(&empty),
            Err(PptError::MissingMarker("ppt_scheme"))
        );
        let number = dict(&[("ppt_scheme", "mqtt".into()), ("ppt_keyid", 7.into())]);
        assert!(matches!(
            Ppt::parse(&number),
            Err(PptError::NotAString("ppt_keyid", _))
        ));
    }

    #[test]
    fn autobahns_enc_attributes_are_the_transparency_mode() {
        let options = dict(&[
            ("enc_algo", "cryptobox".into()),
            ("enc_serializer", "json".into()),
            ("acknowledge", true.into()),
        ]);
        let ppt = Ppt::parse(&options).unwrap().unwrap();
        assert_eq!(ppt.mode(), PayloadMode::Transparency);
        let mut details = Dict::new();
        ppt.copy_into(&mut details);
        assert_eq!(
            details,
            dict(&[
                ("enc_algo", "cryptobox".into()),
                ("enc_serializer", "json".into())
            ])
        );
        let passthru = dict(&[("ppt_scheme", "mqtt".into())]);
        assert_eq!(
            Ppt::parse(&passthru).unwrap().unwrap().mode(),
            PayloadMode::Passthru
        );
    }

    #[test]
    fn enc_attributes_need_enc_algo_and_do_not_mix_with_ppt() {
        let no_algo = dict(&[("enc_serializer", "json".into())]);
        assert_eq!(
            Ppt::parse(&no_algo),
            Err(PptError::MissingMarker("enc_algo"))
        );
        let both = dict(&[
            ("enc_algo", "cryptobox".into()),
            ("ppt_scheme", "mqtt".into()),
        ]);
        assert_eq!(Ppt::parse(&both), Err(PptError::BothModes));
    }
}

//! What a peer said it supports in HELLO (`Details.roles.<role>.features`), and what
//! the router announces in WELCOME.

use switchboard_proto::{Dict, Value};

/// The advanced features a client announced, as far as the router's behaviour
/// depends on them. The spec says a router must not use a feature a peer did not
/// announce (for example, no INTERRUPT to a callee without `call_canceling`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PeerFeatures {
    /// The callee handles INTERRUPT.
    pub callee_call_canceling: bool,
    /// The callee can send progressive YIELDs (only counted with call canceling,
    /// as the spec requires).
    pub callee_progressive_call_results: bool,
    /// The callee accepts progressive INVOCATIONs (only with call canceling).
    pub callee_progressive_call_invocations: bool,
    /// The caller may send progressive CALLs.
    pub caller_progressive_call_invocations: bool,
    /// The caller takes `ppt_*` attributes in RESULT and ERROR.
    #[serde(default)]
    pub caller_payload_passthru: bool,
    /// The callee takes `ppt_*` attributes in INVOCATION.
    #[serde(default)]
    pub callee_payload_passthru: bool,
    /// The publisher may send `ppt_*` attributes in PUBLISH.
    #[serde(default)]
    pub publisher_payload_passthru: bool,
    /// The subscriber takes `ppt_*` attributes in EVENT.
    #[serde(default)]
    pub subscriber_payload_passthru: bool,
    /// The same four for `payload_transparency`, the draft before Payload
    /// Passthru Mode that Autobahn speaks (`enc_*` attributes, see
    /// [`switchboard_proto::TRANSPARENT_PAYLOAD_MARKER`]); last, so that a session
    /// record from a node without them still decodes.
    #[serde(default)]
    pub caller_payload_transparency: bool,
    #[serde(default)]
    /// (See `caller_payload_transparency`.)
    pub callee_payload_transparency: bool,
    #[serde(default)]
    /// (See `caller_payload_transparency`.)
    pub publisher_payload_transparency: bool,
    #[serde(default)]
    /// (See `caller_payload_transparency`.)
    pub subscriber_payload_transparency: bool,
}

/// The two ways a payload may travel opaque through the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadMode {
    /// Payload Passthru Mode: `ppt_*` attributes, the payload inside Arguments.
    Passthru,
    /// The earlier payload transparency draft: `enc_*` attributes, the payload
    /// in place of Arguments.
    Transparency,
}

impl PayloadMode {
    /// The feature a peer announces to use the mode.
    pub fn feature(self) -> &'static str {
        match self {
            PayloadMode::Passthru => PAYLOAD_PASSTHRU,
            PayloadMode::Transparency => PAYLOAD_TRANSPARENCY,
        }
    }

    /// The mode's attributes, for messages.
    pub fn attributes(self) -> &'static str {
        match self {
            PayloadMode::Passthru => "ppt_*",
            PayloadMode::Transparency => "enc_*",
        }
    }
}

/// The role whose announcement decides whether a payload mode may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum PayloadRole {
    Caller,
    Callee,
    Publisher,
    Subscriber,
}

impl PayloadRole {
    /// The role's name, as in HELLO.
    pub fn name(self) -> &'static str {
        match self {
            PayloadRole::Caller => "caller",
            PayloadRole::Callee => "callee",
            PayloadRole::Publisher => "publisher",
            PayloadRole::Subscriber => "subscriber",
        }
    }
}

/// The payload modes a caller announced, carried with its call to the callee's
/// node, which decides whether an answer in a mode may go back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PayloadModes {
    /// `payload_passthru_mode`.
    pub passthru: bool,
    /// `payload_transparency`.
    pub transparency: bool,
}

impl PayloadModes {
    /// Whether a message in `mode` (or plain, `None`) may be sent.
    pub fn allow(self, mode: Option<PayloadMode>) -> bool {
        match mode {
            None => true,
            Some(PayloadMode::Passthru) => self.passthru,
            Some(PayloadMode::Transparency) => self.transparency,
        }
    }
}

impl PeerFeatures {
    /// The payload modes announced for `role`.
    pub fn payload_modes(&self, role: PayloadRole) -> PayloadModes {
        let (passthru, transparency) = match role {
            PayloadRole::Caller => (
                self.caller_payload_passthru,
                self.caller_payload_transparency,
            ),
            PayloadRole::Callee => (
                self.callee_payload_passthru,
                self.callee_payload_transparency,
            ),
            PayloadRole::Publisher => (
                self.publisher_payload_passthru,
                self.publisher_payload_transparency,
            ),
            PayloadRole::Subscriber => (
                self.subscriber_payload_passthru,
                self.subscriber_payload_transparency,
            ),
        };
        PayloadModes {
            passthru,
            transparency,
        }
    }
}

impl PeerFeatures {
    /// Reads the features from HELLO.Details; absent or malformed entries mean "no".
    pub fn from_hello_details(details: &Dict) -> Self {
        let roles = details.get("roles").and_then(Value::as_dict);
        let feature = |role: &str, name: &str| -> bool {
            let features = roles
                .and_then(|roles| roles.get(role))
                .and_then(Value::as_dict)
                .and_then(|role| role.get("features"))
                .and_then(Value::as_dict);
            let spellings = std::iter::once(name).chain(alternate_spelling(name));
            spellings
                .filter_map(|n| features.and_then(|f| f.get(n)).and_then(Value::as_bool))
                .any(|on| on)
        };
        let canceling = feature("callee", "call_canceling");
        Self {
            callee_call_canceling: canceling,
            callee_progressive_call_results: canceling
                && feature("callee", "progressive_call_results"),
            callee_progressive_call_invocations: canceling
                && feature("callee", "progressive_call_invocations"),
            caller_progressive_call_invocations: feature("caller", "progressive_call_invocations"),
            caller_payload_passthru: feature("caller", PAYLOAD_PASSTHRU),
            callee_payload_passthru: feature("callee", PAYLOAD_PASSTHRU),
            publisher_payload_passthru: feature("publisher", PAYLOAD_PASSTHRU),
            subscriber_payload_passthru: feature("subscriber", PAYLOAD_PASSTHRU),
            caller_payload_transparency: feature("caller", PAYLOAD_TRANSPARENCY),
            callee_payload_transparency: feature("callee", PAYLOAD_TRANSPARENCY),
            publisher_payload_transparency: feature("publisher", PAYLOAD_TRANSPARENCY),
            subscriber_payload_transparency: feature("subscriber", PAYLOAD_TRANSPARENCY),
        }
    }
}

/// The feature name of Payload Passthru Mode, for every role.
const PAYLOAD_PASSTHRU: &str = "payload_passthru_mode";

/// The feature name of the payload transparency draft, for every role.
const PAYLOAD_TRANSPARENCY: &str = "payload_transparency";

/// The spec spells some feature names two ways; accept both on input.
fn alternate_spelling(name: &str) -> Option<&'static str> {
    match name {
        "call_canceling" => Some("call_cancelling"),
        _ => None,
    }
}

/// Dealer features this router implements (`rfc/text/advanced/ap_features.md`).
const DEALER_FEATURES: &[&str] = &[
    "call_timeout",
    "call_canceling",
    "call_reroute",
    "caller_identification",
    "progressive_call_results",
    "progressive_call_invocations",
    "payload_passthru_mode",
    "payload_transparency",
    "pattern_based_registration",
    "shared_registration",
    "registration_meta_api",
    "session_meta_api",
    // `ap_pubsub_testament.md` names the dealer (its procedures are calls).
    "testament_meta_api",
];

/// Broker features this router implements.
const BROKER_FEATURES: &[&str] = &[
    "event_history",
    "event_retention",
    "pattern_based_subscription",
    "payload_passthru_mode",
    "payload_transparency",
    "publisher_exclusion",
    "publisher_identification",
    "session_meta_api",
    "subscriber_blackwhite_listing",
    "subscription_meta_api",
    // Testaments are publications, so the broker says it too.
    "testament_meta_api",
];

/// The roles (and their features) this router announces in WELCOME: only what is
/// implemented, since clients switch behaviour on what they see here.
pub(crate) fn router_roles() -> Dict {
    let role = |features: &[&str]| {
        let features: Dict = features
            .iter()
            .map(|f| (f.to_string(), Value::Bool(true)))
            .collect();
        let mut role = Dict::new();
        role.insert("features".into(), Value::Dict(features));
        Value::Dict(role)
    };
    let mut roles = Dict::new();
    roles.insert("dealer".into(), role(DEALER_FEATURES));
    roles.insert("broker".into(), role(BROKER_FEATURES));
    roles
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello_details(role: &str, names: &[&str]) -> Dict {
        let features: Dict = names
            .iter()
            .map(|n| (n.to_string(), Value::Bool(true)))
            .collect();
        let mut r = Dict::new();
        r.insert("features".into(), Value::Dict(features));
        let mut roles = Dict::new();
        roles.insert(role.into(), Value::Dict(r));
        let mut details = Dict::new();
        details.insert("roles".into(), Value::Dict(roles));
        details
    }

    #[test]
    fn call_canceling_is_read_under_either_spelling() {
        for name in ["call_canceling", "call_cancelling"] {
            assert!(
                PeerFeatures::from_hello_details(&hello_details("callee", &[name]))
                    .callee_call_canceling
            );
        }
    }

    #[test]
    fn progressive_features_without_canceling_do_not_count() {
        let f = PeerFeatures::from_hello_details(&hello_details(
            "callee",
            &["progressive_call_results"],
        ));
        assert!(!f.callee_progressive_call_results);
        let f = PeerFeatures::from_hello_details(&hello_details(
            "callee",
            &["progressive_call_results", "call_canceling"],
        ));
        assert!(f.callee_progressive_call_results);
    }

    #[test]
    fn payload_passthru_is_read_per_role() {
        let f =
            PeerFeatures::from_hello_details(&hello_details("callee", &["payload_passthru_mode"]));
        assert!(f.callee_payload_passthru);
        assert!(!f.caller_payload_passthru);
        for role in ["caller", "publisher", "subscriber"] {
            let f = PeerFeatures::from_hello_details(&hello_details(role, &[PAYLOAD_PASSTHRU]));
            let read = [
                f.caller_payload_passthru,
                f.publisher_payload_passthru,
                f.subscriber_payload_passthru,
            ];
            assert_eq!(read.iter().filter(|on| **on).count(), 1, "{role}");
        }
    }

    #[test]
    fn payload_transparency_is_read_per_role_apart_from_passthru() {
        let f =
            PeerFeatures::from_hello_details(&hello_details("subscriber", &[PAYLOAD_TRANSPARENCY]));
        let modes = f.payload_modes(PayloadRole::Subscriber);
        assert!(modes.allow(Some(PayloadMode::Transparency)));
        assert!(!modes.allow(Some(PayloadMode::Passthru)));
        assert!(modes.allow(None));
        for role in [
            PayloadRole::Caller,
            PayloadRole::Callee,
            PayloadRole::Publisher,
        ] {
            assert_eq!(f.payload_modes(role), PayloadModes::default(), "{role:?}");
        }
    }

    #[test]
    fn missing_or_malformed_roles_mean_no_features() {
        assert_eq!(
            PeerFeatures::from_hello_details(&Dict::new()),
            PeerFeatures::default()
        );
        let mut details = Dict::new();
        details.insert("roles".into(), Value::from("callee"));
        assert_eq!(
            PeerFeatures::from_hello_details(&details),
            PeerFeatures::default()
        );
    }
}

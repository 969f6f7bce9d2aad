//! What a peer said it supports in HELLO (`Details.roles.<role>.features`), and what
//! the router announces in WELCOME.

use switchboard_proto::{Dict, Value};

/// The advanced features a client announced, as far as the router's behaviour
/// depends on them. The spec says a router must not use a feature a peer did not
/// announce (for example, no INTERRUPT to a callee without `call_canceling`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerFeatures {
    /// The callee handles INTERRUPT.
    pub callee_call_canceling: bool,
}

impl PeerFeatures {
    /// Reads the features from HELLO.Details; absent or malformed entries mean "no".
    pub fn from_hello_details(details: &Dict) -> Self {
        let feature = |role: &str, name: &str| -> bool {
            let features = details
                .get("roles")
                .and_then(Value::as_dict)
                .and_then(|roles| roles.get(role))
                .and_then(Value::as_dict)
                .and_then(|role| role.get("features"))
                .and_then(Value::as_dict);
            features
                .and_then(|f| {
                    f.get(name)
                        .or_else(|| alternate_spelling(name).and_then(|alt| f.get(alt)))
                })
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        Self {
            callee_call_canceling: feature("callee", "call_canceling"),
        }
    }
}

/// The spec spells some feature names two ways; accept both on input.
fn alternate_spelling(name: &str) -> Option<&'static str> {
    match name {
        "call_canceling" => Some("call_cancelling"),
        _ => None,
    }
}

/// The roles (and their features) this router announces in WELCOME: only what is
/// implemented, since clients switch behaviour on what they see here.
pub(crate) fn router_roles() -> Dict {
    let dealer_features = Dict::new();
    let mut dealer = Dict::new();
    dealer.insert("features".into(), Value::Dict(dealer_features));
    let mut roles = Dict::new();
    roles.insert("dealer".into(), Value::Dict(dealer));
    roles
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello_details(features: Dict) -> Dict {
        let mut callee = Dict::new();
        callee.insert("features".into(), Value::Dict(features));
        let mut roles = Dict::new();
        roles.insert("callee".into(), Value::Dict(callee));
        let mut details = Dict::new();
        details.insert("roles".into(), Value::Dict(roles));
        details
    }

    #[test]
    fn call_canceling_is_read_under_either_spelling() {
        for name in ["call_canceling", "call_cancelling"] {
            let mut f = Dict::new();
            f.insert(name.into(), Value::Bool(true));
            assert!(PeerFeatures::from_hello_details(&hello_details(f)).callee_call_canceling);
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

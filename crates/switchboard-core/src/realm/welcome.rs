//! What the router tells a new session about itself, and how it picks the
//! session's authentication method.

use switchboard_proto::{Dict, Message, Value, Welcome};

use crate::config::RealmConfig;
use crate::features::router_roles;
use crate::realm::{JoinError, SessionId, SessionRecord};

const ANONYMOUS: &str = "anonymous";

/// Picks the authmethod for a HELLO. A HELLO without `authmethods` is anonymous
/// (Autobahn's `Component(authentication=None)` sends none).
pub(super) fn choose_authmethod(
    config: &RealmConfig,
    details: &Dict,
) -> Result<&'static str, JoinError> {
    let offered: Vec<String> = match details.get("authmethods").and_then(Value::as_list) {
        None => return anonymous_if_allowed(config, Vec::new()),
        Some(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
    };
    if offered.is_empty() || offered.iter().any(|m| m == ANONYMOUS) {
        return anonymous_if_allowed(config, offered);
    }
    Err(JoinError::NoMatchingAuthMethod(offered))
}

fn anonymous_if_allowed(
    config: &RealmConfig,
    offered: Vec<String>,
) -> Result<&'static str, JoinError> {
    if config.allow_anonymous {
        Ok(ANONYMOUS)
    } else {
        Err(JoinError::NoMatchingAuthMethod(offered))
    }
}

/// Anonymous sessions get a unique, stable-for-the-session authid.
pub(super) fn anonymous_authid(session: SessionId) -> String {
    format!("anonymous-{session}")
}

pub(super) fn welcome(id: SessionId, config: &RealmConfig, record: &SessionRecord) -> Message {
    let mut details = Dict::new();
    details.insert("realm".into(), Value::from(config.name.as_str()));
    details.insert("roles".into(), Value::Dict(router_roles()));
    details.insert("authid".into(), Value::from(record.authid.as_str()));
    details.insert("authrole".into(), Value::from(record.authrole.as_str()));
    details.insert("authmethod".into(), Value::from(record.authmethod));
    details.insert("authprovider".into(), Value::from("static"));
    details.insert(
        "x_router".into(),
        Value::from(concat!("switchboard/", env!("CARGO_PKG_VERSION"))),
    );
    Message::Welcome(Welcome {
        session: id,
        details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offering(methods: &[&str]) -> Dict {
        let mut d = Dict::new();
        d.insert(
            "authmethods".into(),
            Value::List(methods.iter().map(|m| Value::from(*m)).collect()),
        );
        d
    }

    #[test]
    fn hello_without_authmethods_is_anonymous() {
        let config = RealmConfig::anonymous("r");
        assert_eq!(choose_authmethod(&config, &Dict::new()), Ok(ANONYMOUS));
    }

    #[test]
    fn only_unsupported_methods_are_refused() {
        let config = RealmConfig::anonymous("r");
        assert_eq!(
            choose_authmethod(&config, &offering(&["ticket", "anonymous"])),
            Ok(ANONYMOUS)
        );
        assert!(choose_authmethod(&config, &offering(&["ticket"])).is_err());
    }

    #[test]
    fn a_realm_without_anonymous_refuses_anonymous() {
        let config = RealmConfig {
            allow_anonymous: false,
            ..RealmConfig::anonymous("r")
        };
        assert!(choose_authmethod(&config, &Dict::new()).is_err());
    }
}

//! What the router tells a new session about itself.

use switchboard_proto::{Dict, Message, Value, Welcome};

use crate::config::RealmConfig;
use crate::features::router_roles;
use crate::realm::{SessionId, SessionRecord};

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
    details.insert("authprovider".into(), Value::from(record.authprovider));
    if !record.authextra.is_empty() {
        details.insert("authextra".into(), Value::Dict(record.authextra.clone()));
    }
    details.insert(
        "x_router".into(),
        Value::from(concat!("switchboard/", env!("CARGO_PKG_VERSION"))),
    );
    Message::Welcome(Welcome {
        session: id,
        details,
    })
}

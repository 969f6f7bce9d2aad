//! `wamp.registration.*`: list, lookup, match, get, list_callees, count_callees.

use switchboard_proto::error_uri::{INVALID_ARGUMENT, NO_SUCH_REGISTRATION};
use switchboard_proto::{Dict, Value};

use super::{id_arg, ids_by_policy, lookup_args, result, MetaReply};
use crate::dealer::registry::{Registration, Registry};

/// RegistrationDetails: `{id, created, uri, match, invoke}`.
pub(super) fn details(registration: &Registration) -> Value {
    let mut d = Dict::new();
    d.insert("id".into(), Value::from(registration.id));
    d.insert("created".into(), Value::from(registration.created.as_str()));
    d.insert("uri".into(), Value::from(registration.procedure.as_str()));
    d.insert(
        "match".into(),
        Value::from(registration.match_policy.as_str()),
    );
    d.insert("invoke".into(), Value::from(registration.invoke.as_str()));
    Value::Dict(d)
}

/// Answers `wamp.registration.<name>`, or `None` if there is no such procedure.
pub(super) fn call(registry: &Registry, name: &str, args: &[Value]) -> Option<MetaReply> {
    let by_id = |f: fn(&Registration) -> Value| -> MetaReply {
        match id_arg(args, 0).and_then(|id| registry.get(id)) {
            Some(registration) => result(f(registration)),
            None => MetaReply::Error(NO_SUCH_REGISTRATION, "no registration with that id".into()),
        }
    };
    Some(match name {
        "list" => result(ids_by_policy(
            registry.iter().map(|r| (r.id, r.match_policy)),
        )),
        "lookup" => match lookup_args(args, "procedure") {
            Ok((uri, policy)) => result(
                registry
                    .lookup(uri, policy)
                    .map_or(Value::Null, |r| Value::from(r.id)),
            ),
            Err(why) => MetaReply::Error(INVALID_ARGUMENT, why),
        },
        "match" => {
            let Some(uri) = args.first().and_then(Value::as_str) else {
                return Some(MetaReply::Error(
                    INVALID_ARGUMENT,
                    "match takes a procedure URI".into(),
                ));
            };
            result(
                registry
                    .match_procedure(uri)
                    .map_or(Value::Null, |r| Value::from(r.id)),
            )
        }
        "get" => by_id(details),
        "list_callees" => {
            by_id(|r| Value::List(r.callees.iter().map(|c| Value::from(c.session)).collect()))
        }
        "count_callees" => by_id(|r| Value::from(r.callees.len() as u64)),
        _ => return None,
    })
}

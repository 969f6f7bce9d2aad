//! `wamp.subscription.*`: list, lookup, match, get, list_subscribers,
//! count_subscribers. The answers come from the replicated subscription table,
//! so every node of a cluster gives the same ones.

use switchboard_proto::error_uri::{INVALID_ARGUMENT, NO_SUCH_SUBSCRIPTION};
use switchboard_proto::{Dict, Value};

use super::{id_arg, result, MetaReply};
use crate::broker::subscriptions::{Subscription, Subscriptions};
use crate::matching::MatchPolicy;

/// SubscriptionDetails: `{id, created, uri, match}`.
pub(super) fn details(subscription: &Subscription) -> Value {
    let mut d = Dict::new();
    d.insert("id".into(), Value::from(subscription.id));
    d.insert("created".into(), Value::from(subscription.created.as_str()));
    d.insert("uri".into(), Value::from(subscription.topic.as_str()));
    d.insert(
        "match".into(),
        Value::from(subscription.match_policy.as_str()),
    );
    Value::Dict(d)
}

/// Answers `wamp.subscription.<name>`, or `None` if there is no such procedure.
pub(super) fn call(table: &Subscriptions, name: &str, args: &[Value]) -> Option<MetaReply> {
    let by_id = |f: fn(&Subscription) -> Value| -> MetaReply {
        match id_arg(args, 0).and_then(|id| table.get(id)) {
            Some(subscription) => result(f(subscription)),
            None => MetaReply::Error(NO_SUCH_SUBSCRIPTION, "no subscription with that id".into()),
        }
    };
    let topic = || args.first().and_then(Value::as_str);
    Some(match name {
        "list" => {
            let mut lists: [Vec<u64>; 3] = Default::default();
            for subscription in table.iter() {
                let slot = match subscription.match_policy {
                    MatchPolicy::Exact => 0,
                    MatchPolicy::Prefix => 1,
                    MatchPolicy::Wildcard => 2,
                };
                lists[slot].push(subscription.id);
            }
            let mut d = Dict::new();
            for (key, mut ids) in ["exact", "prefix", "wildcard"].into_iter().zip(lists) {
                ids.sort_unstable();
                d.insert(
                    key.into(),
                    Value::List(ids.into_iter().map(Value::from).collect()),
                );
            }
            result(Value::Dict(d))
        }
        "lookup" => {
            let Some(uri) = topic() else {
                return Some(MetaReply::Error(
                    INVALID_ARGUMENT,
                    "lookup takes a topic URI".into(),
                ));
            };
            let policy = args
                .get(1)
                .and_then(Value::as_dict)
                .and_then(|o| o.get("match"))
                .and_then(Value::as_str)
                .map(MatchPolicy::from_option)
                .unwrap_or(Some(MatchPolicy::Exact));
            let Some(policy) = policy else {
                return Some(MetaReply::Error(
                    INVALID_ARGUMENT,
                    "unknown match policy".into(),
                ));
            };
            result(
                table
                    .lookup(uri, policy)
                    .map_or(Value::Null, |s| Value::from(s.id)),
            )
        }
        "match" => {
            let Some(uri) = topic() else {
                return Some(MetaReply::Error(
                    INVALID_ARGUMENT,
                    "match takes a topic URI".into(),
                ));
            };
            let mut ids: Vec<u64> = table.matching(uri).map(|s| s.id).collect();
            ids.sort_unstable();
            // The spec's result is "a list of all matching subscription IDs, or null".
            result(if ids.is_empty() {
                Value::Null
            } else {
                Value::List(ids.into_iter().map(Value::from).collect())
            })
        }
        "get" => by_id(details),
        "list_subscribers" => by_id(|s| {
            Value::List(
                (s.subscribers.iter())
                    .map(|&(session, _)| Value::from(session))
                    .collect(),
            )
        }),
        "count_subscribers" => by_id(|s| Value::from(s.subscribers.len() as u64)),
        _ => return None,
    })
}

//! `wamp.subscription.*`: list, lookup, match, get, list_subscribers,
//! count_subscribers, and get_events (event history). The answers come from
//! the replicated subscription table and history, so every node of a cluster
//! gives the same ones.

use switchboard_proto::error_uri::{INVALID_ARGUMENT, NOT_AUTHORIZED, NO_SUCH_SUBSCRIPTION};
use switchboard_proto::{Dict, Value};

use super::{id_arg, ids_by_policy, lookup_args, result, MetaReply, MetaScope};
use crate::broker::subscriptions::Subscription;
use crate::broker::{event_details, EventQuery, StoredEvent};
use crate::permissions::Action;

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
pub(super) fn call(
    scope: &MetaScope<'_>,
    name: &str,
    args: &[Value],
    kwargs: &Dict,
) -> Option<MetaReply> {
    let table = scope.broker.subscriptions();
    let by_id = |f: fn(&Subscription) -> Value| -> MetaReply {
        match id_arg(args, 0).and_then(|id| table.get(id)) {
            Some(subscription) => result(f(subscription)),
            None => MetaReply::Error(NO_SUCH_SUBSCRIPTION, "no subscription with that id".into()),
        }
    };
    let topic = || args.first().and_then(Value::as_str);
    Some(match name {
        "list" => result(ids_by_policy(table.iter().map(|s| (s.id, s.match_policy)))),
        "lookup" => match lookup_args(args, "topic") {
            Ok((uri, policy)) => result(
                table
                    .lookup(uri, policy)
                    .map_or(Value::Null, |s| Value::from(s.id)),
            ),
            Err(why) => MetaReply::Error(INVALID_ARGUMENT, why),
        },
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
        "get_events" => get_events(scope, args, kwargs),
        _ => return None,
    })
}

/// `wamp.subscription.get_events(subscription, **filters)`: the kept events
/// the subscription covers that the caller could have received (judged by
/// its authid and authrole), as `{timestamp, subscription, publication,
/// details, args, kwargs}`.
fn get_events(scope: &MetaScope<'_>, args: &[Value], kwargs: &Dict) -> MetaReply {
    let query = match EventQuery::parse(kwargs) {
        Ok(query) => query,
        Err(why) => return MetaReply::Error(INVALID_ARGUMENT, why),
    };
    let Some(subscription) = id_arg(args, 0).and_then(|id| scope.broker.subscriptions().get(id))
    else {
        return MetaReply::Error(NO_SUCH_SUBSCRIPTION, "no subscription with that id".into());
    };
    let Some(reader) = scope.directory.get(scope.caller) else {
        return result(Value::List(Vec::new()));
    };
    // History is what a subscriber would have received: a role that may not
    // subscribe to the topic may not read it either (the spec's security note).
    if !(scope.permissions).allows(&reader.authrole, Action::Subscribe, &subscription.topic) {
        let why = format!(
            "role {:?} may not subscribe to {:?}",
            reader.authrole, subscription.topic
        );
        return MetaReply::Error(NOT_AUTHORIZED, why);
    }
    let readable: Vec<&StoredEvent> = (scope.broker.history_of(subscription).into_iter())
        .filter(|e| (e.audience).admits(scope.caller, &reader.authid, &reader.authrole))
        .collect();
    let events = query
        .select(readable)
        .into_iter()
        .map(|e| stored_event(subscription, e))
        .collect();
    result(Value::List(events))
}

fn stored_event(subscription: &Subscription, event: &StoredEvent) -> Value {
    let mut d = Dict::new();
    d.insert("timestamp".into(), Value::from(event.timestamp.as_str()));
    d.insert("subscription".into(), Value::from(subscription.id));
    d.insert("publication".into(), Value::from(event.publication));
    let mut details = event_details(subscription, &event.topic, event.publisher.as_ref());
    if let Some(ppt) = &event.ppt {
        ppt.copy_into(&mut details);
    }
    d.insert("details".into(), Value::Dict(details));
    if let Ok(args) = event.arguments.args_values() {
        d.insert("args".into(), Value::List(args));
    }
    if let Ok(kwargs) = event.arguments.kwargs_values() {
        if !kwargs.is_empty() {
            d.insert("kwargs".into(), Value::Dict(kwargs));
        }
    }
    Value::Dict(d)
}

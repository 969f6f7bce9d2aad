//! Event history (`wamp.subscription.get_events`): the realm keeps the last
//! events of the topics its configuration names, in log order on every node,
//! and hands a reader only what it could have received.

use switchboard_proto::error_uri::{INVALID_ARGUMENT, NO_SUCH_SUBSCRIPTION};
use switchboard_proto::{code, Arguments, Call, Dict, Message, Publish, Subscribe, Value};

use super::cluster_harness::Cluster;
use super::harness::Harness;
use super::wamp::{args, error_of, opts, result};
use crate::broker::HistoryRule;
use crate::matching::MatchPolicy;
use crate::{RealmConfig, SessionId};

fn config(limit: usize) -> RealmConfig {
    RealmConfig {
        history: vec![HistoryRule {
            uri: "com.example.log.".into(),
            match_policy: MatchPolicy::Prefix,
            limit,
        }],
        ..RealmConfig::anonymous("com.example.realm")
    }
}

fn get_events(h: &mut Harness, reader: SessionId, subscription: u64, kwargs: Dict) -> Message {
    let call = Call {
        request: 1,
        options: Dict::new(),
        procedure: "wamp.subscription.get_events".into(),
        arguments: Arguments::with_kwargs(vec![subscription.into()], kwargs),
    };
    h.send(reader, Message::Call(call));
    h.take_one(reader)
}

/// The `args[0]` of each event a get_events result lists.
fn firsts(reply: Message) -> Vec<Value> {
    let listed = args(&result(reply).arguments);
    let Some(Value::List(events)) = listed.first() else {
        panic!("expected a list of events, got {listed:?}");
    };
    events
        .iter()
        .map(|e| match e.as_dict().and_then(|d| d.get("args")) {
            Some(Value::List(a)) => a[0].clone(),
            other => panic!("no args in {e:?}: {other:?}"),
        })
        .collect()
}

#[test]
fn a_subscription_reads_the_last_events_its_topics_kept() {
    let mut h = Harness::with_config(config(3));
    let publisher = h.join();
    for (i, topic) in [
        "com.example.log.a",
        "com.example.log.b",
        "com.example.other",
    ]
    .iter()
    .cycle()
    .take(6)
    .enumerate()
    {
        h.publish(
            publisher,
            1,
            topic,
            Dict::new(),
            Arguments::list(vec![(i as i64).into()]),
        );
    }
    let reader = h.join();
    let all = h.subscribed(
        reader,
        "com.example.log.",
        opts(&[("match", "prefix".into())]),
    );
    let only_a = h.subscribed(reader, "com.example.log.a", Dict::new());
    let ints = |v: &[i64]| v.iter().map(|&i| Value::from(i)).collect::<Vec<_>>();
    assert_eq!(
        firsts(get_events(&mut h, reader, all, Dict::new())),
        ints(&[1, 3, 4])
    );
    assert_eq!(
        firsts(get_events(&mut h, reader, only_a, Dict::new())),
        ints(&[3])
    );
    let newest_two = opts(&[("reverse", true.into()), ("limit", 2u64.into())]);
    assert_eq!(
        firsts(get_events(&mut h, reader, all, newest_two)),
        ints(&[4, 3])
    );
    let listed = args(&result(get_events(&mut h, reader, all, Dict::new())).arguments);
    let Some(Value::List(events)) = listed.first() else {
        panic!("{listed:?}");
    };
    let first = events[0].as_dict().expect("an event is a dict");
    assert_eq!(first.get("subscription"), Some(&Value::from(all)));
    assert!(first.get("publication").and_then(Value::as_u64).is_some());
    assert!(first
        .get("timestamp")
        .and_then(Value::as_str)
        .is_some_and(|t| t.ends_with('Z')));
    assert_eq!(
        first.get("details"),
        Some(&Value::Dict(opts(&[("topic", "com.example.log.b".into())])))
    );
}

#[test]
fn events_the_reader_could_not_have_received_or_that_named_sessions_are_not_shown() {
    let mut h = Harness::with_config(config(10));
    let publisher = h.join();
    let staff = Value::List(vec!["staff".into()]);
    h.publish(
        publisher,
        1,
        "com.example.log.a",
        opts(&[("eligible_authrole", staff)]),
        Arguments::list(vec![1.into()]),
    );
    let someone = Value::List(vec![Value::from(12345u64)]);
    h.publish(
        publisher,
        1,
        "com.example.log.a",
        opts(&[("exclude", someone)]),
        Arguments::list(vec![2.into()]),
    );
    h.publish(
        publisher,
        1,
        "com.example.log.a",
        Dict::new(),
        Arguments::list(vec![3.into()]),
    );
    let reader = h.join();
    let sub = h.subscribed(reader, "com.example.log.a", Dict::new());
    assert_eq!(
        firsts(get_events(&mut h, reader, sub, Dict::new())),
        vec![Value::from(3)]
    );
}

#[test]
fn bad_calls_get_the_spec_errors() {
    let mut h = Harness::with_config(config(10));
    let reader = h.join();
    let sub = h.subscribed(reader, "com.example.log.a", Dict::new());
    let reply = get_events(&mut h, reader, 999, Dict::new());
    assert_eq!(
        error_of(reply),
        (code::CALL, 1, NO_SUCH_SUBSCRIPTION.into())
    );
    let reply = get_events(&mut h, reader, sub, opts(&[("limit", "all".into())]));
    assert_eq!(error_of(reply), (code::CALL, 1, INVALID_ARGUMENT.into()));
}

#[test]
fn every_node_holds_the_same_history_whichever_node_published() {
    let mut c = Cluster::with_config(3, config(10));
    for (node, value) in [(1, 1), (3, 2), (2, 3)] {
        let publisher = c.join(node, &[], &[]);
        let publish = Publish {
            request: 1,
            options: Dict::new(),
            topic: "com.example.log.x".into(),
            arguments: Arguments::list(vec![Value::from(value)]),
        };
        c.send(node, publisher, Message::Publish(publish));
    }
    let subscriber = c.join(1, &[], &[]);
    c.send(
        1,
        subscriber,
        Message::Subscribe(Subscribe {
            request: 1,
            options: Dict::new(),
            topic: "com.example.log.x".into(),
        }),
    );
    let Message::Subscribed(subscribed) = c.take_one(1, subscriber) else {
        panic!("expected SUBSCRIBED");
    };
    let mut seen = Vec::new();
    for node in [1, 2, 3] {
        let reader = c.join(node, &[], &[]);
        let call = Call {
            request: 1,
            options: Dict::new(),
            procedure: "wamp.subscription.get_events".into(),
            arguments: Arguments::list(vec![subscribed.subscription.into()]),
        };
        c.send(node, reader, Message::Call(call));
        seen.push(firsts(c.take_one(node, reader)));
    }
    assert_eq!(
        seen[0],
        vec![Value::from(1), Value::from(2), Value::from(3)]
    );
    assert!(seen.iter().all(|s| *s == seen[0]), "{seen:?}");
}

#[test]
fn a_role_that_may_not_subscribe_to_the_topic_may_not_read_its_history() {
    use std::collections::HashMap;
    use std::sync::Arc;

    use switchboard_proto::error_uri::NOT_AUTHORIZED;

    use crate::auth::{Identity, RealmSecurity};
    use crate::permissions::{Action, Permission, Permissions, Role};

    let history = Permission::new(
        "wamp.subscription.get_events",
        MatchPolicy::Exact,
        &[Action::Call],
    );
    let mut roles = HashMap::new();
    roles.insert(
        "admin".to_owned(),
        Role::new(vec![
            Permission::new("com.example.", MatchPolicy::Prefix, &Action::ALL),
            history.clone(),
        ]),
    );
    roles.insert(
        "guest".to_owned(),
        Role::new(vec![
            Permission::new(
                "com.example.log.public",
                MatchPolicy::Exact,
                &[Action::Subscribe],
            ),
            history,
        ]),
    );
    let security = RealmSecurity {
        permissions: Permissions::Roles(roles),
        ..RealmSecurity::open()
    };
    let mut h = Harness::with_config(RealmConfig {
        security: Arc::new(security),
        ..config(10)
    });
    let join = |h: &mut Harness, role: &str| {
        h.join_as(Identity {
            authid: Some(format!("{role}-user")),
            ..Identity::anonymous(role)
        })
    };
    let admin = join(&mut h, "admin");
    let guest = join(&mut h, "guest");
    for topic in ["com.example.log.public", "com.example.log.secret"] {
        h.publish(
            admin,
            1,
            topic,
            Dict::new(),
            Arguments::list(vec![topic.into()]),
        );
    }
    let secret = h.subscribed(admin, "com.example.log.secret", Dict::new());
    let public = h.subscribed(guest, "com.example.log.public", Dict::new());
    let reply = get_events(&mut h, guest, secret, Dict::new());
    assert_eq!(error_of(reply), (code::CALL, 1, NOT_AUTHORIZED.into()));
    let read = firsts(get_events(&mut h, guest, public, Dict::new()));
    assert_eq!(read, vec![Value::from("com.example.log.public")]);
}

//! The subscription meta API (`ap_pubsub_subscription_meta_api.md`): meta
//! events in spec order with the spec's arguments, the `wamp.subscription.*`
//! procedures, and the same answers on every node of a cluster.

use std::collections::HashMap;

use switchboard_proto::error_uri::NO_SUCH_SUBSCRIPTION;
use switchboard_proto::{code, Call, Dict, Message, Subscribe, Unsubscribe, Value};

use super::cluster_harness::Cluster;
use super::harness::Harness;
use super::wamp::{args, error_of, event, opts, single_result};
use crate::SessionId;

const ON_CREATE: &str = "wamp.subscription.on_create";
const ON_SUBSCRIBE: &str = "wamp.subscription.on_subscribe";
const ON_UNSUBSCRIBE: &str = "wamp.subscription.on_unsubscribe";
const ON_DELETE: &str = "wamp.subscription.on_delete";
const ALL: [&str; 4] = [ON_CREATE, ON_SUBSCRIBE, ON_UNSUBSCRIBE, ON_DELETE];
/// The harness's clock anchor, as the meta API writes it.
const CREATED: &str = "2026-01-01T00:00:00.000Z";

struct Observer {
    session: SessionId,
    topics: HashMap<u64, &'static str>,
}

fn observe(h: &mut Harness) -> Observer {
    let session = h.join();
    let topics = ALL
        .iter()
        .map(|&t| (h.subscribed(session, t, Dict::new()), t))
        .collect();
    Observer { session, topics }
}

fn events(h: &mut Harness, o: &Observer) -> Vec<(&'static str, Vec<Value>)> {
    h.take(o.session)
        .into_iter()
        .map(|m| {
            let e = event(m);
            (o.topics[&e.subscription], args(&e.arguments))
        })
        .collect()
}

fn unsubscribe(h: &mut Harness, session: SessionId, subscription: u64) {
    let message = Message::Unsubscribe(Unsubscribe {
        request: 9,
        subscription,
    });
    h.send(session, message);
    assert!(matches!(h.take_one(session), Message::Unsubscribed(_)));
}

fn details(id: u64, uri: &str, match_: &str) -> Value {
    Value::Dict(opts(&[
        ("id", id.into()),
        ("created", CREATED.into()),
        ("uri", uri.into()),
        ("match", match_.into()),
    ]))
}

#[test]
fn subscription_meta_events_come_in_spec_order_with_the_spec_arguments() {
    let mut h = Harness::new();
    let o = observe(&mut h);
    assert!(events(&mut h, &o).is_empty(), "watching is not announced");
    let (a, b) = (h.join(), h.join());
    let sub = h.subscribed(a, "com.example.t", Dict::new());
    assert_eq!(
        events(&mut h, &o),
        vec![
            (
                ON_CREATE,
                vec![a.into(), details(sub, "com.example.t", "exact")]
            ),
            (ON_SUBSCRIBE, vec![a.into(), sub.into()]),
        ]
    );
    assert_eq!(h.subscribed(b, "com.example.t", Dict::new()), sub);
    assert_eq!(
        events(&mut h, &o),
        vec![(ON_SUBSCRIBE, vec![b.into(), sub.into()])]
    );
    unsubscribe(&mut h, a, sub);
    assert_eq!(
        events(&mut h, &o),
        vec![(ON_UNSUBSCRIBE, vec![a.into(), sub.into()])]
    );
    h.leave(b);
    assert_eq!(
        events(&mut h, &o),
        vec![
            (ON_UNSUBSCRIBE, vec![b.into(), sub.into()]),
            (ON_DELETE, vec![b.into(), sub.into()]),
        ]
    );
}

#[test]
fn the_procedures_answer_from_the_subscription_table() {
    let mut h = Harness::new();
    let (a, b, asker) = (h.join(), h.join(), h.join());
    let exact = h.subscribed(a, "com.example.a.b", Dict::new());
    h.subscribed(b, "com.example.a.b", Dict::new());
    let prefix = h.subscribed(a, "com.example.a", opts(&[("match", "prefix".into())]));
    let wildcard = h.subscribed(b, "com.example..b", opts(&[("match", "wildcard".into())]));
    let mut call = |procedure: &str, args: Vec<Value>| h.meta_call(asker, procedure, args);

    let lists = single_result(call("wamp.subscription.list", vec![]));
    assert_eq!(
        lists,
        Value::Dict(opts(&[
            ("exact", Value::List(vec![exact.into()])),
            ("prefix", Value::List(vec![prefix.into()])),
            ("wildcard", Value::List(vec![wildcard.into()])),
        ]))
    );
    let lookup = |call: &mut dyn FnMut(&str, Vec<Value>) -> Message, args| {
        single_result(call("wamp.subscription.lookup", args))
    };
    assert_eq!(
        lookup(&mut call, vec!["com.example.a.b".into()]),
        exact.into()
    );
    let prefixed = vec![
        "com.example.a".into(),
        Value::Dict(opts(&[("match", "prefix".into())])),
    ];
    assert_eq!(lookup(&mut call, prefixed), prefix.into());
    assert_eq!(
        lookup(&mut call, vec!["com.example.zzz".into()]),
        Value::Null
    );

    let mut matching = vec![exact, prefix, wildcard];
    matching.sort_unstable();
    assert_eq!(
        single_result(call(
            "wamp.subscription.match",
            vec!["com.example.a.b".into()]
        )),
        Value::List(matching.into_iter().map(Value::from).collect())
    );
    assert_eq!(
        single_result(call("wamp.subscription.match", vec!["org.other".into()])),
        Value::Null
    );
    assert_eq!(
        single_result(call("wamp.subscription.get", vec![exact.into()])),
        details(exact, "com.example.a.b", "exact")
    );
    assert_eq!(
        single_result(call(
            "wamp.subscription.list_subscribers",
            vec![exact.into()]
        )),
        Value::List(vec![a.into(), b.into()])
    );
    assert_eq!(
        single_result(call(
            "wamp.subscription.count_subscribers",
            vec![exact.into()]
        )),
        Value::from(2u64)
    );
    for procedure in ["get", "list_subscribers", "count_subscribers"] {
        let reply = call(
            &format!("wamp.subscription.{procedure}"),
            vec![12345u64.into()],
        );
        assert_eq!(
            error_of(reply),
            (code::CALL, 1, NO_SUCH_SUBSCRIPTION.into())
        );
    }
}

#[test]
fn every_node_reports_the_same_subscription_and_its_events() {
    let mut c = Cluster::new(3);
    let watcher = c.join(3, &[], &[]);
    let subscribe = |c: &mut Cluster, node, session, topic: &str| {
        let message = Message::Subscribe(Subscribe {
            request: 1,
            options: Dict::new(),
            topic: topic.into(),
        });
        c.send(node, session, message);
        match c.take_one(node, session) {
            Message::Subscribed(s) => s.subscription,
            other => panic!("expected SUBSCRIBED, got {other:?}"),
        }
    };
    let on_subscribe = subscribe(&mut c, 3, watcher, ON_SUBSCRIBE);
    let subscriber = c.join(1, &[], &[]);
    let sub = subscribe(&mut c, 1, subscriber, "com.example.t");
    let seen = event(c.take_one(3, watcher));
    assert_eq!(seen.subscription, on_subscribe);
    assert_eq!(args(&seen.arguments), vec![subscriber.into(), sub.into()]);
    for node in [1, 2, 3] {
        let asker = c.join(node, &[], &[]);
        let call = Call {
            request: 1,
            options: Dict::new(),
            procedure: "wamp.subscription.list_subscribers".into(),
            arguments: switchboard_proto::Arguments::list(vec![sub.into()]),
        };
        c.send(node, asker, Message::Call(call));
        assert_eq!(
            single_result(c.take_one(node, asker)),
            Value::List(vec![subscriber.into()]),
            "node {node}"
        );
    }
}

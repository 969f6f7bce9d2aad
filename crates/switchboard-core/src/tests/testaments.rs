//! Session testaments: kept in the replicated state with their session, and
//! published once to every subscriber when the session goes, however it goes.

use switchboard_proto::error_uri::NOT_AUTHORIZED;
use switchboard_proto::{code, Arguments, Call, Dict, Message, Subscribe, Value};

use super::cluster_harness::Cluster;
use super::harness::Harness;
use super::wamp::{args, error_of, event, opts, result, single_result};
use crate::realm::SessionId;

const ADD: &str = "wamp.session.add_testament";
const FLUSH: &str = "wamp.session.flush_testaments";

/// `add_testament(topic, [said], {}, **kwargs)`: positional args and kwargs.
fn add_args(topic: &str, said: &str) -> Vec<Value> {
    vec![
        topic.into(),
        Value::List(vec![said.into()]),
        Value::Dict(Dict::new()),
    ]
}

fn added(h: &mut Harness, session: SessionId, topic: &str, said: &str, kwargs: Dict) {
    let reply = h.meta_call_kw(session, ADD, add_args(topic, said), kwargs);
    assert!(args(&result(reply).arguments).is_empty(), "no value");
}

/// What the subscriber got: each EVENT's first positional argument.
fn heard(messages: Vec<Message>) -> Vec<Value> {
    messages
        .into_iter()
        .map(|m| args(&event(m).arguments).remove(0))
        .collect()
}

#[test]
fn a_testament_is_published_when_its_session_says_goodbye_or_loses_its_transport() {
    // Both reach the core as `handle_leave`.
    let mut h = Harness::new();
    let listener = h.join();
    h.subscribed(listener, "com.example.gone", Dict::new());
    let a = h.join();
    added(&mut h, a, "com.example.gone", "bye from a", Dict::new());
    h.assert_quiet();
    h.leave(a);
    assert_eq!(heard(h.take(listener)), [Value::from("bye from a")]);
}

#[test]
fn a_testament_is_published_when_its_session_is_killed() {
    let mut h = Harness::new();
    let listener = h.join();
    h.subscribed(listener, "t", Dict::new());
    let (victim, admin) = (h.join(), h.join());
    added(&mut h, victim, "t", "killed", Dict::new());
    h.meta_call(admin, "wamp.session.kill", vec![victim.into()]);
    assert!(matches!(h.take_one(victim), Message::Goodbye(_)));
    assert_eq!(heard(h.take(listener)), [Value::from("killed")]);
}

#[test]
fn detached_testaments_go_first_then_destroyed_each_in_the_order_added() {
    let mut h = Harness::new();
    let listener = h.join();
    h.subscribed(listener, "t", Dict::new());
    let s = h.join();
    added(&mut h, s, "t", "destroyed 1", Dict::new());
    added(
        &mut h,
        s,
        "t",
        "detached 1",
        opts(&[("scope", "detached".into())]),
    );
    added(
        &mut h,
        s,
        "t",
        "destroyed 2",
        opts(&[("scope", "destroyed".into())]),
    );
    h.leave(s);
    assert_eq!(
        heard(h.take(listener)),
        [
            Value::from("detached 1"),
            "destroyed 1".into(),
            "destroyed 2".into()
        ]
    );
}

#[test]
fn flush_removes_one_scope_and_returns_how_many() {
    let mut h = Harness::new();
    let listener = h.join();
    h.subscribed(listener, "t", Dict::new());
    let s = h.join();
    added(&mut h, s, "t", "a", Dict::new());
    added(&mut h, s, "t", "b", Dict::new());
    added(&mut h, s, "t", "c", opts(&[("scope", "detached".into())]));
    let flushed = single_result(h.meta_call_kw(s, FLUSH, vec![], Dict::new()));
    assert_eq!(flushed, Value::Int(2), "the default scope is destroyed");
    let flushed = single_result(h.meta_call_kw(s, FLUSH, vec![], Dict::new()));
    assert_eq!(flushed, Value::Int(0));
    h.leave(s);
    assert_eq!(heard(h.take(listener)), [Value::from("c")]);
}

#[test]
fn kwargs_and_disclose_me_reach_the_subscriber() {
    let mut h = Harness::new();
    let listener = h.join();
    h.subscribed(listener, "t", Dict::new());
    let s = h.join();
    let a = vec![
        "t".into(),
        Value::List(vec![1.into()]),
        Value::Dict(opts(&[("k", "v".into())])),
    ];
    let options = Value::Dict(opts(&[("disclose_me", true.into())]));
    h.meta_call_kw(s, ADD, a, opts(&[("publish_options", options)]));
    h.leave(s);
    let e = event(h.take_one(listener));
    assert_eq!(
        e.arguments,
        Arguments::with_kwargs(vec![1.into()], opts(&[("k", "v".into())]))
    );
    assert_eq!(e.details.get("publisher"), Some(&Value::from(s)));
}

#[test]
fn a_role_that_may_not_publish_to_the_topic_may_not_leave_a_testament_there() {
    use crate::auth::RealmSecurity;
    use crate::matching::MatchPolicy;
    use crate::permissions::{Action, Permission, Permissions, Role};
    let role = Role::new(vec![
        Permission::new("wamp.session.", MatchPolicy::Prefix, &[Action::Call]),
        Permission::new("open.", MatchPolicy::Prefix, &[Action::Publish]),
    ]);
    let security = RealmSecurity {
        permissions: Permissions::Roles([("anonymous".to_owned(), role)].into()),
        ..RealmSecurity::open()
    };
    let mut h = Harness::with_config(crate::RealmConfig {
        security: std::sync::Arc::new(security),
        ..crate::RealmConfig::anonymous("com.example.realm")
    });
    let s = h.join();
    let reply = h.meta_call_kw(s, ADD, add_args("closed.t", "x"), Dict::new());
    assert_eq!(error_of(reply), (code::CALL, 1, NOT_AUTHORIZED.into()));
    added(&mut h, s, "open.t", "x", Dict::new());
}

// ----- in a cluster -----

fn subscribe(c: &mut Cluster, node: u64, session: SessionId, topic: &str) {
    let subscribe = Subscribe {
        request: 1,
        options: Dict::new(),
        topic: topic.into(),
    };
    c.send(node, session, Message::Subscribe(subscribe));
    assert!(matches!(c.take_one(node, session), Message::Subscribed(_)));
}

fn add_testament(c: &mut Cluster, node: u64, session: SessionId, topic: &str, said: &str) {
    let call = Call {
        request: 7,
        options: Dict::new(),
        procedure: ADD.into(),
        arguments: Arguments::list(add_args(topic, said)),
    };
    c.send(node, session, Message::Call(call));
}

fn cluster_heard(c: &mut Cluster, node: u64, session: SessionId) -> Vec<Value> {
    heard(c.take(node, session))
}

#[test]
fn a_dead_nodes_testaments_are_published_once_to_subscribers_on_every_other_node() {
    let mut c = Cluster::new(3);
    let on1 = c.join(1, &[], &[]);
    let on2 = c.join(2, &[], &[]);
    let also_on1 = c.join(1, &[], &[]);
    for (node, s) in [(1, on1), (2, on2), (1, also_on1)] {
        subscribe(&mut c, node, s, "t");
    }
    let doomed = c.join(3, &[], &[]);
    add_testament(&mut c, 3, doomed, "t", "node 3 died");
    assert!(matches!(c.take_one(3, doomed), Message::Result(r) if r.request == 7));
    // Every node holds it.
    for node in [1, 2] {
        let snapshot = c.node(node).snapshot();
        let entry = snapshot.sessions.iter().find(|e| e.id == doomed).unwrap();
        assert!(!entry.testaments.is_empty(), "node {node}");
    }
    c.kill(3);
    for (node, s) in [(1, on1), (2, on2), (1, also_on1)] {
        assert_eq!(cluster_heard(&mut c, node, s), [Value::from("node 3 died")]);
    }
}

#[test]
fn a_remote_sessions_goodbye_publishes_its_testament_once_everywhere() {
    let mut c = Cluster::new(2);
    let (l1, l2) = (c.join(1, &[], &[]), c.join(2, &[], &[]));
    subscribe(&mut c, 1, l1, "t");
    subscribe(&mut c, 2, l2, "t");
    let s = c.join(2, &[], &[]);
    add_testament(&mut c, 2, s, "t", "left");
    c.take(2, s);
    c.leave(2, s);
    assert_eq!(cluster_heard(&mut c, 1, l1), [Value::from("left")]);
    assert_eq!(cluster_heard(&mut c, 2, l2), [Value::from("left")]);
}

#[test]
fn a_repeated_copy_of_add_testament_adds_it_once_and_answers_once() {
    let mut c = Cluster::new(2);
    let listener = c.join(1, &[], &[]);
    subscribe(&mut c, 1, listener, "t");
    let s = c.join(2, &[], &[]);
    c.intercepted = Some(Vec::new());
    add_testament(&mut c, 2, s, "t", "once");
    c.commit_intercepted(0);
    c.commit_intercepted(0);
    c.intercepted = None;
    assert!(matches!(c.take_one(2, s), Message::Result(_)));
    c.leave(2, s);
    assert_eq!(cluster_heard(&mut c, 1, listener), [Value::from("once")]);
}

#[test]
fn testaments_travel_in_snapshots() {
    let mut c = Cluster::new(2);
    let listener = c.join(1, &[], &[]);
    subscribe(&mut c, 1, listener, "t");
    let s = c.join(2, &[], &[]);
    add_testament(&mut c, 2, s, "t", "kept");
    c.take(2, s);
    c.install_snapshot(1, 2);
    c.kill(2);
    assert_eq!(cluster_heard(&mut c, 1, listener), [Value::from("kept")]);
}

#[test]
fn a_testaments_eligible_and_exclude_lists_pick_its_audience_like_a_publish() {
    let mut h = Harness::new();
    let (wanted, unwanted) = (h.join(), h.join());
    h.subscribed(wanted, "t", Dict::new());
    h.subscribed(unwanted, "t", Dict::new());
    let s = h.join();
    let only = Value::Dict(opts(&[("eligible", Value::List(vec![wanted.into()]))]));
    added(
        &mut h,
        s,
        "t",
        "for one",
        opts(&[("publish_options", only)]),
    );
    let bad = Value::Dict(opts(&[("exclude", "not a list".into())]));
    let reply = h.meta_call_kw(
        s,
        ADD,
        add_args("t", "x"),
        opts(&[("publish_options", bad)]),
    );
    assert_eq!(
        error_of(reply),
        (
            code::CALL,
            1,
            switchboard_proto::error_uri::INVALID_ARGUMENT.into()
        )
    );
    h.leave(s);
    assert_eq!(heard(h.take(wanted)), [Value::from("for one")]);
    assert!(h.take(unwanted).is_empty());
}

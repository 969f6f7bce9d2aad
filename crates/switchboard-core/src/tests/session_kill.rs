//! `wamp.session.kill_by_authid`, `kill_by_authrole` and `kill_all`: every
//! matching session on every node gets GOODBYE, never the caller, and the
//! caller learns how many (the spec's `count|int`).

use switchboard_proto::error_uri::{CLOSE_KILLED, INVALID_ARGUMENT, INVALID_URI};
use switchboard_proto::{code, Arguments, Call, Dict, Message, Value};

use super::cluster_harness::Cluster;
use super::harness::Harness;
use super::wamp::{error_of, opts, result, single_result};
use crate::auth::Identity;
use crate::realm::SessionId;

fn user(authid: &str, role: &str) -> Identity {
    Identity {
        authid: Some(authid.into()),
        ..Identity::anonymous(role)
    }
}

fn goodbye_reason(message: Message) -> (String, Option<Value>) {
    match message {
        Message::Goodbye(g) => (g.reason, g.details.get("message").cloned()),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
}

#[test]
fn kill_all_ends_every_other_session_and_counts_them() {
    let mut h = Harness::new();
    let (admin, a, b) = (h.join(), h.join(), h.join());
    let count = single_result(h.meta_call(admin, "wamp.session.kill_all", vec![]));
    assert_eq!(count, Value::Int(2));
    for s in [a, b] {
        assert_eq!(goodbye_reason(h.take_one(s)).0, CLOSE_KILLED);
        assert!(!h.realm.is_member(s));
    }
    assert!(h.realm.is_member(admin), "kill_all spares its caller");
}

#[test]
fn kill_by_authid_and_authrole_spare_the_caller_and_pass_reason_and_message() {
    let mut h = Harness::new();
    let admin = h.join_as(user("alice", "admin"));
    let alice2 = h.join_as(user("alice", "user"));
    let bob = h.join_as(user("bob", "user"));
    let carol = h.join_as(user("carol", "admin"));
    let kwargs = opts(&[
        ("reason", "com.example.bye".into()),
        ("message", "maintenance".into()),
    ]);
    let reply = h.meta_call_kw(
        admin,
        "wamp.session.kill_by_authid",
        vec!["alice".into()],
        kwargs,
    );
    assert_eq!(single_result(reply), Value::Int(1), "not the caller itself");
    assert_eq!(
        goodbye_reason(h.take_one(alice2)),
        ("com.example.bye".into(), Some("maintenance".into()))
    );
    let reply = h.meta_call(admin, "wamp.session.kill_by_authrole", vec!["admin".into()]);
    assert_eq!(single_result(reply), Value::Int(1));
    assert_eq!(goodbye_reason(h.take_one(carol)).0, CLOSE_KILLED);
    assert!(h.realm.is_member(admin) && h.realm.is_member(bob));
    let reply = h.meta_call(
        admin,
        "wamp.session.kill_by_authrole",
        vec!["nobody".into()],
    );
    assert_eq!(single_result(reply), Value::Int(0));
}

#[test]
fn kill_variants_refuse_bad_arguments() {
    let mut h = Harness::new();
    let (admin, other) = (h.join(), h.join());
    for procedure in [
        "wamp.session.kill_by_authid",
        "wamp.session.kill_by_authrole",
    ] {
        let reply = h.meta_call(admin, procedure, vec![]);
        assert_eq!(error_of(reply), (code::CALL, 1, INVALID_ARGUMENT.into()));
        let reply = h.meta_call(admin, procedure, vec![3.into()]);
        assert_eq!(error_of(reply), (code::CALL, 1, INVALID_ARGUMENT.into()));
    }
    let reply = h.meta_call_kw(
        admin,
        "wamp.session.kill_all",
        vec![],
        opts(&[("reason", "not a uri".into())]),
    );
    assert_eq!(error_of(reply), (code::CALL, 1, INVALID_URI.into()));
    assert!(h.realm.is_member(other), "nobody was killed");
}

fn call_on(c: &mut Cluster, node: u64, caller: SessionId, procedure: &str, args: Vec<Value>) {
    let call = Call {
        request: 1,
        options: Dict::new(),
        procedure: procedure.into(),
        arguments: Arguments::list(args),
    };
    c.send(node, caller, Message::Call(call));
}

#[test]
fn kill_by_authid_and_authrole_reach_sessions_on_other_nodes() {
    let mut c = Cluster::new(3);
    let admin = c.join_as(1, "root", "admin");
    let here = c.join_as(1, "dave", "user");
    let there = c.join_as(2, "dave", "user");
    let far = c.join_as(3, "erin", "guest");
    call_on(
        &mut c,
        1,
        admin,
        "wamp.session.kill_by_authid",
        vec!["dave".into()],
    );
    assert_eq!(single_result(c.take_one(1, admin)), Value::Int(2));
    assert_eq!(goodbye_reason(c.take_one(1, here)).0, CLOSE_KILLED);
    assert_eq!(goodbye_reason(c.take_one(2, there)).0, CLOSE_KILLED);
    call_on(
        &mut c,
        1,
        admin,
        "wamp.session.kill_by_authrole",
        vec!["guest".into()],
    );
    assert_eq!(single_result(c.take_one(1, admin)), Value::Int(1));
    assert_eq!(goodbye_reason(c.take_one(3, far)).0, CLOSE_KILLED);
    call_on(&mut c, 1, admin, "wamp.session.count", vec![]);
    assert_eq!(single_result(c.take_one(1, admin)), Value::Int(1));
    assert!(c.node(3).session_count() == 0 && c.node(2).session_count() == 0);
}

#[test]
fn kill_all_reaches_every_node_but_spares_the_caller() {
    let mut c = Cluster::new(2);
    let admin = c.join(2, &[], &[]);
    let (a, b) = (c.join(1, &[], &[]), c.join(2, &[], &[]));
    call_on(&mut c, 2, admin, "wamp.session.kill_all", vec![]);
    let reply = result(c.take_one(2, admin));
    assert_eq!(super::wamp::args(&reply.arguments), [Value::Int(2)]);
    assert_eq!(goodbye_reason(c.take_one(1, a)).0, CLOSE_KILLED);
    assert_eq!(goodbye_reason(c.take_one(2, b)).0, CLOSE_KILLED);
    assert!(c.node(2).is_member(admin));
}

//! The registration and session meta API (`meta_api_registrations.md`, the
//! session meta API): meta events in spec order with the spec's arguments, and
//! the `wamp.registration.*` and `wamp.session.*` procedures.

use std::collections::HashMap;

use switchboard_proto::error_uri::{
    CLOSE_KILLED, INVALID_URI, NO_SUCH_PROCEDURE, NO_SUCH_REGISTRATION, NO_SUCH_SESSION,
};
use switchboard_proto::{code, Dict, Message, Value};

use super::harness::Harness;
use super::wamp::{args, error_of, event, list, opts, single_result};
use crate::SessionId;

const ON_CREATE: &str = "wamp.registration.on_create";
const ON_REGISTER: &str = "wamp.registration.on_register";
const ON_UNREGISTER: &str = "wamp.registration.on_unregister";
const ON_DELETE: &str = "wamp.registration.on_delete";
const ON_JOIN: &str = "wamp.session.on_join";
const ON_LEAVE: &str = "wamp.session.on_leave";
const REGISTRATION_EVENTS: [&str; 4] = [ON_CREATE, ON_REGISTER, ON_UNREGISTER, ON_DELETE];
/// The harness's clock anchor, as the meta API writes it.
const CREATED: &str = "2026-01-01T00:00:00.000Z";

/// A session subscribed to meta topics, and which subscription is which topic.
struct Observer {
    session: SessionId,
    topics: HashMap<u64, &'static str>,
}

fn observe(h: &mut Harness, topics: &[&'static str]) -> Observer {
    let session = h.join();
    let topics = topics
        .iter()
        .map(|&t| (h.subscribed(session, t, Dict::new()), t))
        .collect();
    Observer { session, topics }
}

/// The meta events the observer got since last asked: (topic, args).
fn events(h: &mut Harness, o: &Observer) -> Vec<(&'static str, Vec<Value>)> {
    h.take(o.session)
        .into_iter()
        .map(|m| {
            let e = event(m);
            (o.topics[&e.subscription], args(&e.arguments))
        })
        .collect()
}

fn id(session: SessionId) -> Value {
    Value::from(session)
}

fn registration_details(reg: u64, uri: &str, match_: &str, invoke: &str) -> Value {
    Value::Dict(opts(&[
        ("id", reg.into()),
        ("created", CREATED.into()),
        ("uri", uri.into()),
        ("match", match_.into()),
        ("invoke", invoke.into()),
    ]))
}

fn meta_error(h: &mut Harness, caller: SessionId, procedure: &str, a: Vec<Value>) -> String {
    let (kind, request, uri) = error_of(h.meta_call(caller, procedure, a));
    assert_eq!((kind, request), (code::CALL, 1), "{procedure}");
    uri
}

// ----- meta events -----

#[test]
fn registration_meta_events_come_in_spec_order_with_the_spec_arguments() {
    let mut h = Harness::new();
    let o = observe(&mut h, &REGISTRATION_EVENTS);
    let callee = h.join();
    let reg = h.registered(callee, "com.example.p", Dict::new());
    let details = registration_details(reg, "com.example.p", "exact", "single");
    assert_eq!(
        events(&mut h, &o),
        vec![
            (ON_CREATE, vec![id(callee), details]),
            (ON_REGISTER, vec![id(callee), reg.into()]),
        ]
    );
    h.unregister(callee, 2, reg);
    assert_eq!(
        events(&mut h, &o),
        vec![
            (ON_UNREGISTER, vec![id(callee), reg.into()]),
            (ON_DELETE, vec![id(callee), reg.into()]),
        ]
    );
}

#[test]
fn a_shared_registration_is_created_and_deleted_once_and_registered_per_callee() {
    let mut h = Harness::new();
    let o = observe(&mut h, &REGISTRATION_EVENTS);
    let (a, b) = (h.join(), h.join());
    let reg = h.registered_shared(a, "com.example.p", "roundrobin");
    events(&mut h, &o);
    h.registered_shared(b, "com.example.p", "roundrobin");
    assert_eq!(
        events(&mut h, &o),
        vec![(ON_REGISTER, vec![id(b), reg.into()])]
    );
    h.unregister(a, 2, reg);
    assert_eq!(
        events(&mut h, &o),
        vec![(ON_UNREGISTER, vec![id(a), reg.into()])]
    );
    h.unregister(b, 2, reg);
    assert_eq!(
        events(&mut h, &o),
        vec![
            (ON_UNREGISTER, vec![id(b), reg.into()]),
            (ON_DELETE, vec![id(b), reg.into()]),
        ]
    );
}

#[test]
fn a_callee_leaving_without_goodbye_unregisters_deletes_and_leaves_in_that_order() {
    let mut h = Harness::new();
    let o = observe(&mut h, &[ON_UNREGISTER, ON_DELETE, ON_LEAVE]);
    let callee = h.join();
    let reg = h.registered(callee, "com.example.p", Dict::new());
    h.leave(callee);
    let authid = Value::from(format!("anonymous-{callee}"));
    assert_eq!(
        events(&mut h, &o),
        vec![
            (ON_UNREGISTER, vec![id(callee), reg.into()]),
            (ON_DELETE, vec![id(callee), reg.into()]),
            (ON_LEAVE, vec![id(callee), authid, "anonymous".into()]),
        ]
    );
}

#[test]
fn session_on_join_is_published_with_the_new_sessions_details() {
    let mut h = Harness::new();
    let o = observe(&mut h, &[ON_JOIN]);
    let s = h.join();
    let got = events(&mut h, &o);
    assert_eq!(got.len(), 1, "{got:?}");
    let (topic, a) = &got[0];
    assert_eq!(*topic, ON_JOIN);
    let details = a[0].as_dict().expect("SessionDetails");
    assert_eq!(details.get("session"), Some(&id(s)));
    assert_eq!(
        details.get("authid"),
        Some(&Value::from(format!("anonymous-{s}")))
    );
    assert_eq!(details.get("authrole"), Some(&Value::from("anonymous")));
    assert_eq!(details.get("authmethod"), Some(&Value::from("anonymous")));
}

// ----- wamp.registration.* -----

#[test]
fn registration_list_groups_the_ids_by_match_policy() {
    let mut h = Harness::new();
    let (callee, caller) = (h.join(), h.join());
    let e = h.registered(callee, "a.b", Dict::new());
    let p = h.registered(callee, "a", opts(&[("match", "prefix".into())]));
    let w = h.registered(callee, "a..c", opts(&[("match", "wildcard".into())]));
    let expected = opts(&[
        ("exact", list(vec![e.into()])),
        ("prefix", list(vec![p.into()])),
        ("wildcard", list(vec![w.into()])),
    ]);
    let reply = h.meta_call(caller, "wamp.registration.list", vec![]);
    assert_eq!(single_result(reply), Value::Dict(expected));
}

#[test]
fn registration_lookup_finds_the_registration_for_a_uri_and_match_policy() {
    let mut h = Harness::new();
    let (callee, caller) = (h.join(), h.join());
    let e = h.registered(callee, "a.b", Dict::new());
    let p = h.registered(callee, "a.b", opts(&[("match", "prefix".into())]));
    let lookup = |h: &mut Harness, a: Vec<Value>| {
        single_result(h.meta_call(caller, "wamp.registration.lookup", a))
    };
    assert_eq!(lookup(&mut h, vec!["a.b".into()]), e.into());
    let prefix = Value::Dict(opts(&[("match", "prefix".into())]));
    assert_eq!(lookup(&mut h, vec!["a.b".into(), prefix]), p.into());
    // lookup is not matching: a URI the prefix covers has no registration of its own.
    assert_eq!(lookup(&mut h, vec!["a.b.c".into()]), Value::Null);
}

#[test]
fn registration_match_returns_the_registration_a_call_would_go_to() {
    let mut h = Harness::new();
    let (callee, caller) = (h.join(), h.join());
    let short = h.registered(callee, "a", opts(&[("match", "prefix".into())]));
    let long = h.registered(callee, "a.b", opts(&[("match", "prefix".into())]));
    let matched = |h: &mut Harness, uri: &str| {
        single_result(h.meta_call(caller, "wamp.registration.match", vec![uri.into()]))
    };
    assert_eq!(matched(&mut h, "a.b.c"), long.into());
    assert_eq!(matched(&mut h, "a.x"), short.into());
    assert_eq!(matched(&mut h, "z"), Value::Null);
}

#[test]
fn registration_get_list_callees_and_count_callees_describe_a_registration() {
    let mut h = Harness::new();
    let (a, b, caller) = (h.join(), h.join(), h.join());
    let reg = h.registered_shared(a, "com.example.p", "last");
    h.registered_shared(b, "com.example.p", "last");
    let mut ask = |name: &str| {
        let procedure = format!("wamp.registration.{name}");
        single_result(h.meta_call(caller, &procedure, vec![reg.into()]))
    };
    assert_eq!(
        ask("get"),
        registration_details(reg, "com.example.p", "exact", "last")
    );
    assert_eq!(ask("list_callees"), list(vec![id(a), id(b)]));
    assert_eq!(ask("count_callees"), Value::Int(2));
}

#[test]
fn registration_procedures_fail_with_no_such_registration_for_an_unknown_id() {
    let mut h = Harness::new();
    let caller = h.join();
    for name in ["get", "list_callees", "count_callees"] {
        let procedure = format!("wamp.registration.{name}");
        assert_eq!(
            meta_error(&mut h, caller, &procedure, vec![424_242.into()]),
            NO_SUCH_REGISTRATION
        );
    }
}

// ----- wamp.session.* -----

#[test]
fn session_count_list_and_get_describe_the_joined_sessions() {
    let mut h = Harness::new();
    let (a, b) = (h.join(), h.join());
    let count = single_result(h.meta_call(a, "wamp.session.count", vec![]));
    assert_eq!(count, Value::Int(2));
    let listed = single_result(h.meta_call(a, "wamp.session.list", vec![]));
    let mut ids: Vec<u64> = listed
        .as_list()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    ids.sort_unstable();
    let mut expected = vec![a, b];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    let got = single_result(h.meta_call(a, "wamp.session.get", vec![b.into()]));
    let details = got.as_dict().unwrap();
    assert_eq!(details.get("session"), Some(&id(b)));
    assert_eq!(details.get("authrole"), Some(&Value::from("anonymous")));
}

#[test]
fn session_kill_says_goodbye_killed_to_the_target_and_removes_it() {
    let mut h = Harness::new();
    let o = observe(&mut h, &[ON_LEAVE]);
    let (killer, target) = (h.join(), h.join());
    let reply = h.meta_call(killer, "wamp.session.kill", vec![target.into()]);
    assert!(matches!(reply, Message::Result(r) if r.request == 1));
    assert!(
        matches!(h.take_one(target), Message::Goodbye(g) if g.reason == CLOSE_KILLED),
        "GOODBYE wamp.close.killed"
    );
    assert!(!h.realm.is_member(target));
    assert_eq!(events(&mut h, &o)[0].0, ON_LEAVE);
    let count = single_result(h.meta_call(killer, "wamp.session.count", vec![]));
    assert_eq!(count, Value::Int(2), "the observer and the killer remain");
}

#[test]
fn session_get_and_kill_fail_with_no_such_session_for_an_unknown_id() {
    let mut h = Harness::new();
    let caller = h.join();
    for name in ["get", "kill"] {
        let procedure = format!("wamp.session.{name}");
        assert_eq!(
            meta_error(&mut h, caller, &procedure, vec![424_242.into()]),
            NO_SUCH_SESSION
        );
    }
}

// ----- the reserved namespace -----

#[test]
fn an_unknown_wamp_procedure_fails_with_no_such_procedure() {
    let mut h = Harness::new();
    let caller = h.join();
    for procedure in ["wamp.registration.nope", "wamp.session.nope", "wamp.nope"] {
        assert_eq!(
            meta_error(&mut h, caller, procedure, vec![]),
            NO_SUCH_PROCEDURE
        );
    }
}

#[test]
fn register_of_a_wamp_procedure_fails_with_invalid_uri() {
    let mut h = Harness::new();
    let s = h.join();
    for (request, (uri, policy)) in (1..).zip([
        ("wamp.session.count", "exact"),
        ("wamp.registration.", "prefix"),
        ("wamp..count", "wildcard"),
    ]) {
        let reply = h.register(s, request, uri, opts(&[("match", policy.into())]));
        assert_eq!(
            error_of(reply),
            (code::REGISTER, request, INVALID_URI.into())
        );
    }
}

#[test]
fn killing_with_a_reason_that_is_not_a_uri_is_refused_with_invalid_uri() {
    let mut h = Harness::new();
    let (admin, victim) = (h.join(), h.join());
    let mut kwargs = switchboard_proto::Dict::new();
    kwargs.insert("reason".into(), "not a uri".into());
    let call = switchboard_proto::Call {
        request: 1,
        options: switchboard_proto::Dict::new(),
        procedure: "wamp.session.kill".into(),
        arguments: switchboard_proto::Arguments::with_kwargs(vec![victim.into()], kwargs),
    };
    h.send(admin, switchboard_proto::Message::Call(call));
    match h.take_one(admin) {
        switchboard_proto::Message::Error(e) => assert_eq!(e.error, "wamp.error.invalid_uri"),
        other => panic!("expected ERROR, got {other:?}"),
    }
    assert!(h.realm.is_member(victim));
}

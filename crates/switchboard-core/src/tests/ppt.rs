//! Payload Passthru Mode (`ap_50_payload_passthru_mode.md`): `ppt_*` attributes
//! travel from CALL, YIELD, ERROR and PUBLISH into INVOCATION, RESULT, ERROR and
//! EVENT, only between peers that announced the feature.

use switchboard_proto::error_uri::{FEATURE_NOT_SUPPORTED, INVALID_ARGUMENT, PROTOCOL_VIOLATION};
use switchboard_proto::{
    code, Arguments, Call, Dict, Error, Hello, Message, Publish, Register, Subscribe, Value, Yield,
};

use super::cluster_harness::Cluster;
use super::harness::{hello_roles, Harness};
use super::wamp::{args, error, error_of, event, invocation, opts, result};
use crate::SessionId;

const P: &str = "com.example.secret";
const T: &str = "com.example.sealed";
const PPT: &[&str] = &["payload_passthru_mode"];

/// A HELLO announcing `features` in every client role.
fn hello_announcing(features: &[&str]) -> Hello {
    hello_roles(&[
        ("caller", features),
        ("callee", features),
        ("publisher", features),
        ("subscriber", features),
    ])
}

/// A HELLO announcing the mode in every client role.
fn ppt_hello() -> Hello {
    hello_announcing(PPT)
}

fn ppt_options() -> Dict {
    opts(&[
        ("ppt_scheme", "x_switchboard_test".into()),
        ("ppt_serializer", "json".into()),
        ("ppt_cipher", "none".into()),
        ("ppt_keyid", "key-1".into()),
    ])
}

/// Only the `ppt_*` entries of some details.
fn ppt_of(details: &Dict) -> Dict {
    details
        .iter()
        .filter(|(k, _)| k.starts_with("ppt_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn sealed() -> Vec<Value> {
    vec![Value::Bytes(b"opaque".to_vec())]
}

fn assert_aborted(h: &mut Harness, session: SessionId) {
    assert!(
        matches!(h.take_one(session), Message::Abort(a) if a.reason == PROTOCOL_VIOLATION),
        "expected ABORT protocol_violation"
    );
}

#[test]
fn call_and_result_carry_the_attributes_and_the_payload_unchanged() {
    let mut h = Harness::new();
    let (callee, caller) = (h.join_hello(&ppt_hello()), h.join_hello(&ppt_hello()));
    h.registered(callee, P, Dict::new());
    h.call(caller, 1, P, ppt_options(), sealed());
    let inv = invocation(h.take_one(callee));
    assert_eq!(ppt_of(&inv.details), ppt_options());
    assert_eq!(args(&inv.arguments), sealed());
    let reply = opts(&[("ppt_scheme", "x_switchboard_test".into())]);
    h.yield_(callee, inv.request, reply.clone(), sealed());
    let res = result(h.take_one(caller));
    assert_eq!(res.details, reply);
    assert_eq!(args(&res.arguments), sealed());
}

#[test]
fn a_call_without_the_mode_carries_no_attributes() {
    let mut h = Harness::new();
    let (callee, caller) = (h.join_hello(&ppt_hello()), h.join_hello(&ppt_hello()));
    h.registered(callee, P, Dict::new());
    let inv = h.call_invoked(caller, 1, P, callee);
    assert!(ppt_of(&inv.details).is_empty());
}

#[test]
fn a_callee_that_did_not_announce_the_mode_is_not_invoked() {
    let mut h = Harness::new();
    let (callee, caller) = (h.join(), h.join_hello(&ppt_hello()));
    h.registered(callee, P, Dict::new());
    h.call(caller, 1, P, ppt_options(), sealed());
    assert_eq!(
        error_of(h.take_one(caller)),
        (code::CALL, 1, FEATURE_NOT_SUPPORTED.into())
    );
    assert!(h.take(callee).is_empty());
}

#[test]
fn a_caller_that_did_not_announce_the_mode_is_aborted() {
    let mut h = Harness::new();
    let (callee, caller) = (h.join_hello(&ppt_hello()), h.join());
    h.registered(callee, P, Dict::new());
    h.call(caller, 1, P, ppt_options(), sealed());
    assert_aborted(&mut h, caller);
    assert!(h.take(callee).is_empty());
}

#[test]
fn attributes_without_a_scheme_are_an_invalid_argument() {
    let mut h = Harness::new();
    let (callee, caller) = (h.join_hello(&ppt_hello()), h.join_hello(&ppt_hello()));
    h.registered(callee, P, Dict::new());
    let no_scheme = opts(&[("ppt_cipher", "xsalsa20poly1305".into())]);
    h.call(caller, 1, P, no_scheme, sealed());
    assert_eq!(
        error_of(h.take_one(caller)),
        (code::CALL, 1, INVALID_ARGUMENT.into())
    );
}

#[test]
fn a_yield_in_the_mode_from_a_callee_that_did_not_announce_it_is_aborted() {
    let mut h = Harness::new();
    let (callee, caller) = (h.join(), h.join());
    h.registered(callee, P, Dict::new());
    let inv = h.call_invoked(caller, 1, P, callee);
    h.yield_(callee, inv.request, ppt_options(), sealed());
    assert_aborted(&mut h, callee);
}

#[test]
fn a_result_in_the_mode_for_a_caller_that_did_not_announce_it_is_refused_to_both() {
    let mut h = Harness::new();
    let (callee, caller) = (h.join_hello(&ppt_hello()), h.join());
    h.registered(callee, P, Dict::new());
    let inv = h.call_invoked(caller, 1, P, callee);
    h.yield_(callee, inv.request, ppt_options(), sealed());
    assert_eq!(
        error_of(h.take_one(callee)),
        (code::YIELD, inv.request, FEATURE_NOT_SUPPORTED.into())
    );
    assert_eq!(
        error_of(h.take_one(caller)),
        (code::CALL, 1, FEATURE_NOT_SUPPORTED.into())
    );
    // The invocation is over: a second YIELD goes nowhere.
    h.yield_(callee, inv.request, Dict::new(), vec![]);
    h.assert_quiet();
}

#[test]
fn a_progressive_result_in_the_mode_for_a_caller_that_did_not_announce_it_ends_the_call() {
    let mut h = Harness::new();
    let callee = h.join_hello(&hello_roles(&[(
        "callee",
        &[
            "payload_passthru_mode",
            "progressive_call_results",
            "call_canceling",
        ],
    )]));
    let caller = h.join();
    h.registered(callee, P, Dict::new());
    h.call(
        caller,
        1,
        P,
        opts(&[("receive_progress", true.into())]),
        vec![],
    );
    let inv = invocation(h.take_one(callee));
    let mut progress = ppt_options();
    progress.insert("progress".into(), true.into());
    h.yield_(callee, inv.request, progress, sealed());
    assert_eq!(
        error_of(h.take_one(callee)),
        (code::YIELD, inv.request, FEATURE_NOT_SUPPORTED.into())
    );
    assert_eq!(
        error_of(h.take_one(caller)),
        (code::CALL, 1, FEATURE_NOT_SUPPORTED.into())
    );
}

#[test]
fn a_callee_error_in_the_mode_for_a_caller_that_did_not_announce_it_becomes_feature_not_supported()
{
    let mut h = Harness::new();
    let (callee, caller) = (h.join_hello(&ppt_hello()), h.join());
    h.registered(callee, P, Dict::new());
    let inv = h.call_invoked(caller, 1, P, callee);
    let failure = Error {
        request_type: code::INVOCATION,
        request: inv.request,
        details: ppt_options(),
        error: "com.example.sealed_error".into(),
        arguments: Arguments::list(sealed()),
    };
    h.send(callee, Message::Error(failure));
    let e = error(h.take_one(caller));
    assert_eq!(e.error, FEATURE_NOT_SUPPORTED);
    assert!(ppt_of(&e.details).is_empty());
    h.assert_quiet();
}

#[test]
fn a_callee_error_carries_the_attributes_to_the_caller() {
    let mut h = Harness::new();
    let (callee, caller) = (h.join_hello(&ppt_hello()), h.join_hello(&ppt_hello()));
    h.registered(callee, P, Dict::new());
    h.call(caller, 1, P, ppt_options(), sealed());
    let inv = invocation(h.take_one(callee));
    let failure = Error {
        request_type: code::INVOCATION,
        request: inv.request,
        details: ppt_options(),
        error: "com.example.sealed_error".into(),
        arguments: Arguments::list(sealed()),
    };
    h.send(callee, Message::Error(failure));
    let e = error(h.take_one(caller));
    assert_eq!(e.error, "com.example.sealed_error");
    assert_eq!(ppt_of(&e.details), ppt_options());
    assert_eq!(args(&e.arguments), sealed());
}

#[test]
fn every_chunk_of_a_progressive_call_carries_its_attributes() {
    let mut h = Harness::new();
    let features = &["payload_passthru_mode", "progressive_call_invocations"];
    let callee = h.join_hello(&hello_roles(&[(
        "callee",
        &[
            "payload_passthru_mode",
            "progressive_call_invocations",
            "call_canceling",
        ],
    )]));
    let caller = h.join_hello(&hello_roles(&[("caller", features)]));
    h.registered(callee, P, Dict::new());
    let mut first = ppt_options();
    first.insert("progress".into(), true.into());
    h.call(caller, 1, P, first, sealed());
    let inv = invocation(h.take_one(callee));
    assert_eq!(ppt_of(&inv.details), ppt_options());
    let last = opts(&[("ppt_scheme", "x_switchboard_test".into())]);
    h.call(caller, 1, P, last.clone(), sealed());
    let chunk = invocation(h.take_one(callee));
    assert_eq!(chunk.request, inv.request);
    assert_eq!(ppt_of(&chunk.details), last);
}

#[test]
fn events_in_the_mode_reach_only_subscribers_that_announced_it() {
    let mut h = Harness::new();
    let (publisher, aware, unaware) = (
        h.join_hello(&ppt_hello()),
        h.join_hello(&ppt_hello()),
        h.join(),
    );
    h.subscribed(aware, T, Dict::new());
    h.subscribed(unaware, T, Dict::new());
    h.publish(publisher, 1, T, ppt_options(), Arguments::list(sealed()));
    let e = event(h.take_one(aware));
    assert_eq!(ppt_of(&e.details), ppt_options());
    assert_eq!(args(&e.arguments), sealed());
    assert!(h.take(unaware).is_empty());
    // Without the mode, both get it, with no attributes.
    h.publish(publisher, 2, T, Dict::new(), Arguments::list(vec![]));
    assert!(ppt_of(&event(h.take_one(aware)).details).is_empty());
    assert!(ppt_of(&event(h.take_one(unaware)).details).is_empty());
}

#[test]
fn a_publish_in_the_mode_from_a_publisher_that_did_not_announce_it_is_aborted() {
    let mut h = Harness::new();
    let (publisher, subscriber) = (h.join(), h.join_hello(&ppt_hello()));
    h.subscribed(subscriber, T, Dict::new());
    h.publish(publisher, 1, T, ppt_options(), Arguments::list(sealed()));
    assert_aborted(&mut h, publisher);
    assert!(h.take(subscriber).is_empty());
}

#[test]
fn a_publish_with_attributes_of_the_wrong_type_is_refused_when_acknowledged() {
    let mut h = Harness::new();
    let publisher = h.join_hello(&ppt_hello());
    let bad = opts(&[
        ("ppt_scheme", "mqtt".into()),
        ("ppt_keyid", 7.into()),
        ("acknowledge", true.into()),
    ]);
    h.publish(publisher, 1, T, bad, Arguments::list(sealed()));
    assert_eq!(
        error_of(h.take_one(publisher)),
        (code::PUBLISH, 1, INVALID_ARGUMENT.into())
    );
}

/// Sends one message on a cluster node and returns the sender's one reply.
fn ask(c: &mut Cluster, node: u64, session: SessionId, message: Message) -> Message {
    c.send(node, session, message);
    c.take_one(node, session)
}

fn cluster_call(c: &mut Cluster, node: u64, caller: SessionId, request: u64) {
    let call = Call {
        request,
        options: ppt_options(),
        procedure: P.into(),
        arguments: Arguments::list(sealed()),
    };
    c.send(node, caller, Message::Call(call));
}

fn cluster_register(c: &mut Cluster, node: u64, callee: SessionId) {
    let register = Register {
        request: 1,
        options: Dict::new(),
        procedure: P.into(),
    };
    let reply = ask(c, node, callee, Message::Register(register));
    assert!(matches!(reply, Message::Registered(_)), "{reply:?}");
}

#[test]
fn a_call_in_the_mode_crosses_nodes_both_ways_with_its_attributes() {
    let mut c = Cluster::new(2);
    let callee = c.join_hello(2, &ppt_hello());
    let caller = c.join_hello(1, &ppt_hello());
    cluster_register(&mut c, 2, callee);
    cluster_call(&mut c, 1, caller, 1);
    let inv = invocation(c.take_one(2, callee));
    assert_eq!(ppt_of(&inv.details), ppt_options());
    assert_eq!(args(&inv.arguments), sealed());
    let reply = opts(&[
        ("ppt_scheme", "x_switchboard_test".into()),
        ("ppt_keyid", "key-2".into()),
    ]);
    let y = Yield {
        request: inv.request,
        options: reply.clone(),
        arguments: Arguments::list(sealed()),
    };
    c.send(2, callee, Message::Yield(y));
    let res = result(c.take_one(1, caller));
    assert_eq!(res.details, reply);
    assert_eq!(args(&res.arguments), sealed());
}

#[test]
fn a_remote_callee_answering_in_the_mode_a_caller_that_did_not_announce_it_is_refused() {
    let mut c = Cluster::new(2);
    let callee = c.join_hello(2, &ppt_hello());
    let caller = c.join(1, &[], &[]);
    cluster_register(&mut c, 2, callee);
    let call = Call {
        request: 1,
        options: Dict::new(),
        procedure: P.into(),
        arguments: Arguments::list(vec![]),
    };
    c.send(1, caller, Message::Call(call));
    let inv = invocation(c.take_one(2, callee));
    let y = Yield {
        request: inv.request,
        options: ppt_options(),
        arguments: Arguments::list(sealed()),
    };
    c.send(2, callee, Message::Yield(y));
    assert_eq!(
        error_of(c.take_one(2, callee)),
        (code::YIELD, inv.request, FEATURE_NOT_SUPPORTED.into())
    );
    assert_eq!(
        error_of(c.take_one(1, caller)),
        (code::CALL, 1, FEATURE_NOT_SUPPORTED.into())
    );
}

#[test]
fn a_remote_callee_that_did_not_announce_the_mode_is_not_invoked() {
    let mut c = Cluster::new(2);
    let callee = c.join(2, &[], &[]);
    let caller = c.join_hello(1, &ppt_hello());
    cluster_register(&mut c, 2, callee);
    cluster_call(&mut c, 1, caller, 1);
    assert_eq!(
        error_of(c.take_one(1, caller)),
        (code::CALL, 1, FEATURE_NOT_SUPPORTED.into())
    );
    assert!(c.take(2, callee).is_empty());
}

#[test]
fn events_in_the_mode_cross_nodes_to_subscribers_that_announced_it() {
    let mut c = Cluster::new(2);
    let publisher = c.join_hello(1, &ppt_hello());
    let aware = c.join_hello(2, &ppt_hello());
    let unaware = c.join(2, &[], &[]);
    for s in [aware, unaware] {
        let subscribe = Subscribe {
            request: 1,
            options: Dict::new(),
            topic: T.into(),
        };
        let reply = ask(&mut c, 2, s, Message::Subscribe(subscribe));
        assert!(matches!(reply, Message::Subscribed(_)), "{reply:?}");
    }
    let publish = Publish {
        request: 1,
        options: ppt_options(),
        topic: T.into(),
        arguments: Arguments::list(sealed()),
    };
    c.send(1, publisher, Message::Publish(publish));
    let e = event(c.take_one(2, aware));
    assert_eq!(ppt_of(&e.details), ppt_options());
    assert_eq!(args(&e.arguments), sealed());
    assert!(c.take(2, unaware).is_empty());
}

#[test]
fn a_retained_event_in_the_mode_keeps_its_attributes_and_skips_subscribers_without_it() {
    let mut h = Harness::new();
    let (publisher, aware, unaware) = (
        h.join_hello(&ppt_hello()),
        h.join_hello(&ppt_hello()),
        h.join(),
    );
    let mut options = ppt_options();
    options.insert("retain".into(), true.into());
    h.publish(publisher, 1, T, options, Arguments::list(sealed()));
    for (subscriber, expected) in [(aware, 1), (unaware, 0)] {
        let subscribe = Subscribe {
            request: 1,
            options: opts(&[("get_retained", true.into())]),
            topic: T.into(),
        };
        h.send(subscriber, Message::Subscribe(subscribe));
        let mut replies = h.take(subscriber).into_iter();
        assert!(matches!(replies.next(), Some(Message::Subscribed(_))));
        let events: Vec<_> = replies.map(event).collect();
        assert_eq!(events.len(), expected, "{events:?}");
        for e in events {
            assert_eq!(e.details.get("retained"), Some(&Value::Bool(true)));
            assert_eq!(ppt_of(&e.details), ppt_options());
            assert_eq!(args(&e.arguments), sealed());
        }
    }
}

/// Autobahn's earlier draft, payload transparency: `enc_*` options, announced as
/// `payload_transparency`, checked apart from Payload Passthru Mode.
mod transparency {
    use super::*;

    const TRANSPARENT: &[&str] = &["payload_transparency"];

    fn transparent_hello() -> Hello {
        hello_announcing(TRANSPARENT)
    }

    fn enc_options() -> Dict {
        opts(&[
            ("enc_algo", "cryptobox".into()),
            ("enc_serializer", "json".into()),
        ])
    }

    #[test]
    fn enc_options_travel_between_peers_that_announced_payload_transparency() {
        let mut h = Harness::new();
        let (callee, caller) = (
            h.join_hello(&transparent_hello()),
            h.join_hello(&transparent_hello()),
        );
        h.registered(callee, P, Dict::new());
        h.call(caller, 1, P, enc_options(), sealed());
        let inv = invocation(h.take_one(callee));
        assert_eq!(inv.details.get("enc_algo"), Some(&"cryptobox".into()));
        assert_eq!(inv.details.get("enc_serializer"), Some(&"json".into()));
        h.yield_(callee, inv.request, enc_options(), sealed());
        let res = result(h.take_one(caller));
        assert_eq!(res.details, enc_options());
    }

    #[test]
    fn announcing_passthru_mode_does_not_admit_enc_options() {
        let mut h = Harness::new();
        // The callee knows ppt_* only: an enc_* call is not offered to it.
        let (callee, caller) = (
            h.join_hello(&ppt_hello()),
            h.join_hello(&transparent_hello()),
        );
        h.registered(callee, P, Dict::new());
        h.call(caller, 1, P, enc_options(), sealed());
        assert_eq!(
            error_of(h.take_one(caller)),
            (code::CALL, 1, FEATURE_NOT_SUPPORTED.into())
        );
        assert!(h.take(callee).is_empty());
        // And a ppt_* caller without payload_transparency may not send enc_*.
        let other = h.join_hello(&ppt_hello());
        h.call(other, 2, P, enc_options(), sealed());
        assert_aborted(&mut h, other);
    }

    #[test]
    fn a_transparent_answer_to_a_caller_without_the_feature_is_refused() {
        let mut h = Harness::new();
        let (callee, caller) = (
            h.join_hello(&transparent_hello()),
            h.join_hello(&ppt_hello()),
        );
        h.registered(callee, P, Dict::new());
        let inv = h.call_invoked(caller, 1, P, callee);
        h.yield_(callee, inv.request, enc_options(), sealed());
        assert_eq!(
            error_of(h.take_one(callee)),
            (code::YIELD, inv.request, FEATURE_NOT_SUPPORTED.into())
        );
        assert_eq!(
            error_of(h.take_one(caller)),
            (code::CALL, 1, FEATURE_NOT_SUPPORTED.into())
        );
    }
}

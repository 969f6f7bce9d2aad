//! The Basic Profile dealer, one behaviour per test (after nexus's dealer_test.go).

use bytes::Bytes;
use switchboard_proto::error_uri::*;
use switchboard_proto::{
    code, Arguments, Call, Codec, Dict, Error, Message, Payload, Register, Unregister, Value, Yield,
};

use super::harness::Harness;
use crate::SessionId;

fn register(h: &mut Harness, callee: SessionId, procedure: &str) -> u64 {
    h.send(
        callee,
        Message::Register(Register {
            request: 1,
            options: Dict::new(),
            procedure: procedure.into(),
        }),
    );
    match h.take_one(callee) {
        Message::Registered(r) => r.registration,
        other => panic!("expected REGISTERED, got {other:?}"),
    }
}

fn call(h: &mut Harness, caller: SessionId, request: u64, procedure: &str, args: Vec<Value>) {
    let call = Call {
        request,
        options: Dict::new(),
        procedure: procedure.into(),
        arguments: Arguments::list(args),
    };
    h.send(caller, Message::Call(call));
}

fn error_uri(message: &Message) -> (u64, u64, &str) {
    match message {
        Message::Error(e) => (e.request_type, e.request, e.error.as_str()),
        other => panic!("expected ERROR, got {other:?}"),
    }
}

#[test]
fn call_is_invoked_on_the_callee_and_its_yield_becomes_the_callers_result() {
    let mut h = Harness::new();
    let (callee, caller) = (h.join(), h.join());
    let registration = register(&mut h, callee, "com.example.add");
    call(
        &mut h,
        caller,
        7,
        "com.example.add",
        vec![2.into(), 3.into()],
    );
    let Message::Invocation(inv) = h.take_one(callee) else {
        panic!("expected INVOCATION")
    };
    assert_eq!(inv.registration, registration);
    assert_eq!(
        inv.arguments.args_values().unwrap(),
        vec![Value::Int(2), Value::Int(3)]
    );
    h.send(
        callee,
        Message::Yield(Yield {
            request: inv.request,
            options: Dict::new(),
            arguments: Arguments::list(vec![5.into()]),
        }),
    );
    let Message::Result(result) = h.take_one(caller) else {
        panic!("expected RESULT")
    };
    assert_eq!(result.request, 7);
    assert_eq!(result.arguments.args_values().unwrap(), vec![Value::Int(5)]);
    assert_eq!(h.realm.dealer().pending_calls(), 0);
}

#[test]
fn encoded_arguments_reach_the_callee_without_being_decoded() {
    let mut h = Harness::new();
    let (callee, caller) = (h.join(), h.join());
    register(&mut h, callee, "p");
    let raw = Payload::Encoded {
        codec: Codec::Json,
        bytes: Bytes::from_static(b"[1,  2]"),
    };
    let call = Call {
        request: 1,
        options: Dict::new(),
        procedure: "p".into(),
        arguments: Arguments {
            args: Some(raw.clone()),
            kwargs: None,
        },
    };
    h.send(caller, Message::Call(call));
    let Message::Invocation(inv) = h.take_one(callee) else {
        panic!("expected INVOCATION")
    };
    assert_eq!(inv.arguments.args, Some(raw));
}

#[test]
fn callee_error_reaches_the_caller_with_uri_args_and_kwargs() {
    let mut h = Harness::new();
    let (callee, caller) = (h.join(), h.join());
    register(&mut h, callee, "p");
    call(&mut h, caller, 9, "p", vec![]);
    let Message::Invocation(inv) = h.take_one(callee) else {
        panic!("expected INVOCATION")
    };
    let mut kwargs = Dict::new();
    kwargs.insert("why".into(), "bad".into());
    let args = Arguments::with_kwargs(vec!["oops".into()], kwargs);
    h.send(
        callee,
        Message::Error(Error {
            request_type: code::INVOCATION,
            request: inv.request,
            details: Dict::new(),
            error: "com.example.error.bad".into(),
            arguments: args.clone(),
        }),
    );
    let Message::Error(e) = h.take_one(caller) else {
        panic!("expected ERROR")
    };
    assert_eq!(
        (e.request_type, e.request, e.error.as_str()),
        (code::CALL, 9, "com.example.error.bad")
    );
    assert_eq!(e.arguments, args);
}

#[test]
fn call_to_an_unregistered_procedure_fails_with_no_such_procedure() {
    let mut h = Harness::new();
    let caller = h.join();
    call(&mut h, caller, 3, "com.example.nothing", vec![]);
    assert_eq!(
        error_uri(&h.take_one(caller)),
        (code::CALL, 3, NO_SUCH_PROCEDURE)
    );
}

#[test]
fn second_register_of_a_procedure_fails_with_procedure_already_exists() {
    let mut h = Harness::new();
    let (a, b) = (h.join(), h.join());
    register(&mut h, a, "p");
    h.send(
        b,
        Message::Register(Register {
            request: 4,
            options: Dict::new(),
            procedure: "p".into(),
        }),
    );
    assert_eq!(
        error_uri(&h.take_one(b)),
        (code::REGISTER, 4, PROCEDURE_ALREADY_EXISTS)
    );
}

#[test]
fn unregister_removes_the_procedure_and_a_second_unregister_fails() {
    let mut h = Harness::new();
    let (callee, caller) = (h.join(), h.join());
    let id = register(&mut h, callee, "p");
    h.send(
        callee,
        Message::Unregister(Unregister {
            request: 2,
            registration: id,
        }),
    );
    assert!(matches!(h.take_one(callee), Message::Unregistered(u) if u.request == 2));
    h.send(
        callee,
        Message::Unregister(Unregister {
            request: 3,
            registration: id,
        }),
    );
    assert_eq!(
        error_uri(&h.take_one(callee)),
        (code::UNREGISTER, 3, NO_SUCH_REGISTRATION)
    );
    call(&mut h, caller, 1, "p", vec![]);
    assert_eq!(
        error_uri(&h.take_one(caller)),
        (code::CALL, 1, NO_SUCH_PROCEDURE)
    );
}

#[test]
fn another_session_cannot_unregister_a_registration_it_does_not_own() {
    let mut h = Harness::new();
    let (owner, other) = (h.join(), h.join());
    let id = register(&mut h, owner, "p");
    h.send(
        other,
        Message::Unregister(Unregister {
            request: 5,
            registration: id,
        }),
    );
    assert_eq!(
        error_uri(&h.take_one(other)),
        (code::UNREGISTER, 5, NO_SUCH_REGISTRATION)
    );
}

#[test]
fn callee_leaving_cancels_every_pending_call_and_drops_its_registrations() {
    let mut h = Harness::new();
    let (callee, caller) = (h.join(), h.join());
    register(&mut h, callee, "p");
    call(&mut h, caller, 1, "p", vec![]);
    call(&mut h, caller, 2, "p", vec![]);
    h.take(callee);
    h.leave(callee);
    let mut errors: Vec<_> = h.take(caller).iter().map(|m| error_uri(m).1).collect();
    errors.sort_unstable();
    assert_eq!(errors, vec![1, 2]);
    call(&mut h, caller, 3, "p", vec![]);
    assert_eq!(
        error_uri(&h.take_one(caller)),
        (code::CALL, 3, NO_SUCH_PROCEDURE)
    );
    assert_eq!(h.realm.dealer().pending_calls(), 0);
}

#[test]
fn caller_leaving_interrupts_a_callee_that_supports_canceling() {
    let mut h = Harness::new();
    let callee = h.join_with(&["call_canceling"]);
    let caller = h.join();
    register(&mut h, callee, "p");
    call(&mut h, caller, 1, "p", vec![]);
    let Message::Invocation(inv) = h.take_one(callee) else {
        panic!("expected INVOCATION")
    };
    h.leave(caller);
    let Message::Interrupt(interrupt) = h.take_one(callee) else {
        panic!("expected INTERRUPT")
    };
    assert_eq!(interrupt.request, inv.request);
    assert_eq!(
        interrupt.options.get("mode"),
        Some(&Value::from("killnowait"))
    );
    // Its late YIELD goes nowhere.
    h.send(
        callee,
        Message::Yield(Yield {
            request: inv.request,
            ..Default::default()
        }),
    );
    h.assert_quiet();
}

#[test]
fn caller_leaving_sends_nothing_to_a_callee_without_call_canceling() {
    let mut h = Harness::new();
    let (callee, caller) = (h.join(), h.join());
    register(&mut h, callee, "p");
    call(&mut h, caller, 1, "p", vec![]);
    h.take(callee);
    h.leave(caller);
    h.assert_quiet();
    assert_eq!(h.realm.dealer().pending_calls(), 0);
}

#[test]
fn a_yield_from_a_session_that_was_not_invoked_is_ignored() {
    let mut h = Harness::new();
    let (callee, caller, intruder) = (h.join(), h.join(), h.join());
    register(&mut h, callee, "p");
    call(&mut h, caller, 1, "p", vec![]);
    let Message::Invocation(inv) = h.take_one(callee) else {
        panic!("expected INVOCATION")
    };
    h.send(
        intruder,
        Message::Yield(Yield {
            request: inv.request,
            ..Default::default()
        }),
    );
    h.assert_quiet();
    assert_eq!(h.realm.dealer().pending_calls(), 1);
}

#[test]
fn invalid_and_reserved_uris_are_refused_with_invalid_uri() {
    let mut h = Harness::new();
    let s = h.join();
    for (request, uri) in [(1, "com..bad"), (2, "com.with space"), (3, "wamp.mine")] {
        h.send(
            s,
            Message::Register(Register {
                request,
                options: Dict::new(),
                procedure: uri.into(),
            }),
        );
        assert_eq!(
            error_uri(&h.take_one(s)),
            (code::REGISTER, request, INVALID_URI),
            "{uri}"
        );
    }
    call(&mut h, s, 4, "com.#bad", vec![]);
    assert_eq!(error_uri(&h.take_one(s)), (code::CALL, 4, INVALID_URI));
}

#[test]
fn unknown_register_policies_are_refused_as_invalid_arguments() {
    let mut h = Harness::new();
    let s = h.join();
    let mut options = Dict::new();
    options.insert("match".into(), "fuzzy".into());
    h.send(
        s,
        Message::Register(Register {
            request: 1,
            options,
            procedure: "p".into(),
        }),
    );
    assert_eq!(
        error_uri(&h.take_one(s)),
        (code::REGISTER, 1, INVALID_ARGUMENT)
    );
}

#[test]
fn reusing_a_pending_call_request_id_aborts_the_caller() {
    let mut h = Harness::new();
    let (callee, caller) = (h.join(), h.join());
    register(&mut h, callee, "p");
    call(&mut h, caller, 1, "p", vec![]);
    h.take(callee);
    call(&mut h, caller, 1, "p", vec![]);
    assert!(matches!(h.take_one(caller), Message::Abort(a) if a.reason == PROTOCOL_VIOLATION));
    // The aborted caller is gone, so the callee's answer goes nowhere.
    assert_eq!(h.realm.session_count(), 1);
}

#[test]
fn error_for_anything_but_an_invocation_aborts_the_sender() {
    let mut h = Harness::new();
    let s = h.join();
    h.send(
        s,
        Message::Error(Error {
            request_type: code::CALL,
            request: 1,
            error: "x".into(),
            ..Default::default()
        }),
    );
    assert!(matches!(h.take_one(s), Message::Abort(a) if a.reason == PROTOCOL_VIOLATION));
}

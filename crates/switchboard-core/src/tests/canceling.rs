//! Call canceling (`rpc_call_canceling.md`): the modes skip, kill and
//! killnowait, the fallback to skip for callees that cannot be interrupted, and
//! CANCELs that come too late or make no sense.

use switchboard_proto::error_uri::{CANCELED, CANCELED_ALT, INVALID_ARGUMENT};
use switchboard_proto::{code, Dict, Invocation, Value};

use super::harness::Harness;
use super::wamp::{args, error, error_of, interrupt_mode, result, CANCELING};
use crate::SessionId;

const P: &str = "com.example.work";

/// A callee with `features` registers `P`, a caller calls it (request 1).
/// Returns (callee, caller, the INVOCATION).
fn pending_call(h: &mut Harness, features: &[&str]) -> (SessionId, SessionId, Invocation) {
    let callee = h.join_with(features);
    let caller = h.join();
    h.registered(callee, P, Dict::new());
    let inv = h.call_invoked(caller, 1, P, callee);
    (callee, caller, inv)
}

fn assert_canceled_now(h: &mut Harness, caller: SessionId) {
    assert_eq!(
        error_of(h.take_one(caller)),
        (code::CALL, 1, CANCELED.into())
    );
    assert_eq!(h.realm.dealer().pending_calls(), 0);
}

/// The callee answers late; nobody hears about it.
fn assert_late_answers_dropped(h: &mut Harness, callee: SessionId, inv: &Invocation) {
    h.yield_(callee, inv.request, Dict::new(), vec!["late".into()]);
    h.fail_invocation(callee, inv.request, "com.example.error.late");
    h.assert_quiet();
}

#[test]
fn skip_errors_the_caller_at_once_sends_no_interrupt_and_drops_the_late_yield() {
    let mut h = Harness::new();
    let (callee, caller, inv) = pending_call(&mut h, CANCELING);
    h.cancel(caller, 1, Some("skip"));
    assert_canceled_now(&mut h, caller);
    assert_eq!(h.take(callee), vec![]);
    assert_late_answers_dropped(&mut h, callee, &inv);
}

#[test]
fn killnowait_errors_the_caller_at_once_and_interrupts_the_callee() {
    let mut h = Harness::new();
    let (callee, caller, inv) = pending_call(&mut h, CANCELING);
    h.cancel(caller, 1, Some("killnowait"));
    assert_canceled_now(&mut h, caller);
    assert_eq!(
        interrupt_mode(h.take_one(callee)),
        (inv.request, "killnowait".into())
    );
    assert_late_answers_dropped(&mut h, callee, &inv);
}

#[test]
fn kill_interrupts_the_callee_and_the_caller_waits_for_the_callees_error() {
    let mut h = Harness::new();
    let (callee, caller, inv) = pending_call(&mut h, CANCELING);
    h.cancel(caller, 1, Some("kill"));
    assert_eq!(
        interrupt_mode(h.take_one(callee)),
        (inv.request, "kill".into())
    );
    assert_eq!(h.take(caller), vec![], "kill waits for the callee");
    assert_eq!(h.realm.dealer().pending_calls(), 1);
    h.fail_invocation(callee, inv.request, CANCELED);
    let e = error(h.take_one(caller));
    assert_eq!(
        (e.request_type, e.request, e.error.as_str()),
        (code::CALL, 1, CANCELED)
    );
    assert_eq!(args(&e.arguments), vec![Value::from("from the callee")]);
    assert_eq!(h.realm.dealer().pending_calls(), 0);
    h.assert_quiet();
}

#[test]
fn kill_relays_a_result_if_the_callee_finishes_before_handling_the_interrupt() {
    let mut h = Harness::new();
    let (callee, caller, inv) = pending_call(&mut h, CANCELING);
    h.cancel(caller, 1, Some("kill"));
    h.take(callee);
    h.yield_(callee, inv.request, Dict::new(), vec!["done".into()]);
    let r = result(h.take_one(caller));
    assert_eq!((r.request, args(&r.arguments)), (1, vec!["done".into()]));
    h.assert_quiet();
}

#[test]
fn kill_relays_the_callees_cancelled_spelling_as_canceled() {
    let mut h = Harness::new();
    let (callee, caller, inv) = pending_call(&mut h, CANCELING);
    h.cancel(caller, 1, Some("kill"));
    h.take(callee);
    h.fail_invocation(callee, inv.request, CANCELED_ALT);
    assert_eq!(
        error_of(h.take_one(caller)),
        (code::CALL, 1, CANCELED.into())
    );
}

#[test]
fn a_second_kill_cancel_does_not_interrupt_the_callee_again() {
    let mut h = Harness::new();
    let (callee, caller, inv) = pending_call(&mut h, CANCELING);
    h.cancel(caller, 1, Some("kill"));
    assert_eq!(interrupt_mode(h.take_one(callee)).0, inv.request);
    h.cancel(caller, 1, Some("kill"));
    h.assert_quiet();
}

#[test]
fn a_callee_without_call_canceling_gets_skip_whatever_the_mode() {
    for mode in [Some("kill"), Some("killnowait"), Some("skip"), None] {
        let mut h = Harness::new();
        let (callee, caller, inv) = pending_call(&mut h, &[]);
        h.cancel(caller, 1, mode);
        assert_canceled_now(&mut h, caller);
        assert_eq!(h.take(callee), vec![], "mode {mode:?}");
        assert_late_answers_dropped(&mut h, callee, &inv);
    }
}

#[test]
fn cancel_without_a_mode_defaults_to_killnowait() {
    let mut h = Harness::new();
    let (callee, caller, inv) = pending_call(&mut h, CANCELING);
    h.cancel(caller, 1, None);
    assert_canceled_now(&mut h, caller);
    assert_eq!(
        interrupt_mode(h.take_one(callee)),
        (inv.request, "killnowait".into())
    );
}

#[test]
fn cancel_of_a_call_that_already_finished_sends_nothing() {
    let mut h = Harness::new();
    let (callee, caller, inv) = pending_call(&mut h, CANCELING);
    h.yield_(callee, inv.request, Dict::new(), vec![]);
    assert_eq!(result(h.take_one(caller)).request, 1);
    for mode in ["skip", "kill", "killnowait"] {
        h.cancel(caller, 1, Some(mode));
        h.assert_quiet();
    }
}

#[test]
fn cancel_with_an_unknown_mode_is_refused_with_invalid_argument() {
    let mut h = Harness::new();
    let (callee, caller, inv) = pending_call(&mut h, CANCELING);
    h.cancel(caller, 1, Some("obliterate"));
    assert_eq!(
        error_of(h.take_one(caller)),
        (code::CANCEL, 1, INVALID_ARGUMENT.into())
    );
    assert_eq!(h.take(callee), vec![]);
    // The call itself goes on.
    h.yield_(callee, inv.request, Dict::new(), vec![]);
    assert_eq!(result(h.take_one(caller)).request, 1);
}

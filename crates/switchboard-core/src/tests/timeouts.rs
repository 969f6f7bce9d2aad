//! Call timeouts (`rpc_call_timeout.md`): the router's own timer, timeouts
//! forwarded to the callee, the realm's default and cap, and per-gap timing of
//! progressive results.

use std::time::Duration;

use switchboard_proto::error_uri::TIMEOUT;
use switchboard_proto::{code, Dict, Invocation, Value};

use super::harness::Harness;
use super::wamp::{
    error_of, interrupt_mode, invocation, opts, result, CANCELING, PROGRESSIVE_RESULTS,
};
use crate::{RealmConfig, SessionId};

const P: &str = "com.example.slow";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A callee with `features` registers `P` with `register_options`; a plain
/// caller joins. Returns (callee, caller).
fn setup(h: &mut Harness, features: &[&str], register_options: Dict) -> (SessionId, SessionId) {
    let callee = h.join_with(features);
    let caller = h.join();
    h.registered(callee, P, register_options);
    (callee, caller)
}

/// CALLs `P` with `timeout` ms (`None`: no option) and returns the INVOCATION.
fn call_with_timeout(
    h: &mut Harness,
    caller: SessionId,
    callee: SessionId,
    timeout: Option<u64>,
) -> Invocation {
    let options = timeout.map_or_else(Dict::new, |t| opts(&[("timeout", t.into())]));
    h.call(caller, 1, P, options, vec![]);
    invocation(h.take_one(callee))
}

/// Asserts the call has just timed out: ERROR timeout to the caller and
/// nothing else to anyone but an optional INTERRUPT to the callee.
fn assert_timed_out(h: &mut Harness, caller: SessionId) {
    assert_eq!(
        error_of(h.take_one(caller)),
        (code::CALL, 1, TIMEOUT.into())
    );
    assert_eq!(h.realm.dealer().pending_calls(), 0);
    assert_eq!(h.realm.poll_timeout(), None);
}

#[test]
fn router_timeout_errors_the_caller_and_interrupts_a_canceling_callee_with_killnowait() {
    let mut h = Harness::new();
    let (callee, caller) = setup(&mut h, CANCELING, Dict::new());
    let inv = call_with_timeout(&mut h, caller, callee, Some(100));
    assert!(
        !inv.details.contains_key("timeout"),
        "the router keeps the timer"
    );
    assert_eq!(h.realm.poll_timeout(), Some(h.now + ms(100)));
    h.advance(ms(99));
    h.assert_quiet();
    h.advance(ms(1));
    // The caller hears first, then the callee is told to stop; nothing else.
    let mut sent = h.take_all().into_iter();
    let (first, second) = (sent.next().unwrap(), sent.next().unwrap());
    assert_eq!(sent.next(), None);
    assert_eq!(
        (first.to, error_of(first.message)),
        (caller, (code::CALL, 1, TIMEOUT.into()))
    );
    assert_eq!(
        (second.to, interrupt_mode(second.message)),
        (callee, (inv.request, "killnowait".into()))
    );
    assert_eq!(h.realm.dealer().pending_calls(), 0);
    assert_eq!(h.realm.poll_timeout(), None);
}

#[test]
fn router_timeout_sends_no_interrupt_to_a_callee_without_call_canceling() {
    let mut h = Harness::new();
    let (callee, caller) = setup(&mut h, &[], Dict::new());
    call_with_timeout(&mut h, caller, callee, Some(100));
    h.advance(ms(100));
    assert_timed_out(&mut h, caller);
    assert_eq!(h.take(callee), vec![]);
}

#[test]
fn a_yield_after_the_timeout_is_dropped() {
    let mut h = Harness::new();
    let (callee, caller) = setup(&mut h, CANCELING, Dict::new());
    let inv = call_with_timeout(&mut h, caller, callee, Some(100));
    h.advance(ms(150));
    assert_timed_out(&mut h, caller);
    h.take(callee);
    h.yield_(callee, inv.request, Dict::new(), vec!["late".into()]);
    h.assert_quiet();
}

#[test]
fn a_yield_just_before_the_deadline_wins_and_the_deadline_then_passes_silently() {
    let mut h = Harness::new();
    let (callee, caller) = setup(&mut h, CANCELING, Dict::new());
    let inv = call_with_timeout(&mut h, caller, callee, Some(100));
    h.advance(ms(99));
    h.yield_(callee, inv.request, Dict::new(), vec!["in time".into()]);
    let r = result(h.take_one(caller));
    assert_eq!(r.request, 1);
    assert_eq!(r.details, Dict::new());
    assert_eq!(h.realm.poll_timeout(), None);
    h.advance(ms(10));
    h.advance(ms(1_000));
    h.assert_quiet();
}

#[test]
fn forward_timeout_puts_the_timeout_in_the_invocation_and_the_router_does_not_enforce_it() {
    let mut h = Harness::new();
    let forward = opts(&[("forward_timeout", true.into())]);
    let (callee, caller) = setup(&mut h, CANCELING, forward);
    let inv = call_with_timeout(&mut h, caller, callee, Some(250));
    assert_eq!(inv.details.get("timeout"), Some(&Value::Int(250)));
    assert_eq!(h.realm.poll_timeout(), None);
    h.advance(ms(10_000));
    h.assert_quiet();
    // The callee enforces it: its timeout ERROR is relayed as is.
    h.fail_invocation(callee, inv.request, TIMEOUT);
    assert_eq!(
        error_of(h.take_one(caller)),
        (code::CALL, 1, TIMEOUT.into())
    );
}

#[test]
fn realm_default_call_timeout_applies_to_calls_that_set_none() {
    let mut h = Harness::with_config(RealmConfig {
        default_call_timeout: Some(ms(500)),
        ..RealmConfig::anonymous("com.example.realm")
    });
    let (callee, caller) = setup(&mut h, &[], Dict::new());
    call_with_timeout(&mut h, caller, callee, None);
    h.advance(ms(499));
    h.assert_quiet();
    h.advance(ms(1));
    assert_timed_out(&mut h, caller);
}

#[test]
fn realm_max_call_timeout_caps_a_longer_requested_timeout() {
    let mut h = Harness::with_config(RealmConfig {
        max_call_timeout: Some(ms(200)),
        ..RealmConfig::anonymous("com.example.realm")
    });
    let (callee, caller) = setup(&mut h, &[], Dict::new());
    call_with_timeout(&mut h, caller, callee, Some(60_000));
    h.advance(ms(199));
    h.assert_quiet();
    h.advance(ms(1));
    assert_timed_out(&mut h, caller);
}

#[test]
fn realm_max_call_timeout_also_bounds_calls_that_set_none() {
    let mut h = Harness::with_config(RealmConfig {
        max_call_timeout: Some(ms(200)),
        ..RealmConfig::anonymous("com.example.realm")
    });
    let (callee, caller) = setup(&mut h, &[], Dict::new());
    call_with_timeout(&mut h, caller, callee, None);
    h.advance(ms(200));
    assert_timed_out(&mut h, caller);
}

#[test]
fn a_forwarded_timeout_is_capped_by_the_realm_max() {
    let mut h = Harness::with_config(RealmConfig {
        max_call_timeout: Some(ms(200)),
        ..RealmConfig::anonymous("com.example.realm")
    });
    let forward = opts(&[("forward_timeout", true.into())]);
    let (callee, caller) = setup(&mut h, &[], forward);
    let inv = call_with_timeout(&mut h, caller, callee, Some(60_000));
    assert_eq!(inv.details.get("timeout"), Some(&Value::Int(200)));
    assert_eq!(h.realm.poll_timeout(), None);
}

#[test]
fn timeout_zero_means_no_timeout() {
    let mut h = Harness::new();
    let (callee, caller) = setup(&mut h, CANCELING, Dict::new());
    let inv = call_with_timeout(&mut h, caller, callee, Some(0));
    assert!(!inv.details.contains_key("timeout"));
    assert_eq!(h.realm.poll_timeout(), None);
    h.advance(Duration::from_secs(3_600));
    h.assert_quiet();
    h.yield_(callee, inv.request, Dict::new(), vec![]);
    assert_eq!(result(h.take_one(caller)).request, 1);
}

#[test]
fn a_progressive_yield_restarts_the_timeout_so_it_covers_each_gap() {
    let mut h = Harness::new();
    let (callee, caller) = setup(&mut h, PROGRESSIVE_RESULTS, Dict::new());
    let options = opts(&[("timeout", 100.into()), ("receive_progress", true.into())]);
    h.call(caller, 1, P, options, vec![]);
    let inv = invocation(h.take_one(callee));
    h.advance(ms(80));
    h.yield_progress(callee, inv.request, vec![1.into()]);
    assert_eq!(
        result(h.take_one(caller)).details.get("progress"),
        Some(&Value::Bool(true))
    );
    assert_eq!(h.realm.poll_timeout(), Some(h.now + ms(100)));
    // Past the first deadline (t=100) but within 100 ms of the progress (t=80).
    h.advance(ms(80));
    h.assert_quiet();
    h.advance(ms(20));
    assert_timed_out(&mut h, caller);
    assert_eq!(
        interrupt_mode(h.take_one(callee)),
        (inv.request, "killnowait".into())
    );
}

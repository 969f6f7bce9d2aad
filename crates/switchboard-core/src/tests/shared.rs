//! Shared registrations (`rpc_shared_registration.md`): one registration, many
//! callees, and the invoke policies that pick among them.

use std::collections::HashSet;

use switchboard_proto::error_uri::{CANCELED, PROCEDURE_ALREADY_EXISTS};
use switchboard_proto::{code, Dict};

use super::harness::Harness;
use super::wamp::{error_of, opts, result};
use crate::SessionId;

const P: &str = "com.example.shared";

/// `n` callees register `P` with `invoke`, in order; a caller joins. Checks they
/// all got the same registration id. Returns (callees, caller).
fn shared(h: &mut Harness, n: usize, invoke: &str) -> (Vec<SessionId>, SessionId) {
    let callees: Vec<SessionId> = (0..n).map(|_| h.join()).collect();
    let ids: HashSet<u64> = callees
        .iter()
        .map(|&c| h.registered_shared(c, P, invoke))
        .collect();
    assert_eq!(ids.len(), 1, "one registration id for every callee");
    (callees, h.join())
}

/// Makes `calls` calls (request ids from `first_request`) and returns who got each.
fn picks(
    h: &mut Harness,
    caller: SessionId,
    callees: &[SessionId],
    first_request: u64,
    calls: u64,
) -> Vec<SessionId> {
    (first_request..first_request + calls)
        .map(|request| {
            h.call(caller, request, P, Dict::new(), vec![]);
            let got: Vec<SessionId> = callees
                .iter()
                .copied()
                .filter(|&c| !h.take(c).is_empty())
                .collect();
            assert_eq!(got.len(), 1, "call {request} went to {got:?}");
            got[0]
        })
        .collect()
}

#[test]
fn roundrobin_rotates_over_the_callees_in_registration_order() {
    let mut h = Harness::new();
    let (c, caller) = shared(&mut h, 3, "roundrobin");
    assert_eq!(
        picks(&mut h, caller, &c, 1, 7),
        vec![c[0], c[1], c[2], c[0], c[1], c[2], c[0]]
    );
}

#[test]
fn roundrobin_stays_fair_after_an_already_called_callee_leaves() {
    let mut h = Harness::new();
    let (c, caller) = shared(&mut h, 3, "roundrobin");
    assert_eq!(picks(&mut h, caller, &c, 1, 2), vec![c[0], c[1]]);
    h.leave(c[0]);
    h.take(caller);
    // c[2] was next and still is; then the rotation goes on over the rest.
    assert_eq!(
        picks(&mut h, caller, &c[1..], 10, 3),
        vec![c[2], c[1], c[2]]
    );
}

#[test]
fn roundrobin_moves_on_to_the_following_callee_when_the_next_one_leaves() {
    let mut h = Harness::new();
    let (c, caller) = shared(&mut h, 3, "roundrobin");
    assert_eq!(picks(&mut h, caller, &c, 1, 1), vec![c[0]]);
    h.leave(c[1]);
    let rest = [c[0], c[2]];
    assert_eq!(picks(&mut h, caller, &rest, 10, 3), vec![c[2], c[0], c[2]]);
}

#[test]
fn first_picks_the_first_registered_callee_and_switches_when_it_leaves() {
    let mut h = Harness::new();
    let (c, caller) = shared(&mut h, 3, "first");
    assert_eq!(picks(&mut h, caller, &c, 1, 3), vec![c[0]; 3]);
    h.leave(c[0]);
    h.take(caller);
    assert_eq!(picks(&mut h, caller, &c[1..], 10, 2), vec![c[1]; 2]);
}

#[test]
fn last_picks_the_last_registered_callee_and_switches_when_it_leaves() {
    let mut h = Harness::new();
    let (c, caller) = shared(&mut h, 3, "last");
    assert_eq!(picks(&mut h, caller, &c, 1, 3), vec![c[2]; 3]);
    h.leave(c[2]);
    h.take(caller);
    assert_eq!(picks(&mut h, caller, &c[..2], 10, 2), vec![c[1]; 2]);
}

#[test]
fn random_reaches_every_callee_over_many_calls() {
    let mut h = Harness::new();
    let (c, caller) = shared(&mut h, 3, "random");
    let seen: HashSet<SessionId> = picks(&mut h, caller, &c, 1, 200).into_iter().collect();
    assert_eq!(seen, c.iter().copied().collect());
}

#[test]
fn a_register_with_a_different_invoke_policy_fails_with_procedure_already_exists() {
    let mut h = Harness::new();
    let (c, _caller) = shared(&mut h, 1, "roundrobin");
    let other = h.join();
    for (request, options) in [
        (1, opts(&[("invoke", "random".into())])),
        (2, opts(&[("invoke", "first".into())])),
        (3, opts(&[("invoke", "single".into())])),
        (4, Dict::new()),
    ] {
        assert_eq!(
            error_of(h.register(other, request, P, options)),
            (code::REGISTER, request, PROCEDURE_ALREADY_EXISTS.into())
        );
    }
    let registration = h.realm.dealer().registry().match_procedure(P).unwrap();
    let callees: Vec<SessionId> = registration.callees.iter().map(|x| x.session).collect();
    assert_eq!(callees, c);
}

#[test]
fn single_refuses_a_second_callee_whatever_it_asks_for() {
    let mut h = Harness::new();
    let (_, _caller) = shared(&mut h, 1, "single");
    let other = h.join();
    for (request, invoke) in [(1, "single"), (2, "roundrobin")] {
        let options = opts(&[("invoke", invoke.into())]);
        assert_eq!(
            error_of(h.register(other, request, P, options)),
            (code::REGISTER, request, PROCEDURE_ALREADY_EXISTS.into())
        );
    }
}

#[test]
fn the_other_callees_keep_serving_after_one_leaves_mid_call() {
    let mut h = Harness::new();
    let (c, caller) = shared(&mut h, 2, "roundrobin");
    h.call_invoked(caller, 1, P, c[0]);
    h.leave(c[0]);
    assert_eq!(
        error_of(h.take_one(caller)),
        (code::CALL, 1, CANCELED.into())
    );
    for request in [2, 3] {
        let inv = h.call_invoked(caller, request, P, c[1]);
        h.yield_(c[1], inv.request, Dict::new(), vec![]);
        assert_eq!(result(h.take_one(caller)).request, request);
    }
    h.assert_quiet();
}

/// Call re-routing (`ap_rpc_call_rerouting.md`): the callee's
/// `wamp.error.unavailable` sends the same call to the next callee.
mod rerouting {
    use switchboard_proto::error_uri::{NO_AVAILABLE_CALLEE, UNAVAILABLE};
    use switchboard_proto::{code, Dict, Value};

    use super::super::wamp::{args, error, error_of, invocation, opts, result};
    use super::{shared, P};
    use crate::tests::harness::Harness;

    #[test]
    fn an_unavailable_callee_hands_the_same_call_to_the_next_roundrobin_callee() {
        let mut h = Harness::new();
        let (c, caller) = shared(&mut h, 3, "roundrobin");
        h.call(caller, 1, P, Dict::new(), vec![Value::from("work")]);
        let first = invocation(h.take_one(c[0]));
        h.fail_invocation(c[0], first.request, UNAVAILABLE);
        let second = invocation(h.take_one(c[1]));
        assert_eq!(args(&second.arguments), vec![Value::from("work")]);
        h.yield_(c[1], second.request, Dict::new(), vec![Value::from("done")]);
        let answer = result(h.take_one(caller));
        assert_eq!(args(&answer.arguments), vec![Value::from("done")]);
        h.assert_quiet();
    }

    #[test]
    fn when_every_callee_declines_the_caller_gets_no_available_callee() {
        let mut h = Harness::new();
        let (c, caller) = shared(&mut h, 3, "random");
        h.call(caller, 1, P, Dict::new(), vec![]);
        let mut asked = Vec::new();
        for _ in 0..3 {
            let (callee, message) = c
                .iter()
                .find_map(|&s| h.take(s).pop().map(|m| (s, m)))
                .expect("one callee was invoked");
            assert!(!asked.contains(&callee), "{callee} was asked twice");
            asked.push(callee);
            h.fail_invocation(callee, invocation(message).request, UNAVAILABLE);
        }
        assert_eq!(
            error_of(h.take_one(caller)),
            (code::CALL, 1, NO_AVAILABLE_CALLEE.into())
        );
        h.assert_quiet();
    }

    #[test]
    fn first_and_last_fall_back_in_registration_order() {
        for (policy, order) in [("first", [0, 1, 2]), ("last", [2, 1, 0])] {
            let mut h = Harness::new();
            let (c, caller) = shared(&mut h, 3, policy);
            h.call(caller, 1, P, Dict::new(), vec![]);
            for (i, &at) in order.iter().enumerate() {
                let inv = invocation(h.take_one(c[at]));
                if i < 2 {
                    h.fail_invocation(c[at], inv.request, UNAVAILABLE);
                } else {
                    h.yield_(c[at], inv.request, Dict::new(), vec![]);
                }
            }
            assert_eq!(result(h.take_one(caller)).request, 1, "{policy}");
            h.assert_quiet();
        }
    }

    #[test]
    fn a_single_callee_that_declines_leaves_no_available_callee() {
        let mut h = Harness::new();
        let (c, caller) = shared(&mut h, 1, "single");
        let inv = h.call_invoked(caller, 1, P, c[0]);
        h.fail_invocation(c[0], inv.request, UNAVAILABLE);
        assert_eq!(
            error_of(h.take_one(caller)),
            (code::CALL, 1, NO_AVAILABLE_CALLEE.into())
        );
    }

    #[test]
    fn other_errors_and_declined_progressive_invocations_reach_the_caller_unchanged() {
        let mut h = Harness::new();
        let (c, caller) = shared(&mut h, 2, "roundrobin");
        let inv = h.call_invoked(caller, 1, P, c[0]);
        h.fail_invocation(c[0], inv.request, "com.example.error.busy");
        assert_eq!(error(h.take_one(caller)).error, "com.example.error.busy");
        h.assert_quiet();

        let mut h = Harness::new();
        let callees: Vec<_> = (0..2)
            .map(|_| h.join_with(super::super::wamp::PROGRESSIVE_INVOCATIONS))
            .collect();
        for &callee in &callees {
            h.registered_shared(callee, P, "roundrobin");
        }
        let caller = h.join_roles(&[], super::super::wamp::PROGRESSIVE_INVOCATIONS);
        h.call(caller, 1, P, opts(&[("progress", true.into())]), vec![]);
        let inv = invocation(h.take_one(callees[0]));
        h.fail_invocation(callees[0], inv.request, UNAVAILABLE);
        assert_eq!(error(h.take_one(caller)).error, UNAVAILABLE);
        h.assert_quiet();
    }
}

//! Progressive call results and progressive call invocations
//! (`rpc_progressive_call_results.md`, `rpc_progressive_call_invocations.md`).

use switchboard_proto::error_uri::{
    CANCELED, FEATURE_NOT_SUPPORTED, NO_SUCH_PROCEDURE, PROTOCOL_VIOLATION,
};
use switchboard_proto::{code, Dict, Message, Value};

use super::harness::Harness;
use super::wamp::{
    args, error_of, interrupt_mode, invocation, opts, result, CANCELING, PROGRESSIVE_INVOCATIONS,
    PROGRESSIVE_RESULTS,
};
use crate::SessionId;

const P: &str = "com.example.stream";
const CALLER_STREAMS: &[&str] = &["progressive_call_invocations"];

/// A callee with `callee_features` registers `P` (with `register_options`); a
/// caller with `caller_features` joins. Returns (callee, caller).
fn setup(
    h: &mut Harness,
    callee_features: &[&str],
    caller_features: &[&str],
    register_options: Dict,
) -> (SessionId, SessionId) {
    let callee = h.join_with(callee_features);
    let caller = h.join_roles(&[], caller_features);
    h.registered(callee, P, register_options);
    (callee, caller)
}

fn call_receiving_progress(h: &mut Harness, caller: SessionId) {
    let options = opts(&[("receive_progress", true.into())]);
    h.call(caller, 1, P, options, vec![]);
}

/// One CALL chunk of request `request`; `progress` marks all but the last.
fn chunk(h: &mut Harness, caller: SessionId, request: u64, progress: bool, arg: &str) {
    let options = if progress {
        opts(&[("progress", true.into())])
    } else {
        Dict::new()
    };
    h.call(caller, request, P, options, vec![arg.into()]);
}

fn progress_flag(details: &Dict) -> Option<&Value> {
    details.get("progress")
}

// ----- progressive call results -----

#[test]
fn receive_progress_reaches_a_callee_with_progressive_call_results_and_canceling() {
    let mut h = Harness::new();
    let (callee, caller) = setup(&mut h, PROGRESSIVE_RESULTS, &[], Dict::new());
    call_receiving_progress(&mut h, caller);
    let inv = invocation(h.take_one(callee));
    assert_eq!(
        inv.details.get("receive_progress"),
        Some(&Value::Bool(true))
    );
}

#[test]
fn progressive_yields_become_progress_results_in_order_then_the_final_result() {
    let mut h = Harness::new();
    let (callee, caller) = setup(&mut h, PROGRESSIVE_RESULTS, &[], Dict::new());
    call_receiving_progress(&mut h, caller);
    let inv = invocation(h.take_one(callee));
    for n in 1..=3 {
        h.yield_progress(callee, inv.request, vec![n.into()]);
    }
    h.yield_(callee, inv.request, Dict::new(), vec!["done".into()]);
    let results: Vec<_> = h.take(caller).into_iter().map(result).collect();
    let seen: Vec<_> = results
        .iter()
        .map(|r| (r.request, progress_flag(&r.details), args(&r.arguments)))
        .collect();
    let on = Some(&Value::Bool(true));
    assert_eq!(
        seen,
        vec![
            (1, on, vec![Value::Int(1)]),
            (1, on, vec![Value::Int(2)]),
            (1, on, vec![Value::Int(3)]),
            (1, None, vec![Value::from("done")]),
        ]
    );
    assert_eq!(h.realm.dealer().pending_calls(), 0);
}

#[test]
fn progress_yields_to_a_caller_that_did_not_ask_are_dropped() {
    let mut h = Harness::new();
    let (callee, caller) = setup(&mut h, PROGRESSIVE_RESULTS, &[], Dict::new());
    let inv = h.call_invoked(caller, 1, P, callee);
    assert!(!inv.details.contains_key("receive_progress"));
    h.yield_progress(callee, inv.request, vec![1.into()]);
    h.yield_progress(callee, inv.request, vec![2.into()]);
    h.assert_quiet();
    h.yield_(callee, inv.request, Dict::new(), vec!["done".into()]);
    let r = result(h.take_one(caller));
    assert_eq!(
        (r.details, args(&r.arguments)),
        (Dict::new(), vec!["done".into()])
    );
}

#[test]
fn a_callee_without_the_feature_gets_no_receive_progress() {
    // Progressive results without canceling do not count, as the spec says.
    for features in [&[][..], CANCELING, &["progressive_call_results"]] {
        let mut h = Harness::new();
        let (callee, caller) = setup(&mut h, features, &[], Dict::new());
        call_receiving_progress(&mut h, caller);
        let inv = invocation(h.take_one(callee));
        assert_eq!(inv.details.get("receive_progress"), None, "{features:?}");
    }
}

#[test]
fn caller_leaving_mid_stream_interrupts_the_callee_and_drops_its_later_yields() {
    let mut h = Harness::new();
    let (callee, caller) = setup(&mut h, PROGRESSIVE_RESULTS, &[], Dict::new());
    call_receiving_progress(&mut h, caller);
    let inv = invocation(h.take_one(callee));
    h.yield_progress(callee, inv.request, vec![1.into()]);
    h.take(caller);
    h.leave(caller);
    assert_eq!(
        interrupt_mode(h.take_one(callee)),
        (inv.request, "killnowait".into())
    );
    h.yield_progress(callee, inv.request, vec![2.into()]);
    h.yield_(callee, inv.request, Dict::new(), vec![]);
    h.assert_quiet();
    assert_eq!(h.realm.dealer().pending_calls(), 0);
}

// ----- progressive call invocations -----

#[test]
fn call_chunks_reach_the_callee_as_invocations_with_one_id_and_progress_on_all_but_the_last() {
    let mut h = Harness::new();
    let (callee, caller) = setup(&mut h, PROGRESSIVE_INVOCATIONS, CALLER_STREAMS, Dict::new());
    for (progress, arg) in [(true, "a"), (true, "b"), (true, "c"), (false, "end")] {
        chunk(&mut h, caller, 1, progress, arg);
    }
    let invocations: Vec<_> = h.take(callee).into_iter().map(invocation).collect();
    let first = invocations[0].request;
    let registration = invocations[0].registration;
    let seen: Vec<_> = invocations
        .iter()
        .map(|i| {
            let progress = progress_flag(&i.details).cloned();
            (i.request, i.registration, progress, args(&i.arguments))
        })
        .collect();
    let on = Some(Value::Bool(true));
    assert_eq!(
        seen,
        vec![
            (first, registration, on.clone(), vec!["a".into()]),
            (first, registration, on.clone(), vec!["b".into()]),
            (first, registration, on, vec!["c".into()]),
            (first, registration, None, vec!["end".into()]),
        ]
    );
    assert_eq!(h.take(caller), vec![]);
    h.yield_(callee, first, Dict::new(), vec!["ok".into()]);
    assert_eq!(result(h.take_one(caller)).request, 1);
}

#[test]
fn a_progress_call_from_a_caller_that_did_not_announce_the_feature_aborts_it() {
    let mut h = Harness::new();
    let (callee, caller) = setup(&mut h, PROGRESSIVE_INVOCATIONS, &[], Dict::new());
    chunk(&mut h, caller, 1, true, "a");
    assert!(
        matches!(h.take_one(caller), Message::Abort(a) if a.reason == PROTOCOL_VIOLATION),
        "ABORT protocol_violation"
    );
    assert!(!h.realm.is_member(caller));
    assert_eq!(h.take(callee), vec![]);
}

#[test]
fn a_progress_call_to_a_callee_without_the_feature_fails_with_feature_not_supported() {
    for features in [CANCELING, &["progressive_call_invocations"][..]] {
        let mut h = Harness::new();
        let (callee, caller) = setup(&mut h, features, CALLER_STREAMS, Dict::new());
        chunk(&mut h, caller, 1, true, "a");
        assert_eq!(
            error_of(h.take_one(caller)),
            (code::CALL, 1, FEATURE_NOT_SUPPORTED.into()),
            "{features:?}"
        );
        assert_eq!(h.take(callee), vec![]);
        assert_eq!(h.realm.dealer().pending_calls(), 0);
    }
}

#[test]
fn chunks_still_in_flight_after_a_refused_first_chunk_are_dropped() {
    // (callee features, procedure called, refusal)
    let cases = [
        (CANCELING, P, FEATURE_NOT_SUPPORTED),
        (
            PROGRESSIVE_INVOCATIONS,
            "com.example.nothing",
            NO_SUCH_PROCEDURE,
        ),
    ];
    for (features, procedure, refusal) in cases {
        let mut h = Harness::new();
        let (callee, caller) = setup(&mut h, features, CALLER_STREAMS, Dict::new());
        let send = |h: &mut Harness, progress: bool, arg: &str| {
            let options = opts(&[("progress", progress.into())]);
            h.call(caller, 1, procedure, options, vec![arg.into()]);
        };
        send(&mut h, true, "a");
        assert_eq!(
            error_of(h.take_one(caller)),
            (code::CALL, 1, refusal.into())
        );
        // The call has completed (with ERROR): its continuations are discarded,
        // neither refused once more nor started as a new call.
        send(&mut h, true, "b");
        send(&mut h, false, "end");
        h.assert_quiet();
        assert_eq!(h.take(callee), vec![]);
    }
}

#[test]
fn a_late_chunk_after_the_callee_answered_early_is_silently_dropped() {
    let mut h = Harness::new();
    let (callee, caller) = setup(&mut h, PROGRESSIVE_INVOCATIONS, CALLER_STREAMS, Dict::new());
    chunk(&mut h, caller, 1, true, "a");
    let inv = invocation(h.take_one(callee));
    h.yield_(callee, inv.request, Dict::new(), vec!["enough".into()]);
    assert_eq!(result(h.take_one(caller)).request, 1);
    chunk(&mut h, caller, 1, true, "b");
    chunk(&mut h, caller, 1, false, "end");
    h.assert_quiet();
    assert_eq!(h.realm.dealer().pending_calls(), 0);
}

#[test]
fn a_chunk_after_the_final_chunk_and_the_result_is_silently_dropped() {
    let mut h = Harness::new();
    let (callee, caller) = setup(&mut h, PROGRESSIVE_INVOCATIONS, CALLER_STREAMS, Dict::new());
    chunk(&mut h, caller, 1, true, "a");
    chunk(&mut h, caller, 1, false, "end");
    let inv = invocation(h.take(callee).remove(0));
    h.yield_(callee, inv.request, Dict::new(), vec![]);
    assert_eq!(result(h.take_one(caller)).request, 1);
    chunk(&mut h, caller, 1, true, "late");
    h.assert_quiet();
}

#[test]
fn callee_leaving_mid_stream_cancels_the_call_and_drops_the_callers_later_chunks() {
    let mut h = Harness::new();
    let (callee, caller) = setup(&mut h, PROGRESSIVE_INVOCATIONS, CALLER_STREAMS, Dict::new());
    chunk(&mut h, caller, 1, true, "a");
    h.take(callee);
    h.leave(callee);
    assert_eq!(
        error_of(h.take_one(caller)),
        (code::CALL, 1, CANCELED.into())
    );
    chunk(&mut h, caller, 1, true, "b");
    chunk(&mut h, caller, 1, false, "end");
    h.assert_quiet();
}

#[test]
fn every_chunk_of_a_call_to_a_roundrobin_registration_goes_to_the_same_callee() {
    let mut h = Harness::new();
    let (a, b) = (
        h.join_with(PROGRESSIVE_INVOCATIONS),
        h.join_with(PROGRESSIVE_INVOCATIONS),
    );
    let caller = h.join_roles(&[], CALLER_STREAMS);
    h.registered_shared(a, P, "roundrobin");
    h.registered_shared(b, P, "roundrobin");
    chunk(&mut h, caller, 1, true, "1a");
    let first = invocation(h.take_one(a));
    // Another call in between moves the round robin on to b...
    chunk(&mut h, caller, 2, false, "2");
    assert_eq!(args(&invocation(h.take_one(b)).arguments), vec!["2".into()]);
    // ...but call 1's chunks stay with a.
    chunk(&mut h, caller, 1, true, "1b");
    chunk(&mut h, caller, 1, false, "1c");
    let rest: Vec<_> = h.take(a).into_iter().map(invocation).collect();
    let seen: Vec<_> = rest
        .iter()
        .map(|i| (i.request, args(&i.arguments)))
        .collect();
    assert_eq!(
        seen,
        vec![
            (first.request, vec!["1b".into()]),
            (first.request, vec!["1c".into()])
        ]
    );
    assert_eq!(h.take(b), vec![]);
}

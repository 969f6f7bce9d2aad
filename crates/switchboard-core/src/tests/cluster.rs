//! Realms on several nodes, driven through a fake log and network: the registry
//! is replicated, calls and events cross nodes, and a dead node's calls fail at once.

use std::time::Duration;

use switchboard_proto::error_uri::*;
use switchboard_proto::{
    code, Arguments, Call, Cancel, Dict, Message, Publish, Register, Subscribe, Value, Yield,
};

use super::cluster_harness::Cluster;
use super::wamp::{
    args, error_of, event, interrupt_mode, invocation, opts, result, CANCELING, PROGRESSIVE_RESULTS,
};
use crate::realm::SessionId;

fn register(
    c: &mut Cluster,
    node: u64,
    session: SessionId,
    request: u64,
    procedure: &str,
    options: Dict,
) {
    let register = Register {
        request,
        options,
        procedure: procedure.into(),
    };
    c.send(node, session, Message::Register(register));
}

fn registered(
    c: &mut Cluster,
    node: u64,
    session: SessionId,
    procedure: &str,
    options: Dict,
) -> u64 {
    register(c, node, session, 1, procedure, options);
    match c.take_one(node, session) {
        Message::Registered(r) => r.registration,
        other => panic!("expected REGISTERED, got {other:?}"),
    }
}

fn call(
    c: &mut Cluster,
    node: u64,
    caller: SessionId,
    request: u64,
    procedure: &str,
    options: Dict,
) {
    let call = Call {
        request,
        options,
        procedure: procedure.into(),
        arguments: Arguments::list(vec![Value::Int(1)]),
    };
    c.send(node, caller, Message::Call(call));
}

fn yield_(
    c: &mut Cluster,
    node: u64,
    callee: SessionId,
    invocation: u64,
    options: Dict,
    value: Value,
) {
    let y = Yield {
        request: invocation,
        options,
        arguments: Arguments::list(vec![value]),
    };
    c.send(node, callee, Message::Yield(y));
}

#[test]
fn registered_comes_after_commit_and_every_node_has_the_same_registration_id() {
    let mut c = Cluster::new(3);
    let callee = c.join(1, &[], &[]);
    let before = c.log.len();
    let id = registered(&mut c, 1, callee, "com.example.add", Dict::new());
    assert!(matches!(
        c.log[before],
        crate::cluster::RegistryCommand::Register { .. }
    ));
    for node in 1..=3 {
        let found = c
            .node(node)
            .dealer()
            .registry()
            .match_procedure("com.example.add")
            .map(|r| r.id);
        assert_eq!(found, Some(id), "node {node}");
    }
}

#[test]
fn a_call_on_one_node_reaches_a_callee_on_another_and_the_result_comes_back() {
    let mut c = Cluster::new(3);
    let callee = c.join(3, &[], &[]);
    let caller = c.join(1, &[], &[]);
    let reg = registered(&mut c, 3, callee, "com.example.add", Dict::new());
    call(&mut c, 1, caller, 7, "com.example.add", Dict::new());
    let inv = invocation(c.take_one(3, callee));
    assert_eq!(inv.registration, reg);
    assert_eq!(
        inv.details.get("caller"),
        Some(&Value::from(caller)),
        "caller disclosed across nodes"
    );
    yield_(&mut c, 3, callee, inv.request, Dict::new(), Value::Int(5));
    let res = result(c.take_one(1, caller));
    assert_eq!(
        (res.request, args(&res.arguments)),
        (7, vec![Value::Int(5)])
    );
    assert_eq!(c.node(1).dealer().pending_calls(), 0);
    assert_eq!(c.node(3).dealer().pending_invocations(), 0);
}

#[test]
fn concurrent_registers_of_one_uri_on_two_nodes_give_exactly_one_winner() {
    let mut c = Cluster::new(3);
    let a = c.join(1, &[], &[]);
    let b = c.join(2, &[], &[]);
    let now = c.now;
    // Both REGISTERs are proposed before either commits.
    c.node(1).handle_message(
        now,
        a,
        Message::Register(Register {
            request: 1,
            options: Dict::new(),
            procedure: "p".into(),
        }),
    );
    c.node(2).handle_message(
        now,
        b,
        Message::Register(Register {
            request: 1,
            options: Dict::new(),
            procedure: "p".into(),
        }),
    );
    c.settle();
    let (first, second) = (c.take_one(1, a), c.take_one(2, b));
    assert!(matches!(first, Message::Registered(_)), "{first:?}");
    assert_eq!(
        error_of(second),
        (code::REGISTER, 1, PROCEDURE_ALREADY_EXISTS.into())
    );
}

#[test]
fn roundrobin_rotates_over_callees_on_every_node_under_one_registration_id() {
    let mut c = Cluster::new(3);
    let callees: Vec<(u64, SessionId)> =
        (1..=3).map(|node| (node, c.join(node, &[], &[]))).collect();
    let ids: Vec<u64> = callees
        .iter()
        .map(|&(node, s)| {
            registered(
                &mut c,
                node,
                s,
                "p",
                opts(&[("invoke", "roundrobin".into())]),
            )
        })
        .collect();
    assert!(ids.iter().all(|&id| id == ids[0]));
    let caller = c.join(2, &[], &[]);
    let mut served = Vec::new();
    for request in 1..=6 {
        call(&mut c, 2, caller, request, "p", Dict::new());
        for &(node, session) in &callees {
            for message in c.take(node, session) {
                let inv = invocation(message);
                served.push(node);
                yield_(&mut c, node, session, inv.request, Dict::new(), Value::Null);
            }
        }
        result(c.take_one(2, caller));
    }
    assert_eq!(served, [1, 2, 3, 1, 2, 3]);
}

#[test]
fn a_dead_nodes_calls_fail_at_once_and_the_next_call_goes_to_a_survivor() {
    let mut c = Cluster::new(3);
    let doomed = c.join(2, &[], &[]);
    let survivor = c.join(3, &[], &[]);
    for (node, s) in [(2, doomed), (3, survivor)] {
        registered(&mut c, node, s, "p", opts(&[("invoke", "first".into())]));
    }
    let caller = c.join(1, &[], &[]);
    call(&mut c, 1, caller, 1, "p", Dict::new());
    invocation(c.take_one(2, doomed));
    c.kill(2);
    assert_eq!(
        error_of(c.take_one(1, caller)),
        (code::CALL, 1, CANCELED.into())
    );
    let registration = c
        .node(1)
        .dealer()
        .registry()
        .match_procedure("p")
        .expect("still registered")
        .clone();
    assert_eq!(
        registration
            .callees
            .iter()
            .map(|callee| callee.node)
            .collect::<Vec<_>>(),
        [3]
    );
    call(&mut c, 1, caller, 2, "p", Dict::new());
    let inv = invocation(c.take_one(3, survivor));
    yield_(&mut c, 3, survivor, inv.request, Dict::new(), Value::Int(9));
    assert_eq!(
        args(&result(c.take_one(1, caller)).arguments),
        [Value::Int(9)]
    );
}

#[test]
fn the_callee_node_learns_when_the_callers_node_dies_and_interrupts_its_callee() {
    let mut c = Cluster::new(2);
    let callee = c.join(2, CANCELING, &[]);
    let caller = c.join(1, &[], &[]);
    registered(&mut c, 2, callee, "p", Dict::new());
    call(&mut c, 1, caller, 1, "p", Dict::new());
    let inv = invocation(c.take_one(2, callee));
    c.kill(1);
    assert_eq!(
        interrupt_mode(c.take_one(2, callee)),
        (inv.request, "killnowait".into())
    );
    assert_eq!(c.node(2).dealer().pending_invocations(), 0);
}

#[test]
fn pattern_registrations_serve_calls_from_other_nodes_with_the_called_uri() {
    let mut c = Cluster::new(2);
    let callee = c.join(1, &[], &[]);
    let caller = c.join(2, &[], &[]);
    registered(
        &mut c,
        1,
        callee,
        "com.example.",
        opts(&[("match", "prefix".into())]),
    );
    call(&mut c, 2, caller, 1, "com.example.anything", Dict::new());
    let inv = invocation(c.take_one(1, callee));
    assert_eq!(
        inv.details.get("procedure"),
        Some(&Value::from("com.example.anything"))
    );
}

#[test]
fn progressive_results_cross_nodes_and_the_timeout_is_owned_by_the_callers_node() {
    let mut c = Cluster::new(2);
    let callee = c.join(2, PROGRESSIVE_RESULTS, &[]);
    let caller = c.join(1, &[], &[]);
    registered(&mut c, 2, callee, "p", Dict::new());
    call(
        &mut c,
        1,
        caller,
        1,
        "p",
        opts(&[("receive_progress", true.into()), ("timeout", 1000.into())]),
    );
    let inv = invocation(c.take_one(2, callee));
    c.advance(Duration::from_millis(800));
    yield_(
        &mut c,
        2,
        callee,
        inv.request,
        opts(&[("progress", true.into())]),
        Value::Int(1),
    );
    let progress = result(c.take_one(1, caller));
    assert_eq!(progress.details.get("progress"), Some(&Value::Bool(true)));
    // The progressive result restarted the per-gap timeout: 800 ms later it has not fired...
    c.advance(Duration::from_millis(800));
    assert!(c.take(1, caller).is_empty());
    // ...but 1000 ms after the last result it has, and the remote callee is interrupted.
    c.advance(Duration::from_millis(300));
    assert_eq!(
        error_of(c.take_one(1, caller)),
        (code::CALL, 1, TIMEOUT.into())
    );
    assert_eq!(
        interrupt_mode(c.take_one(2, callee)),
        (inv.request, "killnowait".into())
    );
    // A late YIELD goes nowhere.
    yield_(&mut c, 2, callee, inv.request, Dict::new(), Value::Null);
    assert!(c.take(1, caller).is_empty());
}

#[test]
fn cancel_killnowait_answers_the_caller_and_interrupts_the_remote_callee() {
    let mut c = Cluster::new(2);
    let callee = c.join(2, CANCELING, &[]);
    let caller = c.join(1, &[], &[]);
    registered(&mut c, 2, callee, "p", Dict::new());
    call(&mut c, 1, caller, 4, "p", Dict::new());
    let inv = invocation(c.take_one(2, callee));
    c.send(
        1,
        caller,
        Message::Cancel(Cancel {
            request: 4,
            options: opts(&[("mode", "killnowait".into())]),
        }),
    );
    assert_eq!(
        error_of(c.take_one(1, caller)),
        (code::CALL, 4, CANCELED.into())
    );
    assert_eq!(
        interrupt_mode(c.take_one(2, callee)),
        (inv.request, "killnowait".into())
    );
}

#[test]
fn a_remote_callee_leaving_cancels_the_call_and_a_caller_leaving_interrupts_it() {
    let mut c = Cluster::new(2);
    let callee = c.join(2, CANCELING, &[]);
    let caller = c.join(1, &[], &[]);
    registered(&mut c, 2, callee, "p", Dict::new());
    call(&mut c, 1, caller, 1, "p", Dict::new());
    let inv = invocation(c.take_one(2, callee));
    c.leave(1, caller);
    assert_eq!(
        interrupt_mode(c.take_one(2, callee)),
        (inv.request, "killnowait".into())
    );

    let caller = c.join(1, &[], &[]);
    call(&mut c, 1, caller, 2, "p", Dict::new());
    invocation(c.take_one(2, callee));
    c.leave(2, callee);
    assert_eq!(
        error_of(c.take_one(1, caller)),
        (code::CALL, 2, CANCELED.into())
    );
    call(&mut c, 1, caller, 3, "p", Dict::new());
    assert_eq!(
        error_of(c.take_one(1, caller)),
        (code::CALL, 3, NO_SUCH_PROCEDURE.into())
    );
}

#[test]
fn events_reach_subscribers_on_every_node_once_and_exclude_me_holds() {
    let mut c = Cluster::new(3);
    let subscribers: Vec<(u64, SessionId)> =
        (1..=3).map(|node| (node, c.join(node, &[], &[]))).collect();
    for &(node, s) in &subscribers {
        c.send(
            node,
            s,
            Message::Subscribe(Subscribe {
                request: 1,
                options: Dict::new(),
                topic: "t".into(),
            }),
        );
        assert!(matches!(c.take_one(node, s), Message::Subscribed(_)));
    }
    let (pub_node, publisher) = subscribers[0];
    let publish = Publish {
        request: 2,
        options: Dict::new(),
        topic: "t".into(),
        arguments: Arguments::list(vec!["x".into()]),
    };
    c.send(pub_node, publisher, Message::Publish(publish));
    assert!(
        c.take(pub_node, publisher).is_empty(),
        "exclude_me defaults to true"
    );
    for &(node, s) in &subscribers[1..] {
        assert_eq!(
            args(&event(c.take_one(node, s)).arguments),
            [Value::from("x")],
            "node {node}"
        );
    }
}

#[test]
fn session_meta_counts_every_node_and_kill_reaches_a_remote_session() {
    let mut c = Cluster::new(2);
    let admin = c.join(1, &[], &[]);
    let victim = c.join(2, &[], &[]);
    let count = Call {
        request: 1,
        options: Dict::new(),
        procedure: "wamp.session.count".into(),
        arguments: Arguments::none(),
    };
    c.send(1, admin, Message::Call(count.clone()));
    assert_eq!(
        args(&result(c.take_one(1, admin)).arguments),
        [Value::Int(2)]
    );
    let kill = Call {
        request: 2,
        options: Dict::new(),
        procedure: "wamp.session.kill".into(),
        arguments: Arguments::list(vec![victim.into()]),
    };
    c.send(1, admin, Message::Call(kill));
    result(c.take_one(1, admin));
    assert!(matches!(c.take_one(2, victim), Message::Goodbye(g) if g.reason == CLOSE_KILLED));
    c.send(
        1,
        admin,
        Message::Call(Call {
            request: 3,
            ..count
        }),
    );
    assert_eq!(
        args(&result(c.take_one(1, admin)).arguments),
        [Value::Int(1)]
    );
}

#[test]
fn a_node_cut_off_from_the_majority_answers_register_with_an_error() {
    let mut c = Cluster::new(3);
    let s = c.join(3, &[], &[]);
    c.isolated.insert(3);
    register(&mut c, 3, s, 5, "p", Dict::new());
    // It waits about an election's length for a leader, then gives up.
    c.advance_in_steps(Duration::from_millis(900), Duration::from_millis(100));
    assert!(
        c.take(3, s).is_empty(),
        "no answer while a leader may appear"
    );
    c.advance_in_steps(Duration::from_millis(1000), Duration::from_millis(100));
    assert_eq!(
        error_of(c.take_one(3, s)),
        (code::REGISTER, 5, "wamp.error.network_failure".into())
    );
    assert!(c.node(1).dealer().registry().match_procedure("p").is_none());
}

#[test]
fn a_node_restored_from_a_snapshot_routes_like_the_others() {
    let mut c = Cluster::new(2);
    let callee = c.join(1, &[], &[]);
    let id = registered(
        &mut c,
        1,
        callee,
        "com.example.",
        opts(&[("match", "prefix".into()), ("invoke", "roundrobin".into())]),
    );
    let subscriber = c.join(1, &[], &[]);
    c.send(
        1,
        subscriber,
        Message::Subscribe(Subscribe {
            request: 1,
            options: Dict::new(),
            topic: "t".into(),
        }),
    );
    c.take(1, subscriber);
    let snapshot = c.node(1).snapshot();
    let bytes = rmp_serde::to_vec(&snapshot).expect("snapshots serialize");
    let mut fresh = crate::Realm::replicated(
        crate::RealmConfig::anonymous("com.example.realm"),
        crate::ClockAnchor::now(),
        2,
        2,
    );
    fresh.restore(
        c.now,
        rmp_serde::from_slice(&bytes).expect("and deserialize"),
    );
    assert_eq!(fresh.snapshot(), snapshot);
    assert_eq!(
        fresh
            .dealer()
            .registry()
            .match_procedure("com.example.x")
            .map(|r| r.id),
        Some(id)
    );
    assert_eq!(fresh.broker().subscriptions().matching("t").count(), 1);
}

#[test]
fn calls_avoid_a_dead_nodes_callees_before_its_removal_is_committed() {
    let mut c = Cluster::new(3);
    let doomed = c.join(2, &[], &[]);
    let survivor = c.join(3, &[], &[]);
    for (node, s) in [(2, doomed), (3, survivor)] {
        registered(&mut c, node, s, "p", opts(&[("invoke", "first".into())]));
    }
    let caller = c.join(1, &[], &[]);
    c.kill_unnoticed_by_the_log(2);
    call(&mut c, 1, caller, 1, "p", Dict::new());
    let inv = invocation(c.take_one(3, survivor));
    yield_(&mut c, 3, survivor, inv.request, Dict::new(), Value::Int(3));
    assert_eq!(
        args(&result(c.take_one(1, caller)).arguments),
        [Value::Int(3)]
    );
}

#[test]
fn a_committed_change_from_a_node_shows_it_is_alive_again() {
    let mut c = Cluster::new(3);
    let caller = c.join(1, &[], &[]);
    // Node 1 thinks node 3 is down (a missed heartbeat), but node 3 then registers.
    let now = c.now;
    c.node(1).handle_node_down(now, 3);
    let callee = c.join(3, &[], &[]);
    registered(&mut c, 3, callee, "p", Dict::new());
    call(&mut c, 1, caller, 1, "p", Dict::new());
    invocation(c.take_one(3, callee));
}

#[test]
fn a_node_that_comes_back_after_being_declared_down_ends_its_sessions() {
    let mut c = Cluster::new(3);
    let stranded = c.join(3, &[], &[]);
    registered(&mut c, 3, stranded, "p", Dict::new());
    // Node 3 was paused: the others declared it down and committed its removal,
    // which node 3 applies when it catches up.
    c.kill(3);
    c.revive(3);
    c.replay_log_to(3);
    assert!(matches!(c.take_one(3, stranded), Message::Goodbye(g) if g.reason == CLOSE_KILLED));
    assert_eq!(c.node(3).session_count(), 0);
}

#[test]
fn a_call_declined_with_unavailable_is_rerouted_to_a_callee_on_another_node() {
    let mut c = Cluster::new(3);
    let callees: Vec<(u64, SessionId)> = [1, 3]
        .into_iter()
        .map(|node| (node, c.join(node, &[], &[])))
        .collect();
    for &(node, session) in &callees {
        registered(
            &mut c,
            node,
            session,
            "p",
            opts(&[("invoke", "first".into())]),
        );
    }
    let caller = c.join(2, &[], &[]);
    call(&mut c, 2, caller, 1, "p", Dict::new());
    let declined = invocation(c.take_one(1, callees[0].1));
    let failure = switchboard_proto::Error {
        request_type: code::INVOCATION,
        request: declined.request,
        details: Dict::new(),
        error: UNAVAILABLE.into(),
        arguments: Arguments::none(),
    };
    c.send(1, callees[0].1, Message::Error(failure));
    let rerouted = invocation(c.take_one(3, callees[1].1));
    assert_eq!(args(&rerouted.arguments), vec![Value::Int(1)]);
    yield_(
        &mut c,
        3,
        callees[1].1,
        rerouted.request,
        Dict::new(),
        Value::from("ok"),
    );
    assert_eq!(
        args(&result(c.take_one(2, caller)).arguments),
        vec![Value::from("ok")]
    );
}

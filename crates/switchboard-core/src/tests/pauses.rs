//! A cluster whose nodes pause and whose proposals fail or commit behind their
//! node's back: every request gets exactly one answer, true to what committed,
//! and a node that catches up by snapshot ends the sessions the cluster ended.

use std::time::Duration;

use switchboard_proto::error_uri::CLOSE_KILLED;
use switchboard_proto::{Dict, Message, Register, Unregister};

use super::cluster_harness::Cluster;
use super::wamp::error_of;
use crate::cluster::{ProposalFailure, RegistryCommand};
use crate::realm::SessionId;

fn register(c: &mut Cluster, node: u64, session: SessionId, request: u64, procedure: &str) {
    let register = Register {
        request,
        options: Dict::new(),
        procedure: procedure.into(),
    };
    c.send(node, session, Message::Register(register));
}

fn registered_id(message: Message) -> u64 {
    match message {
        Message::Registered(r) => r.registration,
        other => panic!("expected REGISTERED, got {other:?}"),
    }
}

/// The registration of `procedure` on `node`, with its callees.
fn holders(c: &mut Cluster, node: u64, procedure: &str) -> Option<(u64, Vec<SessionId>)> {
    let registry = c.node(node).dealer().registry();
    let registration = registry.iter().find(|r| r.procedure == procedure)?;
    let callees = registration.callees.iter().map(|c| c.session).collect();
    Some((registration.id, callees))
}

fn same_everywhere(c: &mut Cluster, nodes: &[u64]) {
    let first = c.node(nodes[0]).snapshot();
    for &node in &nodes[1..] {
        let other = c.node(node).snapshot();
        assert_eq!(
            (&other.registrations, &other.subscriptions),
            (&first.registrations, &first.subscriptions),
            "node {node} disagrees with node {}",
            nodes[0]
        );
        let ids = |s: &crate::cluster::RegistrySnapshot| -> Vec<u64> {
            s.sessions.iter().map(|e| e.id).collect()
        };
        assert_eq!(ids(&other), ids(&first), "node {node}'s sessions");
    }
}

#[test]
fn a_node_declared_down_while_paused_ends_its_sessions_when_it_catches_up_by_snapshot() {
    let mut c = Cluster::new(3);
    let stranded = c.join(3, &[], &[]);
    register(&mut c, 3, stranded, 1, "p");
    registered_id(c.take_one(3, stranded));
    // Node 3 pauses; the others declare it down and commit its removal, then
    // move on. Node 3 never applies that entry: it comes back through a snapshot.
    c.kill(3);
    let other = c.join(1, &[], &[]);
    register(&mut c, 1, other, 1, "p");
    let taken_over = registered_id(c.take_one(1, other));
    c.revive(3);
    c.install_snapshot(3, 1);

    assert!(
        matches!(c.take_one(3, stranded), Message::Goodbye(g) if g.reason == CLOSE_KILLED),
        "the stranded session must be told to reconnect"
    );
    assert_eq!(c.node(3).session_count(), 0);
    assert_eq!(holders(&mut c, 3, "p"), Some((taken_over, vec![other])));
    same_everywhere(&mut c, &[1, 2, 3]);
}

#[test]
fn a_snapshot_install_keeps_local_sessions_the_cluster_still_has_or_has_yet_to_hear_of() {
    let mut c = Cluster::new(3);
    let kept = c.join(2, &[], &[]);
    register(&mut c, 2, kept, 1, "kept");
    let kept_id = registered_id(c.take_one(2, kept));
    c.pause(2);
    let elsewhere = c.join(1, &[], &[]);
    register(&mut c, 1, elsewhere, 1, "q");
    c.take(1, elsewhere);
    c.revive(2);
    // A session that joins node 2 before the install: its joining is not committed yet.
    c.intercepted = Some(Vec::new());
    let newcomer = c.join(2, &[], &[]);
    c.install_snapshot(2, 1);

    assert!(
        c.take(2, kept).is_empty(),
        "nothing happened to this session"
    );
    assert!(c.take(2, newcomer).is_empty(), "nor to this one");
    assert!(c.node(2).is_member(kept) && c.node(2).is_member(newcomer));
    assert_eq!(holders(&mut c, 2, "kept"), Some((kept_id, vec![kept])));
    assert_eq!(holders(&mut c, 2, "q").map(|h| h.1), Some(vec![elsewhere]));
}

#[test]
fn a_request_whose_entry_lands_inside_an_installed_snapshot_is_answered_once() {
    let mut c = Cluster::new(3);
    let session = c.join(2, &[], &[]);
    c.intercepted = Some(Vec::new());
    register(&mut c, 2, session, 7, "p");
    // Node 2 pauses right after proposing; the entry commits without it.
    c.pause(2);
    c.commit_intercepted(0);
    c.revive(2);
    c.install_snapshot(2, 1);
    let id = registered_id(c.take_one(2, session));
    // Its proposal then times out (the leader it went to was paused too): the
    // node proposes it again, and the copy commits as a repeat that changes nothing.
    c.fail_intercepted(0, ProposalFailure::Unknown("timed out".into()));
    c.advance(Duration::from_secs(2));
    assert!(c.take(2, session).is_empty(), "answered once only");
    assert_eq!(holders(&mut c, 2, "p"), Some((id, vec![session])));
    same_everywhere(&mut c, &[1, 2, 3]);
}

#[test]
fn a_proposal_whose_leader_dies_after_the_commit_gets_one_answer_and_no_error() {
    let mut c = Cluster::new(3);
    let session = c.join(1, &[], &[]);
    c.intercepted = Some(Vec::new());
    register(&mut c, 1, session, 5, "p");
    c.commit_intercepted(0);
    let id = registered_id(c.take_one(1, session));
    c.fail_intercepted(
        0,
        ProposalFailure::Unknown("the leader did not answer".into()),
    );
    c.advance(Duration::from_secs(2));
    assert!(c.take(1, session).is_empty(), "no ERROR after REGISTERED");
    assert_eq!(
        c.intercepted.as_ref().map(Vec::len),
        Some(1),
        "an answered request is not proposed again"
    );
    assert_eq!(holders(&mut c, 2, "p"), Some((id, vec![session])));
}

#[test]
fn a_proposal_that_fails_before_its_commit_is_known_is_retried_and_answered_by_the_commit() {
    let mut c = Cluster::new(3);
    let session = c.join(1, &[], &[]);
    c.intercepted = Some(Vec::new());
    register(&mut c, 1, session, 5, "p");
    // The leader paused with the entry appended: the proposal times out, but
    // the entry may still commit under the next leader. No ERROR yet.
    c.fail_intercepted(0, ProposalFailure::Unknown("timed out".into()));
    assert!(c.take(1, session).is_empty());
    c.advance(Duration::from_millis(150));
    assert_eq!(
        c.intercepted.as_ref().map(Vec::len),
        Some(2),
        "proposed again"
    );
    // Both copies commit: the first answers, the second is a repeat.
    c.commit_intercepted(0);
    let id = registered_id(c.take_one(1, session));
    c.commit_intercepted(1);
    assert!(c.take(1, session).is_empty(), "answered once only");
    assert_eq!(holders(&mut c, 3, "p"), Some((id, vec![session])));
    same_everywhere(&mut c, &[1, 2, 3]);
}

/// Fails the intercepted proposal at `position` with no leader known, then
/// lets its retry come due; returns the position of the retry.
fn no_leader_again(c: &mut Cluster, position: usize) -> usize {
    c.fail_intercepted(position, ProposalFailure::NoLeader);
    c.advance(Duration::from_secs(1));
    c.intercepted.as_ref().map_or(0, |i| i.len() - 1)
}

#[test]
fn a_request_no_log_can_hold_waits_out_an_election_then_is_refused() {
    let mut c = Cluster::new(3);
    let session = c.join(1, &[], &[]);
    c.intercepted = Some(Vec::new());
    register(&mut c, 1, session, 5, "p");
    let mut at = 0;
    for _ in 0..4 {
        at = no_leader_again(&mut c, at);
        assert!(c.take(1, session).is_empty(), "still within the grace");
    }
    c.fail_intercepted(at, ProposalFailure::NoLeader);
    assert_eq!(
        error_of(c.take_one(1, session)),
        (
            switchboard_proto::code::REGISTER,
            5,
            "wamp.error.network_failure".into()
        )
    );
}

#[test]
fn a_request_made_while_no_leader_is_known_commits_once_one_is() {
    let mut c = Cluster::new(3);
    let session = c.join(1, &[], &[]);
    c.intercepted = Some(Vec::new());
    register(&mut c, 1, session, 5, "p");
    let retry = no_leader_again(&mut c, 0);
    c.commit_intercepted(retry);
    registered_id(c.take_one(1, session));
}

#[test]
fn a_request_that_may_be_in_a_log_is_never_refused_for_want_of_a_leader() {
    let mut c = Cluster::new(3);
    let session = c.join(1, &[], &[]);
    c.intercepted = Some(Vec::new());
    register(&mut c, 1, session, 6, "q");
    // A leader took it and went quiet: the proposal's fate is unknown. Every
    // later attempt finding no leader says nothing about that first copy.
    c.fail_intercepted(0, ProposalFailure::Unknown("timed out".into()));
    c.advance(Duration::from_secs(1));
    let mut at = 1;
    for _ in 0..8 {
        at = no_leader_again(&mut c, at);
    }
    assert!(
        c.take(1, session).is_empty(),
        "request 6 waits for its commit"
    );
    c.commit_intercepted(0);
    registered_id(c.take_one(1, session));
}

#[test]
fn a_register_that_commits_after_its_session_left_leaves_nothing_behind() {
    let mut c = Cluster::new(3);
    let session = c.join(1, &[], &[]);
    c.intercepted = Some(Vec::new());
    register(&mut c, 1, session, 5, "p");
    c.leave(1, session);
    let proposed = c.intercepted.clone().unwrap_or_default();
    assert!(matches!(proposed[1].1, RegistryCommand::SessionLeft { .. }));
    // The departure commits first; the REGISTER, arriving late, must not create
    // a registration held by a session that no longer exists.
    c.commit_intercepted(1);
    c.commit_intercepted(0);
    for node in 1..=3 {
        assert_eq!(holders(&mut c, node, "p"), None, "node {node}");
    }
}

#[test]
fn a_sessions_requests_wait_for_its_joining_to_commit() {
    let mut c = Cluster::new(3);
    c.intercepted = Some(Vec::new());
    let session = c.join(1, &[], &[]);
    register(&mut c, 1, session, 5, "p");
    let proposed = c.intercepted.clone().unwrap_or_default();
    assert_eq!(proposed.len(), 1, "only the joining: {proposed:?}");
    c.commit_intercepted(0);
    let proposed = c.intercepted.clone().unwrap_or_default();
    assert!(matches!(proposed[1].1, RegistryCommand::Register { .. }));
    c.commit_intercepted(1);
    registered_id(c.take_one(1, session));
}

#[test]
fn a_repeated_unregister_is_answered_once_and_does_not_touch_a_later_registration() {
    let mut c = Cluster::new(2);
    let session = c.join(1, &[], &[]);
    register(&mut c, 1, session, 1, "p");
    let id = registered_id(c.take_one(1, session));
    c.intercepted = Some(Vec::new());
    let unregister = Unregister {
        request: 2,
        registration: id,
    };
    c.send(1, session, Message::Unregister(unregister));
    c.commit_intercepted(0);
    assert!(matches!(c.take_one(1, session), Message::Unregistered(_)));
    c.commit_intercepted(0);
    assert!(
        c.take(1, session).is_empty(),
        "no no_such_registration after UNREGISTERED"
    );
}

#[test]
fn a_late_copy_of_a_register_does_not_bring_back_a_registration_unregistered_since() {
    let mut c = Cluster::new(3);
    let session = c.join(1, &[], &[]);
    c.intercepted = Some(Vec::new());
    register(&mut c, 1, session, 1, "p");
    c.commit_intercepted(0);
    let id = registered_id(c.take_one(1, session));
    let unregister = Unregister {
        request: 2,
        registration: id,
    };
    c.send(1, session, Message::Unregister(unregister));
    c.commit_intercepted(1);
    assert!(matches!(c.take_one(1, session), Message::Unregistered(_)));
    // A copy of the REGISTER that a paused leader held commits now.
    c.commit_intercepted(0);
    for node in 1..=3 {
        assert_eq!(holders(&mut c, node, "p"), None, "node {node}");
    }
    assert!(c.take(1, session).is_empty());
}

#[test]
fn a_node_declared_down_ends_even_the_sessions_whose_joining_it_has_not_seen_commit() {
    let mut c = Cluster::new(3);
    c.intercepted = Some(Vec::new());
    let joining = c.join(3, &[], &[]);
    // Its joining commits, then the cluster declares node 3 down (removing the
    // session again) while node 3 is paused.
    c.pause(3);
    c.commit_intercepted(0);
    c.intercepted = None;
    c.kill(3);
    c.revive(3);
    c.install_snapshot(3, 1);
    assert!(matches!(c.take_one(3, joining), Message::Goodbye(g) if g.reason == CLOSE_KILLED));
    same_everywhere(&mut c, &[1, 2, 3]);
}

#[test]
fn requests_held_behind_a_joining_that_no_leader_took_are_refused_after_the_grace() {
    let mut c = Cluster::new(3);
    c.intercepted = Some(Vec::new());
    let session = c.join(3, &[], &[]);
    register(&mut c, 3, session, 5, "p");
    let mut at = 0;
    for _ in 0..4 {
        at = no_leader_again(&mut c, at);
    }
    assert!(c.take(3, session).is_empty(), "still within the grace");
    at = no_leader_again(&mut c, at);
    assert_eq!(
        error_of(c.take_one(3, session)),
        (
            switchboard_proto::code::REGISTER,
            5,
            "wamp.error.network_failure".into()
        )
    );
    // The joining itself is proposed again and, once it commits, the session works.
    c.commit_intercepted(at);
    register(&mut c, 3, session, 6, "p");
    let register_at = c.intercepted.as_ref().map_or(0, |i| i.len() - 1);
    c.commit_intercepted(register_at);
    registered_id(c.take_one(3, session));
}

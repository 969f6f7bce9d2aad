//! Several replicated realms wired together without sockets: a fake Raft log
//! that commits every proposal in one global order and applies it on every
//! live node, and a fake peer network that delivers messages in order. Like
//! `quinn-proto`'s `Pair`, for a cluster.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use switchboard_proto::Message;

use super::harness::{hello_with, test_clock};
use crate::cluster::{NodeId, PeerMessage, ProposalFailure, RegistryCommand};
use crate::realm::{Realm, SessionId};
use crate::RealmConfig;

pub(super) struct Cluster {
    /// Node `i + 1` is `nodes[i]`.
    nodes: Vec<Realm>,
    pub(super) now: Instant,
    /// The committed log, in order.
    pub(super) log: Vec<RegistryCommand>,
    /// Nodes that are gone: they neither commit nor receive.
    dead: BTreeSet<NodeId>,
    /// Nodes cut off from the majority: their proposals fail.
    pub(super) isolated: BTreeSet<NodeId>,
    /// When set, proposals wait here (proposing node, command) for the test to
    /// commit or fail them, instead of committing at once.
    pub(super) intercepted: Option<Vec<(NodeId, RegistryCommand)>>,
    sent: Vec<(NodeId, SessionId, Message)>,
}

impl Cluster {
    pub(super) fn new(size: u64) -> Self {
        Self::with_config(size, RealmConfig::anonymous("com.example.realm"))
    }

    /// `size` nodes whose realm has `config`.
    pub(super) fn with_config(size: u64, config: RealmConfig) -> Self {
        let now = Instant::now();
        let nodes = (1..=size)
            .map(|id| Realm::replicated(config.clone(), test_clock(now), id, id))
            .collect();
        Self {
            nodes,
            now,
            log: Vec::new(),
            dead: BTreeSet::new(),
            isolated: BTreeSet::new(),
            intercepted: None,
            sent: Vec::new(),
        }
    }

    pub(super) fn node(&mut self, id: NodeId) -> &mut Realm {
        &mut self.nodes[(id - 1) as usize]
    }

    fn ids(&self) -> Vec<NodeId> {
        (1..=self.nodes.len() as u64)
            .filter(|id| !self.dead.contains(id))
            .collect()
    }

    /// Joins a session on `node` announcing these features.
    pub(super) fn join(&mut self, node: NodeId, callee: &[&str], caller: &[&str]) -> SessionId {
        let identity = crate::auth::Identity::anonymous("anonymous");
        self.admit(node, &hello_with(callee, caller), identity)
    }

    /// Joins a session with this authid and authrole on `node`.
    pub(super) fn join_as(&mut self, node: NodeId, authid: &str, authrole: &str) -> SessionId {
        let identity = crate::auth::Identity {
            authid: Some(authid.to_owned()),
            ..crate::auth::Identity::anonymous(authrole)
        };
        self.admit(node, &hello_with(&[], &[]), identity)
    }

    fn admit(
        &mut self,
        node: NodeId,
        hello: &switchboard_proto::Hello,
        identity: crate::auth::Identity,
    ) -> SessionId {
        let now = self.now;
        let id = self.node(node).handle_join(now, hello, identity);
        self.settle();
        let welcome = self.take(node, id);
        assert!(
            matches!(welcome.first(), Some(Message::Welcome(_))),
            "{welcome:?}"
        );
        id
    }

    pub(super) fn send(&mut self, node: NodeId, session: SessionId, message: Message) {
        let now = self.now;
        self.node(node).handle_message(now, session, message);
        self.settle();
    }

    pub(super) fn leave(&mut self, node: NodeId, session: SessionId) {
        let now = self.now;
        self.node(node).handle_leave(now, session);
        self.settle();
    }

    /// Moves every clock forward and fires what timed out.
    pub(super) fn advance(&mut self, by: Duration) {
        self.now += by;
        let now = self.now;
        for id in self.ids() {
            if self.node(id).poll_timeout().is_some_and(|t| t <= now) {
                self.node(id).handle_timeout(now);
            }
        }
        self.settle();
    }

    /// Moves time on by `total` in steps of `step`, firing what is due at each.
    pub(super) fn advance_in_steps(&mut self, total: Duration, step: Duration) {
        let mut moved = Duration::ZERO;
        while moved < total {
            self.advance(step);
            moved += step;
        }
    }

    /// Kills `node`: the others notice at once, then the "leader" commits its removal.
    pub(super) fn kill(&mut self, node: NodeId) {
        self.kill_unnoticed_by_the_log(node);
        self.commit(RegistryCommand::NodeDown { node });
        self.settle();
    }

    /// Kills `node` and lets the others notice, but commits nothing (yet).
    pub(super) fn kill_unnoticed_by_the_log(&mut self, node: NodeId) {
        self.dead.insert(node);
        let now = self.now;
        for id in self.ids() {
            self.node(id).handle_node_down(now, node);
        }
        self.settle();
    }

    /// Lets a killed node take part again (as after `docker unpause`).
    pub(super) fn revive(&mut self, node: NodeId) {
        self.dead.remove(&node);
    }

    /// Applies the whole log to `node` from where it stopped (it was paused):
    /// here, everything it missed is `NodeDown` of itself and after.
    pub(super) fn replay_log_to(&mut self, node: NodeId) {
        let now = self.now;
        let missed: Vec<(u64, RegistryCommand)> = self
            .log
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c, RegistryCommand::NodeDown { node: n } if *n == node))
            .map(|(i, c)| (i as u64 + 1, c.clone()))
            .collect();
        for (index, command) in missed {
            self.node(node).apply(now, index, command);
        }
        self.settle();
    }

    /// Stops `node` as `docker pause` does: it neither applies commits nor
    /// receives messages, and nobody has noticed yet.
    pub(super) fn pause(&mut self, node: NodeId) {
        self.dead.insert(node);
    }

    /// `node` catches up by installing `from`'s snapshot (serialized and back, as
    /// Raft ships it).
    pub(super) fn install_snapshot(&mut self, node: NodeId, from: NodeId) {
        let bytes = rmp_serde::to_vec(&self.node(from).snapshot()).expect("snapshots serialize");
        let snapshot = rmp_serde::from_slice(&bytes).expect("and deserialize");
        let now = self.now;
        self.node(node).restore(now, snapshot);
        self.settle();
    }

    /// Commits the intercepted proposal at `position` (it stays listed).
    pub(super) fn commit_intercepted(&mut self, position: usize) {
        let command = self.intercepted.as_ref().expect("intercepting")[position]
            .1
            .clone();
        self.commit(command);
        self.settle();
    }

    /// Tells the node that made the intercepted proposal at `position` that it failed.
    pub(super) fn fail_intercepted(&mut self, position: usize, failure: ProposalFailure) {
        let (node, command) = self.intercepted.as_ref().expect("intercepting")[position].clone();
        let now = self.now;
        self.node(node)
            .handle_proposal_failed(now, command, failure);
        self.settle();
    }

    fn commit(&mut self, command: RegistryCommand) {
        self.log.push(command.clone());
        let index = self.log.len() as u64;
        let now = self.now;
        for id in self.ids() {
            self.node(id).apply(now, index, command.clone());
        }
    }

    /// Runs the fake log and network until nothing moves.
    pub(super) fn settle(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            let now = self.now;
            for id in self.ids() {
                while let Some(command) = self.node(id).poll_proposal() {
                    moved = true;
                    if self.isolated.contains(&id) {
                        self.node(id).handle_proposal_failed(
                            now,
                            command,
                            ProposalFailure::NoLeader,
                        );
                    } else if let Some(intercepted) = &mut self.intercepted {
                        intercepted.push((id, command));
                    } else {
                        self.commit(command);
                    }
                }
            }
            let mut in_flight: VecDeque<(NodeId, NodeId, PeerMessage)> = VecDeque::new();
            for id in self.ids() {
                while let Some((to, message)) = self.node(id).poll_peer() {
                    in_flight.push_back((id, to, message));
                }
            }
            for (from, to, message) in in_flight {
                moved = true;
                if !self.dead.contains(&to) {
                    self.node(to).handle_peer(now, from, message);
                }
            }
            for id in self.ids() {
                while let Some(out) = self.node(id).poll_outgoing() {
                    moved = true;
                    self.sent.push((id, out.to, out.message));
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the cluster never settled");
    }

    /// Every message sent to `session` on `node` so far, in order.
    pub(super) fn take(&mut self, node: NodeId, session: SessionId) -> Vec<Message> {
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.sent)
            .into_iter()
            .partition(|(n, s, _)| *n == node && *s == session);
        self.sent = rest;
        mine.into_iter().map(|(_, _, m)| m).collect()
    }

    pub(super) fn take_one(&mut self, node: NodeId, session: SessionId) -> Message {
        let mut messages = self.take(node, session);
        assert_eq!(
            messages.len(),
            1,
            "expected one message for {session} on node {node}, got {messages:?}"
        );
        messages.remove(0)
    }
}

//! How a realm's replicated state changes: registry commands applied in log
//! order (at once on a single node), snapshots of that state, and the step after
//! every input that turns the input's proposals into applied commands or hands
//! them to the cluster.

use std::time::Instant;

use crate::broker::subscriptions::Subscriptions;
use crate::cluster::{RegistryCommand, RegistrySnapshot};
use crate::dealer::registry::{Callee, Registry};
use crate::meta::MetaEvent;
use crate::replies::goodbye;
use switchboard_proto::error_uri::CLOSE_KILLED;

use super::{Directory, Realm, Replication, SessionId, SessionSummary};

impl Realm {
    /// Applies a committed registry change. `index` is its position in the
    /// cluster's log: unique and the same on every node, it becomes the id of
    /// whatever the command creates.
    pub fn apply(&mut self, now: Instant, index: u64, command: RegistryCommand) {
        self.apply_one(now, index, command);
        self.settle(now);
    }

    pub(super) fn apply_one(&mut self, now: Instant, index: u64, command: RegistryCommand) {
        // A node whose session just had a change committed is alive, whatever this
        // node's links said: route to it again (frames wait for the link if need be).
        if let Some(node) = command.origin_node() {
            self.shared.unreachable.remove(&node);
        }
        let mut cx = self.shared.context(now);
        match command {
            RegistryCommand::SessionJoined {
                session,
                node,
                authid,
                authrole,
                authmethod,
            } => {
                let summary = SessionSummary {
                    node,
                    authid,
                    authrole,
                    authmethod,
                };
                self.shared.directory.insert(session, summary);
                self.shared
                    .events
                    .extend(MetaEvent::session_joined(&self.shared.directory, session));
            }
            RegistryCommand::SessionLeft { session } => self.apply_session_left(now, session),
            RegistryCommand::NodeDown { node } => {
                // Whatever still waits on that node fails now, even where the
                // failure detector has not (or not yet) noticed, e.g. a fast restart.
                self.dealer.node_down(&mut cx, node);
                let mut gone = self.shared.directory.on_node(node);
                gone.extend(self.dealer.registry().sessions_on(node));
                gone.sort_unstable();
                gone.dedup();
                for session in gone {
                    self.apply_session_left(now, session);
                }
                if node == self.shared.node {
                    self.disown_local_sessions(now);
                }
            }
            RegistryCommand::Register {
                by,
                procedure,
                match_policy,
                invoke,
                disclose_caller,
                forward_timeout,
                features,
            } => {
                let callee = Callee {
                    session: by.session,
                    node: by.node,
                    features,
                    disclose_caller,
                    forward_timeout,
                };
                self.dealer.apply_register(
                    &mut cx,
                    index,
                    by,
                    &procedure,
                    match_policy,
                    invoke,
                    callee,
                );
            }
            RegistryCommand::Unregister { by, registration } => {
                self.dealer.apply_unregister(&mut cx, by, registration)
            }
            RegistryCommand::Subscribe {
                by,
                topic,
                match_policy,
            } => self
                .broker
                .apply_subscribe(&mut cx, index, by, &topic, match_policy),
            RegistryCommand::Unsubscribe { by, subscription } => {
                self.broker.apply_unsubscribe(&mut cx, by, subscription)
            }
        }
    }

    /// The cluster declared this very node down (it was paused or cut off, and
    /// has come back): its sessions' registrations and subscriptions are gone
    /// everywhere, so the sessions must go too, or their clients would wait on
    /// registrations nobody routes to. They get GOODBYE and can reconnect.
    fn disown_local_sessions(&mut self, now: Instant) {
        let local: Vec<SessionId> = self.shared.sessions.ids().collect();
        for session in local {
            let why = "this router node lost its cluster; reconnect";
            self.shared.out.send(session, goodbye(CLOSE_KILLED, why));
            self.forget(now, session);
        }
    }

    pub(super) fn apply_session_left(&mut self, now: Instant, session: SessionId) {
        let mut cx = self.shared.context(now);
        self.dealer.apply_session_left(&mut cx, session);
        self.broker.apply_session_left(session);
        if let Some(summary) = self.shared.directory.remove(session) {
            let event = MetaEvent::session_left(session, &summary.authid, &summary.authrole);
            self.shared.events.push(event);
        }
    }

    /// The replicated state (registrations, subscriptions, sessions) as of the
    /// last applied command, for a snapshot.
    pub fn snapshot(&self) -> RegistrySnapshot {
        let mut registrations: Vec<_> = self.dealer.registry().iter().cloned().collect();
        registrations.sort_by_key(|r| r.id);
        let mut subscriptions: Vec<_> = self.broker.subscriptions().iter().cloned().collect();
        subscriptions.sort_by_key(|s| s.id);
        let sessions = self
            .shared
            .directory
            .iter()
            .map(|(id, s)| {
                (
                    id,
                    s.node,
                    s.authid.clone(),
                    s.authrole.clone(),
                    s.authmethod.clone(),
                )
            })
            .collect();
        RegistrySnapshot {
            registrations,
            subscriptions,
            sessions,
        }
    }

    /// Replaces the replicated state with a snapshot's (a node catching up, or
    /// restarting). Local sessions and calls in flight are left as they are.
    pub fn restore(&mut self, snapshot: RegistrySnapshot) {
        self.dealer
            .restore_registry(Registry::restore(snapshot.registrations));
        self.broker
            .restore_subscriptions(Subscriptions::restore(snapshot.subscriptions));
        let mut directory = Directory::default();
        for (id, node, authid, authrole, authmethod) in snapshot.sessions {
            directory.insert(
                id,
                SessionSummary {
                    node,
                    authid,
                    authrole,
                    authmethod,
                },
            );
        }
        self.shared.directory = directory;
    }

    /// After an input: applies (single node) or queues (cluster) the registry
    /// changes it asked for, then publishes the meta events they caused.
    pub(super) fn settle(&mut self, now: Instant) {
        while !self.shared.proposals.is_empty() {
            let proposals = std::mem::take(&mut self.shared.proposals);
            for command in proposals {
                match &mut self.shared.replication {
                    Replication::Local { applied } => {
                        *applied += 1;
                        let index = *applied;
                        self.apply_one(now, index, command);
                    }
                    Replication::Replicated => self.shared.to_commit.push_back(command),
                }
            }
        }
        let events = std::mem::take(&mut self.shared.events);
        let mut cx = self.shared.context(now);
        for event in events {
            self.broker.publish_meta(&mut cx, event);
        }
    }
}

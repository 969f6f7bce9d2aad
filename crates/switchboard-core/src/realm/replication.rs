//! How a realm's replicated state changes: registry commands applied in log
//! order (at once on a single node), snapshots of that state, and the step after
//! every input that turns the input's proposals into applied commands or hands
//! them to the cluster.

use std::time::Instant;

use crate::broker::subscriptions::Subscriptions;
use crate::cluster::{RegistryCommand, RegistrySnapshot, Requester, SessionEntry};
use crate::dealer::answer_requester;
use crate::dealer::registry::{Callee, Registry};
use crate::meta::MetaEvent;
use crate::replies::goodbye;
use switchboard_proto::error_uri::CLOSE_KILLED;

use super::requests::{Admission, Outcome, RequestLog};
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
        self.shared.applied = self.shared.applied.max(index);
        // A node whose session just had a change committed is alive, whatever this
        // node's links said: route to it again (frames wait for the link if need be).
        if let Some(node) = command.origin_node() {
            self.shared.unreachable.remove(&node);
        }
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
                    requests: RequestLog::default(),
                    testaments: Default::default(),
                };
                if self.shared.directory.contains(session) {
                    return; // A repeated copy.
                }
                self.shared.directory.insert(session, summary);
                if node == self.shared.node {
                    self.shared.membership_failures.remove(&session);
                    self.release_held(session);
                }
                self.shared
                    .events
                    .extend(MetaEvent::session_joined(&self.shared.directory, session));
            }
            RegistryCommand::SessionLeft { session } => {
                self.shared.membership_failures.remove(&session);
                self.apply_session_left(now, session)
            }
            RegistryCommand::NodeDraining { node } => {
                self.shared.draining.insert(node);
            }
            RegistryCommand::NodeDown { node } => {
                self.shared.down_at.insert(node, index);
                self.shared.draining.remove(&node);
                let mut cx = self.shared.context(now);
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
                created,
            } => {
                let callee = Callee {
                    session: by.session,
                    node: by.node,
                    features,
                    disclose_caller,
                    forward_timeout,
                };
                self.apply_request(now, by, |realm| {
                    let mut cx = realm.shared.context(now);
                    realm.dealer.apply_register(
                        &mut cx,
                        index,
                        by,
                        &procedure,
                        match_policy,
                        invoke,
                        callee,
                        created,
                    )
                });
            }
            RegistryCommand::Unregister { by, registration } => {
                self.apply_request(now, by, |realm| {
                    let mut cx = realm.shared.context(now);
                    realm.dealer.apply_unregister(&mut cx, by, registration)
                });
            }
            RegistryCommand::Subscribe {
                by,
                topic,
                match_policy,
                created,
                get_retained,
            } => {
                let answered = self.apply_request(now, by, |realm| {
                    let mut cx = realm.shared.context(now);
                    realm
                        .broker
                        .apply_subscribe(&mut cx, index, by, &topic, match_policy, created)
                });
                // After SUBSCRIBED, so the client knows the subscription id.
                if let (true, Some(Outcome::Subscribed(id))) = (get_retained, answered) {
                    let mut cx = self.shared.context(now);
                    self.broker.deliver_retained(&mut cx, by.session, id);
                }
            }
            RegistryCommand::Retain { event } => self.broker.apply_retain(*event),
            RegistryCommand::Record { event } => {
                (self.broker).apply_record(&self.shared.config.history, index, *event)
            }
            RegistryCommand::Unsubscribe { by, subscription } => {
                self.apply_request(now, by, |realm| {
                    let mut cx = realm.shared.context(now);
                    realm.broker.apply_unsubscribe(&mut cx, by, subscription)
                });
            }
            RegistryCommand::AddTestament { by, testament } => {
                self.apply_request(now, by, |realm| {
                    realm.shared.directory.add_testament(by.session, testament);
                    Outcome::Done
                });
            }
            RegistryCommand::FlushTestaments { by, scope } => {
                self.apply_request(now, by, |realm| {
                    let flushed = realm.shared.directory.flush_testaments(by.session, scope);
                    Outcome::Count(flushed as u64)
                });
            }
        }
    }

    /// Applies a committed copy of `by`'s request: the first copy changes the
    /// registry through `change` and records its outcome with the session; a
    /// repeated copy changes nothing. A request of a session the realm does not
    /// have (it left, or its node was declared down, before this committed) is
    /// refused without an answer: nobody is there to hear it. Returns the
    /// outcome this node answered with, if it answered a first copy.
    fn apply_request(
        &mut self,
        now: Instant,
        by: Requester,
        change: impl FnOnce(&mut Realm) -> Outcome,
    ) -> Option<Outcome> {
        let mut fresh = false;
        let outcome = match self.shared.directory.admit(by) {
            None => return None,
            Some(Admission::Repeat(outcome)) => outcome,
            Some(Admission::Fresh) => {
                let outcome = change(self);
                self.shared.directory.record(by, outcome.clone());
                fresh = true;
                Some(outcome)
            }
        };
        let outcome = outcome?;
        let mut cx = self.shared.context(now);
        let answered = answer_requester(&mut cx, by, &outcome);
        (fresh && answered).then_some(outcome)
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
        self.broker.apply_session_left(&mut cx, session);
        if let Some(summary) = self.shared.directory.remove(session) {
            // Every node applies this removal once and delivers to its own
            // subscribers (see `testaments.rs`).
            let mut cx = self.shared.context(now);
            let publisher = (session, summary.authid.clone(), summary.authrole.clone());
            for testament in summary.testaments.into_publishing_order() {
                self.broker
                    .publish_testament(&mut cx, &publisher, testament);
            }
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
            .map(|(id, s)| SessionEntry {
                id,
                node: s.node,
                authid: s.authid.clone(),
                authrole: s.authrole.clone(),
                authmethod: s.authmethod.clone(),
                requests: s.requests.clone(),
                testaments: s.testaments.clone(),
            })
            .collect();
        RegistrySnapshot {
            applied: self.shared.applied,
            registrations,
            subscriptions,
            sessions,
            down_at: self.shared.down_at.clone(),
            draining: self.shared.draining.clone(),
            retained: self.broker.retained().cloned().collect(),
            history: self.broker.history().cloned().collect(),
        }
    }

    /// Replaces the replicated state with a snapshot's (a node catching up, or
    /// restarting). Installing a snapshot is applying every command it covers at
    /// once, so it has the same effects on this node's sessions:
    /// - if the cluster declared this node down after the last command it applied,
    ///   every local session ends, as when `NodeDown` of itself is applied;
    /// - otherwise the local sessions the snapshot no longer has end (those whose
    ///   joining is still to commit stay);
    /// - requests whose commands the snapshot covers get their answers from it.
    pub fn restore(&mut self, now: Instant, snapshot: RegistrySnapshot) {
        let applied_before = self.shared.applied;
        self.dealer
            .restore_registry(Registry::restore(snapshot.registrations));
        self.broker.restore(
            Subscriptions::restore(snapshot.subscriptions),
            snapshot.retained,
            &self.shared.config.history,
            snapshot.history,
        );
        let mut directory = Directory::default();
        for entry in snapshot.sessions {
            let summary = SessionSummary {
                node: entry.node,
                authid: entry.authid,
                authrole: entry.authrole,
                authmethod: entry.authmethod,
                requests: entry.requests,
                testaments: entry.testaments,
            };
            directory.insert(entry.id, summary);
        }
        self.shared.directory = directory;
        self.shared.down_at = snapshot.down_at;
        self.shared.draining = snapshot.draining;
        self.shared.applied = snapshot.applied;

        let joined: Vec<SessionId> = (self.shared.joining.keys().copied())
            .filter(|session| self.shared.directory.contains(*session))
            .collect();
        for session in joined {
            self.release_held(session);
        }
        let me = self.shared.node;
        if self
            .shared
            .down_at
            .get(&me)
            .is_some_and(|&at| at > applied_before)
        {
            self.disown_local_sessions(now);
        } else {
            let removed: Vec<SessionId> = (self.shared.sessions.ids())
                .filter(|session| {
                    !self.shared.directory.contains(*session)
                        && !self.shared.joining.contains_key(session)
                })
                .collect();
            for session in removed {
                let why = "the cluster ended this session while this node was away";
                self.shared.out.send(session, goodbye(CLOSE_KILLED, why));
                self.forget(now, session);
            }
        }
        for (session, seq) in self.shared.pending.keys() {
            let outcome = self
                .shared
                .directory
                .get(session)
                .and_then(|summary| summary.requests.outcome(seq))
                .cloned();
            let answer = outcome.and_then(|o| self.shared.pending.answer(session, seq, &o));
            if let Some(answer) = answer {
                self.shared.out.send(session, answer);
            }
        }
        self.settle(now);
    }

    /// After an input: applies (single node) or queues (cluster) the registry
    /// changes it asked for, then publishes the meta events they caused.
    pub(super) fn settle(&mut self, now: Instant) {
        while !self.shared.proposals.is_empty() {
            let proposals = std::mem::take(&mut self.shared.proposals);
            for command in proposals {
                match self.shared.replication {
                    Replication::Local => {
                        let index = self.shared.applied + 1;
                        self.apply_one(now, index, command);
                    }
                    Replication::Replicated => self.queue_for_commit(command),
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

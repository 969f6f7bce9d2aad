//! Every session in the realm, on every node: what the session meta API reports.
//! Replicated like the registry (changed only by applied commands), while
//! `Sessions` holds what only the session's own node needs.

use std::collections::BTreeMap;

use crate::cluster::{NodeId, Requester};
use crate::realm::requests::{Admission, Outcome, RequestLog};
use crate::realm::{SessionId, Testament, TestamentScope, Testaments};

/// What the cluster knows about one session.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SessionSummary {
    pub(crate) node: NodeId,
    pub(crate) authid: String,
    pub(crate) authrole: String,
    pub(crate) authmethod: String,
    /// Its committed requests whose answers may not have reached it yet.
    pub(crate) requests: RequestLog,
    /// What to publish when it goes.
    pub(crate) testaments: Testaments,
}

/// Session id -> summary, for every node's sessions.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    sessions: BTreeMap<SessionId, SessionSummary>,
}

impl Directory {
    pub(crate) fn insert(&mut self, session: SessionId, summary: SessionSummary) {
        self.sessions.insert(session, summary);
    }

    pub(crate) fn remove(&mut self, session: SessionId) -> Option<SessionSummary> {
        self.sessions.remove(&session)
    }

    pub(crate) fn get(&self, session: SessionId) -> Option<&SessionSummary> {
        self.sessions.get(&session)
    }

    pub(crate) fn contains(&self, session: SessionId) -> bool {
        self.sessions.contains_key(&session)
    }

    /// Admits a committed copy of `by`'s request; `None` if its session is not
    /// (or no longer) in the realm, which refuses the request without an answer.
    pub(crate) fn admit(&mut self, by: Requester) -> Option<Admission> {
        let summary = self.sessions.get_mut(&by.session)?;
        Some(summary.requests.admit(by.seq, by.settled_below))
    }

    /// Records what the first copy of `by`'s request came to.
    pub(crate) fn record(&mut self, by: Requester, outcome: Outcome) {
        if let Some(summary) = self.sessions.get_mut(&by.session) {
            summary.requests.record(by.seq, outcome);
        }
    }

    /// Keeps `testament` with `session` (if it is still in the realm).
    pub(crate) fn add_testament(&mut self, session: SessionId, testament: Testament) {
        if let Some(summary) = self.sessions.get_mut(&session) {
            summary.testaments.add(testament);
        }
    }

    /// Drops `session`'s testaments of `scope`; how many there were.
    pub(crate) fn flush_testaments(&mut self, session: SessionId, scope: TestamentScope) -> usize {
        self.sessions
            .get_mut(&session)
            .map_or(0, |summary| summary.testaments.flush(scope))
    }

    /// Every session, in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (SessionId, &SessionSummary)> {
        self.sessions.iter().map(|(id, s)| (*id, s))
    }

    /// The sessions on `node`.
    pub(crate) fn on_node(&self, node: NodeId) -> Vec<SessionId> {
        self.iter()
            .filter(|(_, s)| s.node == node)
            .map(|(id, _)| id)
            .collect()
    }
}

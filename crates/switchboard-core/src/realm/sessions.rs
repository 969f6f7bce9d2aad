//! The sessions joined to a realm and what the router remembers about each.

use std::collections::HashMap;

use switchboard_proto::SessionScopeIds;

use crate::features::PeerFeatures;
use crate::realm::SessionId;

/// One joined session.
#[derive(Debug)]
pub(crate) struct SessionRecord {
    /// The authenticated identity (for anonymous sessions, a generated one).
    pub(crate) authid: String,
    /// The role the session acts under.
    pub(crate) authrole: String,
    /// How the session authenticated.
    pub(crate) authmethod: &'static str,
    /// Who vouched for the identity (WELCOME's `authprovider`).
    pub(crate) authprovider: &'static str,
    /// WELCOME's `authextra`.
    pub(crate) authextra: switchboard_proto::Dict,
    /// One of the router's own sessions: the realm's permissions do not apply.
    pub(crate) is_router: bool,
    /// What the client announced in HELLO.
    pub(crate) features: PeerFeatures,
    /// Request ids of the INVOCATIONs and INTERRUPTs sent to this session (the
    /// spec puts them in the callee's session scope).
    pub(crate) invocation_ids: SessionScopeIds,
}

/// Every session in the realm, by id.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    by_id: HashMap<SessionId, SessionRecord>,
}

impl Sessions {
    pub(crate) fn insert(&mut self, id: SessionId, record: SessionRecord) {
        self.by_id.insert(id, record);
    }

    pub(crate) fn remove(&mut self, id: SessionId) -> Option<SessionRecord> {
        self.by_id.remove(&id)
    }

    pub(crate) fn get(&self, id: SessionId) -> Option<&SessionRecord> {
        self.by_id.get(&id)
    }

    pub(crate) fn get_mut(&mut self, id: SessionId) -> Option<&mut SessionRecord> {
        self.by_id.get_mut(&id)
    }

    pub(crate) fn contains(&self, id: SessionId) -> bool {
        self.by_id.contains_key(&id)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.by_id.keys().copied()
    }
}

//! Calls in flight: which caller's request became which callee's invocation.
//!
//! Keyed by `(callee, invocation id)` because that is what a YIELD or ERROR names,
//! and by `(caller, request id)` so a caller cannot reuse a request id that is
//! still pending. Cleaning up after a leaving session scans the table instead of
//! keeping per-session indexes: sessions leave far less often than calls happen,
//! so the hot path pays for two map inserts and nothing more.

use std::collections::HashMap;

use crate::dealer::registry::RegistrationId;
use crate::realm::SessionId;

/// An invocation's id, in the callee's session scope.
pub(crate) type InvocationId = u64;

/// One call waiting for its callee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingCall {
    pub(crate) caller: SessionId,
    pub(crate) caller_request: u64,
    pub(crate) callee: SessionId,
    pub(crate) invocation: InvocationId,
    #[allow(dead_code)] // read by the registration meta API
    pub(crate) registration: RegistrationId,
}

/// Every call in flight in a realm.
#[derive(Debug, Default)]
pub(crate) struct PendingCalls {
    /// (callee, invocation id) -> the call.
    by_invocation: HashMap<(SessionId, InvocationId), PendingCall>,
    /// (caller, caller's request id) -> (callee, invocation id).
    by_request: HashMap<(SessionId, u64), (SessionId, InvocationId)>,
}

impl PendingCalls {
    pub(crate) fn is_pending(&self, caller: SessionId, request: u64) -> bool {
        self.by_request.contains_key(&(caller, request))
    }

    pub(crate) fn insert(&mut self, call: PendingCall) {
        self.by_request.insert(
            (call.caller, call.caller_request),
            (call.callee, call.invocation),
        );
        self.by_invocation
            .insert((call.callee, call.invocation), call);
    }

    /// Removes and returns the call that `callee`'s invocation belongs to.
    pub(crate) fn complete(
        &mut self,
        callee: SessionId,
        invocation: InvocationId,
    ) -> Option<PendingCall> {
        let call = self.by_invocation.remove(&(callee, invocation))?;
        self.by_request.remove(&(call.caller, call.caller_request));
        Some(call)
    }

    /// Removes and returns every call that `session` is the caller or callee of.
    pub(crate) fn remove_session(&mut self, session: SessionId) -> Vec<PendingCall> {
        let keys: Vec<_> = self
            .by_invocation
            .iter()
            .filter(|(_, c)| c.caller == session || c.callee == session)
            .map(|(k, _)| *k)
            .collect();
        keys.into_iter()
            .filter_map(|(callee, invocation)| self.complete(callee, invocation))
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_invocation.len()
    }
}

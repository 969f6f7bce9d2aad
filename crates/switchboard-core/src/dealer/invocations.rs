//! The callee's side of calls in flight: which invocation of a local callee
//! serves which call, wherever its caller is.
//!
//! Keyed by `(callee, invocation id)` because that is what a YIELD or ERROR
//! names, and by [`CallRef`] for what the caller's side sends later (more chunks
//! of a progressive call, INTERRUPT).

use std::collections::{HashMap, HashSet};

use crate::cluster::{CallRef, NodeId};
use crate::realm::SessionId;

/// An invocation's id, in the callee's session scope.
pub(crate) type InvocationId = u64;

/// Every invocation of a callee on this node.
#[derive(Debug, Default)]
pub(crate) struct Invocations {
    /// (callee, invocation id) -> the call it serves.
    by_invocation: HashMap<(SessionId, InvocationId), CallRef>,
    /// The call -> (callee, invocation id).
    by_call: HashMap<CallRef, (SessionId, InvocationId)>,
    /// The calls whose caller announced payload passthru mode.
    passthru_callers: HashSet<CallRef>,
}

impl Invocations {
    pub(crate) fn insert(
        &mut self,
        callee: SessionId,
        invocation: InvocationId,
        call: CallRef,
        caller_passthru: bool,
    ) {
        self.by_invocation.insert((callee, invocation), call);
        self.by_call.insert(call, (callee, invocation));
        if caller_passthru {
            self.passthru_callers.insert(call);
        }
    }

    /// Whether the caller of `call` may get an answer in payload passthru mode.
    pub(crate) fn caller_passthru(&self, call: &CallRef) -> bool {
        self.passthru_callers.contains(call)
    }

    /// The call an invocation serves.
    pub(crate) fn call_of(&self, callee: SessionId, invocation: InvocationId) -> Option<CallRef> {
        self.by_invocation.get(&(callee, invocation)).copied()
    }

    /// The invocation serving a call.
    pub(crate) fn invocation_of(&self, call: &CallRef) -> Option<(SessionId, InvocationId)> {
        self.by_call.get(call).copied()
    }

    pub(crate) fn remove(
        &mut self,
        callee: SessionId,
        invocation: InvocationId,
    ) -> Option<CallRef> {
        let call = self.by_invocation.remove(&(callee, invocation))?;
        self.by_call.remove(&call);
        self.passthru_callers.remove(&call);
        Some(call)
    }

    /// Removes every invocation that matches `pick`; returns (callee, invocation, call).
    fn remove_where(
        &mut self,
        pick: impl Fn(SessionId, &CallRef) -> bool,
    ) -> Vec<(SessionId, InvocationId, CallRef)> {
        let keys: Vec<(SessionId, InvocationId)> = self
            .by_invocation
            .iter()
            .filter(|((callee, _), call)| pick(*callee, call))
            .map(|(k, _)| *k)
            .collect();
        keys.into_iter()
            .filter_map(|(callee, inv)| Some((callee, inv, self.remove(callee, inv)?)))
            .collect()
    }

    /// Every invocation of `callee` (it left).
    pub(crate) fn remove_callee(
        &mut self,
        callee: SessionId,
    ) -> Vec<(SessionId, InvocationId, CallRef)> {
        self.remove_where(|c, _| c == callee)
    }

    /// Every invocation whose caller is on `node` (that node is gone).
    pub(crate) fn remove_origin(
        &mut self,
        node: NodeId,
    ) -> Vec<(SessionId, InvocationId, CallRef)> {
        self.remove_where(|_, call| call.node == node)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_invocation.len()
    }
}

//! The callee's side of calls in flight: which invocation of a local callee
//! serves which call, wherever its caller is.
//!
//! Keyed by `(callee, invocation id)` because that is what a YIELD or ERROR
//! names, and by [`CallRef`] for what the caller's side sends later (more chunks
//! of a progressive call, INTERRUPT).

use std::collections::HashMap;

use crate::cluster::{CallRef, NodeId};
use crate::features::PayloadModes;
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
    /// The payload modes of the calls whose caller announced any.
    caller_modes: HashMap<CallRef, PayloadModes>,
}

impl Invocations {
    pub(crate) fn insert(
        &mut self,
        callee: SessionId,
        invocation: InvocationId,
        call: CallRef,
        caller_modes: PayloadModes,
    ) {
        self.by_invocation.insert((callee, invocation), call);
        self.by_call.insert(call, (callee, invocation));
        if caller_modes != PayloadModes::default() {
            self.caller_modes.insert(call, caller_modes);
        }
    }

    /// The payload modes in which the caller of `call` may get an answer.
    pub(crate) fn caller_modes(&self, call: &CallRef) -> PayloadModes {
        self.caller_modes.get(call).copied().unwrap_or_default()
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
        self.caller_modes.remove(&call);
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

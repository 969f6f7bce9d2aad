//! Calls in flight: which caller's request became which callee's invocation,
//! and when each times out.
//!
//! Keyed by `(callee, invocation id)` because that is what a YIELD, ERROR or
//! INTERRUPT names, and by `(caller, request id)` for CANCEL and progressive CALL
//! chunks. Deadlines sit in an ordered set so the next one is always at hand.
//! Cleaning up after a leaving session scans the table instead of keeping
//! per-session indexes: sessions leave far less often than calls happen.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::dealer::registry::RegistrationId;
use crate::realm::SessionId;

/// An invocation's id, in the callee's session scope.
pub(crate) type InvocationId = u64;

/// How many finished progressive-CALL request ids are remembered per caller, so a
/// late chunk of a finished stream is dropped instead of starting a new call.
const FINISHED_STREAMS_REMEMBERED: usize = 64;

/// One call waiting for its callee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingCall {
    pub(crate) caller: SessionId,
    pub(crate) caller_request: u64,
    pub(crate) callee: SessionId,
    pub(crate) invocation: InvocationId,
    pub(crate) registration: RegistrationId,
    /// The caller asked for progressive results and the callee can send them.
    pub(crate) receive_progress: bool,
    /// The router-enforced timeout (per gap between results), if any.
    pub(crate) timeout: Option<Duration>,
    /// A `kill` CANCEL was sent on: the caller waits for the callee's answer.
    pub(crate) killing: bool,
    /// The caller is still sending progressive CALL chunks.
    pub(crate) streaming: bool,
}

type CallKey = (SessionId, InvocationId);

/// Every call in flight in a realm.
#[derive(Debug, Default)]
pub(crate) struct PendingCalls {
    /// (callee, invocation id) -> the call and its deadline.
    by_invocation: HashMap<CallKey, (PendingCall, Option<Instant>)>,
    /// (caller, caller's request id) -> (callee, invocation id).
    by_request: HashMap<(SessionId, u64), CallKey>,
    /// Deadlines, earliest first.
    deadlines: BTreeSet<(Instant, CallKey)>,
    /// Caller -> request ids of its recently finished progressive CALL streams.
    finished_streams: HashMap<SessionId, VecDeque<u64>>,
}

impl PendingCalls {
    /// The call a caller's request id belongs to, if it is still pending.
    pub(crate) fn by_request(&self, caller: SessionId, request: u64) -> Option<&PendingCall> {
        let key = self.by_request.get(&(caller, request))?;
        self.by_invocation.get(key).map(|(call, _)| call)
    }

    pub(crate) fn get_mut(
        &mut self,
        callee: SessionId,
        invocation: InvocationId,
    ) -> Option<&mut PendingCall> {
        self.by_invocation
            .get_mut(&(callee, invocation))
            .map(|(call, _)| call)
    }

    /// Whether `request` was a progressive CALL stream of `caller` that already ended.
    pub(crate) fn stream_finished(&self, caller: SessionId, request: u64) -> bool {
        self.finished_streams
            .get(&caller)
            .is_some_and(|ids| ids.contains(&request))
    }

    pub(crate) fn insert(&mut self, call: PendingCall, now: Instant) {
        let key = (call.callee, call.invocation);
        let deadline = call.timeout.map(|t| now + t);
        if let Some(deadline) = deadline {
            self.deadlines.insert((deadline, key));
        }
        self.by_request
            .insert((call.caller, call.caller_request), key);
        self.by_invocation.insert(key, (call, deadline));
    }

    /// Restarts the call's timeout (a progressive result arrived).
    pub(crate) fn touch(&mut self, callee: SessionId, invocation: InvocationId, now: Instant) {
        let key = (callee, invocation);
        let Some((call, deadline)) = self.by_invocation.get_mut(&key) else {
            return;
        };
        if let (Some(old), Some(timeout)) = (*deadline, call.timeout) {
            self.deadlines.remove(&(old, key));
            let new = now + timeout;
            self.deadlines.insert((new, key));
            *deadline = Some(new);
        }
    }

    /// Removes and returns the call that `callee`'s invocation belongs to.
    pub(crate) fn complete(
        &mut self,
        callee: SessionId,
        invocation: InvocationId,
    ) -> Option<PendingCall> {
        let key = (callee, invocation);
        let (call, deadline) = self.by_invocation.remove(&key)?;
        if let Some(deadline) = deadline {
            self.deadlines.remove(&(deadline, key));
        }
        self.by_request.remove(&(call.caller, call.caller_request));
        if call.streaming {
            self.remember_finished_stream(call.caller, call.caller_request);
        }
        Some(call)
    }

    /// Notes that a caller's progressive CALL stream ended (its last chunk went out,
    /// or the call ended while it was streaming).
    pub(crate) fn remember_finished_stream(&mut self, caller: SessionId, request: u64) {
        let ids = self.finished_streams.entry(caller).or_default();
        if ids.len() == FINISHED_STREAMS_REMEMBERED {
            ids.pop_front();
        }
        ids.push_back(request);
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(deadline, _)| *deadline)
    }

    /// Removes and returns every call whose deadline is at or before `now`.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<PendingCall> {
        let mut expired = Vec::new();
        while let Some(&(deadline, (callee, invocation))) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            match self.complete(callee, invocation) {
                Some(call) => expired.push(call),
                None => {
                    self.deadlines.pop_first();
                }
            }
        }
        expired
    }

    /// Removes and returns every call that `session` is the caller or callee of.
    pub(crate) fn remove_session(&mut self, session: SessionId) -> Vec<PendingCall> {
        let keys: Vec<CallKey> = self
            .by_invocation
            .iter()
            .filter(|(_, (c, _))| c.caller == session || c.callee == session)
            .map(|(k, _)| *k)
            .collect();
        let calls = keys
            .into_iter()
            .filter_map(|(callee, invocation)| self.complete(callee, invocation))
            .collect();
        self.finished_streams.remove(&session);
        calls
    }

    pub(crate) fn len(&self) -> usize {
        self.by_invocation.len()
    }
}

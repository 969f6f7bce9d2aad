//! The caller's side of calls in flight: what each caller's request is waiting
//! for, and when it times out.
//!
//! The node that holds the caller's session owns the call: its timeout, its
//! cancel mode, whether progress reaches the caller. Calls are keyed by
//! `(caller, request id)`, which is how results, errors and CANCEL name them,
//! whether the callee is local or on another node. Deadlines sit in an ordered
//! set so the next one is always at hand.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use switchboard_proto::Arguments;

use crate::cluster::NodeId;
use crate::dealer::options::CallOptions;
use crate::dealer::registry::Callee;
use crate::matching::MatchPolicy;
use crate::realm::SessionId;

/// How many finished progressive-CALL request ids are remembered per caller, so a
/// late chunk of a finished stream is dropped instead of starting a new call.
const FINISHED_STREAMS_REMEMBERED: usize = 64;

/// What happens when the callee answers `wamp.error.unavailable` (call re-routing,
/// `rfc/text/advanced/ap_rpc_call_rerouting.md`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OnUnavailable {
    /// A `single` registration has nobody else: the caller gets
    /// `wamp.error.no_available_callee`.
    NoOtherCallee,
    /// A progressive call invocation: the callee holds part of the call, so
    /// its error goes to the caller as it is.
    PassOn,
    /// A shared registration: the call is offered to another of its callees.
    Reroute(Box<Reroute>),
}

/// The CALL as it came, kept to offer it to another callee, and who declined it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reroute {
    pub(crate) procedure: String,
    pub(crate) options: CallOptions,
    pub(crate) match_policy: MatchPolicy,
    pub(crate) arguments: Arguments,
    /// Callees that answered `wamp.error.unavailable`: as if not registered now.
    pub(crate) declined: Vec<SessionId>,
}

/// A call as its caller's node sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutboundCall {
    /// The callee serving it (session, node, features).
    pub(crate) callee: Callee,
    /// The registration that matched.
    pub(crate) registration: u64,
    /// The caller asked for progressive results and the callee can send them.
    pub(crate) receive_progress: bool,
    /// The router-enforced timeout (per gap between results), if any.
    pub(crate) timeout: Option<Duration>,
    /// A `kill` CANCEL was passed on: the caller waits for the callee's answer.
    pub(crate) killing: bool,
    /// The caller is still sending progressive CALL chunks.
    pub(crate) streaming: bool,
    /// What a `wamp.error.unavailable` from the callee leads to.
    pub(crate) on_unavailable: OnUnavailable,
}

type CallKey = (SessionId, u64);

/// Every call whose caller is on this node.
#[derive(Debug, Default)]
pub(crate) struct OutboundCalls {
    /// (caller, request id) -> the call and its deadline.
    calls: HashMap<CallKey, (OutboundCall, Option<Instant>)>,
    /// Deadlines, earliest first.
    deadlines: BTreeSet<(Instant, CallKey)>,
    /// Caller -> request ids of its recently finished progressive CALL streams.
    finished_streams: HashMap<SessionId, VecDeque<u64>>,
}

impl OutboundCalls {
    pub(crate) fn get(&self, caller: SessionId, request: u64) -> Option<&OutboundCall> {
        self.calls.get(&(caller, request)).map(|(call, _)| call)
    }

    pub(crate) fn get_mut(&mut self, caller: SessionId, request: u64) -> Option<&mut OutboundCall> {
        self.calls.get_mut(&(caller, request)).map(|(call, _)| call)
    }

    /// Whether `request` was a progressive CALL stream of `caller` that already ended.
    pub(crate) fn stream_finished(&self, caller: SessionId, request: u64) -> bool {
        self.finished_streams
            .get(&caller)
            .is_some_and(|ids| ids.contains(&request))
    }

    pub(crate) fn insert(
        &mut self,
        caller: SessionId,
        request: u64,
        call: OutboundCall,
        now: Instant,
    ) {
        let key = (caller, request);
        let deadline = call.timeout.map(|t| now + t);
        if let Some(deadline) = deadline {
            self.deadlines.insert((deadline, key));
        }
        self.calls.insert(key, (call, deadline));
    }

    /// Restarts the call's timeout (a progressive result arrived).
    pub(crate) fn touch(&mut self, caller: SessionId, request: u64, now: Instant) {
        let key = (caller, request);
        let Some((call, deadline)) = self.calls.get_mut(&key) else {
            return;
        };
        if let (Some(old), Some(timeout)) = (*deadline, call.timeout) {
            self.deadlines.remove(&(old, key));
            let new = now + timeout;
            self.deadlines.insert((new, key));
            *deadline = Some(new);
        }
    }

    /// Removes and returns the call.
    pub(crate) fn complete(&mut self, caller: SessionId, request: u64) -> Option<OutboundCall> {
        let key = (caller, request);
        let (call, deadline) = self.calls.remove(&key)?;
        if let Some(deadline) = deadline {
            self.deadlines.remove(&(deadline, key));
        }
        if call.streaming {
            self.remember_finished_stream(caller, request);
        }
        Some(call)
    }

    /// Notes that a caller's progressive CALL stream ended (its last chunk went
    /// out, or the call ended while it was streaming, or its first chunk was refused).
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
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<(CallKey, OutboundCall)> {
        let mut expired = Vec::new();
        while let Some(&(deadline, (caller, request))) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            match self.complete(caller, request) {
                Some(call) => expired.push(((caller, request), call)),
                None => {
                    self.deadlines.pop_first();
                }
            }
        }
        expired
    }

    /// Removes and returns every call that matches `pick`.
    pub(crate) fn remove_where(
        &mut self,
        pick: impl Fn(SessionId, &OutboundCall) -> bool,
    ) -> Vec<(CallKey, OutboundCall)> {
        let keys: Vec<CallKey> = self
            .calls
            .iter()
            .filter(|((caller, _), (call, _))| pick(*caller, call))
            .map(|(k, _)| *k)
            .collect();
        keys.into_iter()
            .filter_map(|(caller, request)| {
                Some(((caller, request), self.complete(caller, request)?))
            })
            .collect()
    }

    /// Removes every call of `caller` (it left), and forgets its finished streams.
    pub(crate) fn remove_caller(&mut self, caller: SessionId) -> Vec<(CallKey, OutboundCall)> {
        let calls = self.remove_where(|c, _| c == caller);
        self.finished_streams.remove(&caller);
        calls
    }

    /// Removes every call served by a callee on `node` (that node is gone).
    pub(crate) fn remove_node(&mut self, node: NodeId) -> Vec<(CallKey, OutboundCall)> {
        self.remove_where(|_, call| call.callee.node == node)
    }

    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }
}

//! One answer per request, true to what happened, however often its command is
//! proposed and however the node learns it committed.
//!
//! A registry request (REGISTER, UNREGISTER, SUBSCRIBE, UNSUBSCRIBE, and the CALLs
//! of the testament meta procedures, which change a session's replicated state) is answered
//! only from the replicated state: when its command is applied, or found in a
//! snapshot the node installs. Its node keeps it in [`PendingRequests`] until then
//! and proposes it again, as often as needed, when a proposal's fate is unknown (a
//! leader paused or killed after it may have appended the entry). Every copy carries
//! the same origin (session and a per-session sequence number), and each session's
//! replicated [`RequestLog`] admits a sequence number once: a later copy changes
//! nothing and only repeats the recorded outcome, which the origin ignores once it
//! has answered. So a client never sees two answers, nor an ERROR for a command that
//! committed. The one ERROR given without a commit is for a command no log can hold
//! (no leader was known and nothing was ever sent).
//!
//! The log stays small: each command also says below which sequence number its
//! session has every answer (`settled_below`), and outcomes under it are dropped.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use switchboard_proto::{
    Arguments, CallResult, Dict, Message, Registered, Subscribed, Unregistered, Unsubscribed, Value,
};

use crate::cluster::{NodeId, Requester};
use crate::realm::SessionId;
use crate::replies::error;

/// What a committed request came to: the answer its client gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// REGISTERED with this registration id.
    Registered(u64),
    /// UNREGISTERED.
    Unregistered,
    /// SUBSCRIBED with this subscription id.
    Subscribed(u64),
    /// UNSUBSCRIBED.
    Unsubscribed,
    /// RESULT without arguments (a meta procedure that returns nothing).
    Done,
    /// RESULT with this one count.
    Count(u64),
    /// ERROR with this URI and message.
    Refused {
        /// The error URI.
        error: String,
        /// Why, for the client.
        why: String,
    },
}

impl Outcome {
    /// A refusal with `error` and a message.
    pub(crate) fn refused(error: &str, why: impl Into<String>) -> Self {
        Outcome::Refused {
            error: error.to_owned(),
            why: why.into(),
        }
    }

    /// The message that answers request `request` of type `request_type`.
    pub(crate) fn to_message(&self, request_type: u64, request: u64) -> Message {
        match self {
            Outcome::Registered(registration) => Message::Registered(Registered {
                request,
                registration: *registration,
            }),
            Outcome::Unregistered => Message::Unregistered(Unregistered {
                request,
                details: None,
            }),
            Outcome::Subscribed(subscription) => Message::Subscribed(Subscribed {
                request,
                subscription: *subscription,
            }),
            Outcome::Unsubscribed => Message::Unsubscribed(Unsubscribed {
                request,
                details: None,
            }),
            Outcome::Done => Message::Result(CallResult {
                request,
                details: Dict::new(),
                arguments: Arguments::none(),
            }),
            Outcome::Count(n) => Message::Result(CallResult {
                request,
                details: Dict::new(),
                arguments: Arguments::list(vec![Value::from(*n)]),
            }),
            Outcome::Refused { error: uri, why } => error(request_type, request, uri, why.clone()),
        }
    }
}

/// Whether a committed copy of a request is the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Admission {
    /// The first copy: apply it and record its outcome.
    Fresh,
    /// A later copy: change nothing; repeat the outcome if it is still kept.
    Repeat(Option<Outcome>),
}

/// A session's committed requests whose answers may not have reached it yet;
/// replicated with the session (and in snapshots).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLog {
    /// Every request below this sequence number has been answered at its node.
    settled_below: u64,
    /// Outcomes by sequence number, all at or above `settled_below`.
    outcomes: BTreeMap<u64, Outcome>,
}

impl RequestLog {
    /// Admits a committed copy of request `seq`; `settled_below` is what the copy
    /// says of its session's answered requests.
    pub(crate) fn admit(&mut self, seq: u64, settled_below: u64) -> Admission {
        if settled_below > self.settled_below {
            self.settled_below = settled_below;
            self.outcomes = self.outcomes.split_off(&settled_below);
        }
        if seq < self.settled_below {
            return Admission::Repeat(None);
        }
        match self.outcomes.get(&seq) {
            Some(outcome) => Admission::Repeat(Some(outcome.clone())),
            None => Admission::Fresh,
        }
    }

    /// Records the outcome of the first copy of request `seq`.
    pub(crate) fn record(&mut self, seq: u64, outcome: Outcome) {
        self.outcomes.insert(seq, outcome);
    }

    /// The recorded outcome of request `seq`, if kept.
    pub(crate) fn outcome(&self, seq: u64) -> Option<&Outcome> {
        self.outcomes.get(&seq)
    }

    /// How many outcomes are kept.
    pub fn len(&self) -> usize {
        self.outcomes.len()
    }

    /// Whether no outcome is kept.
    pub fn is_empty(&self) -> bool {
        self.outcomes.is_empty()
    }
}

/// A request waiting for its answer on the session's own node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Waiting {
    /// REGISTER, UNREGISTER, SUBSCRIBE, UNSUBSCRIBE or CALL.
    pub(crate) request_type: u64,
    /// The client's request id.
    pub(crate) request: u64,
    /// Whether some proposal of it may have reached a log: from then on only a
    /// commit can answer it.
    pub(crate) maybe_in_log: bool,
    /// Proposals of it that failed so far.
    pub(crate) failures: u32,
}

/// This node's requests that wait for their commands to commit.
#[derive(Debug, Default)]
pub(crate) struct PendingRequests {
    waiting: BTreeMap<(SessionId, u64), Waiting>,
    next_seq: HashMap<SessionId, u64>,
}

impl PendingRequests {
    /// Opens request `request` of `session` (on `node`) and names it for its command.
    pub(crate) fn open(
        &mut self,
        node: NodeId,
        session: SessionId,
        request_type: u64,
        request: u64,
    ) -> Requester {
        let next = self.next_seq.entry(session).or_insert(0);
        let seq = *next;
        *next += 1;
        self.waiting.insert(
            (session, seq),
            Waiting {
                request_type,
                request,
                maybe_in_log: false,
                failures: 0,
            },
        );
        let settled_below = self.settled_below(session);
        Requester {
            node,
            session,
            request,
            seq,
            settled_below,
        }
    }

    /// The lowest sequence number of `session` still waiting (or the next one).
    fn settled_below(&self, session: SessionId) -> u64 {
        self.waiting
            .range((session, 0)..=(session, u64::MAX))
            .next()
            .map(|((_, seq), _)| *seq)
            .unwrap_or_else(|| self.next_seq.get(&session).copied().unwrap_or(0))
    }

    /// Ends the wait of request `seq` of `session`; `None` if it was not waiting
    /// (already answered, or its session is gone).
    pub(crate) fn close(&mut self, session: SessionId, seq: u64) -> Option<Waiting> {
        self.waiting.remove(&(session, seq))
    }

    /// Ends the wait of request `seq` of `session` with `outcome`: the message
    /// that answers it, or `None` if nobody waits for it any more (answered
    /// already, or its session is gone). The one way a registry request is answered.
    pub(crate) fn answer(
        &mut self,
        session: SessionId,
        seq: u64,
        outcome: &Outcome,
    ) -> Option<Message> {
        let waiting = self.close(session, seq)?;
        Some(outcome.to_message(waiting.request_type, waiting.request))
    }

    /// The wait of request `seq` of `session`, to note a failed proposal.
    pub(crate) fn get_mut(&mut self, session: SessionId, seq: u64) -> Option<&mut Waiting> {
        self.waiting.get_mut(&(session, seq))
    }

    /// Every waiting request, in (session, sequence) order.
    pub(crate) fn keys(&self) -> Vec<(SessionId, u64)> {
        self.waiting.keys().copied().collect()
    }

    /// The session is gone: nobody waits for its answers any more.
    pub(crate) fn forget_session(&mut self, session: SessionId) {
        self.next_seq.remove(&session);
        let keys: Vec<_> = self
            .waiting
            .range((session, 0)..=(session, u64::MAX))
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            self.waiting.remove(&key);
        }
    }

    /// How many requests wait.
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use switchboard_proto::code;

    use super::*;

    #[test]
    fn a_request_is_admitted_once_and_its_repeats_get_the_recorded_outcome() {
        let mut log = RequestLog::default();
        assert_eq!(log.admit(0, 0), Admission::Fresh);
        log.record(0, Outcome::Registered(7));
        assert_eq!(
            log.admit(0, 0),
            Admission::Repeat(Some(Outcome::Registered(7)))
        );
    }

    #[test]
    fn settled_requests_are_dropped_and_their_late_copies_change_nothing() {
        let mut log = RequestLog::default();
        log.admit(0, 0);
        log.record(0, Outcome::Registered(7));
        log.admit(1, 0);
        log.record(1, Outcome::Unregistered);
        assert_eq!(log.admit(2, 1), Admission::Fresh);
        assert_eq!(log.len(), 1, "request 0 is settled: {log:?}");
        assert_eq!(log.admit(0, 0), Admission::Repeat(None));
        assert_eq!(log.outcome(1), Some(&Outcome::Unregistered));
    }

    #[test]
    fn the_settled_mark_is_the_oldest_request_still_waiting() {
        let mut pending = PendingRequests::default();
        let first = pending.open(1, 9, code::REGISTER, 100);
        let second = pending.open(1, 9, code::REGISTER, 101);
        assert_eq!((first.seq, first.settled_below), (0, 0));
        assert_eq!((second.seq, second.settled_below), (1, 0));
        pending.close(9, 1);
        let third = pending.open(1, 9, code::REGISTER, 102);
        assert_eq!(third.settled_below, 0, "request 0 still waits");
        pending.close(9, 0);
        let fourth = pending.open(1, 9, code::REGISTER, 103);
        assert_eq!(fourth.settled_below, 2, "request 2 is the oldest waiting");
    }

    #[test]
    fn a_forgotten_session_leaves_nothing_waiting() {
        let mut pending = PendingRequests::default();
        pending.open(1, 9, code::REGISTER, 100);
        pending.open(1, 10, code::REGISTER, 100);
        pending.forget_session(9);
        assert_eq!(pending.len(), 1);
        assert_eq!(pending.close(9, 0), None);
    }
}

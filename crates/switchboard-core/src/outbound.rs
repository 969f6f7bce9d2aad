//! How much may wait for a session that does not read its socket.
//!
//! Every message the router sends a session waits in memory until the session's
//! socket takes it. A client that stops reading would otherwise make that queue
//! grow without end, and one such client could take the whole router down. So
//! each session has a budget of queued bytes:
//!
//! - over the **soft** limit, EVENTs for it are dropped (an event is a
//!   notification; losing some to a client that cannot keep up is the lesser
//!   harm) and INVOCATIONs are refused at once, so their callers get an answer
//!   now instead of a timeout later;
//! - over the **hard** limit, or with bytes waiting and none written for the
//!   **stall** timeout, the session is closed.
//!
//! RESULTs and ERRORs are never dropped: a caller that stalls while its results
//! pile up reaches the hard limit and is closed.

use std::time::Duration;

use switchboard_proto::{Arguments, Message, Payload};

/// A session's outbound budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundLimits {
    /// Queued bytes above which EVENTs are dropped and INVOCATIONs refused.
    pub soft: usize,
    /// Queued bytes above which the session is closed.
    pub hard: usize,
    /// How long bytes may wait with none written before the session is closed.
    pub stall: Duration,
}

impl Default for OutboundLimits {
    /// 8 MiB soft, 16 MiB hard, 30 s without progress.
    fn default() -> Self {
        Self {
            soft: 8 * 1024 * 1024,
            hard: 16 * 1024 * 1024,
            stall: Duration::from_secs(30),
        }
    }
}

/// What to do with one message for a session with `queued` bytes waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Queue it.
    Send,
    /// Drop it (an EVENT over the soft limit).
    DropEvent,
    /// Do not send it; fail the call it belongs to (an INVOCATION over the soft limit).
    RefuseInvocation,
    /// Close the session: it is over the hard limit.
    Close,
}

impl OutboundLimits {
    /// The verdict for `message` when `queued` bytes already wait.
    pub fn judge(&self, message: &Message, queued: usize) -> Verdict {
        if queued > self.hard {
            return Verdict::Close;
        }
        if queued <= self.soft {
            return Verdict::Send;
        }
        match message {
            Message::Event(_) => Verdict::DropEvent,
            Message::Invocation(_) => Verdict::RefuseInvocation,
            _ => Verdict::Send,
        }
    }

    /// Whether a session whose bytes have waited `since_progress` with `queued`
    /// still unwritten has stalled.
    pub fn stalled(&self, queued: usize, since_progress: Duration) -> bool {
        queued > 0 && since_progress > self.stall
    }
}

/// What a message weighs in a queue, before it is encoded: its payload's bytes
/// plus a fixed allowance for the rest. The same message always weighs the
/// same, so adding it when queued and taking it away when written balances.
pub fn weight(message: &Message) -> usize {
    const ENVELOPE: usize = 64;
    let payload = match message {
        Message::Event(m) => arguments_weight(&m.arguments),
        Message::Invocation(m) => arguments_weight(&m.arguments),
        Message::Result(m) => arguments_weight(&m.arguments),
        Message::Error(m) => arguments_weight(&m.arguments) + m.error.len(),
        _ => 0,
    };
    ENVELOPE + payload
}

fn arguments_weight(arguments: &Arguments) -> usize {
    let one = |p: &Option<Payload>| match p {
        Some(Payload::Encoded { bytes, .. }) => bytes.len(),
        // Built by the router (meta API answers): small.
        Some(Payload::Value(_)) => 256,
        None => 0,
    };
    one(&arguments.args) + one(&arguments.kwargs)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use switchboard_proto::{Codec, Event, Invocation};

    use super::*;

    fn limits() -> OutboundLimits {
        OutboundLimits {
            soft: 100,
            hard: 200,
            stall: Duration::from_secs(5),
        }
    }

    fn event() -> Message {
        Message::Event(Event::default())
    }

    #[test]
    fn under_the_soft_limit_everything_is_sent() {
        for message in [event(), Message::Invocation(Invocation::default())] {
            assert_eq!(limits().judge(&message, 100), Verdict::Send);
        }
    }

    #[test]
    fn over_the_soft_limit_events_are_dropped_and_invocations_refused_but_results_sent() {
        assert_eq!(limits().judge(&event(), 101), Verdict::DropEvent);
        let invocation = Message::Invocation(Invocation::default());
        assert_eq!(limits().judge(&invocation, 150), Verdict::RefuseInvocation);
        let result = Message::Result(Default::default());
        assert_eq!(limits().judge(&result, 200), Verdict::Send);
    }

    #[test]
    fn over_the_hard_limit_the_session_is_closed_whatever_the_message() {
        assert_eq!(limits().judge(&event(), 201), Verdict::Close);
        let result = Message::Result(Default::default());
        assert_eq!(limits().judge(&result, 201), Verdict::Close);
    }

    #[test]
    fn a_session_stalls_only_with_bytes_waiting_past_the_timeout() {
        assert!(!limits().stalled(0, Duration::from_secs(60)));
        assert!(!limits().stalled(10, Duration::from_secs(5)));
        assert!(limits().stalled(10, Duration::from_secs(6)));
    }

    #[test]
    fn a_message_weighs_its_payload_bytes() {
        let payload = Bytes::from(vec![b'x'; 4096]);
        let mut e = Event::default();
        e.arguments.args = Some(Payload::Encoded {
            codec: Codec::Json,
            bytes: payload,
        });
        let message = Message::Event(e);
        assert!(weight(&message) >= 4096);
        assert_eq!(weight(&message), weight(&message.clone()));
    }
}

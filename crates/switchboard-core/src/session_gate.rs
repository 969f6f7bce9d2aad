//! The lifecycle of one connection's WAMP session (`rfc/text/basic/session_lifecycle.md`).
//!
//! Every frame a client sends passes the gate first. The gate knows whether a
//! session is open and which messages a client may send in each phase, so the
//! realm only ever sees messages that are legal in an established session, and
//! the transport only has to do what the returned [`GateAction`] says. Messages
//! the router sends pass [`SessionGate::handle_outbound`], which is how the gate
//! learns that a WELCOME opened the session or an ABORT ended it.

use switchboard_proto::error_uri::{GOODBYE_AND_OUT, NO_SUCH_REALM, PROTOCOL_VIOLATION};
use switchboard_proto::{DecodeError, Hello, Message};

use crate::realm::SessionId;
use crate::replies::{abort, goodbye};

/// Where the connection's session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Transport open, no session: only HELLO is legal.
    AwaitingHello,
    /// HELLO went to the realm; the client must wait for WELCOME or ABORT.
    Joining,
    /// WELCOME sent.
    Established(SessionId),
    /// The router sent GOODBYE and waits for the client's GOODBYE.
    RouterClosing,
    /// The transport must close; nothing more is read.
    Closed,
}

/// What the transport must do with an inbound frame.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum GateAction {
    /// Ask the realm named in HELLO to admit a new session.
    Join(Hello),
    /// Hand the message to the realm for `session`.
    Route(SessionId, Message),
    /// The client said GOODBYE: remove `session` from its realm and send `reply`.
    /// The transport stays open; a new HELLO may follow.
    Leave {
        /// The session that ended.
        session: SessionId,
        /// The router's GOODBYE.
        reply: Message,
    },
    /// Send `abort`, remove `leave` from its realm if set, and close the transport.
    Abort {
        /// The ABORT to send.
        abort: Message,
        /// The session to remove, if one was open.
        leave: Option<SessionId>,
    },
    /// Close the transport without sending anything, removing `leave` if set.
    Close {
        /// The session to remove, if one was open.
        leave: Option<SessionId>,
    },
    /// Nothing to do.
    Ignore,
}

/// What the transport must do after writing an outbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum AfterSend {
    /// Keep going.
    Continue,
    /// The message ended the session for good: close the transport once written.
    Close,
    /// The router said GOODBYE: wait (a bounded time) for the client's reply.
    AwaitGoodbye,
}

/// One connection's session lifecycle. Starts waiting for HELLO.
#[derive(Debug)]
pub struct SessionGate {
    phase: Phase,
}

impl Default for SessionGate {
    fn default() -> Self {
        Self {
            phase: Phase::AwaitingHello,
        }
    }
}

impl SessionGate {
    /// The open session, if any.
    pub fn session(&self) -> Option<SessionId> {
        match self.phase {
            Phase::Established(id) => Some(id),
            _ => None,
        }
    }

    /// Whether the transport should be closed.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Decides what a decoded inbound message means in the current phase.
    pub fn handle_inbound(&mut self, message: Message) -> GateAction {
        match (self.phase, message) {
            (Phase::Closed, _) => GateAction::Ignore,
            // A client may give up at any point; nothing is owed to it in reply.
            (_, Message::Abort(_)) => self.close(),
            (Phase::AwaitingHello, Message::Hello(hello)) => {
                self.phase = Phase::Joining;
                GateAction::Join(hello)
            }
            (Phase::Established(session), Message::Goodbye(_)) => {
                self.phase = Phase::AwaitingHello;
                GateAction::Leave {
                    session,
                    reply: goodbye(GOODBYE_AND_OUT, "session closed"),
                }
            }
            (Phase::Established(session), message) if client_may_send(&message) => {
                GateAction::Route(session, message)
            }
            (Phase::RouterClosing, Message::Goodbye(_)) => self.close(),
            (Phase::RouterClosing, _) => GateAction::Ignore,
            (phase, message) => self.violation(format!(
                "{} is not allowed {}",
                message.name(),
                match phase {
                    Phase::AwaitingHello => "before HELLO",
                    Phase::Joining => "before WELCOME",
                    _ => "from a client",
                }
            )),
        }
    }

    /// A frame that did not decode: the spec's answer is ABORT, whatever the phase.
    pub fn handle_decode_error(&mut self, error: &DecodeError) -> GateAction {
        match self.phase {
            Phase::Closed => GateAction::Ignore,
            _ => self.violation(error.to_string()),
        }
    }

    /// HELLO named a realm this router does not have.
    pub fn realm_not_found(&mut self, realm: &str) -> GateAction {
        self.phase = Phase::Closed;
        GateAction::Abort {
            abort: abort(NO_SUCH_REALM, format!("no realm named {realm:?}")),
            leave: None,
        }
    }

    /// Ends the session with an ABORT for a reason the transport found (for
    /// example an oversized frame), with `reason` as the ABORT's URI.
    pub fn abort_with(&mut self, reason: &str, message: impl Into<String>) -> GateAction {
        let leave = self.session();
        self.phase = Phase::Closed;
        GateAction::Abort {
            abort: abort(reason, message),
            leave,
        }
    }

    /// Notes what the router sends, and says whether the transport must close after.
    pub fn handle_outbound(&mut self, message: &Message) -> AfterSend {
        match (self.phase, message) {
            (Phase::Joining, Message::Welcome(welcome)) => {
                self.phase = Phase::Established(welcome.session);
                AfterSend::Continue
            }
            (_, Message::Abort(_)) => {
                self.phase = Phase::Closed;
                AfterSend::Close
            }
            (Phase::Established(_), Message::Goodbye(_)) => {
                self.phase = Phase::RouterClosing;
                AfterSend::AwaitGoodbye
            }
            _ => AfterSend::Continue,
        }
    }

    /// The transport went away (or is being closed): the session to remove, if any.
    pub fn handle_transport_closed(&mut self) -> Option<SessionId> {
        let leave = self.session();
        self.phase = Phase::Closed;
        leave
    }

    fn close(&mut self) -> GateAction {
        let leave = self.session();
        self.phase = Phase::Closed;
        GateAction::Close { leave }
    }

    fn violation(&mut self, message: String) -> GateAction {
        self.abort_with(PROTOCOL_VIOLATION, message)
    }
}

/// Messages a client (caller, callee, publisher, subscriber) may send once a
/// session is established; GOODBYE and ABORT are handled before this.
fn client_may_send(message: &Message) -> bool {
    matches!(
        message,
        Message::Register(_)
            | Message::Unregister(_)
            | Message::Call(_)
            | Message::Cancel(_)
            | Message::Yield(_)
            | Message::Error(_)
            | Message::Publish(_)
            | Message::Subscribe(_)
            | Message::Unsubscribe(_)
    )
}

#[cfg(test)]
mod tests {
    use switchboard_proto::{Call, Goodbye, Welcome};

    use super::*;

    fn established(session: SessionId) -> SessionGate {
        let mut gate = SessionGate::default();
        let _ = gate.handle_inbound(Message::Hello(Hello::default()));
        let welcome = Message::Welcome(Welcome {
            session,
            ..Default::default()
        });
        assert_eq!(gate.handle_outbound(&welcome), AfterSend::Continue);
        gate
    }

    fn is_violation(action: &GateAction) -> bool {
        matches!(action, GateAction::Abort { abort: Message::Abort(a), .. } if a.reason == PROTOCOL_VIOLATION)
    }

    #[test]
    fn call_before_hello_is_a_protocol_violation() {
        let mut gate = SessionGate::default();
        assert!(is_violation(
            &gate.handle_inbound(Message::Call(Call::default()))
        ));
        assert!(gate.is_closed());
    }

    #[test]
    fn messages_before_welcome_are_a_protocol_violation() {
        let mut gate = SessionGate::default();
        assert!(matches!(
            gate.handle_inbound(Message::Hello(Hello::default())),
            GateAction::Join(_)
        ));
        assert!(is_violation(
            &gate.handle_inbound(Message::Call(Call::default()))
        ));
    }

    #[test]
    fn a_second_hello_in_a_session_is_a_protocol_violation_that_leaves_the_realm() {
        let mut gate = established(7);
        let action = gate.handle_inbound(Message::Hello(Hello::default()));
        assert!(is_violation(&action));
        assert!(matches!(action, GateAction::Abort { leave: Some(7), .. }));
    }

    #[test]
    fn router_only_messages_from_a_client_are_a_protocol_violation() {
        let mut gate = established(7);
        assert!(is_violation(
            &gate.handle_inbound(Message::Welcome(Welcome::default()))
        ));
    }

    #[test]
    fn established_sessions_route_client_messages() {
        let mut gate = established(7);
        assert!(matches!(
            gate.handle_inbound(Message::Call(Call::default())),
            GateAction::Route(7, _)
        ));
    }

    #[test]
    fn client_goodbye_is_answered_and_the_transport_may_start_a_new_session() {
        let mut gate = established(7);
        let action = gate.handle_inbound(Message::Goodbye(Goodbye::default()));
        let GateAction::Leave {
            session: 7,
            reply: Message::Goodbye(reply),
        } = action
        else {
            panic!("expected Leave, got {action:?}");
        };
        assert_eq!(reply.reason, GOODBYE_AND_OUT);
        assert!(matches!(
            gate.handle_inbound(Message::Hello(Hello::default())),
            GateAction::Join(_)
        ));
    }

    #[test]
    fn router_goodbye_waits_for_the_client_reply_then_closes() {
        let mut gate = established(7);
        let bye = Message::Goodbye(Goodbye::default());
        assert_eq!(gate.handle_outbound(&bye), AfterSend::AwaitGoodbye);
        assert_eq!(
            gate.handle_inbound(Message::Call(Call::default())),
            GateAction::Ignore
        );
        assert_eq!(gate.handle_inbound(bye), GateAction::Close { leave: None });
        assert!(gate.is_closed());
    }

    #[test]
    fn unknown_realm_aborts_with_no_such_realm() {
        let mut gate = SessionGate::default();
        let _ = gate.handle_inbound(Message::Hello(Hello::default()));
        let GateAction::Abort {
            abort: Message::Abort(a),
            leave: None,
        } = gate.realm_not_found("x")
        else {
            panic!("expected ABORT");
        };
        assert_eq!(a.reason, NO_SUCH_REALM);
    }

    #[test]
    fn decode_errors_abort_and_leave_an_open_session() {
        let mut gate = established(3);
        let action = gate.handle_decode_error(&DecodeError::UnknownType(999));
        assert!(is_violation(&action));
        assert!(matches!(action, GateAction::Abort { leave: Some(3), .. }));
    }
}

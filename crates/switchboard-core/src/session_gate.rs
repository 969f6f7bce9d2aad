//! The lifecycle of one connection's WAMP session (`rfc/text/basic/session_lifecycle.md`).
//!
//! Every frame a client sends passes the gate first. The gate knows whether a
//! session is open and which messages a client may send in each phase, so the
//! realm only ever sees messages that are legal in an established session, and
//! the transport only has to do what the returned [`GateAction`] says. Messages
//! the router sends pass [`SessionGate::handle_outbound`], which is how the gate
//! learns that a WELCOME opened the session or an ABORT ended it.

use std::sync::Arc;

use switchboard_proto::error_uri::{GOODBYE_AND_OUT, NO_SUCH_REALM, PROTOCOL_VIOLATION, TIMEOUT};
use switchboard_proto::{DecodeError, Hello, Message};

use crate::auth::{
    AuthenticatorReply, AuthenticatorRequest, Fresh, Handshake, Identity, PasswordCheck,
    RealmSecurity, Refusal, Step,
};
use crate::realm::SessionId;
use crate::replies::{abort, goodbye};

/// Where the connection's session stands.
#[derive(Debug)]
enum Phase {
    /// Transport open, no session: only HELLO is legal.
    AwaitingHello,
    /// HELLO named a realm; the transport looks it up and starts the handshake.
    Resolving,
    /// CHALLENGE sent: only AUTHENTICATE is legal.
    Challenged(Box<Handshake>),
    /// The dynamic authenticator was asked, or a password hash is being
    /// checked off the realm's thread; the client must wait.
    Waiting(Box<Handshake>),
    /// The identity is decided and went to the realm; WELCOME comes next.
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
    /// Find the realm HELLO names, then call [`SessionGate::start_handshake`]
    /// with its security (or [`SessionGate::realm_not_found`]).
    Resolve(Hello),
    /// Send this message (a CHALLENGE) and keep reading.
    Send(Message),
    /// Call the dynamic authenticator, then pass its reply to
    /// [`SessionGate::authenticator_answered`].
    Ask(AuthenticatorRequest),
    /// Run this check on a thread that serves no realm (it is slow on
    /// purpose), then pass its outcome to [`SessionGate::password_checked`].
    Check(PasswordCheck),
    /// Ask the realm to admit a session with this identity.
    Join {
        /// The client's HELLO.
        hello: Hello,
        /// Who the handshake decided it is.
        identity: Identity,
    },
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
    /// Authentication failed: log and count `failure`, then send its ABORT
    /// (after a delay if the address keeps failing) and close the transport.
    Refuse(AuthFailure),
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

/// A failed handshake, with what its log line and metric need.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthFailure {
    /// The ABORT to send.
    pub abort: Message,
    /// Its reason URI.
    pub reason: String,
    /// The method tried.
    pub method: &'static str,
    /// The authid the client gave, if any.
    pub authid: Option<String>,
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
        matches!(self.phase, Phase::Closed)
    }

    /// Whether a session is being opened (HELLO received, no WELCOME or ABORT
    /// yet): the span a handshake timeout bounds.
    pub fn is_opening(&self) -> bool {
        matches!(
            self.phase,
            Phase::Resolving | Phase::Challenged(_) | Phase::Waiting(_) | Phase::Joining
        )
    }

    /// Decides what a decoded inbound message means in the current phase.
    pub fn handle_inbound(&mut self, message: Message) -> GateAction {
        let phase = std::mem::replace(&mut self.phase, Phase::Closed);
        match (phase, message) {
            (Phase::Closed, _) => GateAction::Ignore,
            // A client may give up at any point; nothing is owed to it in reply.
            (phase, Message::Abort(_)) => {
                self.phase = phase;
                self.close()
            }
            (Phase::AwaitingHello, Message::Hello(hello)) => {
                self.phase = Phase::Resolving;
                GateAction::Resolve(hello)
            }
            (Phase::Challenged(mut handshake), Message::Authenticate(authenticate)) => {
                let step = handshake.authenticate(&authenticate);
                self.take_step(handshake, step)
            }
            (Phase::Established(session), Message::Goodbye(_)) => {
                self.phase = Phase::AwaitingHello;
                GateAction::Leave {
                    session,
                    reply: goodbye(GOODBYE_AND_OUT, "session closed"),
                }
            }
            (Phase::Established(session), message) if client_may_send(&message) => {
                self.phase = Phase::Established(session);
                GateAction::Route(session, message)
            }
            (Phase::RouterClosing, Message::Goodbye(_)) => self.close(),
            (Phase::RouterClosing, _) => {
                self.phase = Phase::RouterClosing;
                GateAction::Ignore
            }
            (phase, message) => {
                let when = match &phase {
                    Phase::AwaitingHello => "before HELLO",
                    Phase::Challenged(_) => "while AUTHENTICATE is expected",
                    Phase::Resolving | Phase::Waiting(_) | Phase::Joining => "before WELCOME",
                    _ => "from a client",
                };
                self.phase = phase;
                self.violation(format!("{} is not allowed {when}", message.name()))
            }
        }
    }

    /// The realm HELLO named exists and has `security`: start authenticating.
    /// `peer` is the client's address as a dynamic authenticator sees it.
    pub fn start_handshake(
        &mut self,
        security: Arc<RealmSecurity>,
        hello: Hello,
        peer: Option<String>,
        fresh: Fresh,
    ) -> GateAction {
        if !matches!(self.phase, Phase::Resolving) {
            return GateAction::Ignore;
        }
        let (handshake, step) = Handshake::start(security, hello, peer, fresh);
        self.take_step(Box::new(handshake), step)
    }

    /// The dynamic authenticator answered (or could not be called).
    pub fn authenticator_answered(&mut self, reply: AuthenticatorReply) -> GateAction {
        self.resume(|handshake| handshake.answer(reply))
    }

    /// The password check asked for by [`GateAction::Check`] is done.
    pub fn password_checked(&mut self, valid: bool) -> GateAction {
        self.resume(|handshake| handshake.checked(valid))
    }

    /// Feeds what a waiting handshake waited for back into it (the handshake
    /// refuses an answer it did not ask for).
    fn resume(&mut self, step: impl FnOnce(&mut Handshake) -> Step) -> GateAction {
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Waiting(mut handshake) => {
                let step = step(&mut handshake);
                self.take_step(handshake, step)
            }
            // The client left, or the connection was closed, in the meantime.
            other => {
                self.phase = other;
                GateAction::Ignore
            }
        }
    }

    /// The connection's HELLO budget ran out: if no HELLO came, ABORT and close
    /// (a connection that says nothing must not hold resources for good).
    pub fn hello_overdue(&mut self) -> GateAction {
        if !matches!(self.phase, Phase::AwaitingHello) {
            return GateAction::Ignore;
        }
        self.abort_with(TIMEOUT, "no HELLO in time")
    }

    /// The handshake took too long: ABORT it (a no-op once the session is open).
    pub fn handshake_timed_out(&mut self) -> GateAction {
        if !self.is_opening() {
            return GateAction::Ignore;
        }
        self.phase = Phase::Closed;
        let refusal = Refusal::failed("the session was not opened in time");
        GateAction::Refuse(AuthFailure {
            abort: refusal.to_abort(),
            reason: refusal.reason,
            method: "timeout",
            authid: None,
        })
    }

    fn take_step(&mut self, handshake: Box<Handshake>, step: Step) -> GateAction {
        match step {
            Step::Challenge(challenge) => {
                self.phase = Phase::Challenged(handshake);
                GateAction::Send(challenge)
            }
            Step::Ask(request) => {
                self.phase = Phase::Waiting(handshake);
                GateAction::Ask(request)
            }
            Step::Check(check) => {
                self.phase = Phase::Waiting(handshake);
                GateAction::Check(check)
            }
            Step::Admit(identity) => {
                self.phase = Phase::Joining;
                GateAction::Join {
                    hello: handshake.into_hello(),
                    identity,
                }
            }
            Step::Refuse(refusal) => {
                self.phase = Phase::Closed;
                GateAction::Refuse(AuthFailure {
                    abort: refusal.to_abort(),
                    reason: refusal.reason,
                    method: handshake.method().as_str(),
                    authid: handshake.requested_authid().map(str::to_owned),
                })
            }
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
        match (&self.phase, message) {
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

    fn fresh() -> Fresh {
        Fresh {
            random: [1; 32],
            session: 5,
            now: std::time::SystemTime::UNIX_EPOCH,
        }
    }

    fn open_realm() -> Arc<RealmSecurity> {
        Arc::new(RealmSecurity::open())
    }

    /// A realm that accepts only tickets, with `joe`/`secret!!!`.
    fn ticket_realm() -> Arc<RealmSecurity> {
        let joe = crate::auth::Principal {
            authid: "joe".into(),
            role: "user".into(),
            ticket: Some(crate::auth::Ticket::parse("secret!!!").unwrap()),
            wampcra: None,
            authorized_keys: vec![],
        };
        Arc::new(RealmSecurity {
            methods: vec![crate::auth::AuthMethod::Ticket],
            principals: crate::auth::Principals::new(vec![joe]).unwrap(),
            ..RealmSecurity::open()
        })
    }

    fn ticket_hello() -> Hello {
        let mut details = switchboard_proto::Dict::new();
        details.insert("authmethods".into(), vec!["ticket".into()].into());
        details.insert("authid".into(), "joe".into());
        Hello {
            realm: "r".into(),
            details,
        }
    }

    fn authenticate(signature: &str) -> Message {
        Message::Authenticate(switchboard_proto::Authenticate {
            signature: signature.into(),
            extra: Default::default(),
        })
    }

    /// A gate whose HELLO was answered with a ticket CHALLENGE.
    fn challenged() -> SessionGate {
        let mut gate = SessionGate::default();
        let GateAction::Resolve(hello) = gate.handle_inbound(Message::Hello(ticket_hello())) else {
            panic!("expected Resolve");
        };
        let action = gate.start_handshake(ticket_realm(), hello, None, fresh());
        assert!(
            matches!(action, GateAction::Send(Message::Challenge(_))),
            "{action:?}"
        );
        gate
    }

    fn established(session: SessionId) -> SessionGate {
        let mut gate = SessionGate::default();
        let GateAction::Resolve(hello) = gate.handle_inbound(Message::Hello(Hello::default()))
        else {
            panic!("expected Resolve");
        };
        let action = gate.start_handshake(open_realm(), hello, None, fresh());
        assert!(matches!(action, GateAction::Join { .. }), "{action:?}");
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
    fn a_correct_authenticate_joins_with_the_identity_and_a_wrong_one_is_refused() {
        let mut gate = challenged();
        let GateAction::Join { identity, .. } = gate.handle_inbound(authenticate("secret!!!"))
        else {
            panic!("expected Join");
        };
        assert_eq!(identity.authid.as_deref(), Some("joe"));
        let mut gate = challenged();
        let GateAction::Refuse(failure) = gate.handle_inbound(authenticate("nope")) else {
            panic!("expected Refuse");
        };
        assert_eq!(failure.reason, "wamp.error.authentication_denied");
        assert_eq!(
            (failure.method, failure.authid.as_deref()),
            ("ticket", Some("joe"))
        );
        assert!(gate.is_closed());
    }

    #[test]
    fn authenticate_before_a_challenge_is_a_protocol_violation() {
        let mut gate = SessionGate::default();
        assert!(is_violation(&gate.handle_inbound(authenticate("x"))));
        let mut gate = established(3);
        assert!(is_violation(&gate.handle_inbound(authenticate("x"))));
    }

    #[test]
    fn a_second_hello_or_any_other_message_during_the_handshake_is_a_protocol_violation() {
        let mut gate = challenged();
        assert!(is_violation(
            &gate.handle_inbound(Message::Hello(ticket_hello()))
        ));
        let mut gate = challenged();
        assert!(is_violation(
            &gate.handle_inbound(Message::Call(Call::default()))
        ));
    }

    #[test]
    fn a_handshake_that_outlives_its_budget_is_refused_but_an_open_session_is_not() {
        let mut gate = challenged();
        assert!(gate.is_opening());
        assert!(matches!(gate.handshake_timed_out(), GateAction::Refuse(_)));
        let mut gate = established(4);
        assert_eq!(gate.handshake_timed_out(), GateAction::Ignore);
    }

    #[test]
    fn a_connection_without_hello_in_time_is_aborted_but_one_that_said_hello_is_not() {
        let mut gate = SessionGate::default();
        assert!(matches!(
            gate.hello_overdue(),
            GateAction::Abort { abort: Message::Abort(a), leave: None } if a.reason == TIMEOUT
        ));
        assert!(gate.is_closed());
        let mut gate = established(2);
        assert_eq!(gate.hello_overdue(), GateAction::Ignore);
    }

    #[test]
    fn an_authenticator_answer_after_the_client_left_is_ignored() {
        let mut gate = SessionGate::default();
        let _ = gate.handle_transport_closed();
        let reply = AuthenticatorReply::Result(vec![], Default::default());
        assert_eq!(gate.authenticator_answered(reply), GateAction::Ignore);
    }

    #[test]
    fn messages_before_welcome_are_a_protocol_violation() {
        let mut gate = SessionGate::default();
        assert!(matches!(
            gate.handle_inbound(Message::Hello(Hello::default())),
            GateAction::Resolve(_)
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
            GateAction::Resolve(_)
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

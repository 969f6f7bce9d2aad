//! A realm: the sessions in it and the roles (dealer) that route between them.
//!
//! [`Realm`] is a sans-IO state machine. Its owner must, after **every** input
//! (`handle_join`, `handle_message`, `handle_leave`, `shutdown`), drain
//! [`Realm::poll_outgoing`] until it returns `None` and deliver each message to its
//! session, in order. The realm never blocks and never waits: every decision
//! (who gets an INVOCATION, which ERROR a caller sees when its callee leaves) is
//! made inside the input call and shows up as outgoing messages.

mod sessions;
mod welcome;

use std::collections::VecDeque;
use std::time::Instant;

use switchboard_proto::error_uri::{
    CLOSE_SYSTEM_SHUTDOWN, NO_MATCHING_AUTH_METHOD, PROTOCOL_VIOLATION,
};
use switchboard_proto::{code, Hello, IdGenerator, Message, SessionScopeIds};

use crate::config::RealmConfig;
use crate::dealer::{Dealer, ProtocolViolation};
use crate::features::PeerFeatures;
use crate::replies::{abort, goodbye};

pub(crate) use sessions::{SessionRecord, Sessions};

/// A session's id: global scope, random, unique within the router.
pub type SessionId = u64;

/// One message for one session.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The session to deliver to.
    pub to: SessionId,
    /// The message.
    pub message: Message,
}

/// Why a HELLO was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The client offered only methods this realm does not accept.
    #[error("none of the offered authmethods {0:?} is accepted by this realm")]
    NoMatchingAuthMethod(Vec<String>),
}

impl JoinError {
    /// The ABORT that tells the client.
    pub fn to_abort(&self) -> Message {
        match self {
            JoinError::NoMatchingAuthMethod(_) => abort(NO_MATCHING_AUTH_METHOD, self.to_string()),
        }
    }
}

/// Queued outgoing messages; the only way roles talk to sessions.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: VecDeque<Outgoing>,
}

impl Outbox {
    pub(crate) fn send(&mut self, to: SessionId, message: Message) {
        self.queue.push_back(Outgoing { to, message });
    }
}

/// Everything a role may touch while handling one input.
pub(crate) struct Context<'a> {
    pub(crate) config: &'a RealmConfig,
    pub(crate) sessions: &'a mut Sessions,
    pub(crate) out: &'a mut Outbox,
    pub(crate) router_ids: &'a mut IdGenerator,
    #[allow(dead_code)] // read by call timeouts
    pub(crate) now: Instant,
}

/// One realm's state. See the module documentation for the call order.
#[derive(Debug)]
pub struct Realm {
    config: RealmConfig,
    sessions: Sessions,
    dealer: Dealer,
    out: Outbox,
    /// Router-scope ids: registrations (and later subscriptions).
    router_ids: IdGenerator,
    /// Global-scope ids: sessions.
    session_ids: IdGenerator,
}

impl Realm {
    /// An empty realm.
    pub fn new(config: RealmConfig) -> Self {
        Self {
            config,
            sessions: Sessions::default(),
            dealer: Dealer::default(),
            out: Outbox::default(),
            router_ids: IdGenerator::default(),
            session_ids: IdGenerator::default(),
        }
    }

    /// The realm's settings.
    pub fn config(&self) -> &RealmConfig {
        &self.config
    }

    /// How many sessions are joined.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Whether `session` is joined to this realm.
    pub fn is_member(&self, session: SessionId) -> bool {
        self.sessions.contains(session)
    }

    /// The dealer's state, for inspection.
    pub fn dealer(&self) -> &Dealer {
        &self.dealer
    }

    /// Admits a session (queuing its WELCOME) or says why not.
    pub fn handle_join(&mut self, _now: Instant, hello: &Hello) -> Result<SessionId, JoinError> {
        let authmethod = welcome::choose_authmethod(&self.config, &hello.details)?;
        let id = self.session_ids.next_id();
        let record = SessionRecord {
            authid: welcome::anonymous_authid(id),
            authrole: "anonymous".to_owned(),
            features: PeerFeatures::from_hello_details(&hello.details),
            invocation_ids: SessionScopeIds::default(),
        };
        let welcome = welcome::welcome(id, &self.config, &record, authmethod);
        self.sessions.insert(id, record);
        self.out.send(id, welcome);
        Ok(id)
    }

    /// Routes one message from an established session. The gate has already
    /// checked that a client may send this type.
    pub fn handle_message(&mut self, now: Instant, from: SessionId, message: Message) {
        if !self.sessions.contains(from) {
            return; // The session left while this message was in flight.
        }
        let mut cx = Context {
            config: &self.config,
            sessions: &mut self.sessions,
            out: &mut self.out,
            router_ids: &mut self.router_ids,
            now,
        };
        let outcome = match message {
            Message::Register(m) => self.dealer.register(&mut cx, from, m),
            Message::Unregister(m) => self.dealer.unregister(&mut cx, from, m),
            Message::Call(m) => self.dealer.call(&mut cx, from, m),
            Message::Yield(m) => self.dealer.yield_result(&mut cx, from, m),
            Message::Error(m) if m.request_type == code::INVOCATION => {
                self.dealer.invocation_error(&mut cx, from, m)
            }
            other => Err(ProtocolViolation(format!(
                "{} is not supported by this router",
                describe(&other)
            ))),
        };
        if let Err(ProtocolViolation(reason)) = outcome {
            self.out.send(from, abort(PROTOCOL_VIOLATION, reason));
            self.forget(now, from);
        }
    }

    /// The session ended (GOODBYE, ABORT or a lost transport): drop everything it owned.
    pub fn handle_leave(&mut self, now: Instant, session: SessionId) {
        self.forget(now, session);
    }

    /// Says GOODBYE (`wamp.close.system_shutdown`) to every session and forgets them.
    pub fn shutdown(&mut self, now: Instant) {
        let ids: Vec<SessionId> = self.sessions.ids().collect();
        for id in ids {
            self.out.send(
                id,
                goodbye(CLOSE_SYSTEM_SHUTDOWN, "the router is shutting down"),
            );
            self.forget(now, id);
        }
    }

    /// The next message to deliver, in order.
    #[must_use]
    pub fn poll_outgoing(&mut self) -> Option<Outgoing> {
        self.out.queue.pop_front()
    }

    fn forget(&mut self, now: Instant, session: SessionId) {
        if self.sessions.remove(session).is_none() {
            return;
        }
        self.session_ids.release(session);
        let mut cx = Context {
            config: &self.config,
            sessions: &mut self.sessions,
            out: &mut self.out,
            router_ids: &mut self.router_ids,
            now,
        };
        self.dealer.session_left(&mut cx, session);
    }
}

fn describe(message: &Message) -> String {
    match message {
        Message::Error(e) => format!("ERROR for a message of type {}", e.request_type),
        other => other.name().to_owned(),
    }
}

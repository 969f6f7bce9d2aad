//! A realm: the sessions in it and the roles (dealer, broker, meta API) that
//! route between them.
//!
//! [`Realm`] is a sans-IO state machine with three kinds of methods:
//! `handle_*` inputs (`handle_join`, `handle_message`, `handle_leave`,
//! `handle_timeout`, `shutdown`), each given the current `now`; `poll_*`
//! outputs; and `&self` getters. After **every** input its owner must drain
//! [`Realm::poll_outgoing`] until it returns `None`, delivering each message to
//! its session in order, and then re-arm one timer for [`Realm::poll_timeout`]
//! (calling `handle_timeout` when it fires). The realm never blocks and never
//! reads a clock: every decision is made inside the input call.

mod sessions;
mod welcome;

use std::collections::VecDeque;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;
use switchboard_proto::error_uri::{
    CLOSE_SYSTEM_SHUTDOWN, NO_MATCHING_AUTH_METHOD, NO_SUCH_PROCEDURE, PROTOCOL_VIOLATION,
};
use switchboard_proto::uri::is_reserved;
use switchboard_proto::{
    code, Call, CallResult, Dict, Hello, IdGenerator, Message, SessionScopeIds,
};

use crate::broker::Broker;
use crate::clock::ClockAnchor;
use crate::config::RealmConfig;
use crate::dealer::{Dealer, ProtocolViolation};
use crate::features::PeerFeatures;
use crate::meta::{self, MetaEvent, MetaReply, MetaScope};
use crate::replies::{abort, error, goodbye};

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
    pub(crate) rng: &'a mut StdRng,
    pub(crate) events: &'a mut Vec<MetaEvent>,
    pub(crate) clock: &'a ClockAnchor,
    pub(crate) now: Instant,
}

/// The state shared by every role, split from the roles so a role can borrow it
/// mutably next to itself.
#[derive(Debug)]
struct Shared {
    config: RealmConfig,
    sessions: Sessions,
    out: Outbox,
    /// Router-scope ids: registrations and subscriptions.
    router_ids: IdGenerator,
    /// Global-scope ids: sessions.
    session_ids: IdGenerator,
    rng: StdRng,
    events: Vec<MetaEvent>,
    clock: ClockAnchor,
}

impl Shared {
    fn context(&mut self, now: Instant) -> Context<'_> {
        Context {
            config: &self.config,
            sessions: &mut self.sessions,
            out: &mut self.out,
            router_ids: &mut self.router_ids,
            rng: &mut self.rng,
            events: &mut self.events,
            clock: &self.clock,
            now,
        }
    }
}

/// One realm's state. See the module documentation for the call order.
#[derive(Debug)]
pub struct Realm {
    shared: Shared,
    dealer: Dealer,
    broker: Broker,
}

impl Realm {
    /// An empty realm. `clock` ties the monotonic `now` of later inputs to wall
    /// time, for the timestamps the meta API reports.
    pub fn new(config: RealmConfig, clock: ClockAnchor) -> Self {
        Self {
            shared: Shared {
                config,
                sessions: Sessions::default(),
                out: Outbox::default(),
                router_ids: IdGenerator::default(),
                session_ids: IdGenerator::default(),
                rng: StdRng::from_entropy(),
                events: Vec::new(),
                clock,
            },
            dealer: Dealer::default(),
            broker: Broker::default(),
        }
    }

    /// The realm's settings.
    pub fn config(&self) -> &RealmConfig {
        &self.shared.config
    }

    /// How many sessions are joined.
    pub fn session_count(&self) -> usize {
        self.shared.sessions.len()
    }

    /// Whether `session` is joined to this realm.
    pub fn is_member(&self, session: SessionId) -> bool {
        self.shared.sessions.contains(session)
    }

    /// The dealer's state, for inspection.
    pub fn dealer(&self) -> &Dealer {
        &self.dealer
    }

    /// The broker's state, for inspection.
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// Admits a session (queuing its WELCOME) or says why not.
    pub fn handle_join(&mut self, now: Instant, hello: &Hello) -> Result<SessionId, JoinError> {
        let authmethod = welcome::choose_authmethod(&self.shared.config, &hello.details)?;
        let id = self.shared.session_ids.next_id();
        let record = SessionRecord {
            authid: welcome::anonymous_authid(id),
            authrole: "anonymous".to_owned(),
            authmethod,
            features: PeerFeatures::from_hello_details(&hello.details),
            invocation_ids: SessionScopeIds::default(),
        };
        let welcome = welcome::welcome(id, &self.shared.config, &record);
        self.shared.sessions.insert(id, record);
        self.shared.out.send(id, welcome);
        self.shared
            .events
            .extend(MetaEvent::session_joined(&self.shared.sessions, id));
        self.publish_events(now);
        Ok(id)
    }

    /// Routes one message from an established session. The gate has already
    /// checked that a client may send this type.
    pub fn handle_message(&mut self, now: Instant, from: SessionId, message: Message) {
        if !self.shared.sessions.contains(from) {
            return; // The session left while this message was in flight.
        }
        let mut cx = self.shared.context(now);
        let outcome = match message {
            Message::Call(call) if is_reserved(&call.procedure) => {
                self.meta_call(now, from, call);
                Ok(())
            }
            Message::Call(m) => self.dealer.call(&mut cx, from, m),
            Message::Register(m) => {
                self.dealer.register(&mut cx, from, m);
                Ok(())
            }
            Message::Unregister(m) => {
                self.dealer.unregister(&mut cx, from, m);
                Ok(())
            }
            Message::Cancel(m) => {
                self.dealer.cancel(&mut cx, from, m);
                Ok(())
            }
            Message::Yield(m) => {
                self.dealer.yield_result(&mut cx, from, m);
                Ok(())
            }
            Message::Error(m) if m.request_type == code::INVOCATION => {
                self.dealer.invocation_error(&mut cx, from, m);
                Ok(())
            }
            Message::Subscribe(m) => {
                self.broker.subscribe(&mut cx, from, m);
                Ok(())
            }
            Message::Unsubscribe(m) => {
                self.broker.unsubscribe(&mut cx, from, m);
                Ok(())
            }
            Message::Publish(m) => {
                self.broker.publish(&mut cx, from, m);
                Ok(())
            }
            other => Err(ProtocolViolation(format!(
                "{} is not something a client sends",
                describe(&other)
            ))),
        };
        if let Err(ProtocolViolation(reason)) = outcome {
            self.shared
                .out
                .send(from, abort(PROTOCOL_VIOLATION, reason));
            self.forget(now, from);
        }
        self.publish_events(now);
    }

    /// The session ended (GOODBYE, ABORT or a lost transport): drop everything it owned.
    pub fn handle_leave(&mut self, now: Instant, session: SessionId) {
        self.forget(now, session);
        self.publish_events(now);
    }

    /// Fails the calls whose timeouts have passed by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut cx = self.shared.context(now);
        self.dealer.handle_timeout(&mut cx);
    }

    /// Says GOODBYE (`wamp.close.system_shutdown`) to every session and forgets them.
    pub fn shutdown(&mut self, now: Instant) {
        let ids: Vec<SessionId> = self.shared.sessions.ids().collect();
        for id in ids {
            self.shared.out.send(
                id,
                goodbye(CLOSE_SYSTEM_SHUTDOWN, "the router is shutting down"),
            );
            self.forget(now, id);
        }
        self.shared.events.clear();
    }

    /// The next message to deliver, in order.
    #[must_use]
    pub fn poll_outgoing(&mut self) -> Option<Outgoing> {
        self.shared.out.queue.pop_front()
    }

    /// When `handle_timeout` must next be called, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.dealer.next_deadline()
    }

    /// Answers a CALL to a `wamp.` procedure from the router itself.
    fn meta_call(&mut self, now: Instant, caller: SessionId, call: Call) {
        let args = call.arguments.args_values().unwrap_or_default();
        let kwargs = call.arguments.kwargs_values().unwrap_or_default();
        let scope = MetaScope {
            dealer: &self.dealer,
            sessions: &self.shared.sessions,
            caller,
        };
        let reply = meta::call(&scope, &call.procedure, &args, &kwargs);
        let message = match reply {
            MetaReply::Result(arguments) => Message::Result(CallResult {
                request: call.request,
                details: Dict::new(),
                arguments,
            }),
            MetaReply::Error(uri, why) => error(code::CALL, call.request, uri, why),
            MetaReply::Kill {
                target,
                reason,
                message,
            } => {
                self.shared.out.send(target, goodbye(&reason, message));
                self.forget(now, target);
                Message::Result(CallResult {
                    request: call.request,
                    details: Dict::new(),
                    arguments: Default::default(),
                })
            }
        };
        debug_assert!(
            !matches!(&message, Message::Error(e) if e.error == NO_SUCH_PROCEDURE && !call.procedure.starts_with("wamp."))
        );
        self.shared.out.send(caller, message);
    }

    fn forget(&mut self, now: Instant, session: SessionId) {
        let Some(record) = self.shared.sessions.remove(session) else {
            return;
        };
        self.shared.session_ids.release(session);
        let mut cx = self.shared.context(now);
        self.dealer.session_left(&mut cx, session);
        self.broker.session_left(&mut cx, session);
        cx.events.push(MetaEvent::session_left(
            session,
            &record.authid,
            &record.authrole,
        ));
    }

    /// Hands the meta events the last input produced to the broker.
    fn publish_events(&mut self, now: Instant) {
        let events = std::mem::take(&mut self.shared.events);
        let mut cx = self.shared.context(now);
        for event in events {
            self.broker.publish_meta(&mut cx, event);
        }
    }
}

fn describe(message: &Message) -> String {
    match message {
        Message::Error(e) => format!("ERROR for a message of type {}", e.request_type),
        other => other.name().to_owned(),
    }
}

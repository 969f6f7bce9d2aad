//! The actor behind one client connection, whatever carries it: a pump between
//! frames and the realm.
//!
//! Inbound: decode, ask the `SessionGate` what the message means, do what it
//! says (join a realm, route to it, answer, close). Outbound: let the gate see
//! the message, encode, write. All of that is the same for every transport, so
//! it lives here once; a [`Transport`] only knows how to put an encoded
//! message, a keepalive ping and a close on its wire, and its own
//! `StreamHandler` turns what it reads into [`Session::handle_frame`] calls.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use actix::dev::{SendError, ToEnvelope};
use actix::{Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Handler, SpawnHandle};
use bytes::Bytes;
use switchboard_core::auth::{AuthenticatorReply, Fresh};
use switchboard_core::session_gate::{AfterSend, AuthFailure};
use switchboard_core::{GateAction, SessionGate};
use switchboard_proto::error_uri::PAYLOAD_SIZE_EXCEEDED;
use switchboard_proto::{code, decode, encode, Codec, Message};

use crate::authenticator::{Answered, Ask};
use crate::config::ServerConfig;
use crate::directory::RealmDirectory;
use crate::gatekeeper::Gatekeeper;
use crate::outbound::OutboundGauge;
use crate::realm_actor::{Deliver, Inbound, Join, Leave, RealmActor};

/// What a session's read side starts with, whatever the transport. Small,
/// because most sessions are idle most of the time; it grows as a large
/// message needs.
pub(crate) const READ_BUFFER: usize = 1024;

/// Counts open sessions of every transport, so the connection limit covers
/// them all and shutdown can wait for them to close.
#[derive(Clone, Default)]
pub(crate) struct ConnectionCounter(Arc<AtomicUsize>);

impl ConnectionCounter {
    pub(crate) fn open(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// The part of a session that differs between WebSocket and RawSocket. The
/// context is the transport's because actix ties the way an actor writes
/// (a WebSocket response stream, a socket writer) to its context type.
pub(crate) trait Transport: Sized + Unpin + 'static {
    type Context: AsyncContext<Session<Self>>
        + ToEnvelope<Session<Self>, Deliver>
        + ToEnvelope<Session<Self>, Answered>;

    /// Queues one encoded WAMP message.
    fn send(&mut self, codec: Codec, bytes: Vec<u8>, ctx: &mut Self::Context);

    /// Sends a keepalive ping.
    fn ping(&mut self, ctx: &mut Self::Context);

    /// Whether the peer answers this transport's pings, so silence past the
    /// ping timeout means it is gone. A transport that returns false leaves
    /// dead peers to the kernel (TCP keepalive).
    fn pings_answered(&self) -> bool {
        true
    }

    /// Closes the connection once what was queued is written; the actor stops.
    fn close(&mut self, ctx: &mut Self::Context);

    /// The largest message the peer said it accepts, if it said.
    fn peer_limit(&self) -> Option<usize> {
        None
    }
}

/// Everything a session needs from the server, the same for every transport.
#[derive(Clone)]
pub(crate) struct SessionDeps {
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) realms: Arc<RealmDirectory>,
    pub(crate) connections: ConnectionCounter,
    pub(crate) gatekeeper: Arc<Gatekeeper>,
}

/// One client connection.
pub(crate) struct Session<T> {
    codec: Codec,
    gate: SessionGate,
    deps: SessionDeps,
    /// The realm the current session joined (set on HELLO).
    realm: Option<Addr<RealmActor>>,
    /// When the client last sent anything, for the keepalive.
    last_heard: Instant,
    /// The client's address, for logs, the failure throttle and authenticators.
    peer: Option<SocketAddr>,
    /// What waits to be written to this connection (shared with the realm).
    gauge: Arc<OutboundGauge>,
    /// The deadline of the handshake in progress. A new HELLO on the same
    /// connection (after GOODBYE) replaces it, so an earlier handshake's
    /// deadline cannot end a later one.
    handshake_deadline: Option<SpawnHandle>,
    /// When the first HELLO is due: counted from when the connection was
    /// accepted, not from when the session started on its thread.
    hello_by: Instant,
    pub(crate) transport: T,
}

impl<T: Transport> Session<T> {
    pub(crate) fn new(
        codec: Codec,
        deps: SessionDeps,
        peer: Option<SocketAddr>,
        gauge: Arc<OutboundGauge>,
        transport: T,
        hello_by: Instant,
    ) -> Self {
        Self {
            codec,
            gate: SessionGate::default(),
            deps,
            realm: None,
            last_heard: Instant::now(),
            peer,
            gauge,
            handshake_deadline: None,
            hello_by,
            transport,
        }
    }

    pub(crate) fn config(&self) -> &ServerConfig {
        &self.deps.config
    }

    /// The client sent something: it is alive, whatever the frame was.
    pub(crate) fn heard(&mut self) {
        self.last_heard = Instant::now();
    }

    /// One whole WAMP message from the client.
    pub(crate) fn handle_frame(&mut self, frame: Bytes, ctx: &mut T::Context) {
        let action = match decode(self.codec, frame) {
            Ok(message) => self.gate.handle_inbound(message),
            Err(error) => {
                tracing::debug!(%error, "undecodable frame");
                self.gate.handle_decode_error(&error)
            }
        };
        self.perform(action, ctx);
    }

    /// The transport found the client at fault (`reason` is the ABORT's URI).
    pub(crate) fn fail(&mut self, reason: &str, why: impl Into<String>, ctx: &mut T::Context) {
        let action = self.gate.abort_with(reason, why);
        self.perform(action, ctx);
    }

    /// The client sent a message larger than this router accepts.
    pub(crate) fn oversized(&mut self, limit: usize, ctx: &mut T::Context) {
        self.fail(
            PAYLOAD_SIZE_EXCEEDED,
            format!("message larger than {limit} bytes"),
            ctx,
        );
    }

    /// Ends the session (it leaves its realm) and closes the connection the
    /// transport's way, which flushes what is queued first.
    pub(crate) fn close_connection(&mut self, ctx: &mut T::Context) {
        let leave = self.gate.handle_transport_closed();
        self.perform(GateAction::Close { leave }, ctx);
    }

    /// The client closed the connection (or it broke).
    pub(crate) fn transport_closed(&mut self, ctx: &mut T::Context) {
        if let Some(session) = self.gate.handle_transport_closed() {
            self.leave(session);
        }
        ctx.stop();
    }

    pub(crate) fn perform(&mut self, action: GateAction, ctx: &mut T::Context) {
        match action {
            GateAction::Resolve(hello) => {
                if let Some(earlier) = self.handshake_deadline.take() {
                    ctx.cancel_future(earlier);
                }
                let deadline = ctx.run_later(self.deps.config.hello_timeout, |session, ctx| {
                    session.handshake_deadline = None;
                    let action = session.gate.handshake_timed_out();
                    session.perform(action, ctx);
                });
                self.handshake_deadline = Some(deadline);
                let next = match self.deps.realms.lookup(&hello.realm) {
                    Some((realm, security)) => {
                        self.realm = Some(realm.clone());
                        let peer = self.peer.map(|p| match p {
                            SocketAddr::V4(_) => format!("tcp4:{p}"),
                            SocketAddr::V6(_) => format!("tcp6:{p}"),
                        });
                        let fresh = Fresh::draw(&mut rand::thread_rng(), SystemTime::now());
                        self.gate
                            .start_handshake(security.clone(), hello, peer, fresh)
                    }
                    None => self.gate.realm_not_found(&hello.realm),
                };
                self.perform(next, ctx);
            }
            GateAction::Send(message) => self.write(&message, ctx),
            GateAction::Ask(request) => match self.deps.gatekeeper.authenticator(&request.realm) {
                Some(client) => client.do_send(Ask {
                    request,
                    reply_to: ctx.address().recipient(),
                }),
                None => {
                    let reply = AuthenticatorReply::Error {
                        uri: switchboard_proto::error_uri::NO_SUCH_PROCEDURE.to_owned(),
                        message: format!("no authenticator session in realm {:?}", request.realm),
                    };
                    let next = self.gate.authenticator_answered(reply);
                    self.perform(next, ctx);
                }
            },
            GateAction::Check(check) => {
                let gatekeeper = self.deps.gatekeeper.clone();
                let checking = async move { gatekeeper.check_password(check).await };
                ctx.spawn(actix::fut::wrap_future(checking).map(
                    |valid, session: &mut Self, ctx| {
                        let next = session.gate.password_checked(valid);
                        session.perform(next, ctx);
                    },
                ));
            }
            GateAction::Join { hello, identity } => {
                self.deps
                    .gatekeeper
                    .admitted(identity.authmethod.as_str(), self.peer);
                if let Some(realm) = &self.realm {
                    realm.do_send(Join {
                        hello,
                        identity,
                        session: ctx.address().recipient(),
                        gauge: self.gauge.clone(),
                    });
                }
            }
            GateAction::Refuse(failure) => self.refuse(failure, ctx),
            GateAction::Route(session, message) => self.forward(Inbound { session, message }, ctx),
            GateAction::Leave { session, reply } => {
                self.leave(session);
                self.write(&reply, ctx);
            }
            GateAction::Abort { abort, leave } => {
                if let Some(session) = leave {
                    self.leave(session);
                }
                self.write(&abort, ctx);
                self.transport.close(ctx);
            }
            GateAction::Close { leave } => {
                if let Some(session) = leave {
                    self.leave(session);
                }
                self.transport.close(ctx);
            }
            GateAction::Ignore => {}
        }
    }

    /// Hands a message to the realm. When the realm's mailbox is full, this
    /// session waits for room and reads nothing meanwhile, so a client that
    /// sends faster than its realm keeps up is slowed by TCP, not queued.
    fn forward(&mut self, inbound: Inbound, ctx: &mut T::Context) {
        let Some(realm) = &self.realm else {
            return;
        };
        match realm.try_send(inbound) {
            Ok(()) | Err(SendError::Closed(_)) => {}
            Err(SendError::Full(inbound)) => {
                let waiting = realm.send(inbound);
                ctx.wait(actix::fut::wrap_future(async move {
                    let _ = waiting.await;
                }));
            }
        }
    }

    /// Sends a failed handshake's ABORT, held back while its address keeps
    /// failing, then closes.
    fn refuse(&mut self, failure: AuthFailure, ctx: &mut T::Context) {
        self.realm = None;
        let delay = self.deps.gatekeeper.refused(&failure, self.peer);
        if delay.is_zero() {
            self.write(&failure.abort, ctx);
            self.transport.close(ctx);
        } else {
            ctx.run_later(delay, move |session, ctx| {
                session.write(&failure.abort, ctx);
                session.transport.close(ctx);
            });
        }
    }

    fn leave(&mut self, session: u64) {
        if let Some(realm) = self.realm.take() {
            realm.do_send(Leave(session));
        }
    }

    /// Encodes and queues `message`, counting its bytes in the gauge.
    fn write(&mut self, message: &Message, ctx: &mut T::Context) {
        let bytes = match encode(self.codec, message) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::error!(%error, message = message.name(), "cannot encode outbound message");
                return;
            }
        };
        if let Some(limit) = self.transport.peer_limit().filter(|&l| bytes.len() > l) {
            self.too_large_for_peer(message, bytes.len(), limit, ctx);
            return;
        }
        self.gauge.encoded(bytes.len());
        self.transport.send(self.codec, bytes, ctx);
    }

    /// A message the client said it cannot take. It is not sent; where
    /// someone waits for it, they get `wamp.error.payload_size_exceeded`
    /// instead of waiting forever: the caller for a RESULT or an ERROR (the
    /// ERROR goes out again without its payload), the caller through the realm
    /// (as if this callee had failed) for an INVOCATION. An EVENT is dropped.
    /// Any other message (a WELCOME with many details, say) cannot be made
    /// smaller and the session cannot go on without it: the session ends.
    fn too_large_for_peer(
        &mut self,
        message: &Message,
        len: usize,
        limit: usize,
        ctx: &mut T::Context,
    ) {
        tracing::debug!(
            message = message.name(),
            len,
            limit,
            "outbound message larger than the client accepts: not sent"
        );
        let error = |request_type, request| switchboard_proto::Error {
            request_type,
            request,
            error: PAYLOAD_SIZE_EXCEEDED.to_owned(),
            ..Default::default()
        };
        match message {
            Message::Result(result) => {
                self.write(&Message::Error(error(code::CALL, result.request)), ctx)
            }
            Message::Error(failed) if failed.error != PAYLOAD_SIZE_EXCEEDED => {
                let error = error(failed.request_type, failed.request);
                self.write(&Message::Error(error), ctx);
            }
            Message::Invocation(invocation) => {
                let failed = Message::Error(error(code::INVOCATION, invocation.request));
                let action = self.gate.handle_inbound(failed);
                self.perform(action, ctx);
            }
            Message::Event(_) => {}
            _ if self.gate.is_closed() => self.transport.close(ctx),
            _ => {
                let why = format!(
                    "a {} of {len} bytes exceeds the client's {limit}",
                    message.name()
                );
                self.fail(PAYLOAD_SIZE_EXCEEDED, why, ctx);
            }
        }
    }
}

impl<T: Transport> Actor for Session<T> {
    type Context = T::Context;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.deps.connections.0.fetch_add(1, Ordering::SeqCst);
        let hello_due = self.hello_by.saturating_duration_since(Instant::now());
        ctx.run_later(hello_due, |session, ctx| {
            let action = session.gate.hello_overdue();
            session.perform(action, ctx);
        });
        ctx.run_interval(self.deps.config.ping_interval, |session, ctx| {
            if !session.transport.pings_answered() {
                return;
            }
            if session.last_heard.elapsed() > session.deps.config.ping_timeout {
                tracing::debug!("client silent past the ping timeout; closing");
                session.close_connection(ctx);
            } else {
                session.transport.ping(ctx);
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if let Some(session) = self.gate.handle_transport_closed() {
            self.leave(session);
        }
        self.deps.connections.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<T: Transport> Handler<Answered> for Session<T> {
    type Result = ();

    fn handle(&mut self, Answered(reply): Answered, ctx: &mut Self::Context) {
        let action = self.gate.authenticator_answered(reply);
        self.perform(action, ctx);
    }
}

impl<T: Transport> Handler<Deliver> for Session<T> {
    type Result = ();

    fn handle(&mut self, Deliver(message): Deliver, ctx: &mut Self::Context) {
        self.gauge.taken(&message);
        if self.gate.is_closed() {
            return;
        }
        let after = self.gate.handle_outbound(&message);
        self.write(&message, ctx);
        match after {
            AfterSend::Continue => {}
            AfterSend::Close => {
                self.realm = None;
                self.transport.close(ctx);
            }
            AfterSend::AwaitGoodbye => {
                self.realm = None;
                ctx.run_later(self.deps.config.goodbye_timeout, |session, ctx| {
                    session.transport.close(ctx);
                });
            }
        }
    }
}

//! The actor behind one WebSocket connection: a pump between frames and the realm.
//!
//! Inbound: reassemble fragments, decode, ask the `SessionGate` what the message
//! means, do what it says (join a realm, route to it, answer, close). Outbound:
//! let the gate see the message, encode, write. Keepalive pings and the frame
//! size limit are transport concerns and live here too.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use actix::dev::SendError;
use actix::{Actor, ActorContext, Addr, AsyncContext, Handler, StreamHandler};
use actix_http::ws::Item;
use actix_web_actors::ws::{self, CloseCode, CloseReason, ProtocolError};
use bytes::{Bytes, BytesMut};
use switchboard_core::auth::{AuthenticatorReply, Fresh};
use switchboard_core::session_gate::{AfterSend, AuthFailure};
use switchboard_core::{GateAction, SessionGate};
use switchboard_proto::error_uri::{PAYLOAD_SIZE_EXCEEDED, PROTOCOL_VIOLATION};
use switchboard_proto::{decode, encode, Codec, Message};

use crate::authenticator::{Answered, Ask};
use crate::config::ServerConfig;
use crate::directory::RealmDirectory;
use crate::gatekeeper::Gatekeeper;
use crate::outbound::OutboundGauge;
use crate::realm_actor::{Deliver, Inbound, Join, Leave, RealmActor};

/// Counts open WebSocket sessions, so shutdown can wait for them to close.
#[derive(Clone, Default)]
pub(crate) struct ConnectionCounter(Arc<AtomicUsize>);

impl ConnectionCounter {
    pub(crate) fn open(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Where a fragmented message stands after one more fragment.
enum Reassembly {
    Whole(Bytes),
    Partial,
    Failed(GateAction),
}

/// One client connection.
pub(crate) struct WsSession {
    codec: Codec,
    gate: SessionGate,
    config: Arc<ServerConfig>,
    realms: Arc<RealmDirectory>,
    /// The realm the current session joined (set on HELLO).
    realm: Option<Addr<RealmActor>>,
    /// When the client last sent anything, for the keepalive.
    last_heard: Instant,
    /// A fragmented message being reassembled.
    fragments: Option<BytesMut>,
    connections: ConnectionCounter,
    gatekeeper: Arc<Gatekeeper>,
    /// The client's address, for logs, the failure throttle and authenticators.
    peer: Option<SocketAddr>,
    /// What waits to be written to this connection (shared with the realm).
    gauge: Arc<OutboundGauge>,
}

impl WsSession {
    pub(crate) fn new(
        codec: Codec,
        config: Arc<ServerConfig>,
        realms: Arc<RealmDirectory>,
        connections: ConnectionCounter,
        gatekeeper: Arc<Gatekeeper>,
        peer: Option<SocketAddr>,
        gauge: Arc<OutboundGauge>,
    ) -> Self {
        Self {
            codec,
            gate: SessionGate::default(),
            config,
            realms,
            realm: None,
            last_heard: Instant::now(),
            fragments: None,
            connections,
            gatekeeper,
            peer,
            gauge,
        }
    }

    fn handle_frame(&mut self, frame: Bytes, ctx: &mut ws::WebsocketContext<Self>) {
        let action = match decode(self.codec, frame) {
            Ok(message) => self.gate.handle_inbound(message),
            Err(error) => {
                tracing::debug!(%error, "undecodable frame");
                self.gate.handle_decode_error(&error)
            }
        };
        self.perform(action, ctx);
    }

    fn perform(&mut self, action: GateAction, ctx: &mut ws::WebsocketContext<Self>) {
        match action {
            GateAction::Resolve(hello) => {
                ctx.run_later(self.config.hello_timeout, |session, ctx| {
                    let action = session.gate.handshake_timed_out();
                    session.perform(action, ctx);
                });
                let next = match self.realms.lookup(&hello.realm) {
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
            GateAction::Ask(request) => match self.gatekeeper.authenticator(&request.realm) {
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
            GateAction::Join { hello, identity } => {
                self.gatekeeper
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
                self.close(ctx, CloseCode::Normal);
            }
            GateAction::Close { leave } => {
                if let Some(session) = leave {
                    self.leave(session);
                }
                self.close(ctx, CloseCode::Normal);
            }
            GateAction::Ignore => {}
        }
    }

    /// Hands a message to the realm. When the realm's mailbox is full, this
    /// session waits for room and reads nothing meanwhile, so a client that
    /// sends faster than its realm keeps up is slowed by TCP, not queued.
    fn forward(&mut self, inbound: Inbound, ctx: &mut ws::WebsocketContext<Self>) {
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
    fn refuse(&mut self, failure: AuthFailure, ctx: &mut ws::WebsocketContext<Self>) {
        self.realm = None;
        let delay = self.gatekeeper.refused(&failure, self.peer);
        if delay.is_zero() {
            self.write(&failure.abort, ctx);
            self.close(ctx, CloseCode::Normal);
        } else {
            ctx.run_later(delay, move |session, ctx| {
                session.write(&failure.abort, ctx);
                session.close(ctx, CloseCode::Normal);
            });
        }
    }

    fn leave(&mut self, session: u64) {
        if let Some(realm) = self.realm.take() {
            realm.do_send(Leave(session));
        }
    }

    /// Encodes and queues `message`, counting its bytes in the gauge.
    fn write(&mut self, message: &Message, ctx: &mut ws::WebsocketContext<Self>) {
        let written = match encode(self.codec, message) {
            Ok(bytes) if self.codec.is_text() => match String::from_utf8(bytes) {
                Ok(text) => {
                    let len = text.len();
                    ctx.text(text);
                    len
                }
                Err(_) => {
                    tracing::error!("JSON encoder produced invalid UTF-8");
                    0
                }
            },
            Ok(bytes) => {
                let len = bytes.len();
                ctx.binary(bytes);
                len
            }
            Err(error) => {
                tracing::error!(%error, message = message.name(), "cannot encode outbound message");
                0
            }
        };
        self.gauge.encoded(written);
    }

    fn close(&mut self, ctx: &mut ws::WebsocketContext<Self>, code: CloseCode) {
        ctx.close(Some(CloseReason::from(code)));
        ctx.stop();
    }

    /// Adds a fragment; yields the whole message once the last one is in.
    fn reassemble(&mut self, item: Item) -> Reassembly {
        let (data, last) = match item {
            Item::FirstText(data) | Item::FirstBinary(data) => {
                self.fragments = Some(BytesMut::new());
                (data, false)
            }
            Item::Continue(data) => (data, false),
            Item::Last(data) => (data, true),
        };
        let Some(buffer) = self.fragments.as_mut() else {
            let why = "continuation frame without a first frame";
            return Reassembly::Failed(self.gate.abort_with(PROTOCOL_VIOLATION, why));
        };
        if buffer.len() + data.len() > self.config.max_message_size {
            return Reassembly::Failed(self.oversized());
        }
        buffer.extend_from_slice(&data);
        match self.fragments.take() {
            Some(whole) if last => Reassembly::Whole(whole.freeze()),
            rest => {
                self.fragments = rest;
                Reassembly::Partial
            }
        }
    }

    fn oversized(&mut self) -> GateAction {
        let limit = self.config.max_message_size;
        self.gate.abort_with(
            PAYLOAD_SIZE_EXCEEDED,
            format!("message larger than {limit} bytes"),
        )
    }
}

impl Actor for WsSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.connections.0.fetch_add(1, Ordering::SeqCst);
        ctx.run_later(self.config.hello_timeout, |session, ctx| {
            let action = session.gate.hello_overdue();
            session.perform(action, ctx);
        });
        ctx.run_interval(self.config.ping_interval, |session, ctx| {
            if session.last_heard.elapsed() > session.config.ping_timeout {
                tracing::debug!("client silent past the ping timeout; closing");
                let leave = session.gate.handle_transport_closed();
                session.perform(GateAction::Close { leave }, ctx);
            } else {
                ctx.ping(b"");
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if let Some(session) = self.gate.handle_transport_closed() {
            self.leave(session);
        }
        self.connections.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl StreamHandler<Result<ws::Message, ProtocolError>> for WsSession {
    fn handle(&mut self, frame: Result<ws::Message, ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        match frame {
            Ok(ws::Message::Text(text)) => self.handle_frame(text.into_bytes(), ctx),
            Ok(ws::Message::Binary(bytes)) => self.handle_frame(bytes, ctx),
            Ok(ws::Message::Continuation(item)) => match self.reassemble(item) {
                Reassembly::Whole(whole) => self.handle_frame(whole, ctx),
                Reassembly::Partial => {}
                Reassembly::Failed(action) => self.perform(action, ctx),
            },
            Ok(ws::Message::Ping(payload)) => ctx.pong(&payload),
            Ok(ws::Message::Pong(_)) | Ok(ws::Message::Nop) => {}
            Ok(ws::Message::Close(reason)) => {
                let leave = self.gate.handle_transport_closed();
                if let Some(session) = leave {
                    self.leave(session);
                }
                ctx.close(reason);
                ctx.stop();
            }
            Err(ProtocolError::Overflow) => {
                let action = self.oversized();
                self.perform(action, ctx);
            }
            Err(error) => {
                tracing::debug!(%error, "WebSocket protocol error");
                let action = self.gate.abort_with(PROTOCOL_VIOLATION, error.to_string());
                self.perform(action, ctx);
            }
        }
    }
}

impl Handler<Answered> for WsSession {
    type Result = ();

    fn handle(&mut self, Answered(reply): Answered, ctx: &mut Self::Context) {
        let action = self.gate.authenticator_answered(reply);
        self.perform(action, ctx);
    }
}

impl Handler<Deliver> for WsSession {
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
                self.close(ctx, CloseCode::Normal);
            }
            AfterSend::AwaitGoodbye => {
                self.realm = None;
                ctx.run_later(self.config.goodbye_timeout, |session, ctx| {
                    session.close(ctx, CloseCode::Normal);
                });
            }
        }
    }
}

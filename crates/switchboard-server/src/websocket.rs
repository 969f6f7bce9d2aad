//! The WebSocket transport: subprotocol negotiation and upgrade, then frames
//! (reassembled from fragments) in and out of a shared [`Session`].

use std::sync::Arc;

use actix::ActorContext;
use actix_http::ws::Item;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws::{self, CloseCode, CloseReason, ProtocolError};
use bytes::{Bytes, BytesMut};
use switchboard_proto::error_uri::PROTOCOL_VIOLATION;
use switchboard_proto::Codec;

use crate::config::ServerConfig;
use crate::directory::RealmDirectory;
use crate::gatekeeper::Gatekeeper;
use crate::outbound::{CountingBody, OutboundGauge};
use crate::session::{ConnectionCounter, Session, SessionDeps, Transport};

/// A session on a WebSocket.
pub(crate) type WsSession = Session<Ws>;

/// What a WebSocket session keeps of its own: a fragmented message being
/// reassembled.
#[derive(Default)]
pub(crate) struct Ws {
    fragments: Option<BytesMut>,
}

impl Transport for Ws {
    type Context = ws::WebsocketContext<WsSession>;

    fn send(&mut self, codec: Codec, bytes: Vec<u8>, ctx: &mut Self::Context) {
        if codec.is_text() {
            match String::from_utf8(bytes) {
                Ok(text) => ctx.text(text),
                Err(_) => tracing::error!("JSON encoder produced invalid UTF-8"),
            }
        } else {
            ctx.binary(bytes);
        }
    }

    fn ping(&mut self, ctx: &mut Self::Context) {
        ctx.ping(b"");
    }

    fn close(&mut self, ctx: &mut Self::Context) {
        ctx.close(Some(CloseReason::from(CloseCode::Normal)));
        ctx.stop();
    }
}

/// Where a fragmented message stands after one more fragment.
enum Reassembly {
    Whole(Bytes),
    Partial,
    /// A continuation with no first frame.
    Orphan,
    /// Larger than the limit.
    Oversized,
}

impl Ws {
    /// Adds a fragment; yields the whole message once the last one is in.
    fn reassemble(&mut self, item: Item, limit: usize) -> Reassembly {
        let (data, last) = match item {
            Item::FirstText(data) | Item::FirstBinary(data) => {
                self.fragments = Some(BytesMut::new());
                (data, false)
            }
            Item::Continue(data) => (data, false),
            Item::Last(data) => (data, true),
        };
        let Some(buffer) = self.fragments.as_mut() else {
            return Reassembly::Orphan;
        };
        if buffer.len() + data.len() > limit {
            return Reassembly::Oversized;
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
}

impl actix::StreamHandler<Result<ws::Message, ProtocolError>> for WsSession {
    fn handle(&mut self, frame: Result<ws::Message, ProtocolError>, ctx: &mut Self::Context) {
        self.heard();
        let limit = self.config().max_message_size;
        match frame {
            Ok(ws::Message::Text(text)) => self.handle_frame(text.into_bytes(), ctx),
            Ok(ws::Message::Binary(bytes)) => self.handle_frame(bytes, ctx),
            Ok(ws::Message::Continuation(item)) => match self.transport.reassemble(item, limit) {
                Reassembly::Whole(whole) => self.handle_frame(whole, ctx),
                Reassembly::Partial => {}
                Reassembly::Orphan => {
                    let why = "continuation frame without a first frame";
                    self.fail(PROTOCOL_VIOLATION, why, ctx);
                }
                Reassembly::Oversized => self.oversized(limit, ctx),
            },
            Ok(ws::Message::Ping(payload)) => ctx.pong(&payload),
            Ok(ws::Message::Pong(_)) | Ok(ws::Message::Nop) => {}
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                self.transport_closed(ctx);
            }
            Err(ProtocolError::Overflow) => self.oversized(limit, ctx),
            Err(error) => {
                tracing::debug!(%error, "WebSocket protocol error");
                self.fail(PROTOCOL_VIOLATION, error.to_string(), ctx);
            }
        }
    }
}

/// Picks the codec: the first WAMP subprotocol in the client's list that we speak.
fn negotiate(req: &HttpRequest) -> Option<Codec> {
    req.headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|name| Codec::from_subprotocol(name.trim()))
}

/// `GET /ws`: upgrade to a WAMP session, or refuse a client that speaks no
/// subprotocol we know (the spec requires one; guessing would garble frames).
pub(crate) async fn upgrade(
    req: HttpRequest,
    stream: web::Payload,
    config: web::Data<ServerConfig>,
    realms: web::Data<RealmDirectory>,
    connections: web::Data<ConnectionCounter>,
    gatekeeper: web::Data<Gatekeeper>,
) -> actix_web::Result<HttpResponse> {
    let Some(codec) = negotiate(&req) else {
        let offered: Vec<&str> = Codec::ALL.iter().map(|c| c.subprotocol()).collect();
        return Ok(HttpResponse::BadRequest().body(format!(
            "no supported WAMP subprotocol requested; this router speaks {}",
            offered.join(", ")
        )));
    };
    if realms.is_draining() {
        return Ok(HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, "1"))
            .body("this node is shutting down: connect to another node"));
    }
    if let Some(max) = config.max_connections {
        if connections.open() >= max {
            return Ok(HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, "1"))
                .body(format!("this router serves at most {max} connections")));
        }
    }
    let gauge = Arc::new(OutboundGauge::new());
    let deps = SessionDeps {
        config: config.clone().into_inner(),
        realms: realms.clone().into_inner(),
        connections: connections.get_ref().clone(),
        gatekeeper: gatekeeper.into_inner(),
    };
    let session = WsSession::new(codec, deps, req.peer_addr(), gauge.clone(), Ws::default());
    let protocols = [codec.subprotocol()];
    let mut response = ws::handshake_with_protocols(&req, &protocols)?;
    let frames = ws::WebsocketContext::with_codec(
        session,
        stream,
        actix_http::ws::Codec::new().max_size(config.max_message_size),
    );
    Ok(response.streaming(CountingBody::new(Box::pin(frames), gauge)))
}

//! Answering the HTTP upgrade to WebSocket, then handing the connection to
//! the thread its session will live on.
//!
//! actix-http gives an upgrade request, and the connection under it, to this
//! service instead of to the routes. Once the 101 is written, nothing of HTTP
//! is left: the socket (with whatever the client sent past its request) goes
//! to its realm's thread, where [`super::start_session`] starts reading
//! WebSocket frames from it.

use std::time::Instant;

use actix_codec::Framed;
use actix_http::body::{BodySize, BoxBody, MessageBody};
use actix_http::header::{self, HeaderValue};
use actix_http::{h1, ws, ConnectionType, HttpMessage, Request, Response, StatusCode};
use futures_util::SinkExt;
use switchboard_proto::Codec;

use crate::handover::Movable;
use crate::placement::realm_to_place;
use crate::session::SessionDeps;

/// Serves one upgrade request. Never fails: whatever goes wrong is answered
/// (a refusal with its HTTP status) or logged, and the connection closed.
pub(crate) async fn answer<T: Movable>(
    request: Request,
    mut framed: Framed<T, h1::Codec>,
    deps: SessionDeps,
) -> Result<(), actix_http::Error> {
    let hello_by = Instant::now() + deps.config.hello_timeout;
    let (codec, accepted) = match judge(&request, &deps) {
        Ok(accepted) => accepted,
        Err(refusal) => {
            let refused = refuse(&mut framed, refusal);
            let _ = tokio::time::timeout_at(hello_by.into(), refused).await;
            return Ok(());
        }
    };
    let switched = framed.send(h1::Message::Item((accepted, BodySize::None)));
    if !matches!(
        tokio::time::timeout_at(hello_by.into(), switched).await,
        Ok(Ok(()))
    ) {
        return Ok(());
    }
    let parts = framed.into_parts();
    let (mut io, mut unread) = (parts.io, parts.read_buf);
    let frames = ws::Codec::new().max_size(deps.config.max_message_size);
    let realm = realm_to_place(
        &deps.realms,
        &mut io,
        &mut unread,
        frames,
        codec,
        hello_by,
        |frame| match frame {
            ws::Frame::Text(message) | ws::Frame::Binary(message) => Some(message),
            _ => None,
        },
    )
    .await;
    if let Err(error) = io.detach() {
        tracing::debug!(%error, "cannot detach an upgraded connection");
        return Ok(());
    }
    let peer = request.peer_addr();
    let thread = deps.realms.session_thread(realm.as_deref());
    let started = thread.spawn_fn(move || {
        let attached = io.attach().and_then(|()| io.into_halves());
        match attached {
            Ok(halves) => super::start_session(halves, unread, codec, peer, deps, hello_by),
            Err(error) => tracing::warn!(%error, "cannot start a WebSocket session"),
        }
    });
    if !started {
        tracing::warn!("a realm's thread is gone: WebSocket connection dropped");
    }
    Ok(())
}

/// The codec and the 101 response for an upgrade this router takes, or the
/// response that refuses it.
fn judge(
    request: &Request,
    deps: &SessionDeps,
) -> Result<(Codec, Response<()>), Response<BoxBody>> {
    if request.path() != deps.config.path {
        return Err(plain(StatusCode::NOT_FOUND, "no WebSocket endpoint here"));
    }
    // The spec requires a subprotocol; guessing the codec would garble frames.
    let Some(codec) = negotiate(request) else {
        let offered: Vec<&str> = Codec::ALL.iter().map(|c| c.subprotocol()).collect();
        let why = format!(
            "no supported WAMP subprotocol requested; this router speaks {}",
            offered.join(", ")
        );
        return Err(plain(StatusCode::BAD_REQUEST, why));
    };
    if deps.realms.is_draining() {
        let why = "this node is shutting down: connect to another node";
        return Err(retry_later(plain(StatusCode::SERVICE_UNAVAILABLE, why)));
    }
    if let Some(max) = deps.config.max_connections {
        if deps.connections.open() >= max {
            let why = format!("this router serves at most {max} connections");
            return Err(retry_later(plain(StatusCode::SERVICE_UNAVAILABLE, why)));
        }
    }
    let mut accepted = ws::handshake(request.head()).map_err(Response::from)?;
    accepted.insert_header((header::SEC_WEBSOCKET_PROTOCOL, codec.subprotocol()));
    Ok((codec, accepted.finish().drop_body()))
}

/// Picks the codec: the first WAMP subprotocol in the client's list that we speak.
fn negotiate(request: &Request) -> Option<Codec> {
    request
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|name| Codec::from_subprotocol(name.trim()))
}

fn plain(status: StatusCode, why: impl Into<String>) -> Response<BoxBody> {
    Response::with_body(status, why.into()).map_into_boxed_body()
}

fn retry_later(mut response: Response<BoxBody>) -> Response<BoxBody> {
    let one_second = HeaderValue::from_static("1");
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, one_second);
    response
}

/// Writes a refusal and its body; the connection closes after it.
async fn refuse<T: Movable>(framed: &mut Framed<T, h1::Codec>, refusal: Response<BoxBody>) {
    let (mut head, body) = refusal.into_parts();
    head.head_mut().set_connection_type(ConnectionType::Close);
    let body = match body.try_into_bytes() {
        Ok(bytes) => bytes,
        Err(_) => bytes::Bytes::new(),
    };
    let size = BodySize::Sized(body.len() as u64);
    let _ = framed.feed(h1::Message::Item((head, size))).await;
    let _ = framed.feed(h1::Message::Chunk(Some(body))).await;
    let _ = framed.send(h1::Message::Chunk(None)).await;
}

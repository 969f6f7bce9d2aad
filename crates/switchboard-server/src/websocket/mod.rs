//! The WebSocket transport: frames (reassembled from fragments) in and out
//! of a shared [`Session`].
//!
//! The HTTP upgrade is answered in [`upgrade`]; the connection then leaves
//! actix-http altogether. Its session reads frames through a `FramedRead`
//! and writes them through an actix `FramedWrite` of actix-http's WebSocket
//! codec, as a RawSocket session does with its own codec, on the thread of
//! its realm (see `placement.rs`): no HTTP dispatcher stays behind with its
//! per-connection buffers, and no message crosses a thread to reach the realm.

pub(crate) mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::io::{FramedWrite, WriteHandler};
use actix::{Actor, ActorContext, AsyncContext, Running, StreamHandler};
use actix_http::ws::{self, CloseCode, CloseReason, Frame, Item, ProtocolError};
use bytes::{Bytes, BytesMut};
use switchboard_proto::error_uri::PROTOCOL_VIOLATION;
use switchboard_proto::Codec;
use tokio::io::AsyncWrite;
use tokio_util::codec::FramedRead;

use crate::handover::{read_again_first, Halves};
use crate::outbound::{CountingWriter, OutboundGauge};
use crate::session::{Session, SessionDeps, Transport, READ_BUFFER};

/// How long a closing connection may take to write what is queued (an ABORT,
/// a GOODBYE, the close frame) before it is dropped anyway, so a peer that
/// stopped reading cannot keep it open.
const FLUSH_GRACE: Duration = Duration::from_secs(2);

type Writer = FramedWrite<ws::Message, Box<dyn AsyncWrite + Unpin>, ws::Codec>;

/// A session on a WebSocket.
pub(crate) type WsSession = Session<Ws>;

/// The writing side of a WebSocket connection, and a fragmented message
/// being reassembled.
pub(crate) struct Ws {
    writer: Writer,
    fragments: Option<BytesMut>,
    /// Whether the message being reassembled began as text.
    fragments_text: bool,
    /// Set once either side began the close handshake: the writer is flushing.
    closing: bool,
}

impl Transport for Ws {
    type Context = actix::Context<WsSession>;

    fn send(&mut self, codec: Codec, bytes: Vec<u8>, _: &mut Self::Context) {
        if codec.is_text() {
            match String::from_utf8(bytes) {
                Ok(text) => self.writer.write(ws::Message::Text(text.into())),
                Err(_) => tracing::error!("JSON encoder produced invalid UTF-8"),
            }
        } else {
            self.writer.write(ws::Message::Binary(Bytes::from(bytes)));
        }
    }

    fn ping(&mut self, _: &mut Self::Context) {
        self.writer.write(ws::Message::Ping(Bytes::new()));
    }

    /// Sends the close frame and stops once the writer has flushed (see the
    /// `WriteHandler`), not at once: stopping drops what the writer still
    /// holds, the ABORT or GOODBYE that explains the close among it.
    fn close(&mut self, ctx: &mut Self::Context) {
        if !self.closing {
            self.closing = true;
            let normal = Some(CloseReason::from(CloseCode::Normal));
            self.writer.write(ws::Message::Close(normal));
            self.writer.close();
            ctx.run_later(FLUSH_GRACE, |_, ctx| ctx.stop());
        }
    }
}

/// Starts the session of an upgraded connection. Must run on the thread the
/// session is to live on. `unread` is what was read past the upgrade request
/// (and, where the session was placed by its HELLO, the HELLO itself).
pub(crate) fn start_session(
    (read, write): Halves,
    unread: BytesMut,
    codec: Codec,
    peer: Option<SocketAddr>,
    deps: SessionDeps,
    hello_by: Instant,
) {
    let gauge = Arc::new(OutboundGauge::new());
    let limit = deps.config.max_message_size;
    WsSession::create(move |ctx| {
        let read = read_again_first(read, &unread);
        let frames = ws::Codec::new().max_size(limit);
        ctx.add_stream(FramedRead::with_capacity(read, frames, READ_BUFFER));
        let counted: Box<dyn AsyncWrite + Unpin> =
            Box::new(CountingWriter::new(write, gauge.clone()));
        let transport = Ws {
            writer: FramedWrite::new(counted, ws::Codec::new(), ctx),
            fragments: None,
            fragments_text: false,
            closing: false,
        };
        Session::new(codec, deps, peer, gauge, transport, hello_by)
    });
}

/// Where a fragmented message stands after one more fragment.
enum Reassembly {
    Whole {
        text: bool,
        whole: Bytes,
    },
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
            Item::FirstText(data) => {
                self.fragments = Some(BytesMut::new());
                self.fragments_text = true;
                (data, false)
            }
            Item::FirstBinary(data) => {
                self.fragments = Some(BytesMut::new());
                self.fragments_text = false;
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
            Some(whole) if last => Reassembly::Whole {
                text: self.fragments_text,
                whole: whole.freeze(),
            },
            rest => {
                self.fragments = rest;
                Reassembly::Partial
            }
        }
    }
}

impl StreamHandler<Result<Frame, ProtocolError>> for WsSession {
    fn handle(&mut self, frame: Result<Frame, ProtocolError>, ctx: &mut Self::Context) {
        self.heard();
        let limit = self.config().max_message_size;
        match frame {
            Ok(Frame::Text(text)) => self.handle_text(text, ctx),
            Ok(Frame::Binary(bytes)) => self.handle_frame(bytes, ctx),
            Ok(Frame::Continuation(item)) => match self.transport.reassemble(item, limit) {
                Reassembly::Whole { text: true, whole } => self.handle_text(whole, ctx),
                Reassembly::Whole { text: false, whole } => self.handle_frame(whole, ctx),
                Reassembly::Partial => {}
                Reassembly::Orphan => {
                    let why = "continuation frame without a first frame";
                    self.fail(PROTOCOL_VIOLATION, why, ctx);
                }
                Reassembly::Oversized => self.oversized(limit, ctx),
            },
            Ok(Frame::Ping(payload)) => {
                if !self.transport.closing {
                    self.transport.writer.write(ws::Message::Pong(payload));
                }
            }
            Ok(Frame::Pong(_)) => {}
            // The client began the close handshake: the session ends, and
            // the close frame sent back completes it.
            Ok(Frame::Close(_)) => self.close_connection(ctx),
            Err(ProtocolError::Overflow) => self.oversized(limit, ctx),
            Err(error) => {
                tracing::debug!(%error, "WebSocket protocol error");
                self.fail(PROTOCOL_VIOLATION, error.to_string(), ctx);
            }
        }
    }

    /// The client's side of the connection ended. Unless this side is
    /// already closing (and flushing its last words), the session ends.
    fn finished(&mut self, ctx: &mut Self::Context) {
        if !self.transport.closing {
            self.transport_closed(ctx);
        }
    }
}

impl WsSession {
    /// A text message: RFC 6455 requires UTF-8, and a JSON peer relies on it.
    fn handle_text(&mut self, text: Bytes, ctx: &mut <Self as Actor>::Context) {
        if std::str::from_utf8(&text).is_ok() {
            self.handle_frame(text, ctx);
        } else {
            self.fail(PROTOCOL_VIOLATION, "a text message that is not UTF-8", ctx);
        }
    }
}

impl WriteHandler<ProtocolError> for WsSession {
    fn error(&mut self, error: ProtocolError, _: &mut Self::Context) -> Running {
        tracing::debug!(%error, "WebSocket write failed");
        Running::Stop
    }
}

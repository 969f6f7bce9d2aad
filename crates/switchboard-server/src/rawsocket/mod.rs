//! The RawSocket transport (WAMP spec, "RawSocket Transport"): a 4-octet
//! handshake, then length-prefixed frames, over TCP or a Unix socket. Off
//! unless configured.
//!
//! A connection is a [`Session`] like a WebSocket one; only the wire differs:
//! this module's [`RawSocket`] writes frames through an actix `FramedWrite`
//! and the session reads them from a `FramedRead` of the same codec.

mod codec;
mod handshake;
mod listener;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::io::{FramedWrite, WriteHandler};
use actix::{Actor, ActorContext, AsyncContext, Running, StreamHandler};
use bytes::{Bytes, BytesMut};
use switchboard_proto::error_uri::PROTOCOL_VIOLATION;
use switchboard_proto::Codec;
use tokio::io::AsyncWrite;
use tokio_util::codec::FramedRead;

use crate::handover::{read_again_first, Halves};
use crate::outbound::{CountingWriter, OutboundGauge};
use crate::session::{Session, SessionDeps, Transport, READ_BUFFER};
use codec::{Frame, FrameError, RawSocketCodec};

pub(crate) use listener::Listeners;

/// How long a closing connection may take to write what is queued (an ABORT,
/// a GOODBYE) before it is dropped anyway, so a peer that stopped reading
/// cannot keep it open.
const FLUSH_GRACE: Duration = Duration::from_secs(2);

type Writer = FramedWrite<Frame, Box<dyn AsyncWrite + Unpin>, RawSocketCodec>;

/// A session on a RawSocket.
pub(crate) type RawSocketSession = Session<RawSocket>;

/// The writing side of a RawSocket connection.
pub(crate) struct RawSocket {
    writer: Writer,
    /// The longest message the client said it accepts.
    peer_limit: usize,
    /// Set once the session asked to close: the writer is flushing.
    closing: bool,
    /// The peer sent a PING or a PONG, so it handles them. Until then the
    /// router sends none: Autobahn|Python's asyncio RawSocket client (26.10)
    /// drops its connection on a PING, though the spec says every peer must
    /// answer one. Such peers are watched by TCP keepalive instead.
    speaks_ping: bool,
}

impl Transport for RawSocket {
    type Context = actix::Context<RawSocketSession>;

    fn send(&mut self, _: Codec, bytes: Vec<u8>, _: &mut Self::Context) {
        self.writer.write(Frame::Message(Bytes::from(bytes)));
    }

    fn ping(&mut self, _: &mut Self::Context) {
        if self.speaks_ping {
            self.writer.write(Frame::Ping(Bytes::new()));
        }
    }

    fn pings_answered(&self) -> bool {
        self.speaks_ping
    }

    /// Stops once the writer has flushed (see the `WriteHandler`), not at
    /// once: stopping drops what the writer still holds, the ABORT or
    /// GOODBYE that explains the close among it.
    fn close(&mut self, ctx: &mut Self::Context) {
        if !self.closing {
            self.closing = true;
            self.writer.close();
            ctx.run_later(FLUSH_GRACE, |_, ctx| ctx.stop());
        }
    }

    fn peer_limit(&self) -> Option<usize> {
        Some(self.peer_limit)
    }
}

/// Where a handshake left a connection: detached from its listener's
/// runtime (as std streams) to move to its session's thread.
pub(crate) enum Accepted {
    Tcp(std::net::TcpStream, SocketAddr),
    Unix(std::os::unix::net::UnixStream),
}

/// What a connection whose handshake succeeded takes to its session's thread.
pub(crate) struct Admitted {
    pub(crate) codec: Codec,
    /// The longest message the client accepts.
    pub(crate) peer_limit: usize,
    /// What was read past the handshake (the HELLO, where it placed the session).
    pub(crate) unread: BytesMut,
    /// When the first HELLO is due.
    pub(crate) hello_by: Instant,
}

/// Starts the session actor for a connection whose handshake succeeded. Must
/// run on the thread (arbiter) the session is to live on.
fn start_session(accepted: Accepted, admitted: Admitted, deps: SessionDeps) {
    let attached: std::io::Result<(Halves, Option<SocketAddr>)> = match accepted {
        Accepted::Tcp(stream, peer) => tokio::net::TcpStream::from_std(stream).map(|s| {
            let (read, write) = s.into_split();
            ((Box::new(read) as _, Box::new(write) as _), Some(peer))
        }),
        Accepted::Unix(stream) => tokio::net::UnixStream::from_std(stream).map(|s| {
            let (read, write) = s.into_split();
            ((Box::new(read) as _, Box::new(write) as _), None)
        }),
    };
    let ((read, write), peer) = match attached {
        Ok(attached) => attached,
        Err(error) => {
            tracing::warn!(%error, "cannot start a RawSocket session");
            return;
        }
    };
    let Admitted {
        codec,
        peer_limit,
        unread,
        hello_by,
    } = admitted;
    let gauge = Arc::new(OutboundGauge::new());
    RawSocketSession::create(move |ctx| {
        let read = read_again_first(read, &unread);
        ctx.add_stream(FramedRead::with_capacity(
            read,
            read_codec(&deps),
            READ_BUFFER,
        ));
        let counted: Box<dyn AsyncWrite + Unpin> =
            Box::new(CountingWriter::new(write, gauge.clone()));
        let writer = FramedWrite::new(counted, RawSocketCodec::new(handshake::MAX_LEN), ctx);
        let transport = RawSocket {
            writer,
            peer_limit,
            closing: false,
            speaks_ping: false,
        };
        Session::new(codec, deps, peer, gauge, transport, hello_by)
    });
}

/// How a session reads: frames up to the length this router announced.
fn read_codec(deps: &SessionDeps) -> RawSocketCodec {
    RawSocketCodec::new(handshake::announced_limit(deps.config.max_message_size))
}

impl StreamHandler<Result<Frame, FrameError>> for RawSocketSession {
    fn handle(&mut self, frame: Result<Frame, FrameError>, ctx: &mut Self::Context) {
        match frame {
            Ok(Frame::Message(payload)) => {
                self.heard();
                self.handle_frame(payload, ctx);
            }
            Ok(Frame::Ping(payload)) => {
                self.heard();
                self.transport.speaks_ping = true;
                self.transport.writer.write(Frame::Pong(payload));
            }
            Ok(Frame::Pong(_)) => {
                self.heard();
                self.transport.speaks_ping = true;
            }
            Err(FrameError::TooLong { limit, .. }) => self.oversized(limit, ctx),
            Err(FrameError::Io(error)) => {
                tracing::debug!(%error, "RawSocket read failed");
                self.transport_closed(ctx);
            }
            Err(error) => {
                tracing::debug!(%error, "RawSocket protocol error");
                self.fail(PROTOCOL_VIOLATION, error.to_string(), ctx);
            }
        }
    }

    /// The client stopped sending. Unless this side is already closing (and
    /// flushing its last words), the session ends.
    fn finished(&mut self, ctx: &mut Self::Context) {
        if !self.transport.closing {
            self.transport_closed(ctx);
        }
    }
}

impl WriteHandler<FrameError> for RawSocketSession {
    fn error(&mut self, error: FrameError, _: &mut Self::Context) -> Running {
        tracing::debug!(%error, "RawSocket write failed");
        Running::Stop
    }
}

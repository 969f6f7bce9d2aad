//! What waits to be written to one session's socket, and a way to cut the
//! socket when it waits too long.
//!
//! A session actor runs only when actix-http polls its response stream, and
//! actix-http stops polling while the socket's write buffer is full: a client
//! that stops reading freezes its actor, so messages pile up in the actor's
//! mailbox and nothing on the actor's side can notice. The realm, which sends
//! those messages, therefore keeps the count: it adds each message's
//! [`weight`] when it hands it over, the session takes it off when it encodes
//! the message, and [`CountingBody`] takes the encoded bytes off as actix-http
//! writes them. The realm judges each message against the session's
//! [`switchboard_core::outbound::OutboundLimits`] and, when the session must go,
//! shuts its socket down through [`Connection`]: the only way to reach a frozen
//! actor is to make its I/O fail.

use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use switchboard_core::outbound::weight;
use switchboard_proto::Message;

/// Bytes waiting for one session, shared by its realm, its actor and its body stream.
#[derive(Debug)]
pub(crate) struct OutboundGauge {
    /// Handed to the actor and not yet encoded (by [`weight`]).
    in_mailbox: AtomicI64,
    /// Encoded and not yet taken by actix-http.
    encoded: AtomicI64,
    /// When bytes were last taken, in milliseconds since `epoch`.
    last_progress_ms: AtomicU64,
    /// What the kernel held unsent at the last look.
    last_unsent: AtomicU64,
    epoch: Instant,
    /// The connection, to cut it.
    connection: Option<Connection>,
}

impl OutboundGauge {
    pub(crate) fn new(connection: Option<Connection>) -> Self {
        Self {
            in_mailbox: AtomicI64::new(0),
            encoded: AtomicI64::new(0),
            last_progress_ms: AtomicU64::new(0),
            last_unsent: AtomicU64::new(0),
            epoch: Instant::now(),
            connection,
        }
    }

    /// Bytes waiting now.
    pub(crate) fn queued(&self) -> usize {
        let total = self.in_mailbox.load(Ordering::Relaxed) + self.encoded.load(Ordering::Relaxed);
        usize::try_from(total).unwrap_or(0)
    }

    /// Bytes still waiting anywhere on this side, the kernel's send queue
    /// included, and how long since any of them moved. Once the router's own
    /// queue has drained into the kernel (its send buffer grows to megabytes),
    /// a client that stopped reading shows only there: a send queue that does
    /// not shrink.
    pub(crate) fn waiting(&self) -> (usize, Duration) {
        let unsent = self.connection.as_ref().map_or(0, Connection::unsent) as u64;
        if unsent < self.last_unsent.swap(unsent, Ordering::Relaxed) {
            self.progressed();
        }
        (self.queued() + unsent as usize, self.since_progress())
    }

    /// How long since bytes were last written.
    pub(crate) fn since_progress(&self) -> Duration {
        let last = Duration::from_millis(self.last_progress_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }

    /// The realm hands `message` to the actor.
    pub(crate) fn handed_over(&self, message: &Message) {
        if self.queued() == 0 {
            // Nothing was waiting: the stall clock starts now, not at the last write.
            self.progressed();
        }
        self.in_mailbox
            .fetch_add(weight(message) as i64, Ordering::Relaxed);
    }

    /// The actor took `message` from its mailbox.
    pub(crate) fn taken(&self, message: &Message) {
        self.in_mailbox
            .fetch_sub(weight(message) as i64, Ordering::Relaxed);
    }

    /// The actor encoded `bytes` bytes for the socket.
    pub(crate) fn encoded(&self, bytes: usize) {
        self.encoded.fetch_add(bytes as i64, Ordering::Relaxed);
    }

    /// actix-http took `bytes` bytes to write. Frames the WebSocket layer makes
    /// itself (pings, pongs, close) were never counted in, so the count stops
    /// at zero rather than going below.
    fn written(&self, bytes: usize) {
        let _ = self
            .encoded
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some((n - bytes as i64).max(0))
            });
        self.progressed();
    }

    fn progressed(&self) {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_progress_ms.store(now, Ordering::Relaxed);
    }

    /// Cuts the connection: the frozen actor's I/O fails and it stops.
    pub(crate) fn cut(&self) {
        if let Some(connection) = &self.connection {
            connection.shut_down();
        }
    }
}

/// A duplicate of a client connection's socket, to shut it down from outside
/// its actor. Holding a duplicate (not the bare descriptor number) means a
/// shutdown can never hit another connection that reused the number.
#[derive(Debug, Clone)]
pub(crate) struct Connection(Arc<OwnedFd>);

impl Connection {
    /// Duplicates the socket of a connection actix-web accepted (plain or TLS).
    pub(crate) fn of(conn: &dyn std::any::Any) -> Option<Self> {
        use actix_web::rt::net::TcpStream;
        let tcp: &TcpStream = conn.downcast_ref::<TcpStream>().or_else(|| {
            conn.downcast_ref::<actix_tls::accept::rustls_0_23::TlsStream<TcpStream>>()
                .map(|tls| tls.get_ref().0)
        })?;
        tcp.as_fd()
            .try_clone_to_owned()
            .ok()
            .map(|fd| Self(Arc::new(fd)))
    }

    /// Bytes in the socket's send queue that the peer has not acknowledged
    /// (`SIOCOUTQ`); 0 if the kernel will not say.
    fn unsent(&self) -> usize {
        use std::os::fd::AsRawFd;
        let mut unsent: libc::c_int = 0;
        // SAFETY: TIOCOUTQ (SIOCOUTQ for a TCP socket) writes one c_int through
        // the pointer, which points at a live c_int; the descriptor is ours.
        let done = unsafe { libc::ioctl(self.0.as_raw_fd(), libc::TIOCOUTQ, &mut unsent) };
        if done == 0 {
            usize::try_from(unsent).unwrap_or(0)
        } else {
            0
        }
    }

    fn shut_down(&self) {
        let _ = socket2::SockRef::from(self.0.as_ref()).shutdown(std::net::Shutdown::Both);
    }
}

/// A session's response stream that tells its gauge what actix-http took.
pub(crate) struct CountingBody<S> {
    inner: S,
    gauge: Arc<OutboundGauge>,
}

impl<S> CountingBody<S> {
    pub(crate) fn new(inner: S, gauge: Arc<OutboundGauge>) -> Self {
        Self { inner, gauge }
    }
}

impl<S, E> Stream for CountingBody<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(bytes))) = &polled {
            self.gauge.written(bytes.len());
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use switchboard_proto::Event;

    use super::*;

    #[test]
    fn the_gauge_balances_once_everything_is_written() {
        let gauge = OutboundGauge::new(None);
        let message = Message::Event(Event::default());
        gauge.handed_over(&message);
        assert_eq!(gauge.queued(), weight(&message));
        gauge.taken(&message);
        gauge.encoded(40);
        assert_eq!(gauge.queued(), 40);
        gauge.written(40);
        assert_eq!(gauge.queued(), 0);
        gauge.written(10);
        assert_eq!(
            gauge.queued(),
            0,
            "uncounted frames do not drive it below zero"
        );
    }
}

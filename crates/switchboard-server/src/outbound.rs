//! What waits to be written to one session's socket.
//!
//! A session's writer stops taking bytes while the socket's send buffer is
//! full: a client that stops reading leaves the session's encoded frames in
//! its writer and, when the realm outpaces the session, messages in its
//! mailbox, and nothing on the session's side can see the whole of it. The
//! realm, which sends those messages, therefore keeps the count: it adds each
//! message's [`weight`] when it hands it over, the session takes it off when
//! it encodes the message, and [`CountingWriter`] takes the encoded bytes off
//! as the socket takes them. The realm judges each message against the session's
//! [`switchboard_core::outbound::OutboundLimits`] and, when the session must
//! go, forgets it and sends it nothing more. The socket itself is closed by
//! the kernel: every accepted connection gets `TCP_USER_TIMEOUT`
//! ([`limit_unacknowledged`]), so data a peer leaves unread (its window shut)
//! for a few seconds longer than the stall timeout ends the connection, and
//! with it the frozen actor and what waits in its mailbox. That also catches a
//! peer whose unread data all fits in the kernel's buffers, which the realm's
//! count cannot see.

use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use switchboard_core::outbound::weight;
use switchboard_proto::Message;

/// Bytes waiting for one session, shared by its realm, its actor and its
/// socket writer.
#[derive(Debug)]
pub(crate) struct OutboundGauge {
    /// Handed to the actor and not yet encoded (by [`weight`]).
    in_mailbox: AtomicI64,
    /// Encoded and not yet taken by the socket.
    encoded: AtomicI64,
    /// When bytes were last taken, in milliseconds since `epoch`.
    last_progress_ms: AtomicU64,
    epoch: Instant,
}

impl OutboundGauge {
    pub(crate) fn new() -> Self {
        Self {
            in_mailbox: AtomicI64::new(0),
            encoded: AtomicI64::new(0),
            last_progress_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Bytes waiting now.
    pub(crate) fn queued(&self) -> usize {
        let total = self.in_mailbox.load(Ordering::Relaxed) + self.encoded.load(Ordering::Relaxed);
        usize::try_from(total).unwrap_or(0)
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

    /// The transport took `bytes` bytes to write. Frames the transport makes
    /// itself (pings, pongs, close, frame prefixes) were never counted in, so the count stops
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
}

/// Sets `TCP_USER_TIMEOUT` on an accepted connection: data that stays
/// unacknowledged, or unsent because the peer's window is shut, for `stall`
/// makes the kernel close the connection.
pub(crate) fn limit_unacknowledged(tcp: &tokio::net::TcpStream, stall: Duration) {
    if let Err(error) = socket2::SockRef::from(tcp).set_tcp_user_timeout(Some(stall)) {
        tracing::debug!(%error, "cannot set TCP_USER_TIMEOUT");
    }
}

/// A session's socket that tells its gauge what was written: the actor's
/// writer buffers frames and writes them as the socket takes them, so what a
/// client leaves unread shows in the gauge.
pub(crate) struct CountingWriter<W> {
    inner: W,
    gauge: Arc<OutboundGauge>,
}

impl<W> CountingWriter<W> {
    pub(crate) fn new(inner: W, gauge: Arc<OutboundGauge>) -> Self {
        Self { inner, gauge }
    }
}

impl<W: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for CountingWriter<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &polled {
            self.gauge.written(*n);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use switchboard_proto::Event;

    use super::*;

    #[test]
    fn the_gauge_balances_once_everything_is_written() {
        let gauge = OutboundGauge::new();
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

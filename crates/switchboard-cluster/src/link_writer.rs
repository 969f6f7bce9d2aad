//! How frames reach a peer connection's socket: written by the sending thread
//! itself when it can, else queued for the connection's writer task, which
//! writes whatever has queued up in one go.
//!
//! A call forwarded to another node used to cross two extra threads on each
//! node: the realm's thread handed each frame to the writer task (on the
//! links' runtime), which wrote it. On a plain TCP link the realm's thread
//! now writes the frame with a non-blocking `try_write`, and only what the
//! socket does not take at once (or anything sent while earlier frames still
//! wait) goes to the task, so order is kept. A TLS link cannot be written
//! from outside its stream's owner (the TLS state is there), so all its
//! frames go through the task, batched.
//!
//! Frames are stored with their 4-byte big-endian length prefix, the format
//! the reading side's `LengthDelimitedCodec` expects.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;

/// Where a connection's bytes go.
pub(crate) enum WriteHalf {
    /// A plain TCP socket: any thread may `try_write` it.
    Tcp(Arc<OwnedWriteHalf>),
    /// Anything else (TLS): only the writer task writes it.
    Stream(Box<dyn AsyncWrite + Send + Unpin>),
}

impl WriteHalf {
    async fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        match self {
            WriteHalf::Tcp(socket) => {
                while !bytes.is_empty() {
                    socket.writable().await?;
                    match socket.try_write(bytes) {
                        Ok(n) => bytes = &bytes[n..],
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
            WriteHalf::Stream(stream) => {
                stream.write_all(bytes).await?;
                stream.flush().await
            }
        }
    }
}

/// What waits for the writer task.
#[derive(Default)]
struct Outbox {
    queue: VecDeque<Bytes>,
    /// The task owns the socket: it has frames to write or is writing.
    /// Senders queue behind it rather than write, so frames stay in order.
    busy: bool,
}

/// One open connection's sending side.
pub(crate) struct Connection {
    outbox: Mutex<Outbox>,
    wake: Notify,
    /// Set for plain TCP: senders write here themselves when the task is idle.
    direct: Option<Arc<OwnedWriteHalf>>,
    /// Bytes handed over and not yet written (shared with the peer's link).
    pending: Arc<AtomicUsize>,
}

impl Connection {
    /// A connection writing to `socket`, and its writer task, which also sends
    /// `heartbeat` (already length-prefixed) every `interval`. The task ends
    /// when a write fails or `closed` resolves.
    pub(crate) fn start(
        socket: WriteHalf,
        pending: Arc<AtomicUsize>,
        heartbeat: Bytes,
        interval: Duration,
    ) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let direct = match &socket {
            WriteHalf::Tcp(tcp) => Some(tcp.clone()),
            WriteHalf::Stream(_) => None,
        };
        let connection = Arc::new(Self {
            outbox: Mutex::new(Outbox::default()),
            wake: Notify::new(),
            direct,
            pending,
        });
        let task = tokio::spawn(connection.clone().write_loop(socket, heartbeat, interval));
        (connection, task)
    }

    /// Sends a length-prefixed frame: written now if the socket takes it and
    /// nothing waits before it, else queued for the task (and counted as
    /// pending until written).
    pub(crate) fn send(&self, frame: Bytes) {
        let Ok(mut outbox) = self.outbox.lock() else {
            return;
        };
        let rest = match (&self.direct, outbox.busy) {
            (Some(socket), false) => match socket.try_write(&frame) {
                Ok(n) if n == frame.len() => return,
                Ok(n) => frame.slice(n..),
                // WouldBlock, or a broken socket the task will find out about.
                Err(_) => frame,
            },
            _ => frame,
        };
        self.pending.fetch_add(rest.len(), Ordering::Relaxed);
        outbox.queue.push_back(rest);
        if !std::mem::replace(&mut outbox.busy, true) {
            self.wake.notify_one();
        }
    }

    async fn write_loop(
        self: Arc<Self>,
        mut socket: WriteHalf,
        heartbeat: Bytes,
        interval: Duration,
    ) {
        let mut batch = BytesMut::new();
        loop {
            let beat = tokio::select! {
                () = self.wake.notified() => false,
                () = tokio::time::sleep(interval) => true,
            };
            let counted = {
                let Ok(mut outbox) = self.outbox.lock() else {
                    return;
                };
                if outbox.queue.is_empty() && !beat {
                    continue;
                }
                outbox.busy = true;
                let mut counted = 0;
                for frame in outbox.queue.drain(..) {
                    counted += frame.len();
                    batch.extend_from_slice(&frame);
                }
                if counted == 0 {
                    batch.extend_from_slice(&heartbeat);
                }
                counted
            };
            if socket.write_all(&batch).await.is_err() {
                return;
            }
            batch.clear();
            self.pending.fetch_sub(counted, Ordering::Relaxed);
            let Ok(mut outbox) = self.outbox.lock() else {
                return;
            };
            if outbox.queue.is_empty() {
                outbox.busy = false;
            } else {
                self.wake.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::BufMut;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// `payload` with the length prefix the reader's codec expects.
    fn length_prefixed(payload: &[u8]) -> Bytes {
        let mut framed = BytesMut::with_capacity(4 + payload.len());
        framed.put_u32(payload.len() as u32);
        framed.put_slice(payload);
        framed.freeze()
    }

    #[tokio::test]
    async fn frames_arrive_whole_and_in_order_whoever_writes_them() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (dialled, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (_read, write) = dialled.unwrap().into_split();
        let pending = Arc::new(AtomicUsize::new(0));
        let (connection, _task) = Connection::start(
            WriteHalf::Tcp(Arc::new(write)),
            pending.clone(),
            length_prefixed(b""),
            Duration::from_secs(60),
        );
        // Big frames from several threads: some written directly, some queued.
        let mut senders = Vec::new();
        for thread in 0u8..4 {
            let connection = connection.clone();
            senders.push(std::thread::spawn(move || {
                for i in 0u32..200 {
                    let mut payload = vec![thread; 64 * 1024];
                    payload[..4].copy_from_slice(&i.to_be_bytes());
                    connection.send(length_prefixed(&payload));
                }
            }));
        }
        for s in senders {
            s.join().unwrap();
        }
        let (mut socket, _) = accepted.unwrap();
        let mut next = [0u32; 4];
        for _ in 0..800 {
            let len = socket.read_u32().await.unwrap() as usize;
            let mut payload = vec![0; len];
            socket.read_exact(&mut payload).await.unwrap();
            let thread = payload[len - 1] as usize;
            assert!(
                payload[4..].iter().all(|&b| b as usize == thread),
                "not interleaved"
            );
            let i = u32::from_be_bytes(payload[..4].try_into().unwrap());
            assert_eq!(i, next[thread], "each thread's frames in order");
            next[thread] += 1;
        }
        assert_eq!(next, [200; 4]);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            pending.load(Ordering::Relaxed),
            0,
            "everything written is uncounted"
        );
    }
}

//! Accepting RawSocket connections: bind, handshake, hand each connection to
//! its session's thread.
//!
//! Sessions run on their realm's thread (see `placement.rs`; measured here:
//! router CPU per call at 1 in flight 115-127 us -> 69-71 us, under load
//! 12 -> 6.6 us, against sessions on threads of their own). The handshake
//! (four octets each way), and on a node with several realms the HELLO that
//! names the realm, are read on the accepting thread, so a client that never
//! sends them costs a realm's thread nothing.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use actix_web::rt::task::JoinHandle;
use bytes::BytesMut;
use switchboard_proto::Codec;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::codec::Frame;
use super::handshake::{self, HandshakeError, Refusal};
use super::{read_codec, start_session, Accepted, Admitted};
use crate::config::RawSocketConfig;
use crate::outbound::limit_unacknowledged;
use crate::placement::realm_to_place;
use crate::session::SessionDeps;

/// How long to wait before accepting again after `accept` failed (out of
/// file descriptors, most often), rather than spinning on the error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The running RawSocket listeners.
pub(crate) struct Listeners {
    tcp_addr: Option<SocketAddr>,
    unix_path: Option<PathBuf>,
    accepting: Vec<JoinHandle<()>>,
}

/// What every accepted connection needs.
#[derive(Clone)]
struct Shared {
    deps: SessionDeps,
    stall: Duration,
}

impl Shared {
    /// Admits a connection: answers its handshake, reads its HELLO where that
    /// places the session, detaches it and starts its session on its realm's
    /// thread.
    async fn admit<S: Detachable>(&self, mut stream: S, hello_by: Instant) {
        let Some((codec, peer_limit)) = handshake_with(&mut stream, &self.deps).await else {
            return;
        };
        let mut unread = BytesMut::new();
        let realm = realm_to_place(
            &self.deps.realms,
            &mut stream,
            &mut unread,
            read_codec(&self.deps),
            codec,
            hello_by,
            |frame| match frame {
                Frame::Message(message) => Some(message),
                _ => None,
            },
        )
        .await;
        let accepted = match stream.detach() {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::debug!(%error, "cannot detach a RawSocket connection");
                return;
            }
        };
        let admitted = Admitted {
            codec,
            peer_limit,
            unread,
            hello_by,
        };
        let deps = self.deps.clone();
        let thread = self.deps.realms.session_thread(realm.as_deref());
        if !thread.spawn_fn(move || start_session(accepted, admitted, deps)) {
            tracing::warn!("a realm's thread is gone: RawSocket connection dropped");
        }
    }
}

/// A stream the listener accepted, which leaves its runtime once admitted.
trait Detachable: AsyncRead + AsyncWrite + Unpin {
    fn detach(self) -> io::Result<Accepted>;
}

impl Detachable for tokio::net::TcpStream {
    fn detach(self) -> io::Result<Accepted> {
        let peer = self.peer_addr()?;
        Ok(Accepted::Tcp(self.into_std()?, peer))
    }
}

impl Detachable for tokio::net::UnixStream {
    fn detach(self) -> io::Result<Accepted> {
        Ok(Accepted::Unix(self.into_std()?))
    }
}

impl Listeners {
    /// Binds what `config` asks for; `None` when it asks for nothing. Must be
    /// called inside the actix system.
    pub(crate) async fn start(
        config: &RawSocketConfig,
        deps: SessionDeps,
        stall: Duration,
    ) -> io::Result<Option<Self>> {
        if config.tcp.is_none() && config.unix.is_none() {
            return Ok(None);
        }
        // Both bound before anything starts, so a failure leaves nothing running.
        let tcp = match &config.tcp {
            Some((host, port)) => Some(
                tokio::net::TcpListener::bind((host.as_str(), *port))
                    .await
                    .map_err(|e| {
                        io::Error::new(e.kind(), format!("RawSocket on {host}:{port}: {e}"))
                    })?,
            ),
            None => None,
        };
        let unix = config.unix.as_deref().map(bind_unix).transpose()?;
        let shared = Shared { deps, stall };
        let mut listeners = Self {
            tcp_addr: None,
            unix_path: config.unix.clone(),
            accepting: Vec::new(),
        };
        if let Some(tcp) = tcp {
            listeners.tcp_addr = Some(tcp.local_addr()?);
            let accepting = actix_web::rt::spawn(accept_tcp(tcp, shared.clone()));
            listeners.accepting.push(accepting);
        }
        if let Some(unix) = unix {
            let accepting = actix_web::rt::spawn(accept_unix(unix, shared));
            listeners.accepting.push(accepting);
        }
        Ok(Some(listeners))
    }

    pub(crate) fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    pub(crate) fn unix_path(&self) -> Option<&Path> {
        self.unix_path.as_deref()
    }

    /// Stops accepting and removes the socket file. Sessions still open end
    /// with their realms' threads.
    pub(crate) fn stop(&self) {
        for task in &self.accepting {
            task.abort();
        }
        if let Some(path) = &self.unix_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Binds `path`, first removing a socket a previous run left behind. A path
/// that is not a socket, or a socket something still answers on, is left
/// alone and the bind fails.
fn bind_unix(path: &Path) -> io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    let context =
        |e: io::Error| io::Error::new(e.kind(), format!("RawSocket on {}: {e}", path.display()));
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(context(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a socket",
            )));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(context(io::Error::new(
                io::ErrorKind::AddrInUse,
                "another process is listening on it",
            )));
        }
        std::fs::remove_file(path).map_err(context)?;
    }
    tokio::net::UnixListener::bind(path).map_err(context)
}

/// Has the kernel probe an idle connection every `interval`: the router sends
/// RawSocket PINGs only to peers that showed they answer them (see
/// `RawSocket::speaks_ping`), so for the others a peer host that vanished is
/// found this way (three unanswered probes, a third of `interval` apart).
fn keep_alive(stream: &tokio::net::TcpStream, interval: Duration) {
    let probes = socket2::TcpKeepalive::new()
        .with_time(interval)
        .with_interval((interval / 3).max(Duration::from_secs(1)))
        .with_retries(3);
    if let Err(error) = socket2::SockRef::from(stream).set_tcp_keepalive(&probes) {
        tracing::debug!(%error, "cannot set TCP keepalive");
    }
}

async fn accept_tcp(listener: tokio::net::TcpListener, shared: Shared) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let hello_by = Instant::now() + shared.deps.config.hello_timeout;
                // No Nagle and the same kernel stall limit as WebSocket
                // connections (see outbound.rs).
                let _ = stream.set_nodelay(true);
                limit_unacknowledged(&stream, shared.stall);
                keep_alive(&stream, shared.deps.config.ping_interval);
                let shared = shared.clone();
                actix_web::rt::spawn(async move { shared.admit(stream, hello_by).await });
            }
            Err(error) => {
                tracing::warn!(%error, "RawSocket TCP accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

async fn accept_unix(listener: tokio::net::UnixListener, shared: Shared) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let hello_by = Instant::now() + shared.deps.config.hello_timeout;
                let shared = shared.clone();
                actix_web::rt::spawn(async move { shared.admit(stream, hello_by).await });
            }
            Err(error) => {
                tracing::warn!(%error, "RawSocket Unix accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Reads the client's handshake (within the hello timeout) and answers it:
/// the codec and the client's maximum message length if the session may
/// start. Reads exactly four octets, so nothing the client sent after them
/// is lost when the stream moves to its session thread.
async fn handshake_with<S>(stream: &mut S, deps: &SessionDeps) -> Option<(Codec, usize)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let timeout = deps.config.hello_timeout;
    let mut request = [0u8; 4];
    match tokio::time::timeout(timeout, stream.read_exact(&mut request)).await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            tracing::debug!(%error, "RawSocket connection closed before its handshake");
            return None;
        }
        Err(_) => {
            tracing::debug!("no RawSocket handshake within the hello timeout: closing");
            return None;
        }
    }
    let (answer, admitted) = match judge(request, deps) {
        Ok((codec, peer_limit)) => {
            let limit = deps.config.max_message_size;
            let answer = handshake::accept(codec.rawsocket_id(), limit);
            (answer, Some((codec, peer_limit)))
        }
        Err(HandshakeError::NotRawSocket(octet)) => {
            tracing::debug!(octet, "not a RawSocket client: closing");
            return None;
        }
        Err(HandshakeError::Refused(refusal)) => {
            tracing::debug!(?refusal, "RawSocket handshake refused");
            (handshake::refuse(refusal), None)
        }
    };
    match tokio::time::timeout(timeout, stream.write_all(&answer)).await {
        Ok(Ok(())) => admitted,
        _ => None,
    }
}

/// Whether this router takes the connection, and with what.
fn judge(octets: [u8; 4], deps: &SessionDeps) -> Result<(Codec, usize), HandshakeError> {
    let request = handshake::parse(octets)?;
    let codec = Codec::from_rawsocket_id(request.serializer)
        .ok_or(HandshakeError::Refused(Refusal::SerializerUnsupported))?;
    let full = deps
        .config
        .max_connections
        .is_some_and(|max| deps.connections.open() >= max);
    // A draining node takes no new session; the spec has no "shutting down"
    // code, and "maximum connection count reached" tells the client the same:
    // try another router.
    if full || deps.realms.is_draining() {
        return Err(HandshakeError::Refused(Refusal::MaxConnections));
    }
    Ok((codec, request.max_len))
}

//! The links between nodes: one persistent TCP connection per pair of nodes,
//! length-delimited frames encoded with rmp-serde, carrying Raft's RPCs, proposals
//! forwarded to the leader, and what realms tell each other about calls and events.
//!
//! The node with the lower id dials, the other accepts, so each pair has exactly
//! one connection; a dropped one is redialled with backoff. Frames on a link
//! arrive in the order they were sent. Every frame (heartbeats included) proves
//! the peer alive; a peer silent for longer than the failure timeout is declared
//! down once, and up again when it is heard from.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use switchboard_core::cluster::PeerMessage;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_util::codec::{Framed, FramedRead, LengthDelimitedCodec};

use crate::failure_detector::{DownCause, FailureDetector, Heard};
use crate::link_writer::Connection;
use crate::peer_tls::{certifies, LinkStream, PeerTls};
use crate::types::{Command, NodeId, TypeConfig};

/// A Raft RPC.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum RaftRpc {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
}

/// Its answer, with the remote Raft's error if it refused.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum RaftReply {
    Append(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    Snapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
}

/// Everything that crosses a link.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Frame {
    /// The first frame each end sends: who it is, the digest of its realm
    /// security config (which must be the same on every node), and whether its
    /// Raft log was ever initialised (see `node.rs`, on bootstrapping).
    Hello {
        node: NodeId,
        security: String,
        #[serde(default)]
        has_log: bool,
    },
    /// Sent when there is nothing else to say, so silence means trouble.
    Heartbeat,
    RaftRequest {
        id: u64,
        rpc: RaftRpc,
    },
    RaftResponse {
        id: u64,
        reply: RaftReply,
    },
    /// A proposal for the leader to commit; answered with the log index or why not.
    Propose {
        id: u64,
        command: Command,
    },
    Proposed {
        id: u64,
        result: Result<u64, crate::node::ProposeError>,
    },
    /// A realm's message for the same realm on the receiving node.
    Realm {
        realm: String,
        message: PeerMessage,
    },
    /// A membership change for the leader to make; answered with whether it did.
    ChangeMembers {
        id: u64,
        change: crate::node::MemberChange,
    },
    MembersChanged {
        id: u64,
        result: Result<(), String>,
    },
    /// The leader is leaving: the receiver stands for election as soon as the
    /// leader's lease has run out.
    TakeOver,
}

/// What the node does with frames that are not replies.
pub(crate) trait Inbound: Send + Sync + 'static {
    /// A Raft RPC from `from`; answer with [`Peers::respond`].
    fn raft_request(&self, from: NodeId, id: u64, rpc: RaftRpc);
    /// A proposal forwarded by `from`; answer with [`Peers::respond`].
    fn propose(&self, from: NodeId, id: u64, command: Command);
    /// A realm message from `from`.
    fn realm(&self, from: NodeId, realm: String, message: PeerMessage);
    /// A membership change forwarded by `from`; answer with [`Peers::respond`].
    fn change_members(&self, from: NodeId, id: u64, change: crate::node::MemberChange);
    /// The leader `from` is leaving and names this node its successor.
    fn take_over(&self, from: NodeId);
    /// `node` went silent past the failure timeout.
    fn node_down(&self, node: NodeId);
    /// `node` is heard from again after being down.
    fn node_up(&self, node: NodeId);
}

/// Says whether to log an event that may repeat many times a second: at most
/// once per interval, counting the ones left out.
struct RateLimitedLog {
    interval: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl RateLimitedLog {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::new((None, 0)),
        }
    }

    /// Whether this occurrence should be logged.
    fn note(&self) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        let now = Instant::now();
        match state.0 {
            Some(last) if now.duration_since(last) < self.interval => {
                state.1 += 1;
                false
            }
            _ => {
                state.0 = Some(now);
                true
            }
        }
    }

    /// How many were left out since the last logged one (and resets it).
    fn take_suppressed(&self) -> u64 {
        self.state
            .lock()
            .map(|mut s| std::mem::take(&mut s.1))
            .unwrap_or(0)
    }
}

/// How long a new connection may take to finish TLS and say Hello.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The most bytes that may wait for one peer, written or not yet connected:
/// beyond it, [`Peers::send`] refuses frames (and calls to that node fail at
/// once) instead of holding memory for a peer that cannot keep up.
pub const MAX_PENDING_BYTES: usize = 64 * 1024 * 1024;

/// One peer's link state.
struct Link {
    /// The current connection's sending side, if one is up.
    connection: Option<Arc<Connection>>,
    /// Frames sent while no connection was open, written first when one opens.
    queued: std::collections::VecDeque<Bytes>,
    /// Bytes sent to this peer and not written yet (queued or in `tx`).
    pending: Arc<AtomicUsize>,
    /// Whether the peer is alive, from what its connections showed.
    detector: FailureDetector,
}

impl Link {
    fn new(timing: LinkTiming) -> Self {
        Self {
            connection: None,
            queued: std::collections::VecDeque::new(),
            pending: Arc::default(),
            detector: FailureDetector::new(timing.failure_timeout),
        }
    }
}

/// Link timing.
#[derive(Debug, Clone, Copy)]
pub struct LinkTiming {
    /// Heartbeat interval.
    pub heartbeat: Duration,
    /// Silence after which a peer is declared down.
    pub failure_timeout: Duration,
}

/// Who may speak on the links, and what each node says about its config.
#[derive(Debug, Clone, Default)]
pub struct LinkSecurity {
    /// Mutual TLS; `None` for plain TCP (a private network only).
    pub tls: Option<PeerTls>,
    /// A digest of this node's realm security config, compared with every peer's.
    pub config_digest: String,
}

/// All of a node's links.
pub(crate) struct Peers {
    me: NodeId,
    timing: LinkTiming,
    security: LinkSecurity,
    /// Peers whose security config digest differs from this node's.
    mismatched: Mutex<std::collections::BTreeSet<NodeId>>,
    /// TLS handshakes that failed, logged at most once per interval: a node
    /// outside the cluster CA redials twice a second, and so could a scanner.
    tls_failures: RateLimitedLog,
    links: Mutex<HashMap<NodeId, Link>>,
    /// Request id -> whoever waits for the reply frame.
    waiting: Mutex<HashMap<u64, oneshot::Sender<Frame>>>,
    next_id: AtomicU64,
    inbound: Mutex<Option<Arc<dyn Inbound>>>,
    /// Set once to close every link for good (the node is shutting down).
    closed: tokio::sync::watch::Sender<bool>,
    /// Peers this node keeps dialling.
    dialled: Mutex<std::collections::BTreeSet<NodeId>>,
    /// Every member's peer address, for probing one whose connection was lost.
    addresses: Mutex<HashMap<NodeId, String>>,
    /// Whether this node's log was ever initialised, as its Hello says.
    has_log: std::sync::atomic::AtomicBool,
    /// What each peer's Hello said about its own log.
    peer_logs: Mutex<HashMap<NodeId, bool>>,
    /// Where every link task runs and every link socket is registered (see
    /// `ClusterConfig::link_runtime`).
    runtime: tokio::runtime::Handle,
}

/// How long a probe of a peer whose connection was lost may take to connect:
/// on loopback or a LAN a live listener answers in well under a millisecond,
/// and a dead container's address never answers at all.
const PROBE_TIMEOUT: Duration = Duration::from_millis(200);

/// How often, and how many times, a lost peer's address is probed. A dying
/// process's kernel resets its connections and closes its listener in no set
/// order, so the first probe may still be accepted; a live peer that dropped
/// the connection redials within this window and is heard from, which ends
/// the probing.
const PROBE_INTERVAL: Duration = Duration::from_millis(50);
const PROBES: u32 = 20;

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The peer's end closed or reset it.
    ByPeer,
    /// This node dropped it: silent past the failure timeout.
    Silent,
    /// This node is closing its links.
    Closing,
}

/// `frame` in MessagePack with the 4-byte big-endian length prefix the
/// reading side's `LengthDelimitedCodec` expects, ready for a socket: encoded
/// in place behind room left for the prefix, with no second copy.
fn encode(frame: &Frame) -> Option<bytes::Bytes> {
    let mut bytes = vec![0; 4];
    if let Err(error) = rmp_serde::encode::write(&mut bytes, frame) {
        tracing::error!(%error, "cannot encode a peer frame");
        return None;
    }
    let len = u32::try_from(bytes.len() - 4).ok()?;
    bytes[..4].copy_from_slice(&len.to_be_bytes());
    Some(bytes.into())
}

/// `frame` in MessagePack without the prefix, for a codec that adds it itself.
fn encode_payload(frame: &Frame) -> Option<bytes::Bytes> {
    encode(frame).map(|framed| framed.slice(4..))
}

impl Peers {
    /// Links served on the caller's runtime.
    #[cfg(test)]
    pub(crate) fn new(me: NodeId, timing: LinkTiming, security: LinkSecurity) -> Arc<Self> {
        Self::on_runtime(me, timing, security, tokio::runtime::Handle::current())
    }

    /// Links whose sockets, reads and timers live on `runtime`.
    pub(crate) fn on_runtime(
        me: NodeId,
        timing: LinkTiming,
        security: LinkSecurity,
        runtime: tokio::runtime::Handle,
    ) -> Arc<Self> {
        Arc::new(Self {
            me,
            timing,
            security,
            mismatched: Mutex::new(std::collections::BTreeSet::new()),
            tls_failures: RateLimitedLog::new(Duration::from_secs(10)),
            links: Mutex::new(HashMap::new()),
            waiting: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            inbound: Mutex::new(None),
            closed: tokio::sync::watch::channel(false).0,
            dialled: Mutex::new(std::collections::BTreeSet::new()),
            addresses: Mutex::new(HashMap::new()),
            has_log: std::sync::atomic::AtomicBool::new(false),
            peer_logs: Mutex::new(HashMap::new()),
            runtime,
        })
    }

    /// Closes every link and stops accepting and dialling.
    pub(crate) fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Resolves once [`Self::close`] has been called.
    async fn until_closed(&self) {
        let mut closed = self.closed.subscribe();
        let _ = closed.wait_for(|c| *c).await;
    }

    pub(crate) fn set_inbound(&self, inbound: Arc<dyn Inbound>) {
        if let Ok(mut slot) = self.inbound.lock() {
            *slot = Some(inbound);
        }
    }

    fn inbound(&self) -> Option<Arc<dyn Inbound>> {
        self.inbound.lock().ok().and_then(|i| i.clone())
    }

    /// Whether `node` is currently considered alive (heard from within the failure timeout).
    pub(crate) fn is_up(&self, node: NodeId) -> bool {
        self.links
            .lock()
            .is_ok_and(|links| links.get(&node).is_some_and(|l| l.detector.is_up()))
    }

    /// The peers currently considered alive.
    pub(crate) fn up(&self) -> Vec<NodeId> {
        self.links
            .lock()
            .map(|links| {
                let mut up: Vec<NodeId> = links
                    .iter()
                    .filter(|(_, l)| l.detector.is_up())
                    .map(|(&id, _)| id)
                    .collect();
                up.sort_unstable();
                up
            })
            .unwrap_or_default()
    }

    /// Whether a connection to `node` is open right now.
    pub(crate) fn is_connected(&self, node: NodeId) -> bool {
        self.links
            .lock()
            .is_ok_and(|links| links.get(&node).is_some_and(|l| l.connection.is_some()))
    }

    /// Sends `frame` to `node`, in order with everything sent before. While the
    /// connection is down (not yet dialled, or being redialled) frames wait for
    /// it; a peer declared down drops what waited for it. `false` if the frame
    /// was refused: more than [`MAX_PENDING_BYTES`] already wait for `node`.
    pub(crate) fn send(&self, node: NodeId, frame: Frame) -> bool {
        let Some(bytes) = encode(&frame) else {
            return false;
        };
        let Ok(mut links) = self.links.lock() else {
            return false;
        };
        let link = links.entry(node).or_insert_with(|| Link::new(self.timing));
        let len = bytes.len();
        if link.pending.load(Ordering::Relaxed) + len > MAX_PENDING_BYTES {
            return false;
        }
        match &link.connection {
            Some(connection) => connection.send(bytes),
            None => {
                link.pending.fetch_add(len, Ordering::Relaxed);
                link.queued.push_back(bytes);
            }
        }
        true
    }

    /// Sends a request frame built with a fresh id and waits (at most `ttl`) for its reply.
    pub(crate) async fn request(
        &self,
        node: NodeId,
        ttl: Duration,
        build: impl FnOnce(u64) -> Frame,
    ) -> Option<Frame> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().ok()?.insert(id, tx);
        let reply = if self.send(node, build(id)) {
            tokio::time::timeout(ttl, rx)
                .await
                .ok()
                .and_then(Result::ok)
        } else {
            None
        };
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.remove(&id);
        }
        reply
    }

    /// Answers a request received from `node`.
    pub(crate) fn respond(&self, node: NodeId, frame: Frame) {
        self.send(node, frame);
    }

    /// Accepts connections from peers with higher ids. The listener (already
    /// non-blocking) is registered on the links' runtime, as is every
    /// connection it accepts.
    pub(crate) fn listen(self: &Arc<Self>, listener: std::net::TcpListener) {
        let peers = self.clone();
        self.runtime.spawn(async move {
            let listener = match TcpListener::from_std(listener) {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::error!(%error, "cannot accept peer connections");
                    return;
                }
            };
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = peers.until_closed() => return,
                };
                let Ok((stream, from)) = accepted else {
                    continue;
                };
                let peers = peers.clone();
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    let Some(tls) = peers.security.tls.clone() else {
                        peers
                            .accepted(Framed::new(stream, LengthDelimitedCodec::new()), None)
                            .await;
                        return;
                    };
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                        Ok(Ok((stream, cert))) => {
                            let framed = Framed::new(stream, LengthDelimitedCodec::new());
                            peers.accepted(framed, Some(cert)).await;
                        }
                        Ok(Err(error)) => {
                            if peers.tls_failures.note() {
                                tracing::warn!(%from, %error, suppressed = peers.tls_failures.take_suppressed(), "refused a peer connection: TLS handshake failed");
                            }
                        }
                        Err(_) => {
                            if peers.tls_failures.note() {
                                tracing::warn!(%from, suppressed = peers.tls_failures.take_suppressed(), "refused a peer connection: no TLS handshake in time");
                            }
                        }
                    }
                });
            }
        });
    }

    /// Reads the caller's Hello on an accepted connection, checks it against
    /// the certificate the caller presented (if TLS is on), answers with this
    /// node's Hello, and serves the link.
    async fn accepted<S: LinkStream>(
        self: &Arc<Self>,
        mut framed: Framed<S, LengthDelimitedCodec>,
        cert: Option<rustls::pki_types::CertificateDer<'static>>,
    ) {
        let hello = tokio::time::timeout(HANDSHAKE_TIMEOUT, framed.next()).await;
        let (node, security) = match hello {
            Ok(Some(Ok(bytes))) => match rmp_serde::from_slice::<Frame>(&bytes) {
                Ok(Frame::Hello {
                    node,
                    security,
                    has_log,
                }) => {
                    self.note_log(node, has_log);
                    (node, security)
                }
                _ => return,
            },
            _ => return,
        };
        if cert.as_ref().is_some_and(|cert| !certifies(cert, node)) {
            tracing::warn!(
                node,
                "refused a peer: its certificate does not name the node it claims to be"
            );
            return;
        }
        self.check_config(node, &security);
        let Some(hello) = encode_payload(&self.hello()) else {
            return;
        };
        if framed.send(hello).await.is_ok() {
            self.heard_from(node, Instant::now());
            self.run(node, framed).await;
        }
    }

    fn hello(&self) -> Frame {
        Frame::Hello {
            node: self.me,
            security: self.security.config_digest.clone(),
            has_log: self.has_log.load(Ordering::Relaxed),
        }
    }

    /// Says, in every Hello from now on, whether this node's log was ever initialised.
    pub(crate) fn set_has_log(&self, has_log: bool) {
        self.has_log.store(has_log, Ordering::Relaxed);
    }

    fn note_log(&self, node: NodeId, has_log: bool) {
        if let Ok(mut logs) = self.peer_logs.lock() {
            logs.insert(node, has_log);
        }
    }

    /// What each peer said in its last Hello: whether its log was ever initialised.
    pub(crate) fn peer_logs(&self) -> HashMap<NodeId, bool> {
        self.peer_logs
            .lock()
            .map(|logs| logs.clone())
            .unwrap_or_default()
    }

    /// Says loudly when a peer's realm security config is not this node's:
    /// the same session would be allowed different things on different nodes.
    fn check_config(&self, node: NodeId, theirs: &str) {
        let ours = &self.security.config_digest;
        let Ok(mut mismatched) = self.mismatched.lock() else {
            return;
        };
        if theirs == ours {
            mismatched.remove(&node);
        } else if mismatched.insert(node) {
            tracing::error!(
                node,
                ours = %ours,
                theirs = %theirs,
                "node {node}'s realm security config (principals, roles, methods) differs from this node's: every node must run the same realm config"
            );
        }
    }

    /// Peers whose realm security config differs from this node's.
    pub(crate) fn mismatched(&self) -> Vec<NodeId> {
        self.mismatched
            .lock()
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Keeps a connection to `node` at `addr` open (dialled by the lower id).
    /// Dialling a peer already dialled does nothing.
    pub(crate) fn dial(self: &Arc<Self>, node: NodeId, addr: String) {
        self.know(node, addr.clone());
        if !self.dialled.lock().is_ok_and(|mut d| d.insert(node)) {
            return;
        }
        let peers = self.clone();
        self.runtime.spawn(async move {
            let mut backoff = Duration::from_millis(50);
            while !*peers.closed.borrow() {
                if let Ok(stream) = TcpStream::connect(&addr).await {
                    let _ = stream.set_nodelay(true);
                    let served = match peers.security.tls.clone() {
                        None => {
                            peers
                                .dialled(node, Framed::new(stream, LengthDelimitedCodec::new()))
                                .await
                        }
                        Some(tls) => {
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.connect(node, stream))
                                .await
                            {
                                Ok(Ok(stream)) => {
                                    let framed = Framed::new(stream, LengthDelimitedCodec::new());
                                    peers.dialled(node, framed).await
                                }
                                Ok(Err(error)) => {
                                    if peers.tls_failures.note() {
                                        tracing::warn!(node, %addr, %error, suppressed = peers.tls_failures.take_suppressed(), "TLS handshake with a peer failed");
                                    }
                                    false
                                }
                                Err(_) => false,
                            }
                        }
                    };
                    if served {
                        backoff = Duration::from_millis(50);
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(500));
            }
        });
    }

    /// Says Hello on a dialled connection and serves the link; `false` if the
    /// Hello could not even be sent.
    async fn dialled<S: LinkStream>(
        self: &Arc<Self>,
        node: NodeId,
        mut framed: Framed<S, LengthDelimitedCodec>,
    ) -> bool {
        let Some(hello) = encode_payload(&self.hello()) else {
            return false;
        };
        if framed.send(hello).await.is_err() {
            return false;
        }
        self.run(node, framed).await;
        true
    }

    /// Serves one connection to `node` until it fails.
    async fn run<S: LinkStream>(
        self: &Arc<Self>,
        node: NodeId,
        framed: Framed<S, LengthDelimitedCodec>,
    ) {
        // The Hello exchange is over (and flushed): from here on the halves
        // go their own ways, keeping whatever the peer already sent.
        let parts = framed.into_parts();
        let (read, write) = parts.io.into_halves();
        let mut stream = FramedRead::new(read, LengthDelimitedCodec::new());
        *stream.read_buffer_mut() = parts.read_buf;
        let ended;
        let heartbeat = encode(&Frame::Heartbeat).unwrap_or_default();
        let (connection, writer) = {
            let Ok(mut links) = self.links.lock() else {
                return;
            };
            let link = links.entry(node).or_insert_with(|| Link::new(self.timing));
            let (connection, writer) = Connection::start(
                write,
                link.pending.clone(),
                heartbeat,
                self.timing.heartbeat,
            );
            // What waited for a connection goes first, in order.
            let waited: usize = link.queued.iter().map(Bytes::len).sum();
            link.pending.fetch_sub(waited, Ordering::Relaxed);
            for bytes in link.queued.drain(..) {
                connection.send(bytes);
            }
            link.connection = Some(connection.clone());
            (connection, writer)
        };
        // Not `heard_from` yet: a TCP connect proves nothing (the kernel of a
        // paused peer still accepts), only a frame from the peer does.
        //
        // A healthy peer sends at least a heartbeat every `heartbeat`; a
        // connection silent past the failure timeout is dead (the peer was
        // paused, killed, or moved to another address) even if TCP has not
        // noticed, so it is dropped and redialled rather than trusted. One
        // timer watches for that, re-armed only when it fires (not once per
        // frame: a forwarded call's frames are on the latency path).
        let failure_timeout = self.timing.failure_timeout;
        let mut last_frame = Instant::now();
        let silence = tokio::time::sleep(failure_timeout);
        tokio::pin!(silence);
        let closing = self.until_closed();
        tokio::pin!(closing);
        loop {
            let next = tokio::select! {
                next = stream.next() => match next {
                    Some(Ok(bytes)) => Ok(bytes),
                    _ => Err(Ended::ByPeer),
                },
                () = &mut silence => {
                    let deadline = last_frame + failure_timeout;
                    if Instant::now() < deadline {
                        silence.as_mut().reset(deadline.into());
                        continue;
                    }
                    tracing::warn!(node, "peer connection silent past the failure timeout; dropping it");
                    Err(Ended::Silent)
                },
                () = &mut closing => Err(Ended::Closing),
            };
            let bytes = match next {
                Ok(bytes) => bytes,
                Err(how) => {
                    ended = how;
                    break;
                }
            };
            last_frame = Instant::now();
            self.heard_from(node, last_frame);
            match rmp_serde::from_slice::<Frame>(&bytes) {
                Ok(frame) => self.dispatch(node, frame),
                Err(error) => tracing::warn!(%error, node, "undecodable peer frame"),
            }
        }
        writer.abort();
        if let Ok(mut links) = self.links.lock() {
            // A newer connection to the same peer may already have replaced this one.
            if let Some(link) = links.get_mut(&node).filter(|l| {
                l.connection
                    .as_ref()
                    .is_some_and(|c| Arc::ptr_eq(c, &connection))
            }) {
                // What waited in this connection's outbox is gone with it.
                link.connection = None;
                let queued = link.queued.iter().map(Bytes::len).sum();
                link.pending.store(queued, Ordering::Relaxed);
            }
        }
        tracing::info!(node, ?ended, "peer link closed");
        if ended == Ended::ByPeer {
            self.lost(node);
        }
    }

    /// Records `node`'s address (a member's), so a lost connection to it can be probed.
    pub(crate) fn know(&self, node: NodeId, addr: String) {
        if let Ok(mut addresses) = self.addresses.lock() {
            addresses.insert(node, addr);
        }
    }

    /// `node`'s end closed or reset the connection: probe its address, and if
    /// nothing answers, it has crashed (see [`FailureDetector`]). The probe is
    /// a bare TCP connect, closed at once; both ends probe, since only the
    /// lower id redials.
    fn lost(self: &Arc<Self>, node: NodeId) {
        let addr = match self.links.lock() {
            Ok(mut links) => {
                let link = links.entry(node).or_insert_with(|| Link::new(self.timing));
                if !link.detector.is_up() {
                    return;
                }
                link.detector.connection_lost();
                self.addresses
                    .lock()
                    .ok()
                    .and_then(|a| a.get(&node).cloned())
            }
            Err(_) => return,
        };
        let Some(addr) = addr else { return };
        let peers = self.clone();
        self.runtime.spawn(async move {
            for _ in 0..PROBES {
                let awaits = peers
                    .links
                    .lock()
                    .is_ok_and(|links| links.get(&node).is_some_and(|l| l.detector.awaits_probe()));
                if !awaits {
                    return; // Heard from again, or already down.
                }
                let answered = matches!(
                    tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(&addr)).await,
                    Ok(Ok(_))
                );
                if !answered {
                    if let Ok(mut links) = peers.links.lock() {
                        if let Some(link) = links.get_mut(&node) {
                            link.detector.redial_failed();
                        }
                    }
                    peers.judge(Instant::now());
                    return;
                }
                tokio::time::sleep(PROBE_INTERVAL).await;
            }
        });
    }

    fn heard_from(&self, node: NodeId, now: Instant) {
        let came_back = match self.links.lock() {
            Ok(mut links) => {
                let link = links.entry(node).or_insert_with(|| Link::new(self.timing));
                link.detector.heard_from(now) == Heard::CameUp
            }
            Err(_) => false,
        };
        if came_back {
            tracing::info!(node, "peer up");
            if let Some(inbound) = self.inbound() {
                inbound.node_up(node);
            }
        }
    }

    fn dispatch(&self, from: NodeId, frame: Frame) {
        let reply_to = match &frame {
            Frame::RaftResponse { id, .. }
            | Frame::Proposed { id, .. }
            | Frame::MembersChanged { id, .. } => Some(*id),
            _ => None,
        };
        if let Some(id) = reply_to {
            let waiter = self.waiting.lock().ok().and_then(|mut w| w.remove(&id));
            if let Some(waiter) = waiter {
                let _ = waiter.send(frame);
            }
            return;
        }
        if let Frame::Hello {
            security, has_log, ..
        } = &frame
        {
            self.check_config(from, security);
            self.note_log(from, *has_log);
            return;
        }
        let Some(inbound) = self.inbound() else {
            return;
        };
        match frame {
            Frame::RaftRequest { id, rpc } => inbound.raft_request(from, id, rpc),
            Frame::Propose { id, command } => inbound.propose(from, id, command),
            Frame::Realm { realm, message } => inbound.realm(from, realm, message),
            Frame::ChangeMembers { id, change } => inbound.change_members(from, id, change),
            Frame::TakeOver => inbound.take_over(from),
            Frame::Hello { .. }
            | Frame::Heartbeat
            | Frame::RaftResponse { .. }
            | Frame::Proposed { .. }
            | Frame::MembersChanged { .. } => {}
        }
    }

    /// Declares peers down as their detectors decide: silent past the failure
    /// timeout (checked every heartbeat), or crashed (also checked as soon as a
    /// probe fails).
    pub(crate) fn watch(self: &Arc<Self>) {
        let peers = self.clone();
        self.runtime.spawn(async move {
            let mut tick = tokio::time::interval(peers.timing.heartbeat);
            while !*peers.closed.borrow() {
                tick.tick().await;
                peers.judge(Instant::now());
            }
        });
    }

    /// Asks every peer's detector, and tells the node about each peer that has
    /// just gone down (once each time), dropping what waited for it.
    fn judge(&self, now: Instant) {
        let down: Vec<(NodeId, DownCause)> = match self.links.lock() {
            Ok(mut links) => links
                .iter_mut()
                .filter_map(|(node, l)| {
                    let cause = l.detector.poll(now)?;
                    l.queued.clear();
                    if l.connection.is_none() {
                        l.pending.store(0, Ordering::Relaxed);
                    }
                    Some((*node, cause))
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        for (node, cause) in down {
            match cause {
                DownCause::Silent => {
                    tracing::warn!(node, "peer down: silent past the failure timeout")
                }
                DownCause::Crashed => tracing::warn!(
                    node,
                    "peer down: its connection was closed and nothing answers at its address"
                ),
            }
            if let Some(inbound) = self.inbound() {
                inbound.node_down(node);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing() -> LinkTiming {
        LinkTiming {
            heartbeat: Duration::from_millis(20),
            failure_timeout: Duration::from_millis(200),
        }
    }

    #[test]
    fn frames_carry_the_big_endian_length_prefix_the_reading_codec_expects() {
        use tokio_util::codec::Decoder;
        let framed = encode(&Frame::Heartbeat).expect("encodes");
        assert_eq!(&framed[..4], &((framed.len() - 4) as u32).to_be_bytes());
        let mut buffer = bytes::BytesMut::from(&framed[..]);
        let payload = LengthDelimitedCodec::new()
            .decode(&mut buffer)
            .expect("decodes")
            .expect("a whole frame");
        assert_eq!(
            &payload[..],
            &encode_payload(&Frame::Heartbeat).expect("encodes")[..]
        );
        assert!(matches!(
            rmp_serde::from_slice::<Frame>(&payload),
            Ok(Frame::Heartbeat)
        ));
    }

    /// A paused peer's kernel still completes TCP handshakes on its listening
    /// socket, so a successful dial must not count as hearing from it (that once
    /// kept the leader from removing a paused node, found by the chaos suite).
    #[tokio::test]
    async fn a_peer_that_accepts_tcp_but_never_speaks_is_not_up() {
        let frozen = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = frozen.local_addr().expect("addr").to_string();
        let peers = Peers::new(1, timing(), LinkSecurity::default());
        peers.dial(2, addr);
        let deadline = Instant::now() + Duration::from_millis(300);
        while Instant::now() < deadline {
            assert!(!peers.is_up(2), "a silent peer was reported up");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            peers.is_connected(2),
            "the dial itself should have succeeded"
        );
        peers.close();
    }

    #[tokio::test]
    async fn a_peer_is_up_once_it_sends_a_frame() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let (dialler, acceptor) = (
            Peers::new(1, timing(), LinkSecurity::default()),
            Peers::new(2, timing(), LinkSecurity::default()),
        );
        acceptor.listen(listener.into_std().expect("std listener"));
        dialler.dial(2, addr);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !(dialler.is_up(2) && acceptor.is_up(1)) {
            assert!(Instant::now() < deadline, "the peers never saw each other");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        dialler.close();
        acceptor.close();
    }

    #[tokio::test]
    async fn frames_for_a_peer_that_cannot_take_them_are_refused_beyond_the_byte_limit() {
        let peers = Peers::new(1, timing(), LinkSecurity::default());
        let big = || Frame::Realm {
            realm: "r".into(),
            message: PeerMessage::Event {
                topic: "t".into(),
                publication: 1,
                publisher: None,
                audience: Default::default(),
                ppt: None,
                arguments: switchboard_proto::Arguments::list(vec!["x".repeat(1024 * 1024).into()]),
            },
        };
        // Node 2 is never connected: everything waits for it.
        let accepted = (0..100).take_while(|_| peers.send(2, big())).count();
        assert!(
            (60..=64).contains(&accepted),
            "{accepted} MiB accepted for a peer that takes nothing"
        );
        assert!(!peers.send(2, big()));
        assert!(peers.send(3, big()), "another peer is not affected");
    }

    #[test]
    fn a_repeating_failure_is_logged_once_per_interval_with_a_count_of_the_rest() {
        let log = RateLimitedLog::new(Duration::from_secs(60));
        assert!(log.note());
        assert!(!log.note());
        assert!(!log.note());
        assert_eq!(log.take_suppressed(), 2);
        assert_eq!(log.take_suppressed(), 0);
    }

    /// A development CA and certificates naming each node in `named`.
    struct TestPki {
        ca: rcgen::Certificate,
        ca_key: rcgen::KeyPair,
    }

    impl TestPki {
        fn new() -> Self {
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            let ca_key = rcgen::KeyPair::generate().unwrap();
            let ca = params.self_signed(&ca_key).unwrap();
            Self { ca, ca_key }
        }

        /// TLS for a node whose certificate names `name`, trusting `trust`'s CA.
        fn tls(&self, name: &str, trust: &TestPki) -> PeerTls {
            let key = rcgen::KeyPair::generate().unwrap();
            let params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
            let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
            PeerTls::new(
                vec![trust.ca.der().clone()],
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .unwrap()
        }
    }

    fn secured(tls: PeerTls) -> LinkSecurity {
        LinkSecurity {
            tls: Some(tls),
            config_digest: "same".into(),
        }
    }

    /// Dials from node 1 to node 2 and says whether they came to see each other.
    async fn link_up(one: LinkSecurity, two: LinkSecurity) -> bool {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let (dialler, acceptor) = (Peers::new(1, timing(), one), Peers::new(2, timing(), two));
        acceptor.listen(listener.into_std().expect("std listener"));
        dialler.dial(2, addr);
        let deadline = Instant::now() + Duration::from_millis(1500);
        let mut up = false;
        while Instant::now() < deadline && !up {
            up = dialler.is_up(2) && acceptor.is_up(1);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        dialler.close();
        acceptor.close();
        up
    }

    #[tokio::test]
    async fn nodes_with_certificates_of_the_cluster_ca_link_up() {
        let pki = TestPki::new();
        let one = secured(pki.tls(&crate::peer_tls::node_name(1), &pki));
        let two = secured(pki.tls(&crate::peer_tls::node_name(2), &pki));
        assert!(link_up(one, two).await);
    }

    #[tokio::test]
    async fn a_node_without_a_certificate_of_the_cluster_ca_cannot_link() {
        let pki = TestPki::new();
        let rogue_ca = TestPki::new();
        let two = secured(pki.tls(&crate::peer_tls::node_name(2), &pki));
        // Its own CA, which node 2 does not trust (it trusts node 2's CA itself).
        let rogue = secured(rogue_ca.tls(&crate::peer_tls::node_name(1), &pki));
        assert!(!link_up(rogue, two.clone()).await);
        // No TLS at all.
        assert!(!link_up(LinkSecurity::default(), two).await);
    }

    #[tokio::test]
    async fn a_node_cannot_claim_another_nodes_id() {
        let pki = TestPki::new();
        // A valid cluster certificate, but for node 3, dialling as node 1.
        let impostor = secured(pki.tls(&crate::peer_tls::node_name(3), &pki));
        let two = secured(pki.tls(&crate::peer_tls::node_name(2), &pki));
        assert!(!link_up(impostor, two).await);
    }

    #[tokio::test]
    async fn a_peer_with_another_security_config_is_reported() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let digest = |d: &str| LinkSecurity {
            tls: None,
            config_digest: d.into(),
        };
        let (dialler, acceptor) = (
            Peers::new(1, timing(), digest("a")),
            Peers::new(2, timing(), digest("b")),
        );
        acceptor.listen(listener.into_std().expect("std listener"));
        dialler.dial(2, addr);
        let deadline = Instant::now() + Duration::from_secs(5);
        while dialler.mismatched().is_empty() || acceptor.mismatched().is_empty() {
            assert!(Instant::now() < deadline, "the mismatch was never noticed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            (dialler.mismatched(), acceptor.mismatched()),
            (vec![2], vec![1])
        );
        dialler.close();
        acceptor.close();
    }
}

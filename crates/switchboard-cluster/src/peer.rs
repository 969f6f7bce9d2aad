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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use switchboard_core::cluster::PeerMessage;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

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
    /// The first frame on a connection: who is calling.
    Hello {
        node: NodeId,
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
        result: Result<u64, String>,
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
    /// `node` went silent past the failure timeout.
    fn node_down(&self, node: NodeId);
    /// `node` is heard from again after being down.
    fn node_up(&self, node: NodeId);
}

/// How many frames wait for a peer whose connection is not (yet, or for the
/// moment) open; beyond that the oldest go.
const MAX_QUEUED: usize = 100_000;

/// One peer's link state.
#[derive(Default)]
struct Link {
    /// Frames to write on the current connection, if one is up.
    tx: Option<mpsc::UnboundedSender<Frame>>,
    /// Frames sent while no connection was open, written first when one opens.
    queued: std::collections::VecDeque<Frame>,
    /// When a frame was last read from this peer.
    last_seen: Option<Instant>,
    /// Whether the peer is considered alive.
    up: bool,
}

/// Link timing.
#[derive(Debug, Clone, Copy)]
pub struct LinkTiming {
    /// Heartbeat interval.
    pub heartbeat: Duration,
    /// Silence after which a peer is declared down.
    pub failure_timeout: Duration,
}

/// All of a node's links.
pub(crate) struct Peers {
    me: NodeId,
    timing: LinkTiming,
    links: Mutex<HashMap<NodeId, Link>>,
    /// Request id -> whoever waits for the reply frame.
    waiting: Mutex<HashMap<u64, oneshot::Sender<Frame>>>,
    next_id: AtomicU64,
    inbound: Mutex<Option<Arc<dyn Inbound>>>,
    /// Set once to close every link for good (the node is shutting down).
    closed: tokio::sync::watch::Sender<bool>,
    /// Peers this node keeps dialling.
    dialled: Mutex<std::collections::BTreeSet<NodeId>>,
}

fn encode(frame: &Frame) -> Option<bytes::Bytes> {
    match rmp_serde::to_vec(frame) {
        Ok(bytes) => Some(bytes.into()),
        Err(error) => {
            tracing::error!(%error, "cannot encode a peer frame");
            None
        }
    }
}

impl Peers {
    pub(crate) fn new(me: NodeId, timing: LinkTiming) -> Arc<Self> {
        Arc::new(Self {
            me,
            timing,
            links: Mutex::new(HashMap::new()),
            waiting: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            inbound: Mutex::new(None),
            closed: tokio::sync::watch::channel(false).0,
            dialled: Mutex::new(std::collections::BTreeSet::new()),
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
            .is_ok_and(|links| links.get(&node).is_some_and(|l| l.up))
    }

    /// Whether a connection to `node` is open right now.
    pub(crate) fn is_connected(&self, node: NodeId) -> bool {
        self.links
            .lock()
            .is_ok_and(|links| links.get(&node).is_some_and(|l| l.tx.is_some()))
    }

    /// Sends `frame` to `node`, in order with everything sent before. While the
    /// connection is down (not yet dialled, or being redialled) frames wait for
    /// it; a peer declared down drops what waited for it.
    pub(crate) fn send(&self, node: NodeId, frame: Frame) -> bool {
        let Ok(mut links) = self.links.lock() else {
            return false;
        };
        let link = links.entry(node).or_default();
        let frame = match &link.tx {
            Some(tx) => match tx.send(frame) {
                Ok(()) => return true,
                Err(mpsc::error::SendError(frame)) => frame,
            },
            None => frame,
        };
        if link.queued.len() == MAX_QUEUED {
            link.queued.pop_front();
        }
        link.queued.push_back(frame);
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

    /// Accepts connections from peers with higher ids.
    pub(crate) fn listen(self: &Arc<Self>, listener: TcpListener) {
        let peers = self.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = peers.until_closed() => return,
                };
                let Ok((stream, _)) = accepted else { continue };
                let peers = peers.clone();
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    let mut framed = Framed::new(stream, LengthDelimitedCodec::new());
                    let hello = tokio::time::timeout(Duration::from_secs(5), framed.next()).await;
                    let node = match hello {
                        Ok(Some(Ok(bytes))) => match rmp_serde::from_slice::<Frame>(&bytes) {
                            Ok(Frame::Hello { node }) => node,
                            _ => return,
                        },
                        _ => return,
                    };
                    peers.heard_from(node);
                    peers.run(node, framed).await;
                });
            }
        });
    }

    /// Keeps a connection to `node` at `addr` open (dialled by the lower id).
    /// Dialling a peer already dialled does nothing.
    pub(crate) fn dial(self: &Arc<Self>, node: NodeId, addr: String) {
        if !self.dialled.lock().is_ok_and(|mut d| d.insert(node)) {
            return;
        }
        let peers = self.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(50);
            while !*peers.closed.borrow() {
                if let Ok(stream) = TcpStream::connect(&addr).await {
                    let _ = stream.set_nodelay(true);
                    let mut framed = Framed::new(stream, LengthDelimitedCodec::new());
                    if let Some(hello) = encode(&Frame::Hello { node: peers.me }) {
                        if framed.send(hello).await.is_ok() {
                            backoff = Duration::from_millis(50);
                            peers.run(node, framed).await;
                        }
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(500));
            }
        });
    }

    /// Serves one connection to `node` until it fails.
    async fn run(self: &Arc<Self>, node: NodeId, framed: Framed<TcpStream, LengthDelimitedCodec>) {
        let (mut sink, mut stream) = framed.split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Frame>();
        if let Ok(mut links) = self.links.lock() {
            let link = links.entry(node).or_default();
            for frame in link.queued.drain(..) {
                let _ = tx.send(frame);
            }
            link.tx = Some(tx.clone());
        }
        // Not `heard_from` yet: a TCP connect proves nothing (the kernel of a
        // paused peer still accepts), only a frame from the peer does.
        let heartbeat = self.timing.heartbeat;
        let writer = tokio::spawn(async move {
            loop {
                let frame = tokio::select! {
                    frame = rx.recv() => match frame { Some(f) => f, None => break },
                    _ = tokio::time::sleep(heartbeat) => Frame::Heartbeat,
                };
                let Some(bytes) = encode(&frame) else {
                    continue;
                };
                if sink.send(bytes).await.is_err() {
                    break;
                }
            }
        });
        loop {
            // A healthy peer sends at least a heartbeat every `heartbeat`; a
            // connection silent past the failure timeout is dead (the peer was
            // paused, killed, or moved to another address) even if TCP has not
            // noticed, so it is dropped and redialled rather than trusted.
            let next = tokio::select! {
                next = tokio::time::timeout(self.timing.failure_timeout, stream.next()) => match next {
                    Ok(next) => next,
                    Err(_) => {
                        tracing::warn!(node, "peer connection silent past the failure timeout; dropping it");
                        None
                    }
                },
                _ = self.until_closed() => None,
            };
            let Some(Ok(bytes)) = next else { break };
            self.heard_from(node);
            match rmp_serde::from_slice::<Frame>(&bytes) {
                Ok(frame) => self.dispatch(node, frame),
                Err(error) => tracing::warn!(%error, node, "undecodable peer frame"),
            }
        }
        writer.abort();
        if let Ok(mut links) = self.links.lock() {
            // A newer connection to the same peer may already have replaced this one.
            if let Some(link) = links
                .get_mut(&node)
                .filter(|l| l.tx.as_ref().is_some_and(|t| t.same_channel(&tx)))
            {
                link.tx = None;
            }
        }
        tracing::info!(node, "peer link closed");
    }

    fn heard_from(&self, node: NodeId) {
        let came_back = match self.links.lock() {
            Ok(mut links) => {
                let link = links.entry(node).or_default();
                link.last_seen = Some(Instant::now());
                !std::mem::replace(&mut link.up, true)
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
        let Some(inbound) = self.inbound() else {
            return;
        };
        match frame {
            Frame::RaftRequest { id, rpc } => inbound.raft_request(from, id, rpc),
            Frame::Propose { id, command } => inbound.propose(from, id, command),
            Frame::Realm { realm, message } => inbound.realm(from, realm, message),
            Frame::ChangeMembers { id, change } => inbound.change_members(from, id, change),
            Frame::Hello { .. }
            | Frame::Heartbeat
            | Frame::RaftResponse { .. }
            | Frame::Proposed { .. }
            | Frame::MembersChanged { .. } => {}
        }
    }

    /// Declares peers silent past the failure timeout down (once each).
    pub(crate) fn watch(self: &Arc<Self>) {
        let peers = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(peers.timing.heartbeat);
            while !*peers.closed.borrow() {
                tick.tick().await;
                let now = Instant::now();
                let down: Vec<NodeId> = match peers.links.lock() {
                    Ok(mut links) => links
                        .iter_mut()
                        .filter(|(_, l)| {
                            l.up && l
                                .last_seen
                                .is_some_and(|t| now - t > peers.timing.failure_timeout)
                        })
                        .map(|(node, l)| {
                            l.up = false;
                            l.queued.clear();
                            *node
                        })
                        .collect(),
                    Err(_) => Vec::new(),
                };
                for node in down {
                    tracing::warn!(node, "peer down: silent past the failure timeout");
                    if let Some(inbound) = peers.inbound() {
                        inbound.node_down(node);
                    }
                }
            }
        });
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

    /// A paused peer's kernel still completes TCP handshakes on its listening
    /// socket, so a successful dial must not count as hearing from it (that once
    /// kept the leader from removing a paused node, found by the chaos suite).
    #[tokio::test]
    async fn a_peer_that_accepts_tcp_but_never_speaks_is_not_up() {
        let frozen = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = frozen.local_addr().expect("addr").to_string();
        let peers = Peers::new(1, timing());
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
        let (dialler, acceptor) = (Peers::new(1, timing()), Peers::new(2, timing()));
        acceptor.listen(listener);
        dialler.dial(2, addr);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !(dialler.is_up(2) && acceptor.is_up(1)) {
            assert!(Instant::now() < deadline, "the peers never saw each other");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        dialler.close();
        acceptor.close();
    }
}

//! A cluster node: its Raft instance, its links to the other nodes, and the
//! plumbing between them and the node's realms.
//!
//! Forming a cluster: every node is configured with the same member list (id ->
//! peer address). Exactly one node initialises Raft: the member with the lowest
//! id, only if its own log has never been initialised, and only once every
//! other member has said (in its link Hello) that it has no log either. Any
//! other node only ever learns the membership from that node's log, so two
//! initialisations can never race, and a lowest node whose data was wiped
//! rejoins the cluster its peers still run instead of starting a second one.
//! A restarted node resumes from its stored log and snapshot.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, Raft};
use switchboard_core::cluster::{NodeId, PeerMessage, ProposalFailure, RegistryCommand};
use tokio::net::TcpListener;

use crate::network::Network;
use crate::peer::{Frame, Inbound, LinkSecurity, LinkTiming, Peers, RaftReply, RaftRpc};
use crate::proposer::{LogEntry, Proposer};
use crate::replica::{ClusterCommand, CommitSink, SwitchboardState};
use crate::types::{Command, TypeConfig};
use crate::{open_storage, ClusterError, StateMachineStore};

/// How a node is set up.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// This node's id (unique among the members).
    pub node_id: NodeId,
    /// Every member: id -> peer address (`host:port`), this node included.
    pub members: BTreeMap<NodeId, String>,
    /// Address to accept peer connections on.
    pub peer_listen: String,
    /// Where the Raft log and snapshots live.
    pub data_dir: PathBuf,
    /// Heartbeat and failure-detection timing of the links.
    pub timing: LinkTiming,
    /// Raft's own timing.
    pub raft: openraft::Config,
    /// Mutual TLS on the links, and the config digest every peer is told.
    pub security: LinkSecurity,
    /// The runtime whose thread owns the peer links' sockets (their reads,
    /// timers and queued writes); `None`: the runtime `start` runs on. The
    /// server passes its realm's arbiter, so that a forwarded call's frames are
    /// read on the thread that handles them, with no hand-off to another thread
    /// on each crossing.
    pub link_runtime: Option<tokio::runtime::Handle>,
}

/// What the node's realms learn from the cluster (implemented by the server).
pub trait ClusterEvents: CommitSink {
    /// A realm message from the same realm on node `from`.
    fn peer_message(&self, from: NodeId, realm: &str, message: PeerMessage);
    /// Node `node` stopped answering.
    fn node_down(&self, node: NodeId);
    /// Node `node` answers again.
    fn node_up(&self, node: NodeId);
}

/// A change to the cluster's voting members.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MemberChange {
    /// Add `node`, reachable by peers at `addr`: it catches up as a learner, then votes.
    Add {
        /// The new node's id.
        node: NodeId,
        /// Its peer address.
        addr: String,
    },
    /// Remove `node` from the voters.
    Remove {
        /// The node's id.
        node: NodeId,
    },
}

/// Why a proposal did not commit. (It crosses peer links typed: a leader's
/// refusal reaches the proposing node as this, not as text.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum ProposeError {
    /// No leader was known, so nothing was sent: no log holds the entry (this
    /// node may be cut off from the majority).
    #[error("no leader: this node cannot reach a majority of the cluster")]
    NoLeader,
    /// The leader did not answer in time, changed, or refused: the entry may be
    /// in a log and may still commit.
    #[error("the proposal was not committed: {0}")]
    NotCommitted(String),
    /// A membership change named a node that is not a voter (as this node sees it).
    #[error("node {0} is not a voting member")]
    NotAVoter(NodeId),
}

impl ProposeError {
    /// What the realm can conclude from it.
    pub fn to_failure(&self) -> ProposalFailure {
        match self {
            ProposeError::NoLeader | ProposeError::NotAVoter(_) => ProposalFailure::NoLeader,
            ProposeError::NotCommitted(_) => ProposalFailure::Unknown(self.to_string()),
        }
    }
}

/// A running cluster node.
pub struct ClusterNode {
    id: NodeId,
    raft: Raft<TypeConfig>,
    peers: Arc<Peers>,
    state: StateMachineStore<SwitchboardState>,
    proposer: Proposer,
}

/// How long survivors wait for a new leader before giving up on removing a dead node.
const LEADER_WAIT: Duration = Duration::from_secs(10);

/// How long a membership change may take (a new node must catch up first).
const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a proposal may take before its session hears it failed.
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(5);

impl ClusterNode {
    /// Opens the node's storage, connects to the members, and starts Raft.
    pub async fn start(
        config: ClusterConfig,
        events: Arc<dyn ClusterEvents>,
    ) -> Result<Arc<Self>, ClusterError> {
        let (log, state) = open_storage::<SwitchboardState>(&config.data_dir)?;
        // The realms must see every commit, including those replayed at start.
        let sink: Arc<dyn CommitSink> = events.clone();
        let restored = state
            .update(|s| {
                s.attach(sink.clone());
                s.snapshots()
            })
            .await;
        if !restored.is_empty() {
            sink.restored(&restored);
        }
        let link_runtime = config
            .link_runtime
            .clone()
            .unwrap_or_else(tokio::runtime::Handle::current);
        let peers = Peers::on_runtime(
            config.node_id,
            config.timing,
            config.security.clone(),
            link_runtime,
        );
        let listener = TcpListener::bind(&config.peer_listen).await?.into_std()?;
        let raft_config = Arc::new(config.raft.clone());
        let network = Network {
            peers: peers.clone(),
        };
        let raft = Raft::new(config.node_id, raft_config, network, log, state.clone())
            .await
            .map_err(|e| ClusterError::Raft(e.to_string()))?;
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| ClusterError::Raft(e.to_string()))?;
        // Before the first Hello goes out: every peer must learn whether this
        // node has a log.
        peers.set_has_log(initialized);
        peers.listen(listener);
        for (&node, addr) in &config.members {
            if node > config.node_id {
                peers.dial(node, addr.clone());
            } else if node != config.node_id {
                peers.know(node, addr.clone());
            }
        }
        peers.watch();
        let proposer = {
            let (raft, peers, me) = (raft.clone(), peers.clone(), config.node_id);
            Proposer::start(move |entry| commit_entry(raft.clone(), peers.clone(), me, entry))
        };
        let node = Arc::new(Self {
            id: config.node_id,
            raft,
            peers: peers.clone(),
            state,
            proposer,
        });
        peers.set_inbound(Arc::new(NodeInbound {
            node: node.clone(),
            events,
        }));
        node.dial_new_members();
        node.note_own_log();

        let lowest = config.members.keys().next().copied();
        if lowest == Some(config.node_id) && !initialized {
            node.clone().bootstrap(config.members.clone());
        }
        Ok(node)
    }

    /// Initialises the cluster, once every other member has said that it has
    /// no log either: a node whose data was wiped must never start a second
    /// cluster beside the one its peers still run. If any member has a log,
    /// this node waits, as an empty member, for the leader to send it the log
    /// (or a snapshot); the leader still counts it among the voters.
    ///
    /// So a brand-new cluster forms only once all its members are up, which is
    /// what a first `docker-compose up` (or a StatefulSet) does anyway.
    fn bootstrap(self: Arc<Self>, members: BTreeMap<NodeId, String>) {
        tokio::spawn(async move {
            let others: Vec<NodeId> = members.keys().copied().filter(|&n| n != self.id).collect();
            let mut said_waiting = false;
            loop {
                if self.raft.is_initialized().await.unwrap_or(true) {
                    return; // A leader reached this node: it is a member already.
                }
                let logs = self.peers.peer_logs();
                if let Some(&has) = others.iter().find(|n| logs.get(n) == Some(&true)) {
                    tracing::warn!(
                        node = self.id,
                        peer = has,
                        "this node has no log but the cluster has one: joining it as an empty member (not initialising a new cluster)"
                    );
                    return;
                }
                if others.iter().all(|n| logs.get(n) == Some(&false)) {
                    let members: BTreeMap<NodeId, BasicNode> = members
                        .iter()
                        .map(|(id, addr)| (*id, BasicNode::new(addr)))
                        .collect();
                    match self.raft.initialize(members).await {
                        Ok(()) => tracing::info!(node = self.id, "initialised the cluster"),
                        Err(error) => tracing::warn!(%error, "cluster initialisation refused"),
                    }
                    return;
                }
                if !said_waiting {
                    said_waiting = true;
                    tracing::info!(
                        node = self.id,
                        "waiting for every member to say whether it has a log before initialising the cluster"
                    );
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    }

    /// Keeps this node's Hello truthful once its log is initialised (by this
    /// node or by a leader), for links opened later.
    fn note_own_log(self: &Arc<Self>) {
        let node = self.clone();
        let mut metrics = self.raft.metrics();
        tokio::spawn(async move {
            let _ = metrics
                .wait_for(|m| {
                    m.membership_config
                        .membership()
                        .voter_ids()
                        .next()
                        .is_some()
                })
                .await;
            node.peers.set_has_log(true);
        });
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Waits (at most `within`) until a leader is known and this node has applied
    /// at least the cluster's first entry.
    pub async fn wait_ready(&self, within: Duration) -> bool {
        let mut metrics = self.raft.metrics();
        let ready = async {
            loop {
                let ok = {
                    let m = metrics.borrow();
                    m.current_leader.is_some() && m.last_applied.is_some()
                };
                if ok {
                    return;
                }
                if metrics.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::time::timeout(within, ready).await.is_ok()
    }

    /// Waits (at most `within`) until this node has applied log `index`.
    pub async fn wait_applied(&self, index: u64, within: Duration) -> bool {
        let mut metrics = self.raft.metrics();
        let applied = async {
            metrics
                .wait_for(|m| m.last_applied.is_some_and(|l| l.index >= index))
                .await
                .is_ok()
        };
        tokio::time::timeout(within, applied).await.unwrap_or(false)
    }

    /// Commits `command` for `realm` (through the leader, wherever it is) and
    /// returns the index of the log entry that holds it once committed. It
    /// shares that entry with the node's other proposals made meanwhile (see
    /// [`crate::proposer`]).
    pub async fn propose(
        &self,
        realm: &str,
        command: RegistryCommand,
    ) -> Result<u64, ProposeError> {
        self.proposer
            .propose(ClusterCommand {
                realm: realm.to_owned(),
                command,
            })
            .await
    }

    /// Keeps a link to every member with a higher id, as the membership changes
    /// (a node added later is dialled by every node below it).
    fn dial_new_members(self: &Arc<Self>) {
        let node = self.clone();
        let mut metrics = self.raft.metrics();
        tokio::spawn(async move {
            loop {
                let members: Vec<(NodeId, String)> = metrics
                    .borrow()
                    .membership_config
                    .membership()
                    .nodes()
                    .map(|(id, n)| (*id, n.addr.clone()))
                    .collect();
                for (id, addr) in members {
                    if id > node.id {
                        node.peers.dial(id, addr);
                    } else if id != node.id {
                        node.peers.know(id, addr);
                    }
                }
                if metrics.changed().await.is_err() {
                    return;
                }
            }
        });
    }

    /// Adds or removes a voting member, through the leader wherever it is.
    pub async fn change_members(&self, change: MemberChange) -> Result<(), ProposeError> {
        if let MemberChange::Remove { node } = change {
            let metrics = self.raft.metrics();
            let membership = &metrics.borrow().membership_config;
            if !membership
                .membership()
                .voter_ids()
                .any(|voter| voter == node)
            {
                return Err(ProposeError::NotAVoter(node));
            }
        }
        let leader = self.raft.metrics().borrow().current_leader;
        match leader {
            Some(leader) if leader == self.id => self.change_members_as_leader(change).await,
            Some(leader) => {
                let reply = self
                    .peers
                    .request(leader, MEMBERSHIP_TIMEOUT, |id| Frame::ChangeMembers {
                        id,
                        change,
                    })
                    .await;
                match reply {
                    Some(Frame::MembersChanged { result: Ok(()), .. }) => Ok(()),
                    Some(Frame::MembersChanged {
                        result: Err(why), ..
                    }) => Err(ProposeError::NotCommitted(why)),
                    _ => Err(ProposeError::NotCommitted(
                        "the leader did not answer".into(),
                    )),
                }
            }
            None => Err(ProposeError::NoLeader),
        }
    }

    async fn change_members_as_leader(&self, change: MemberChange) -> Result<(), ProposeError> {
        let failed = |e: &dyn std::fmt::Display| ProposeError::NotCommitted(e.to_string());
        match change {
            MemberChange::Add { node, addr } => {
                self.raft
                    .add_learner(node, BasicNode::new(addr), true)
                    .await
                    .map_err(|e| failed(&e))?;
                let voters = BTreeSet::from([node]);
                self.raft
                    .change_membership(openraft::ChangeMembers::AddVoterIds(voters), false)
                    .await
                    .map_err(|e| failed(&e))?;
            }
            MemberChange::Remove { node } => {
                let voters = BTreeSet::from([node]);
                self.raft
                    .change_membership(openraft::ChangeMembers::RemoveVoters(voters), false)
                    .await
                    .map_err(|e| failed(&e))?;
            }
        }
        Ok(())
    }

    /// Sends a realm message to the same realm on `node` (dropped if the link is down:
    /// the failure detector will fail what depended on it).
    ///
    /// `false` if the link to `node` refused it: more than
    /// [`crate::peer::MAX_PENDING_BYTES`] already wait for that node.
    pub fn send(&self, node: NodeId, realm: &str, message: PeerMessage) -> bool {
        self.peers.send(
            node,
            Frame::Realm {
                realm: realm.to_owned(),
                message,
            },
        )
    }

    /// Members, leader, term and log positions, for operators.
    pub fn status(&self) -> ClusterStatus {
        let m = self.raft.metrics().borrow().clone();
        ClusterStatus {
            node: self.id,
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index,
            last_applied: m.last_applied.map(|l| l.index),
            snapshot: m.snapshot.map(|l| l.index),
            members: m.membership_config.membership().voter_ids().collect(),
            state: format!("{:?}", m.state),
            config_mismatch: self.peers.mismatched(),
            peers_up: self.peers.up(),
        }
    }

    /// The realms this cluster has replicated state for.
    pub async fn realms(&self) -> Vec<String> {
        self.state
            .read(|s| s.snapshots().into_keys().collect())
            .await
    }

    /// Leaves the cluster for now (a graceful stop; the node stays a member
    /// and rejoins when it starts again): if it leads, it names a live voter
    /// its successor, then stops Raft and closes every link.
    ///
    /// openraft 0.9 has no leadership transfer, and the followers refuse to
    /// vote while the leader's lease (the election timeout's maximum) runs, so
    /// the successor stands for election the moment that lease ends instead of
    /// waiting a further election timeout of its own.
    pub async fn leave(&self) {
        let metrics = self.raft.metrics().borrow().clone();
        if metrics.current_leader == Some(self.id) {
            let successor = self.peers.up().into_iter().find(|&node| {
                node != self.id
                    && metrics
                        .membership_config
                        .membership()
                        .voter_ids()
                        .any(|voter| voter == node)
            });
            if let Some(successor) = successor {
                tracing::info!(
                    node = self.id,
                    successor,
                    "leaving: handing leadership over"
                );
                self.peers.send(successor, Frame::TakeOver);
                // Let the frame go out before the links close.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        self.shutdown().await;
    }

    /// Stops Raft and closes every link.
    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
        self.peers.close();
    }
}

/// A node's view of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClusterStatus {
    /// This node.
    pub node: NodeId,
    /// The leader, if known.
    pub leader: Option<NodeId>,
    /// The current term.
    pub term: u64,
    /// The last log index this node has.
    pub last_log_index: Option<u64>,
    /// The last index applied here.
    pub last_applied: Option<u64>,
    /// The last index the stored snapshot covers (built here or installed from the leader).
    pub snapshot: Option<u64>,
    /// Voting members.
    pub members: BTreeSet<NodeId>,
    /// Leader, Follower, Candidate, ...
    pub state: String,
    /// Peers whose realm security config differs from this node's.
    pub config_mismatch: Vec<NodeId>,
    /// Peers heard from within the failure timeout.
    pub peers_up: Vec<NodeId>,
}

/// Commits one log entry through the leader, wherever it is.
///
/// Gives up early, with [`ProposeError::NotCommitted`], when the leader it
/// went to is replaced: a paused or dead leader's entry is then committed by
/// the next leader or never, and proposing again (the realm's retry, which
/// commits at most once) reaches the new leader at once instead of after the
/// timeout.
async fn commit_entry(
    raft: Raft<TypeConfig>,
    peers: Arc<Peers>,
    me: NodeId,
    entry: LogEntry,
) -> Result<u64, ProposeError> {
    let command = Command::encode(&entry).map_err(|e| ProposeError::NotCommitted(e.to_string()))?;
    let mut metrics = raft.metrics();
    let Some(leader) = metrics.borrow().current_leader else {
        return Err(ProposeError::NoLeader);
    };
    let replaced = async {
        let _ = metrics.wait_for(|m| m.current_leader != Some(leader)).await;
    };
    let commit = async {
        match raft.client_write(command.clone()).await {
            Ok(response) => Ok(response.log_id.index),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                // This node led when the proposal began; it may have appended the
                // entry before it was deposed, so nothing here is certain.
                let Some(leader) = forward.leader_id.filter(|&l| l != me) else {
                    return Err(ProposeError::NotCommitted("no leader to forward to".into()));
                };
                match peers
                    .request(leader, PROPOSE_TIMEOUT, |id| Frame::Propose { id, command })
                    .await
                {
                    Some(Frame::Proposed {
                        result: Ok(index), ..
                    }) => Ok(index),
                    Some(Frame::Proposed {
                        result: Err(refused),
                        ..
                    }) => Err(refused),
                    _ => Err(ProposeError::NotCommitted(
                        "the leader did not answer".into(),
                    )),
                }
            }
            Err(error) => Err(ProposeError::NotCommitted(error.to_string())),
        }
    };
    tokio::select! {
        committed = tokio::time::timeout(PROPOSE_TIMEOUT, commit) => {
            committed.unwrap_or_else(|_| Err(ProposeError::NotCommitted("timed out".into())))
        }
        () = replaced => Err(ProposeError::NotCommitted(format!("leader {leader} was replaced"))),
    }
}

/// Handles frames that are not replies.
struct NodeInbound {
    node: Arc<ClusterNode>,
    events: Arc<dyn ClusterEvents>,
}

impl Inbound for NodeInbound {
    fn raft_request(&self, from: NodeId, id: u64, rpc: RaftRpc) {
        let node = self.node.clone();
        tokio::spawn(async move {
            let reply = match rpc {
                RaftRpc::Append(r) => RaftReply::Append(node.raft.append_entries(r).await),
                RaftRpc::Vote(r) => RaftReply::Vote(node.raft.vote(r).await),
                RaftRpc::Snapshot(r) => RaftReply::Snapshot(node.raft.install_snapshot(r).await),
            };
            node.peers.respond(from, Frame::RaftResponse { id, reply });
        });
    }

    fn propose(&self, from: NodeId, id: u64, command: Command) {
        let node = self.node.clone();
        tokio::spawn(async move {
            let result = match node.raft.client_write(command).await {
                Ok(response) => Ok(response.log_id.index),
                // The entry may have been appended before this node lost the
                // lead: the proposer must treat it as possibly in the log.
                Err(error) => Err(ProposeError::NotCommitted(error.to_string())),
            };
            node.peers.respond(from, Frame::Proposed { id, result });
        });
    }

    fn change_members(&self, from: NodeId, id: u64, change: MemberChange) {
        let node = self.node.clone();
        tokio::spawn(async move {
            let result = node.change_members(change).await.map_err(|e| e.to_string());
            node.peers
                .respond(from, Frame::MembersChanged { id, result });
        });
    }

    fn realm(&self, from: NodeId, realm: String, message: PeerMessage) {
        self.events.peer_message(from, &realm, message);
    }

    /// The realms fail what depended on `node` at once; the leader also commits
    /// the node's removal from every realm's registry. If the dead node was the
    /// leader, the survivors first elect a new one, which then commits it.
    fn node_down(&self, node: NodeId) {
        self.events.node_down(node);
        let me = self.node.clone();
        tokio::spawn(async move {
            let mut metrics = me.raft.metrics();
            let leader_known = metrics.wait_for(|m| m.current_leader.is_some_and(|l| l != node));
            if tokio::time::timeout(LEADER_WAIT, leader_known)
                .await
                .is_err()
            {
                tracing::warn!(node, "no live leader to commit a dead node's removal");
                return;
            }
            if me.raft.metrics().borrow().current_leader != Some(me.id) {
                return;
            }
            for realm in me.realms().await {
                // Still silent? (It may have come back while a leader was elected.)
                if me.peers.is_up(node) {
                    return;
                }
                // Written here and never forwarded: a deposed leader that noticed
                // the others "down" while it was itself paused or cut off must not
                // have the new leader remove healthy nodes on its word.
                let command = LogEntry {
                    commands: vec![ClusterCommand {
                        realm,
                        command: RegistryCommand::NodeDown { node },
                    }],
                };
                let Ok(command) = Command::encode(&command) else {
                    return;
                };
                if let Err(error) = me.raft.client_write(command).await {
                    tracing::warn!(%error, node, "not the leader any more: leaving a dead node's removal to the leader");
                    return;
                }
            }
        });
    }

    fn node_up(&self, node: NodeId) {
        self.events.node_up(node);
    }

    fn take_over(&self, from: NodeId) {
        let node = self.node.clone();
        tokio::spawn(async move {
            let lease = Duration::from_millis(node.raft.config().election_timeout_max);
            tokio::time::sleep(lease + Duration::from_millis(50)).await;
            let leader = node.raft.metrics().borrow().current_leader;
            if leader.is_none() || leader == Some(from) {
                tracing::info!(
                    node = node.id,
                    from,
                    "the leader left: standing for election"
                );
                if let Err(error) = node.raft.trigger().elect().await {
                    tracing::warn!(%error, "could not stand for election");
                }
            }
        });
    }
}

//! The core's view of a cluster: the commands that change a realm's replicated
//! registry, and the messages realms on different nodes exchange about calls.
//!
//! Both are plain data. Where a command comes from is the only difference
//! between one node and a cluster: a single node applies its own proposals at
//! once; a clustered node hands them to Raft and applies them when committed,
//! in the same order as every other node, so every node's routing table agrees.
//! The call path only ever reads the local, applied table.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchboard_proto::{Arguments, Dict};

use crate::broker::subscriptions::Subscription;
use crate::dealer::invoke_policy::InvokePolicy;
use crate::dealer::registry::Registration;
use crate::features::PeerFeatures;
use crate::matching::MatchPolicy;
use crate::realm::{RequestLog, SessionId, Testament, TestamentScope, Testaments};

/// A router node. A single-node router is node 0.
pub type NodeId = u64;

/// Where a call started: the caller's node, session and CALL request id.
/// This names a call everywhere in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CallRef {
    /// The node that holds the caller's session (and owns the call).
    pub node: NodeId,
    /// The caller's session.
    pub caller: SessionId,
    /// The caller's CALL request id.
    pub request: u64,
}

/// Who asked for a registry change, so the answer (REGISTERED, ERROR, ...) goes
/// back to them from the node that holds their session: the command's origin,
/// the same in every copy of it that is proposed (see `realm/requests.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requester {
    /// The node that holds the session.
    pub node: NodeId,
    /// The session.
    pub session: SessionId,
    /// The request id to answer.
    pub request: u64,
    /// The request's place among its session's registry requests: how the
    /// replicated state tells a repeated copy from a new request.
    pub seq: u64,
    /// Every request of the session below this `seq` has had its answer.
    pub settled_below: u64,
}

/// A change to a realm's replicated registry, applied in commit order on every node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RegistryCommand {
    /// A session joined (on `node`).
    SessionJoined {
        /// The session.
        session: SessionId,
        /// Its node.
        node: NodeId,
        /// Its authid.
        authid: String,
        /// Its authrole.
        authrole: String,
        /// How it authenticated.
        authmethod: String,
    },
    /// A session left: its registrations and subscriptions go.
    SessionLeft {
        /// The session.
        session: SessionId,
    },
    /// A node is gone: every session on it left.
    NodeDown {
        /// The node.
        node: NodeId,
    },
    /// A node is leaving (it got SIGTERM): new calls go to its callees only
    /// when no callee elsewhere can take them, while the calls it serves finish.
    /// Cleared by the node's `NodeDown` (which a restarted node also commits
    /// about itself before it serves).
    NodeDraining {
        /// The node.
        node: NodeId,
    },
    /// REGISTER.
    Register {
        /// Who registers.
        by: Requester,
        /// The procedure URI or pattern.
        procedure: String,
        /// `match`.
        match_policy: MatchPolicy,
        /// `invoke`.
        invoke: InvokePolicy,
        /// `disclose_caller`.
        disclose_caller: bool,
        /// `forward_timeout`.
        forward_timeout: bool,
        /// What the callee announced, for nodes that route calls to it.
        features: PeerFeatures,
        /// When it was asked for (ISO-8601, the proposing node's clock): the
        /// registration's `created`, the same on every node. (Empty in entries
        /// written before it was carried: the applying node's clock then.)
        #[serde(default)]
        created: String,
    },
    /// UNREGISTER.
    Unregister {
        /// Who unregisters.
        by: Requester,
        /// The registration.
        registration: u64,
    },
    /// SUBSCRIBE.
    Subscribe {
        /// Who subscribes.
        by: Requester,
        /// The topic URI or pattern.
        topic: String,
        /// `match`.
        match_policy: MatchPolicy,
        /// When it was asked for, as for `Register`.
        #[serde(default)]
        created: String,
        /// `get_retained`: the subscriber's node then sends it the retained
        /// events its subscription covers, after SUBSCRIBED.
        #[serde(default)]
        get_retained: bool,
    },
    /// A publication with `retain=true`: its topic's retained event from now on.
    Retain {
        /// The event (boxed: it carries a payload, the other commands do not).
        event: Box<crate::broker::StoredEvent>,
    },
    /// A publication to a topic the realm keeps history of.
    Record {
        /// The event (boxed, as for `Retain`).
        event: Box<crate::broker::StoredEvent>,
    },
    /// UNSUBSCRIBE.
    Unsubscribe {
        /// Who unsubscribes.
        by: Requester,
        /// The subscription.
        subscription: u64,
    },
    /// `wamp.session.add_testament`: kept with the session until it goes.
    AddTestament {
        /// The session that leaves it (and its CALL).
        by: Requester,
        /// What to publish.
        testament: Testament,
    },
    /// `wamp.session.flush_testaments`.
    FlushTestaments {
        /// The session whose testaments go (and its CALL).
        by: Requester,
        /// Which bucket.
        scope: TestamentScope,
    },
}

impl RegistryCommand {
    /// The node a session's own change came from (`None` for commands about
    /// other nodes, like `NodeDown`, or that name no node).
    pub fn origin_node(&self) -> Option<NodeId> {
        match self {
            RegistryCommand::SessionJoined { node, .. } => Some(*node),
            RegistryCommand::Register { by, .. }
            | RegistryCommand::Unregister { by, .. }
            | RegistryCommand::Subscribe { by, .. }
            | RegistryCommand::Unsubscribe { by, .. }
            | RegistryCommand::AddTestament { by, .. }
            | RegistryCommand::FlushTestaments { by, .. } => Some(by.node),
            RegistryCommand::SessionLeft { .. }
            | RegistryCommand::NodeDown { .. }
            | RegistryCommand::NodeDraining { .. }
            | RegistryCommand::Retain { .. }
            | RegistryCommand::Record { .. } => None,
        }
    }

    /// Who asked, for the commands that answer a client's request.
    pub fn requester(&self) -> Option<Requester> {
        match self {
            RegistryCommand::Register { by, .. }
            | RegistryCommand::Unregister { by, .. }
            | RegistryCommand::Subscribe { by, .. }
            | RegistryCommand::Unsubscribe { by, .. }
            | RegistryCommand::AddTestament { by, .. }
            | RegistryCommand::FlushTestaments { by, .. } => Some(*by),
            RegistryCommand::SessionJoined { .. }
            | RegistryCommand::SessionLeft { .. }
            | RegistryCommand::NodeDown { .. }
            | RegistryCommand::NodeDraining { .. }
            | RegistryCommand::Retain { .. }
            | RegistryCommand::Record { .. } => None,
        }
    }

    /// The session the command is about (`None` for `NodeDown`).
    pub fn session(&self) -> Option<SessionId> {
        match self {
            RegistryCommand::SessionJoined { session, .. }
            | RegistryCommand::SessionLeft { session } => Some(*session),
            RegistryCommand::NodeDown { .. }
            | RegistryCommand::NodeDraining { .. }
            | RegistryCommand::Retain { .. }
            | RegistryCommand::Record { .. } => None,
            request => request.requester().map(|by| by.session),
        }
    }
}

/// Why a proposal did not commit, as far as its node can tell. The realm
/// decides from it alone what happens next (`realm/proposals.rs`): propose
/// again, or answer the request with an ERROR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProposalFailure {
    /// Nothing was sent anywhere (no leader was known): no log holds the entry,
    /// so it can never commit.
    NoLeader,
    /// The entry may be in some log and may still commit (the leader did not
    /// answer in time, changed, or refused after appending); why, for logs.
    Unknown(String),
}

impl ProposalFailure {
    /// Whether the entry may still commit.
    pub fn may_commit(&self) -> bool {
        matches!(self, ProposalFailure::Unknown(_))
    }
}

/// What realms on two nodes tell each other about calls and events. A link
/// carries them in order; the caller's node owns each call (its timeout, cancel,
/// progress), the callee's node owns the invocation (the id its callee sees).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PeerMessage {
    /// Invoke `callee` for `call` (or pass it the next chunk of a progressive call).
    Invoke {
        /// The call.
        call: CallRef,
        /// The callee's session, on the receiving node.
        callee: SessionId,
        /// The registration that matched.
        registration: u64,
        /// INVOCATION.Details, built by the caller's node.
        details: Dict,
        /// The caller's arguments.
        arguments: Arguments,
        /// The caller announced payload passthru mode: the callee's node decides
        /// whether an answer in the mode may go to it (last, so that a frame from
        /// a node without it still decodes).
        #[serde(default)]
        caller_passthru: bool,
        /// The same for the payload transparency draft (`enc_*`), last for the
        /// same reason.
        #[serde(default)]
        caller_transparency: bool,
    },
    /// A YIELD for `call`: progressive or final.
    Result {
        /// The call.
        call: CallRef,
        /// Whether more results follow.
        progress: bool,
        /// The callee's result.
        arguments: Arguments,
        /// The YIELD's `ppt_*` attributes, for RESULT.Details (last, so that a
        /// frame from a node without them still decodes).
        #[serde(default)]
        ppt: Option<crate::ppt::Ppt>,
    },
    /// The invocation for `call` failed.
    Error {
        /// The call.
        call: CallRef,
        /// The error URI.
        error: String,
        /// ERROR.Details.
        details: Dict,
        /// The error's arguments.
        arguments: Arguments,
    },
    /// Stop working on `call` (cancel, timeout, or its caller left).
    Interrupt {
        /// The call.
        call: CallRef,
        /// `kill` or `killnowait`.
        mode: crate::dealer::CancelMode,
        /// Why.
        reason: String,
    },
    /// A publication, for the receiving node's own subscribers.
    Event {
        /// The topic published to.
        topic: String,
        /// The publication id.
        publication: u64,
        /// The publisher, when it asked to be disclosed: (session, authid, authrole).
        publisher: Option<(SessionId, String, String)>,
        /// Who may receive it (the publisher's black- and whitelists, `exclude_me`).
        audience: crate::broker::Audience,
        /// The payload.
        arguments: Arguments,
        /// The PUBLISH's `ppt_*` attributes, for EVENT.Details (last, so that a
        /// frame from a node without them still decodes).
        #[serde(default)]
        ppt: Option<crate::ppt::Ppt>,
    },
    /// End a session on the receiving node (`wamp.session.kill`).
    Kill {
        /// The session.
        session: SessionId,
        /// The GOODBYE reason.
        reason: String,
        /// The GOODBYE message.
        message: String,
    },
}

/// A realm's replicated state at one point of the log: what a Raft snapshot of
/// the realm holds, and what a node restores from one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RegistrySnapshot {
    /// The log index of the last command of this realm it includes.
    pub applied: u64,
    /// Every registration, with its callees.
    pub registrations: Vec<Registration>,
    /// Every subscription, with its subscribers.
    pub subscriptions: Vec<Subscription>,
    /// Every session on every node.
    pub sessions: Vec<SessionEntry>,
    /// For each node the cluster has declared down, the index of the last such `NodeDown`.
    pub down_at: BTreeMap<NodeId, u64>,
    /// Nodes that are leaving (`NodeDraining` applied, no `NodeDown` since).
    #[serde(default)]
    pub draining: std::collections::BTreeSet<NodeId>,
    /// Each topic's retained event.
    #[serde(default)]
    pub retained: Vec<crate::broker::StoredEvent>,
    /// The events kept in history, with their log positions.
    #[serde(default)]
    pub history: Vec<(u64, crate::broker::StoredEvent)>,
}

/// One session as the cluster knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionEntry {
    /// The session.
    pub id: SessionId,
    /// Its node.
    pub node: NodeId,
    /// Its authid.
    pub authid: String,
    /// Its authrole.
    pub authrole: String,
    /// How it authenticated.
    pub authmethod: String,
    /// Its committed requests whose answers may not have reached it yet.
    pub requests: RequestLog,
    /// What to publish when it goes.
    #[serde(default)]
    pub testaments: Testaments,
}

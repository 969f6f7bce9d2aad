//! A realm: the sessions in it and the roles (dealer, broker, meta API) that
//! route between them.
//!
//! [`Realm`] is a sans-IO state machine with three kinds of methods:
//! `handle_*` inputs (`handle_join`, `handle_message`, `handle_leave`,
//! `handle_timeout`, `shutdown`), each given the current `now`; `poll_*`
//! outputs; and `&self` getters. After **every** input its owner must drain
//! [`Realm::poll_outgoing`] until it returns `None`, delivering each message to
//! its session in order, and then re-arm one timer for [`Realm::poll_timeout`]
//! (calling `handle_timeout` when it fires). The realm never blocks and never
//! reads a clock: every decision is made inside the input call.

mod directory;
mod proposals;
mod replication;
pub(crate) mod requests;
mod sessions;
mod testaments;
mod welcome;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;
use switchboard_proto::error_uri::{CLOSE_SYSTEM_SHUTDOWN, NOT_AUTHORIZED, PROTOCOL_VIOLATION};
use switchboard_proto::uri::is_reserved;
use switchboard_proto::{
    code, Arguments, Call, CallResult, Dict, Hello, IdGenerator, Message, SessionScopeIds, Value,
};

use crate::auth::Identity;
use crate::broker::Broker;
use crate::clock::ClockAnchor;
use crate::cluster::{NodeId, PeerMessage, RegistryCommand};
use crate::config::RealmConfig;
use crate::dealer::{Dealer, ProtocolViolation};
use crate::features::PeerFeatures;
use crate::meta::{self, MetaEvent, MetaReply, MetaScope};
use crate::permissions::{Action, Permissions};
use crate::replies::{abort, error, goodbye};
use requests::PendingRequests;

pub(crate) use directory::{Directory, SessionSummary};
pub use requests::{Outcome, RequestLog};
pub(crate) use sessions::{SessionRecord, Sessions};
pub use testaments::{Testament, TestamentScope, Testaments};

/// A session's id: global scope, random, unique within the router.
pub type SessionId = u64;

/// One message for one session.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The session to deliver to.
    pub to: SessionId,
    /// The message.
    pub message: Message,
}

/// Queued outgoing messages; the only way roles talk to sessions.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: VecDeque<Outgoing>,
}

impl Outbox {
    pub(crate) fn send(&mut self, to: SessionId, message: Message) {
        self.queue.push_back(Outgoing { to, message });
    }
}

/// Everything a role may touch while handling one input.
pub(crate) struct Context<'a> {
    pub(crate) config: &'a RealmConfig,
    /// This node.
    pub(crate) node: NodeId,
    pub(crate) sessions: &'a mut Sessions,
    pub(crate) out: &'a mut Outbox,
    /// Registry changes this input asks for.
    pub(crate) proposals: &'a mut Vec<RegistryCommand>,
    /// This node's registry requests waiting for their answers.
    pub(crate) pending: &'a mut PendingRequests,
    /// Messages for realms on other nodes.
    pub(crate) peers: &'a mut VecDeque<(NodeId, PeerMessage)>,
    /// Nodes known to be down: no new call goes to a callee there.
    pub(crate) unreachable: &'a BTreeSet<NodeId>,
    /// Nodes that are leaving: a new call goes to a callee there only when no
    /// other callee can take it.
    pub(crate) draining: &'a BTreeSet<NodeId>,
    pub(crate) rng: &'a mut StdRng,
    pub(crate) events: &'a mut Vec<MetaEvent>,
    pub(crate) clock: &'a ClockAnchor,
    pub(crate) now: Instant,
}

/// How registry changes become applied: at once on a single node, or through
/// the cluster's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replication {
    /// Proposals are applied inside the input that made them.
    Local,
    /// Proposals wait in `poll_proposal` for the owner to commit them.
    Replicated,
}

/// The state shared by every role, split from the roles so a role can borrow it
/// mutably next to itself.
#[derive(Debug)]
struct Shared {
    config: RealmConfig,
    node: NodeId,
    replication: Replication,
    /// Index of the last applied command (on a single node, the source of ids).
    applied: u64,
    sessions: Sessions,
    directory: Directory,
    /// Per node, the index of the last `NodeDown` the cluster committed for it.
    down_at: BTreeMap<NodeId, u64>,
    out: Outbox,
    proposals: Vec<RegistryCommand>,
    /// Proposals for the owner to commit (replicated mode).
    to_commit: VecDeque<RegistryCommand>,
    /// Registry requests of local sessions waiting for their commands to commit.
    pending: PendingRequests,
    /// Local sessions whose `SessionJoined` has not been applied yet, with the
    /// commands they made since: those wait for it, so none commits before the
    /// session exists in the replicated state.
    joining: HashMap<SessionId, Vec<RegistryCommand>>,
    /// Failed proposals to make again, each at its time.
    retries: Vec<(Instant, RegistryCommand)>,
    /// Failed proposals so far of each session's `SessionJoined`/`SessionLeft`.
    membership_failures: HashMap<SessionId, u32>,
    peers: VecDeque<(NodeId, PeerMessage)>,
    unreachable: BTreeSet<NodeId>,
    /// Nodes leaving the cluster (replicated: `NodeDraining` applied).
    draining: BTreeSet<NodeId>,
    /// Global-scope ids: sessions.
    session_ids: IdGenerator,
    rng: StdRng,
    events: Vec<MetaEvent>,
    clock: ClockAnchor,
}

impl Shared {
    fn context(&mut self, now: Instant) -> Context<'_> {
        Context {
            config: &self.config,
            node: self.node,
            sessions: &mut self.sessions,
            out: &mut self.out,
            proposals: &mut self.proposals,
            pending: &mut self.pending,
            peers: &mut self.peers,
            unreachable: &self.unreachable,
            draining: &self.draining,
            rng: &mut self.rng,
            events: &mut self.events,
            clock: &self.clock,
            now,
        }
    }
}

/// One realm's state. See the module documentation for the call order.
#[derive(Debug)]
pub struct Realm {
    shared: Shared,
    dealer: Dealer,
    broker: Broker,
}

impl Realm {
    /// An empty realm on a single node (node 0), which applies its own registry
    /// changes at once. `clock` ties the monotonic `now` of later inputs to wall
    /// time, for the timestamps the meta API reports.
    pub fn new(config: RealmConfig, clock: ClockAnchor, seed: u64) -> Self {
        Self::with_replication(config, clock, 0, Replication::Local, seed)
    }

    /// An empty realm on `node` of a cluster: registry changes go out through
    /// [`Realm::poll_proposal`] and take effect when [`Realm::apply`]'d.
    pub fn replicated(config: RealmConfig, clock: ClockAnchor, node: NodeId, seed: u64) -> Self {
        Self::with_replication(config, clock, node, Replication::Replicated, seed)
    }

    /// `seed` is the realm's only source of randomness (session and
    /// publication ids, the `random` invoke policy): the router draws it from
    /// the OS, so ids cannot be guessed; a test passes a constant and gets the
    /// same run every time.
    fn with_replication(
        config: RealmConfig,
        clock: ClockAnchor,
        node: NodeId,
        replication: Replication,
        seed: u64,
    ) -> Self {
        Self {
            shared: Shared {
                config,
                node,
                replication,
                applied: 0,
                sessions: Sessions::default(),
                directory: Directory::default(),
                down_at: BTreeMap::new(),
                out: Outbox::default(),
                proposals: Vec::new(),
                to_commit: VecDeque::new(),
                pending: PendingRequests::default(),
                joining: HashMap::new(),
                retries: Vec::new(),
                membership_failures: HashMap::new(),
                peers: VecDeque::new(),
                unreachable: BTreeSet::new(),
                draining: BTreeSet::new(),
                session_ids: IdGenerator::default(),
                rng: StdRng::seed_from_u64(seed),
                events: Vec::new(),
                clock,
            },
            dealer: Dealer::default(),
            broker: Broker::default(),
        }
    }

    /// The realm's settings.
    pub fn config(&self) -> &RealmConfig {
        &self.shared.config
    }

    /// How many sessions are joined.
    pub fn session_count(&self) -> usize {
        self.shared.sessions.len()
    }

    /// Whether `session` is joined to this realm.
    pub fn is_member(&self, session: SessionId) -> bool {
        self.shared.sessions.contains(session)
    }

    /// The dealer's state, for inspection.
    pub fn dealer(&self) -> &Dealer {
        &self.dealer
    }

    /// The broker's state, for inspection.
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// Admits a session whose identity its handshake decided, and queues its
    /// WELCOME. The session gets the id its handshake promised, if still free.
    pub fn handle_join(&mut self, now: Instant, hello: &Hello, identity: Identity) -> SessionId {
        let (ids, rng) = (&mut self.shared.session_ids, &mut self.shared.rng);
        let id = match identity.session {
            Some(promised) if ids.reserve(promised) => promised,
            _ => ids.next_id(rng),
        };
        let record = SessionRecord {
            authid: identity
                .authid
                .unwrap_or_else(|| welcome::anonymous_authid(id)),
            authrole: identity.authrole,
            authmethod: identity.authmethod.as_str(),
            authprovider: identity.authprovider.as_str(),
            authextra: identity.authextra,
            is_router: identity.authprovider == crate::auth::AuthProvider::Router,
            features: PeerFeatures::from_hello_details(&hello.details),
            invocation_ids: SessionScopeIds::default(),
        };
        let welcome = welcome::welcome(id, &self.shared.config, &record);
        self.shared.proposals.push(RegistryCommand::SessionJoined {
            session: id,
            node: self.shared.node,
            authid: record.authid.clone(),
            authrole: record.authrole.clone(),
            authmethod: record.authmethod.to_owned(),
        });
        self.shared.sessions.insert(id, record);
        self.shared.out.send(id, welcome);
        self.settle(now);
        id
    }

    /// Routes one message from an established session. The gate has already
    /// checked that a client may send this type.
    pub fn handle_message(&mut self, now: Instant, from: SessionId, message: Message) {
        if !self.shared.sessions.contains(from) {
            return; // The session left while this message was in flight.
        }
        if let Some(denial) = self.denial(from, &message) {
            if let Some(reply) = denial {
                self.shared.out.send(from, reply);
            }
            self.settle(now);
            return;
        }
        let mut cx = self.shared.context(now);
        let outcome = match message {
            Message::Call(call) if is_reserved(&call.procedure) => {
                self.meta_call(now, from, call);
                Ok(())
            }
            Message::Call(m) => self.dealer.call(&mut cx, from, m),
            Message::Register(m) => {
                self.dealer.register(&mut cx, from, m);
                Ok(())
            }
            Message::Unregister(m) => {
                self.dealer.unregister(&mut cx, from, m);
                Ok(())
            }
            Message::Cancel(m) => {
                self.dealer.cancel(&mut cx, from, m);
                Ok(())
            }
            Message::Yield(m) => self.dealer.yield_result(&mut cx, from, m),
            Message::Error(m) if m.request_type == code::INVOCATION => {
                self.dealer.invocation_error(&mut cx, from, m)
            }
            Message::Subscribe(m) => {
                self.broker.subscribe(&mut cx, from, m);
                Ok(())
            }
            Message::Unsubscribe(m) => {
                self.broker.unsubscribe(&mut cx, from, m);
                Ok(())
            }
            Message::Publish(m) => self.broker.publish(&mut cx, from, m),
            other => Err(ProtocolViolation(format!(
                "{} is not something a client sends",
                describe(&other)
            ))),
        };
        if let Err(ProtocolViolation(reason)) = outcome {
            self.shared
                .out
                .send(from, abort(PROTOCOL_VIOLATION, reason));
            self.forget(now, from);
        }
        self.settle(now);
    }

    /// `None` if `from` may do what `message` asks; otherwise the answer to a
    /// refusal: ERROR `not_authorized`, or nothing for a PUBLISH that asked for
    /// no acknowledgement (the spec sends nothing back for those).
    fn denial(&self, from: SessionId, message: &Message) -> Option<Option<Message>> {
        let permissions = &self.shared.config.security.permissions;
        if matches!(permissions, Permissions::AllowAll) {
            // An open realm: no session lookup on the per-message path.
            return None;
        }
        let (action, uri, request_type, request, answer) = match message {
            Message::Call(m) => (Action::Call, &m.procedure, code::CALL, m.request, true),
            Message::Register(m) => (
                Action::Register,
                &m.procedure,
                code::REGISTER,
                m.request,
                true,
            ),
            Message::Subscribe(m) => (
                Action::Subscribe,
                &m.topic,
                code::SUBSCRIBE,
                m.request,
                true,
            ),
            Message::Publish(m) => (
                Action::Publish,
                &m.topic,
                code::PUBLISH,
                m.request,
                m.options.get("acknowledge").and_then(|v| v.as_bool()) == Some(true),
            ),
            _ => return None,
        };
        let record = self.shared.sessions.get(from)?;
        if record.is_router || permissions.allows(&record.authrole, action, uri) {
            return None;
        }
        Some(answer.then(|| {
            error(
                request_type,
                request,
                NOT_AUTHORIZED,
                format!(
                    "role {:?} may not {} {uri:?}",
                    record.authrole,
                    action.as_str()
                ),
            )
        }))
    }

    /// The session ended (GOODBYE, ABORT or a lost transport): drop everything it owned.
    pub fn handle_leave(&mut self, now: Instant, session: SessionId) {
        self.forget(now, session);
        self.settle(now);
    }

    /// Fails the calls whose timeouts have passed by `now`, and makes again the
    /// failed proposals whose time has come.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut cx = self.shared.context(now);
        self.dealer.handle_timeout(&mut cx);
        self.retry_due(now);
        self.settle(now);
    }

    /// A message from this realm on node `from`.
    pub fn handle_peer(&mut self, now: Instant, from: NodeId, message: PeerMessage) {
        let _ = from;
        let mut cx = self.shared.context(now);
        match message {
            PeerMessage::Event { .. } => self.broker.handle_peer_event(&mut cx, message),
            PeerMessage::Kill {
                session,
                reason,
                message,
            } => {
                if self.shared.sessions.contains(session) {
                    self.shared.out.send(session, goodbye(&reason, message));
                    self.forget(now, session);
                }
            }
            other => self.dealer.handle_peer(&mut cx, other),
        }
        self.settle(now);
    }

    /// Node `node` is unreachable: calls it was serving fail now and invocations
    /// for its callers stop. Its sessions leave the registry when the cluster
    /// commits [`RegistryCommand::NodeDown`].
    pub fn handle_node_down(&mut self, now: Instant, node: NodeId) {
        self.shared.unreachable.insert(node);
        let mut cx = self.shared.context(now);
        self.dealer.node_down(&mut cx, node);
        self.settle(now);
    }

    /// Node `node` answers again: calls may go to its callees again.
    pub fn handle_node_up(&mut self, _now: Instant, node: NodeId) {
        self.shared.unreachable.remove(&node);
    }

    /// Says GOODBYE (`wamp.close.system_shutdown`) to every local session and forgets them.
    pub fn shutdown(&mut self, now: Instant) {
        let ids: Vec<SessionId> = self.shared.sessions.ids().collect();
        for id in ids {
            self.shared.out.send(
                id,
                goodbye(CLOSE_SYSTEM_SHUTDOWN, "the router is shutting down"),
            );
            self.forget(now, id);
        }
        self.settle(now);
    }

    /// Starts this node's graceful leave: the cluster commits that the node is
    /// draining, after which new calls go to its callees only where no callee
    /// elsewhere can take them (see [`crate::cluster::RegistryCommand::NodeDraining`]).
    /// Sessions stay, and the calls they serve or made finish; the owner says
    /// GOODBYE later ([`Realm::shutdown`]). A single node has nowhere else to
    /// send calls, so there it changes nothing.
    pub fn drain(&mut self, now: Instant) {
        if self.shared.replication == Replication::Replicated {
            let node = self.shared.node;
            self.shared
                .proposals
                .push(RegistryCommand::NodeDraining { node });
            self.settle(now);
        }
    }

    /// Whether the cluster has committed this node's [`Realm::drain`] (always
    /// true on a single node).
    pub fn drain_committed(&self) -> bool {
        self.shared.replication == Replication::Local
            || self.shared.draining.contains(&self.shared.node)
    }

    /// How many calls this node's callees are serving, wherever their callers are.
    pub fn invocations_in_flight(&self) -> usize {
        self.dealer.invocations_in_flight()
    }

    /// Whether every registry change this realm made has committed (or been
    /// given up): nothing waits to be proposed again or for its turn.
    pub fn proposals_settled(&self) -> bool {
        self.shared.to_commit.is_empty()
            && self.shared.retries.is_empty()
            && self.shared.joining.is_empty()
    }

    /// The next message to deliver, in order.
    #[must_use]
    pub fn poll_outgoing(&mut self) -> Option<Outgoing> {
        self.shared.out.queue.pop_front()
    }

    /// When `handle_timeout` must next be called, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let retry = self.next_retry();
        match (self.dealer.next_deadline(), retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// How many of this node's registry requests wait for their answers.
    pub fn pending_requests(&self) -> usize {
        self.shared.pending.len()
    }

    /// The next registry change to commit (replicated realms only).
    #[must_use]
    pub fn poll_proposal(&mut self) -> Option<RegistryCommand> {
        self.shared.to_commit.pop_front()
    }

    /// The next message for the realm on another node, in order.
    #[must_use]
    pub fn poll_peer(&mut self) -> Option<(NodeId, PeerMessage)> {
        self.shared.peers.pop_front()
    }

    /// Answers a CALL to a `wamp.` procedure from the router itself.
    fn meta_call(&mut self, now: Instant, caller: SessionId, call: Call) {
        let args = call.arguments.args_values().unwrap_or_default();
        let kwargs = call.arguments.kwargs_values().unwrap_or_default();
        let scope = MetaScope {
            dealer: &self.dealer,
            broker: &self.broker,
            directory: &self.shared.directory,
            caller,
            permissions: &self.shared.config.security.permissions,
        };
        let reply = meta::call(&scope, &call.procedure, &args, &kwargs);
        let message = match reply {
            MetaReply::Result(arguments) => Message::Result(CallResult {
                request: call.request,
                details: Dict::new(),
                arguments,
            }),
            MetaReply::Error(uri, why) => error(code::CALL, call.request, uri, why),
            MetaReply::Kill {
                targets,
                reason,
                message,
                counted,
            } => {
                for &target in &targets {
                    self.kill(now, target, &reason, &message);
                }
                let arguments = if counted {
                    Arguments::list(vec![Value::from(targets.len() as u64)])
                } else {
                    Arguments::none()
                };
                Message::Result(CallResult {
                    request: call.request,
                    details: Dict::new(),
                    arguments,
                })
            }
            MetaReply::AddTestament(testament) => {
                if let Some(refusal) = self.publish_denial(caller, &testament.topic) {
                    error(code::CALL, call.request, NOT_AUTHORIZED, refusal)
                } else {
                    let by = self.shared.pending.open(
                        self.shared.node,
                        caller,
                        code::CALL,
                        call.request,
                    );
                    let command = RegistryCommand::AddTestament { by, testament };
                    self.shared.proposals.push(command);
                    return; // Answered when applied.
                }
            }
            MetaReply::FlushTestaments(scope) => {
                let by =
                    self.shared
                        .pending
                        .open(self.shared.node, caller, code::CALL, call.request);
                self.shared
                    .proposals
                    .push(RegistryCommand::FlushTestaments { by, scope });
                return; // Answered when applied.
            }
        };
        self.shared.out.send(caller, message);
    }

    /// Ends `target` with GOODBYE: here, or through its own node (the one way
    /// the session meta API reaches a session).
    fn kill(&mut self, now: Instant, target: SessionId, reason: &str, message: &str) {
        match self.shared.directory.get(target).map(|s| s.node) {
            Some(node) if node != self.shared.node => {
                let kill = PeerMessage::Kill {
                    session: target,
                    reason: reason.to_owned(),
                    message: message.to_owned(),
                };
                self.shared.peers.push_back((node, kill));
            }
            _ => {
                self.shared.out.send(target, goodbye(reason, message));
                self.forget(now, target);
            }
        }
    }

    /// Why `session` may not publish to `topic`, if it may not: a testament is
    /// a publication made on the session's behalf, so it needs the same right.
    fn publish_denial(&self, session: SessionId, topic: &str) -> Option<String> {
        let permissions = &self.shared.config.security.permissions;
        let record = self.shared.sessions.get(session)?;
        if record.is_router || permissions.allows(&record.authrole, Action::Publish, topic) {
            return None;
        }
        Some(format!(
            "role {:?} may not {} {topic:?}",
            record.authrole,
            Action::Publish.as_str()
        ))
    }

    /// A local session is gone: its calls and invocations end now, and its
    /// departure is proposed so every node drops its registrations.
    pub(super) fn forget(&mut self, now: Instant, session: SessionId) {
        if self.shared.sessions.remove(session).is_none() {
            return;
        }
        self.shared.session_ids.release(session);
        self.shared.pending.forget_session(session);
        let mut cx = self.shared.context(now);
        self.dealer.session_gone(&mut cx, session);
        self.shared
            .proposals
            .push(RegistryCommand::SessionLeft { session });
    }
}

fn describe(message: &Message) -> String {
    match message {
        Message::Error(e) => format!("ERROR for a message of type {}", e.request_type),
        other => other.name().to_owned(),
    }
}

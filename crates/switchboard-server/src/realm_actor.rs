//! The actor that owns one `Realm` and delivers what it outputs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use actix::{
    Actor, Addr, AsyncContext, Context, Handler, Message as ActixMessage, Recipient, SpawnHandle,
};
use switchboard_cluster::ClusterNode;
use switchboard_core::auth::Identity;
use switchboard_core::cluster::{
    NodeId, PeerMessage, ProposalFailure, RegistryCommand, RegistrySnapshot,
};
use switchboard_core::outbound::Verdict;
use switchboard_core::{ClockAnchor, Realm, RealmConfig, SessionId};
use switchboard_proto::error_uri::{NETWORK_FAILURE, SLOW_CONSUMER, UNAVAILABLE};
use switchboard_proto::{Hello, Message};

use crate::metrics::Metrics;
use crate::outbound::OutboundGauge;

/// A message for a session's transport to write.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub(crate) struct Deliver(pub(crate) Message);

/// A transport asks to open an authenticated session; WELCOME comes back
/// through `session` as a [`Deliver`], in order with everything after it.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub(crate) struct Join {
    pub(crate) hello: Hello,
    /// Who the session's handshake decided it is.
    pub(crate) identity: Identity,
    pub(crate) session: Recipient<Deliver>,
    /// What waits to be written to the session's socket.
    pub(crate) gauge: Arc<OutboundGauge>,
}

/// A message from an established session.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub(crate) struct Inbound {
    pub(crate) session: SessionId,
    pub(crate) message: Message,
}

/// The session ended on the transport's side.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub(crate) struct Leave(pub(crate) SessionId);

/// Say GOODBYE to everyone.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub(crate) struct Shutdown;

/// The node is leaving: have the cluster route new calls elsewhere.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub(crate) struct Drain;

/// How far a realm's part of a graceful leave has got.
#[derive(ActixMessage)]
#[rtype(result = "DrainProgress")]
pub(crate) struct AskDrainProgress;

/// A realm's answer to [`AskDrainProgress`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DrainProgress {
    /// The cluster has committed that this node is draining.
    pub(crate) committed: bool,
    /// Calls this node's callees still serve.
    pub(crate) serving: usize,
    /// Every registry change of the realm has committed (or been given up).
    pub(crate) settled: bool,
}

/// A registry change committed by the cluster.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub(crate) struct Apply {
    /// The command's place in the log (see `switchboard_cluster::proposer::position`).
    pub(crate) position: u64,
    pub(crate) command: RegistryCommand,
}

/// The replicated state was replaced by a snapshot.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub(crate) struct Restore(pub(crate) RegistrySnapshot);

/// A message from this realm on another node.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub(crate) struct PeerIn {
    pub(crate) from: NodeId,
    pub(crate) message: PeerMessage,
}

/// A node stopped answering.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub(crate) struct NodeDown(pub(crate) NodeId);

/// A node answers again.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub(crate) struct NodeUp(pub(crate) NodeId);

/// The cluster this realm is part of; from now on registry changes go through it.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub(crate) struct AttachCluster(pub(crate) Arc<ClusterNode>);

/// A proposal did not commit.
#[derive(ActixMessage)]
#[rtype(result = "()")]
struct ProposalFailed {
    command: RegistryCommand,
    failure: ProposalFailure,
}

/// The realm's link to its cluster.
struct Cluster {
    node: Arc<ClusterNode>,
}

/// A session of this node, as the realm actor reaches it.
struct LocalSession {
    recipient: Recipient<Deliver>,
    gauge: Arc<OutboundGauge>,
}

/// Why a session was cut.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// Its queue passed the hard limit.
    Overflow,
    /// Bytes waited past the stall timeout with none written.
    Stalled,
}

/// How often sessions are checked for stalled writes.
const STALL_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// One realm's actor.
pub(crate) struct RealmActor {
    realm: Realm,
    metrics: Arc<Metrics>,
    /// When each call in flight arrived, by (caller, request id), for its latency.
    started: HashMap<(SessionId, u64), Instant>,
    /// Set when the realm is part of a cluster.
    cluster: Option<Cluster>,
    /// Where to deliver each session's messages, and what waits for each.
    sessions: HashMap<SessionId, LocalSession>,
    /// The one timer, armed for the realm's next deadline.
    timer: Option<(Instant, SpawnHandle)>,
    /// Proposals handed to the cluster and not answered yet.
    proposing: Arc<std::sync::atomic::AtomicUsize>,
}

impl RealmActor {
    /// A realm of a single-node router, or of node `node` of a cluster.
    pub(crate) fn new(config: RealmConfig, node: Option<NodeId>, metrics: Arc<Metrics>) -> Self {
        let realm = match node {
            None => Realm::new(config, ClockAnchor::now(), rand::random()),
            Some(node) => Realm::replicated(config, ClockAnchor::now(), node, rand::random()),
        };
        Self {
            realm,
            metrics,
            started: HashMap::new(),
            cluster: None,
            sessions: HashMap::new(),
            timer: None,
            proposing: Arc::default(),
        }
    }

    /// Delivers every queued output, then re-arms the timer. A session the realm
    /// has just let go of (by ABORT or GOODBYE) still gets everything queued for
    /// it, that last message included, and only then is forgotten here too.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        self.deliver();
        if let Some(cluster) = &self.cluster {
            let name = self.realm.config().name.clone();
            while let Some(command) = self.realm.poll_proposal() {
                let proposing = self.proposing.clone();
                proposing.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                propose(
                    cluster.node.clone(),
                    name.clone(),
                    command,
                    ctx.address(),
                    proposing,
                );
            }
            let mut refused = Vec::new();
            while let Some((node, message)) = self.realm.poll_peer() {
                let invoke = match &message {
                    PeerMessage::Invoke { call, .. } => Some(*call),
                    _ => None,
                };
                if invoke.is_some() {
                    self.metrics.forwarded_calls.inc();
                }
                if !cluster.node.send(node, &name, message) {
                    self.metrics.peer_frame_refused(node);
                    if let Some(call) = invoke {
                        refused.push((node, call));
                    }
                }
            }
            // A call whose INVOCATION the link to its callee's node refused
            // fails now, as if that node had answered with the error.
            if !refused.is_empty() {
                for (node, call) in refused {
                    let error = PeerMessage::Error {
                        call,
                        error: NETWORK_FAILURE.to_owned(),
                        details: switchboard_proto::Dict::new(),
                        arguments: switchboard_proto::Arguments::list(vec![format!(
                            "the link to node {node} is full: too much waits to be sent to it"
                        )
                        .into()]),
                    };
                    self.realm.handle_peer(Instant::now(), node, error);
                }
                return self.flush(ctx);
            }
        }
        self.rearm(ctx);
    }

    fn deliver(&mut self) {
        // Forgetting a recipient at its first message would drop the rest: a
        // node declared down answers a session's call and says GOODBYE to it in
        // one step, and that GOODBYE must not be lost (found by the chaos suite).
        let mut released = Vec::new();
        let limits = self.realm.config().outbound;
        loop {
            let mut refused = Vec::new();
            let mut cut = Vec::new();
            while let Some(out) = self.realm.poll_outgoing() {
                self.measure(out.to, &out.message);
                let Some(session) = self.sessions.get(&out.to) else {
                    continue;
                };
                match limits.judge(&out.message, session.gauge.queued()) {
                    Verdict::Send => {
                        session.gauge.handed_over(&out.message);
                        session.recipient.do_send(Deliver(out.message));
                        if !self.realm.is_member(out.to) {
                            released.push(out.to);
                        }
                    }
                    Verdict::DropEvent => self.metrics.event_dropped(out.to),
                    Verdict::RefuseInvocation => {
                        if let Message::Invocation(invocation) = &out.message {
                            refused.push((out.to, invocation.request));
                        }
                    }
                    Verdict::Close => cut.push(out.to),
                }
            }
            if refused.is_empty() && cut.is_empty() {
                break;
            }
            // The realm answers the callers of refused invocations, and forgets
            // cut sessions; what that sends goes round the loop once more.
            for (callee, request) in refused {
                self.metrics.invocation_refused();
                self.realm
                    .handle_message(Instant::now(), callee, callee_overloaded(request));
            }
            for session in cut {
                self.cut(session, Cut::Overflow);
            }
        }
        for session in released {
            if self.sessions.remove(&session).is_some() {
                self.session_gone(session);
            }
        }
    }

    /// Closes a session that does not read: the realm forgets it and sends it
    /// nothing more; its socket is closed by the kernel once data has waited
    /// unread past the stall timeout (its actor may be frozen, see outbound.rs).
    fn cut(&mut self, session: SessionId, why: Cut) {
        let Some(local) = self.sessions.remove(&session) else {
            return;
        };
        tracing::warn!(
            session,
            queued = local.gauge.queued(),
            reason = ?why,
            "closing a session that does not read its socket ({SLOW_CONSUMER})"
        );
        self.metrics.slow_session_closed(match why {
            Cut::Overflow => "overflow",
            Cut::Stalled => "stalled",
        });
        local
            .recipient
            .do_send(Deliver(switchboard_core::replies::abort(
                SLOW_CONSUMER,
                "the session's outbound queue passed its limit or stalled",
            )));
        self.session_gone(session);
        self.realm.handle_leave(Instant::now(), session);
    }

    /// Cuts the sessions whose bytes have waited too long with none written.
    fn check_stalls(&mut self, ctx: &mut Context<Self>) {
        let limits = self.realm.config().outbound;
        let stalled: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| limits.stalled(s.gauge.queued(), s.gauge.since_progress()))
            .map(|(&id, _)| id)
            .collect();
        if stalled.is_empty() {
            return;
        }
        for session in stalled {
            self.cut(session, Cut::Stalled);
        }
        self.flush(ctx);
    }

    /// Counts a call's final answer (and how long it took).
    fn measure(&mut self, to: SessionId, message: &Message) {
        let (request, error) = match message {
            Message::Result(r)
                if r.details.get("progress").and_then(|p| p.as_bool()) != Some(true) =>
            {
                (r.request, None)
            }
            Message::Error(e) if e.request_type == switchboard_proto::code::CALL => {
                (e.request, Some(e.error.as_str()))
            }
            _ => return,
        };
        if let Some(started) = self.started.remove(&(to, request)) {
            self.metrics
                .call_answered(started.elapsed().as_secs_f64(), error);
        }
    }

    fn session_gone(&mut self, session: SessionId) {
        self.metrics.sessions.dec();
        self.started.retain(|(caller, _), _| *caller != session);
    }
}

impl RealmActor {
    /// Keeps exactly one timer, set for the realm's earliest deadline.
    fn rearm(&mut self, ctx: &mut Context<Self>) {
        let next = self.realm.poll_timeout();
        if self.timer.as_ref().map(|(at, _)| *at) == next {
            return;
        }
        if let Some((_, handle)) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        if let Some(at) = next {
            let delay = at.saturating_duration_since(Instant::now());
            let handle = ctx.run_later(delay, |actor, ctx| {
                actor.timer = None;
                actor.realm.handle_timeout(Instant::now());
                actor.flush(ctx);
            });
            self.timer = Some((at, handle));
        }
    }
}

impl Actor for RealmActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Bounded, so a session that sends faster than the realm can keep up
        // waits (and stops reading its socket) instead of growing the mailbox.
        ctx.set_mailbox_capacity(REALM_MAILBOX);
        ctx.run_interval(STALL_CHECK, |actor, ctx| actor.check_stalls(ctx));
    }
}

/// Messages the realm's mailbox holds before senders that respect the bound
/// (sessions) must wait.
pub(crate) const REALM_MAILBOX: usize = 1024;

/// The ERROR a callee's refused INVOCATION is answered with, as if the callee
/// had said it: the dealer then fails the call like any other callee error.
fn callee_overloaded(request: u64) -> Message {
    Message::Error(switchboard_proto::Error {
        request_type: switchboard_proto::code::INVOCATION,
        request,
        details: switchboard_proto::Dict::new(),
        error: UNAVAILABLE.to_owned(),
        arguments: switchboard_proto::Arguments::list(vec![
            "the callee does not read its socket: its outbound queue is over its limit".into(),
        ]),
    })
}

impl Handler<Join> for RealmActor {
    type Result = ();

    fn handle(&mut self, join: Join, ctx: &mut Context<Self>) {
        let id = self
            .realm
            .handle_join(Instant::now(), &join.hello, join.identity);
        tracing::debug!(session = id, "session joined");
        self.sessions.insert(
            id,
            LocalSession {
                recipient: join.session,
                gauge: join.gauge,
            },
        );
        self.metrics.sessions.inc();
        self.flush(ctx);
    }
}

impl Handler<Inbound> for RealmActor {
    type Result = ();

    fn handle(&mut self, inbound: Inbound, ctx: &mut Context<Self>) {
        if let Message::Call(call) = &inbound.message {
            self.started
                .entry((inbound.session, call.request))
                .or_insert_with(Instant::now);
        }
        self.realm
            .handle_message(Instant::now(), inbound.session, inbound.message);
        self.flush(ctx);
    }
}

impl Handler<Leave> for RealmActor {
    type Result = ();

    fn handle(&mut self, Leave(session): Leave, ctx: &mut Context<Self>) {
        tracing::debug!(session, "session left");
        if self.sessions.remove(&session).is_some() {
            self.session_gone(session);
        }
        self.realm.handle_leave(Instant::now(), session);
        self.flush(ctx);
    }
}

impl Handler<Shutdown> for RealmActor {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        self.realm.shutdown(Instant::now());
        self.flush(ctx);
    }
}

/// Proposes `command` in a task of its own, so a proposal waiting on a paused
/// leader holds up nothing else. Order needs no queue: the realm hands a
/// session's commands over only once its joining has committed, and applies a
/// request that commits after its session left as a no-op.
fn propose(
    node: Arc<ClusterNode>,
    realm: String,
    command: RegistryCommand,
    me: Addr<RealmActor>,
    proposing: Arc<std::sync::atomic::AtomicUsize>,
) {
    actix::spawn(async move {
        if let Err(error) = node.propose(&realm, command.clone()).await {
            me.do_send(ProposalFailed {
                command,
                failure: error.to_failure(),
            });
        }
        proposing.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    });
}

impl Handler<Drain> for RealmActor {
    type Result = ();

    fn handle(&mut self, _: Drain, ctx: &mut Context<Self>) {
        self.realm.drain(Instant::now());
        self.flush(ctx);
    }
}

impl Handler<AskDrainProgress> for RealmActor {
    type Result = actix::MessageResult<AskDrainProgress>;

    fn handle(&mut self, _: AskDrainProgress, _: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(DrainProgress {
            committed: self.realm.drain_committed(),
            serving: self.realm.invocations_in_flight(),
            settled: self.realm.proposals_settled()
                && self.proposing.load(std::sync::atomic::Ordering::Relaxed) == 0,
        })
    }
}

impl Handler<AttachCluster> for RealmActor {
    type Result = ();

    fn handle(&mut self, AttachCluster(node): AttachCluster, ctx: &mut Context<Self>) {
        self.cluster = Some(Cluster { node });
        self.flush(ctx);
    }
}

impl Handler<ProposalFailed> for RealmActor {
    type Result = ();

    fn handle(&mut self, failed: ProposalFailed, ctx: &mut Context<Self>) {
        // Counted, not logged at warn: during an outage every waiting request is
        // proposed again every second, and each failure would be a line.
        tracing::debug!(failure = ?failed.failure, "a registry change did not commit");
        self.metrics.proposal_failed(failed.failure.may_commit());
        self.realm
            .handle_proposal_failed(Instant::now(), failed.command, failed.failure);
        self.flush(ctx);
    }
}

impl Handler<Apply> for RealmActor {
    type Result = ();

    fn handle(&mut self, apply: Apply, ctx: &mut Context<Self>) {
        if let RegistryCommand::NodeDown { node } = &apply.command {
            tracing::info!(
                node,
                position = apply.position,
                "the cluster removed a dead node"
            );
        }
        tracing::debug!(position = apply.position, command = ?apply.command, "applying a committed registry change");
        self.realm
            .apply(Instant::now(), apply.position, apply.command);
        self.flush(ctx);
    }
}

impl Handler<Restore> for RealmActor {
    type Result = ();

    fn handle(&mut self, Restore(snapshot): Restore, ctx: &mut Context<Self>) {
        tracing::info!("restoring the realm from a snapshot");
        self.realm.restore(Instant::now(), snapshot);
        self.flush(ctx);
    }
}

impl Handler<PeerIn> for RealmActor {
    type Result = ();

    fn handle(&mut self, peer: PeerIn, ctx: &mut Context<Self>) {
        self.realm
            .handle_peer(Instant::now(), peer.from, peer.message);
        self.flush(ctx);
    }
}

impl Handler<NodeDown> for RealmActor {
    type Result = ();

    fn handle(&mut self, NodeDown(node): NodeDown, ctx: &mut Context<Self>) {
        self.realm.handle_node_down(Instant::now(), node);
        self.flush(ctx);
    }
}

impl Handler<NodeUp> for RealmActor {
    type Result = ();

    fn handle(&mut self, NodeUp(node): NodeUp, ctx: &mut Context<Self>) {
        self.realm.handle_node_up(Instant::now(), node);
        self.flush(ctx);
    }
}

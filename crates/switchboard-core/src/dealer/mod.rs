//! The Dealer role: registrations and calls (`rfc/text/basic/remote_procedure_call.md`
//! and the Advanced Profile's RPC features), on one node or across a cluster.
//!
//! Every method handles one input and answers through the realm's outbox; none
//! of them blocks. A message that breaks the protocol (as opposed to a request
//! that merely fails) comes back as [`ProtocolViolation`], and the realm ends
//! that session with ABORT. Where each decision lives:
//! - which registration a call matches: [`crate::matching`];
//! - which callee of a shared registration serves it: [`invoke_policy`];
//! - registrations themselves: `registry` (changed only by applied commands, here);
//! - the caller's side of a call (timeout, cancel, progress): `call.rs` over `calls.rs`;
//! - the callee's side (the invocation id, INTERRUPT): `invocation.rs` over `invocations.rs`.
//!
//! The two sides of a call talk in [`PeerMessage`]s even when both are on this
//! node, so a call between nodes takes exactly the same path as a local one.

mod call;
mod calls;
mod invocation;
mod invocations;
pub mod invoke_policy;
mod options;

pub use options::CancelMode;
pub mod registry;

use switchboard_proto::error_uri::{
    INVALID_ARGUMENT, INVALID_URI, NO_SUCH_REGISTRATION, PROCEDURE_ALREADY_EXISTS,
};
use switchboard_proto::uri::{is_reserved, Components};
use switchboard_proto::{code, Register, Unregister};

use crate::cluster::{CallRef, NodeId, PeerMessage, RegistryCommand, Requester};
use crate::matching::MatchPolicy;
use crate::meta::{self, MetaEvent};
use crate::realm::{Context, Outcome, SessionId};
use crate::replies::error;
use calls::OutboundCalls;
use invocations::Invocations;
use options::RegisterOptions;
use registry::{Callee, Joined, RegisterRequest, Registry};

/// A message that breaks the protocol; the realm aborts the sender's session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("protocol violation: {0}")]
pub struct ProtocolViolation(pub String);

/// The dealer's state: the registration table and both sides of calls in flight.
#[derive(Debug, Default)]
pub struct Dealer {
    registry: Registry,
    /// Calls whose caller is on this node.
    calls: OutboundCalls,
    /// Invocations of callees on this node.
    invocations: Invocations,
}

/// Whether `uri` is acceptable as a REGISTER pattern under `policy`.
pub(crate) fn valid_pattern(cx: &Context<'_>, uri: &str, policy: MatchPolicy) -> bool {
    let check = cx.config.uri_check;
    match policy {
        MatchPolicy::Exact => check.is_valid(uri, Components::NonEmpty),
        // `com.myapp.` (a trailing dot) is a common and meaningful prefix.
        MatchPolicy::Prefix => {
            check.is_valid(uri.strip_suffix('.').unwrap_or(uri), Components::NonEmpty)
        }
        MatchPolicy::Wildcard => check.is_valid(uri, Components::AllowEmpty),
    }
}

impl Dealer {
    /// The registration table.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// How many calls local callees are serving right now.
    pub fn invocations_in_flight(&self) -> usize {
        self.invocations.len()
    }

    /// Replaces the registration table (from a snapshot); calls in flight stay.
    pub(crate) fn restore_registry(&mut self, registry: Registry) {
        self.registry = registry;
    }

    /// How many calls from this node's callers are waiting for an answer.
    pub fn pending_calls(&self) -> usize {
        self.calls.len()
    }

    /// How many invocations this node's callees are working on.
    pub fn pending_invocations(&self) -> usize {
        self.invocations.len()
    }

    /// When the next call times out, if any call has a router-enforced timeout.
    pub(crate) fn next_deadline(&self) -> Option<std::time::Instant> {
        self.calls.next_deadline()
    }

    /// Validates a REGISTER and proposes it; the answer comes when it is applied.
    pub(crate) fn register(
        &mut self,
        cx: &mut Context<'_>,
        session: SessionId,
        register: Register,
    ) {
        let reply = |uri: &str, why: String| error(code::REGISTER, register.request, uri, why);
        let options = match RegisterOptions::parse(&register.options) {
            Ok(options) => options,
            Err(why) => return cx.out.send(session, reply(INVALID_ARGUMENT, why)),
        };
        let procedure = register.procedure;
        if !valid_pattern(cx, &procedure, options.match_policy) {
            return cx.out.send(
                session,
                reply(INVALID_URI, format!("invalid procedure URI {procedure:?}")),
            );
        }
        if is_reserved(&procedure) {
            let why = format!("{procedure:?} is in the reserved wamp. namespace");
            return cx.out.send(session, reply(INVALID_URI, why));
        }
        let features = cx
            .sessions
            .get(session)
            .map(|s| s.features)
            .unwrap_or_default();
        let by = cx
            .pending
            .open(cx.node, session, code::REGISTER, register.request);
        cx.proposals.push(RegistryCommand::Register {
            by,
            procedure,
            match_policy: options.match_policy,
            invoke: options.invoke,
            disclose_caller: options.disclose_caller,
            forward_timeout: options.forward_timeout,
            features,
            created: cx.clock.iso8601(cx.now),
        });
    }

    /// Proposes an UNREGISTER; whether the session may is decided when applied.
    pub(crate) fn unregister(
        &mut self,
        cx: &mut Context<'_>,
        session: SessionId,
        unregister: Unregister,
    ) {
        let by = cx
            .pending
            .open(cx.node, session, code::UNREGISTER, unregister.request);
        cx.proposals.push(RegistryCommand::Unregister {
            by,
            registration: unregister.registration,
        });
    }

    /// Applies a committed REGISTER: the registry changes on every node; the
    /// outcome is the answer for the node that holds the session.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn apply_register(
        &mut self,
        cx: &mut Context<'_>,
        index: u64,
        by: Requester,
        procedure: &str,
        match_policy: MatchPolicy,
        invoke: invoke_policy::InvokePolicy,
        callee: Callee,
        created: String,
    ) -> Outcome {
        let (clock, now) = (cx.clock, cx.now);
        let created = move || {
            if created.is_empty() {
                clock.iso8601(now)
            } else {
                created
            }
        };
        let request = RegisterRequest {
            procedure,
            match_policy,
            invoke,
            callee,
        };
        let outcome = self.registry.register(index, request, created);
        match outcome {
            Ok(joined) => {
                let id = match joined {
                    Joined::Created(id) => {
                        if let Some(registration) = self.registry.get(id) {
                            cx.events
                                .push(MetaEvent::registration_created(by.session, registration));
                        }
                        id
                    }
                    Joined::Existing(id) => id,
                };
                cx.events
                    .push(MetaEvent::registration(meta::ON_REGISTER, by.session, id));
                Outcome::Registered(id)
            }
            Err(refused) => Outcome::refused(PROCEDURE_ALREADY_EXISTS, refused.to_string()),
        }
    }

    /// Applies a committed UNREGISTER.
    pub(crate) fn apply_unregister(
        &mut self,
        cx: &mut Context<'_>,
        by: Requester,
        registration: u64,
    ) -> Outcome {
        match self.registry.unregister(by.session, registration) {
            Ok(deleted) => {
                registration_left(cx, by.session, registration, deleted);
                Outcome::Unregistered
            }
            Err(refused) => Outcome::refused(NO_SUCH_REGISTRATION, refused.to_string()),
        }
    }

    /// Applies a committed departure: the session's registrations go, with their meta events.
    pub(crate) fn apply_session_left(&mut self, cx: &mut Context<'_>, session: SessionId) {
        for (id, deleted) in self.registry.remove_session(session) {
            registration_left(cx, session, id, deleted);
        }
    }

    /// A local session is gone (before its departure is committed): calls it made
    /// and invocations it was serving end now.
    pub(crate) fn session_gone(&mut self, cx: &mut Context<'_>, session: SessionId) {
        self.caller_left(cx, session);
        self.callee_left(cx, session);
    }

    /// A node is unreachable: calls served there fail, invocations for callers
    /// there stop. (Its registrations go when the cluster commits `NodeDown`.)
    pub(crate) fn node_down(&mut self, cx: &mut Context<'_>, node: NodeId) {
        self.callee_node_down(cx, node);
        self.caller_node_down(cx, node);
    }

    /// A message from the dealer on another node.
    pub(crate) fn handle_peer(&mut self, cx: &mut Context<'_>, message: PeerMessage) {
        match message {
            PeerMessage::Invoke { .. } | PeerMessage::Interrupt { .. } => {
                self.handle_callee_side(cx, message)
            }
            PeerMessage::Result { .. } | PeerMessage::Error { .. } => {
                self.handle_caller_side(cx, message)
            }
            PeerMessage::Event { .. } | PeerMessage::Kill { .. } => {}
        }
    }

    /// Sends `message` to the callee's side of a call, on `node` (handled here if
    /// that is this node).
    fn send_to_callee_side(&mut self, cx: &mut Context<'_>, node: NodeId, message: PeerMessage) {
        if node == cx.node {
            self.handle_callee_side(cx, message);
        } else {
            cx.peers.push_back((node, message));
        }
    }

    /// Sends `message` to the caller's side of `call`.
    fn send_to_caller_side(&mut self, cx: &mut Context<'_>, call: CallRef, message: PeerMessage) {
        if call.node == cx.node {
            self.handle_caller_side(cx, message);
        } else {
            cx.peers.push_back((call.node, message));
        }
    }
}

/// Answers the session that asked for a registry change, if it is on this node
/// and still waits for this answer (a repeated copy of a request finds it
/// answered, see `realm/requests.rs`).
/// Returns whether it sent the answer.
pub(crate) fn answer_requester(cx: &mut Context<'_>, by: Requester, outcome: &Outcome) -> bool {
    if by.node != cx.node {
        return false;
    }
    match cx.pending.answer(by.session, by.seq, outcome) {
        Some(answer) => {
            cx.out.send(by.session, answer);
            true
        }
        None => false,
    }
}

/// Meta events for a callee leaving a registration (and the registration going).
fn registration_left(
    cx: &mut Context<'_>,
    session: SessionId,
    id: registry::RegistrationId,
    deleted: bool,
) {
    cx.events
        .push(MetaEvent::registration(meta::ON_UNREGISTER, session, id));
    if deleted {
        cx.events
            .push(MetaEvent::registration(meta::ON_DELETE, session, id));
    }
}

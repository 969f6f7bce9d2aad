//! The router's own API in the reserved `wamp.` namespace: meta events about
//! registrations, subscriptions and sessions
//! (`rfc/text/advanced/ap_rpc_registration_meta_api.md`,
//! `ap_pubsub_subscription_meta_api.md`, `ap_session_meta_api.md`), and meta
//! procedures that answer questions about them.
//!
//! Roles do not publish meta events themselves; they return [`MetaEvent`]s
//! (nexus's "sync methods return their events"), and the realm hands them to the
//! broker after the input that caused them.

mod registration;
mod session;
mod subscription;
mod testament;

use switchboard_proto::error_uri::NO_SUCH_PROCEDURE;
use switchboard_proto::{Arguments, Dict, Value};

use crate::broker::subscriptions::{Subscription, SubscriptionId};
use crate::broker::Broker;
use crate::dealer::registry::{Registration, RegistrationId};
use crate::dealer::Dealer;
use crate::matching::MatchPolicy;
use crate::realm::{Directory, SessionId, Testament, TestamentScope};

pub(crate) const ON_CREATE: &str = "wamp.registration.on_create";
pub(crate) const ON_REGISTER: &str = "wamp.registration.on_register";
pub(crate) const ON_UNREGISTER: &str = "wamp.registration.on_unregister";
pub(crate) const ON_DELETE: &str = "wamp.registration.on_delete";
pub(crate) const SUBSCRIPTION_ON_CREATE: &str = "wamp.subscription.on_create";
pub(crate) const ON_SUBSCRIBE: &str = "wamp.subscription.on_subscribe";
pub(crate) const ON_UNSUBSCRIBE: &str = "wamp.subscription.on_unsubscribe";
pub(crate) const SUBSCRIPTION_ON_DELETE: &str = "wamp.subscription.on_delete";
pub(crate) const SESSION_ON_JOIN: &str = "wamp.session.on_join";
pub(crate) const SESSION_ON_LEAVE: &str = "wamp.session.on_leave";

/// An event the router publishes about itself.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MetaEvent {
    pub(crate) topic: &'static str,
    pub(crate) args: Vec<Value>,
}

impl MetaEvent {
    /// `on_create`: `[session, RegistrationDetails]`.
    pub(crate) fn registration_created(session: SessionId, registration: &Registration) -> Self {
        Self {
            topic: ON_CREATE,
            args: vec![Value::from(session), registration::details(registration)],
        }
    }

    /// `on_register`, `on_unregister`, `on_delete`: `[session, registration id]`.
    pub(crate) fn registration(
        topic: &'static str,
        session: SessionId,
        id: RegistrationId,
    ) -> Self {
        Self {
            topic,
            args: vec![Value::from(session), Value::from(id)],
        }
    }

    /// `wamp.subscription.on_create`: `[session, SubscriptionDetails]`.
    pub(crate) fn subscription_created(session: SessionId, subscription: &Subscription) -> Self {
        Self {
            topic: SUBSCRIPTION_ON_CREATE,
            args: vec![Value::from(session), subscription::details(subscription)],
        }
    }

    /// `on_subscribe`, `on_unsubscribe`, `on_delete`: `[session, subscription id]`.
    pub(crate) fn subscription(
        topic: &'static str,
        session: SessionId,
        id: SubscriptionId,
    ) -> Self {
        Self {
            topic,
            args: vec![Value::from(session), Value::from(id)],
        }
    }

    /// `wamp.session.on_join`: `[SessionDetails]`.
    pub(crate) fn session_joined(directory: &Directory, id: SessionId) -> Option<Self> {
        Some(Self {
            topic: SESSION_ON_JOIN,
            args: vec![session::details(directory, id)?],
        })
    }

    /// `wamp.session.on_leave`: `[session, authid, authrole]`.
    pub(crate) fn session_left(id: SessionId, authid: &str, authrole: &str) -> Self {
        Self {
            topic: SESSION_ON_LEAVE,
            args: vec![Value::from(id), Value::from(authid), Value::from(authrole)],
        }
    }
}

/// What a meta procedure call produced.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MetaReply {
    /// RESULT with these arguments.
    Result(Arguments),
    /// ERROR with this URI and human-readable reason.
    Error(&'static str, String),
    /// `wamp.session.kill*`: end each of `targets`, wherever it is, with
    /// GOODBYE; then answer the caller, with how many when `counted`.
    Kill {
        targets: Vec<SessionId>,
        reason: String,
        message: String,
        counted: bool,
    },
    /// `wamp.session.add_testament`: keep this with the caller's session in the
    /// replicated state; the answer comes when that is applied.
    AddTestament(Testament),
    /// `wamp.session.flush_testaments`: drop the caller's testaments of this scope.
    FlushTestaments(TestamentScope),
}

/// What a meta procedure may read.
pub(crate) struct MetaScope<'a> {
    pub(crate) dealer: &'a Dealer,
    pub(crate) broker: &'a Broker,
    /// Every session on every node.
    pub(crate) directory: &'a Directory,
    pub(crate) caller: SessionId,
    /// What each role may do (some answers depend on it, beyond the call).
    pub(crate) permissions: &'a crate::permissions::Permissions,
}

/// Answers a call to a `wamp.` procedure.
pub(crate) fn call(
    scope: &MetaScope<'_>,
    procedure: &str,
    args: &[Value],
    kwargs: &Dict,
) -> MetaReply {
    if let Some(name) = procedure.strip_prefix("wamp.registration.") {
        if let Some(reply) = registration::call(scope.dealer.registry(), name, args) {
            return reply;
        }
    }
    if let Some(name) = procedure.strip_prefix("wamp.subscription.") {
        if let Some(reply) = subscription::call(scope, name, args, kwargs) {
            return reply;
        }
    }
    if let Some(name) = procedure.strip_prefix("wamp.session.") {
        if let Some(reply) = session::call(scope, name, args, kwargs) {
            return reply;
        }
    }
    MetaReply::Error(
        NO_SUCH_PROCEDURE,
        format!("no meta procedure {procedure:?}"),
    )
}

/// `{exact: [ids], prefix: [ids], wildcard: [ids]}`, ids in ascending order:
/// what `wamp.registration.list` and `wamp.subscription.list` answer.
fn ids_by_policy(items: impl Iterator<Item = (u64, MatchPolicy)>) -> Value {
    let mut lists: [Vec<u64>; 3] = Default::default();
    for (id, policy) in items {
        let slot = match policy {
            MatchPolicy::Exact => 0,
            MatchPolicy::Prefix => 1,
            MatchPolicy::Wildcard => 2,
        };
        lists[slot].push(id);
    }
    let mut d = Dict::new();
    for (key, mut ids) in ["exact", "prefix", "wildcard"].into_iter().zip(lists) {
        ids.sort_unstable();
        d.insert(
            key.into(),
            Value::List(ids.into_iter().map(Value::from).collect()),
        );
    }
    Value::Dict(d)
}

/// The URI and match policy a `lookup` names: `args[0]`, and `match` in the
/// optional options dict `args[1]` (exact by default).
/// (A malformed lookup is refused with `wamp.error.invalid_argument` and the reason.)
fn lookup_args<'a>(args: &'a [Value], what: &str) -> Result<(&'a str, MatchPolicy), String> {
    let Some(uri) = args.first().and_then(Value::as_str) else {
        return Err(format!("lookup takes a {what} URI"));
    };
    let policy = args
        .get(1)
        .and_then(Value::as_dict)
        .and_then(|o| o.get("match"))
        .and_then(Value::as_str)
        .map(MatchPolicy::from_option)
        .unwrap_or(Some(MatchPolicy::Exact))
        .ok_or("unknown match policy")?;
    Ok((uri, policy))
}

/// `args[index]` as an id, for meta procedures that take one.
fn id_arg(args: &[Value], index: usize) -> Option<u64> {
    args.get(index).and_then(Value::as_u64)
}

fn result(value: Value) -> MetaReply {
    MetaReply::Result(Arguments::list(vec![value]))
}

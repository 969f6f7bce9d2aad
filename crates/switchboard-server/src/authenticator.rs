//! The router's own session in a realm where dynamic authenticators are
//! registered: it makes the calls handshakes ask for and hands back the answers.
//!
//! It is an ordinary session of that realm (admitted with the router's identity,
//! so the realm's permissions do not apply to it), which is why an authenticator
//! registered on any node of a cluster can answer: the dealer forwards the call
//! like any other.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr, AsyncContext, Context, Handler, Message as ActixMessage, Recipient};
use switchboard_core::auth::{AuthenticatorReply, AuthenticatorRequest, Identity};
use switchboard_proto::error_uri::NETWORK_FAILURE;
use switchboard_proto::{code, Arguments, Call, Dict, Hello, Message, Value};

use crate::outbound::OutboundGauge;
use crate::realm_actor::{Deliver, Inbound, Join, RealmActor};

/// How long an authenticator may take before the handshake fails.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait before joining again after the realm let the session go.
const REJOIN_DELAY: Duration = Duration::from_millis(500);

/// Ask the authenticator; the answer comes back to `reply_to`.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub(crate) struct Ask {
    pub(crate) request: AuthenticatorRequest,
    pub(crate) reply_to: Recipient<Answered>,
}

/// The authenticator's answer, for the connection that asked.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub(crate) struct Answered(pub(crate) AuthenticatorReply);

/// The router's session in one realm.
pub(crate) struct AuthenticatorClient {
    realm: Addr<RealmActor>,
    realm_name: String,
    /// Set once WELCOME arrived.
    session: Option<u64>,
    next_request: u64,
    /// Asked before WELCOME.
    queued: Vec<Ask>,
    /// Calls in flight, by request id.
    in_flight: HashMap<u64, Recipient<Answered>>,
    /// What the realm has handed this session and it has not taken yet (no
    /// socket: a message is done once this actor handles it).
    gauge: Arc<OutboundGauge>,
}

impl AuthenticatorClient {
    pub(crate) fn new(realm_name: String, realm: Addr<RealmActor>) -> Self {
        Self {
            realm,
            realm_name,
            session: None,
            next_request: 0,
            queued: Vec::new(),
            in_flight: HashMap::new(),
            gauge: Arc::new(OutboundGauge::new()),
        }
    }

    fn join(&mut self, ctx: &mut Context<Self>) {
        let mut roles = Dict::new();
        roles.insert("caller".into(), Value::Dict(Dict::new()));
        let mut details = Dict::new();
        details.insert("roles".into(), Value::Dict(roles));
        self.realm.do_send(Join {
            hello: Hello {
                realm: self.realm_name.clone(),
                details,
            },
            identity: Identity::router("switchboard.authenticator"),
            session: ctx.address().recipient(),
            gauge: self.gauge.clone(),
        });
    }

    fn call(&mut self, session: u64, ask: Ask) {
        self.next_request += 1;
        let request = self.next_request;
        let mut options = Dict::new();
        options.insert(
            "timeout".into(),
            Value::UInt(CALL_TIMEOUT.as_millis() as u64),
        );
        self.realm.do_send(Inbound {
            session,
            message: Message::Call(Call {
                request,
                options,
                procedure: ask.request.procedure,
                arguments: Arguments::list(ask.request.args),
            }),
        });
        self.in_flight.insert(request, ask.reply_to);
    }

    fn answer(&mut self, request: u64, reply: AuthenticatorReply) {
        if let Some(reply_to) = self.in_flight.remove(&request) {
            reply_to.do_send(Answered(reply));
        }
    }

    /// The realm let the session go: fail what waits, and join again.
    fn lost(&mut self, ctx: &mut Context<Self>, why: &str) {
        self.session = None;
        for (_, reply_to) in self.in_flight.drain() {
            reply_to.do_send(Answered(AuthenticatorReply::Error {
                uri: NETWORK_FAILURE.to_owned(),
                message: why.to_owned(),
            }));
        }
        ctx.run_later(REJOIN_DELAY, |client, ctx| client.join(ctx));
    }
}

impl Actor for AuthenticatorClient {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.join(ctx);
    }
}

impl Handler<Ask> for AuthenticatorClient {
    type Result = ();

    fn handle(&mut self, ask: Ask, _: &mut Context<Self>) {
        match self.session {
            Some(session) => self.call(session, ask),
            None => self.queued.push(ask),
        }
    }
}

impl Handler<Deliver> for AuthenticatorClient {
    type Result = ();

    fn handle(&mut self, Deliver(message): Deliver, ctx: &mut Context<Self>) {
        self.gauge.taken(&message);
        match message {
            Message::Welcome(welcome) => {
                self.session = Some(welcome.session);
                for ask in std::mem::take(&mut self.queued) {
                    self.call(welcome.session, ask);
                }
            }
            Message::Result(result) => {
                let args = result.arguments.args_values().unwrap_or_default();
                let kwargs = result.arguments.kwargs_values().unwrap_or_default();
                self.answer(result.request, AuthenticatorReply::Result(args, kwargs));
            }
            Message::Error(error) if error.request_type == code::CALL => {
                let message = error
                    .arguments
                    .args_values()
                    .ok()
                    .and_then(|args| args.first().and_then(|a| a.as_str().map(str::to_owned)))
                    .unwrap_or_default();
                self.answer(
                    error.request,
                    AuthenticatorReply::Error {
                        uri: error.error,
                        message,
                    },
                );
            }
            Message::Goodbye(_) | Message::Abort(_) => {
                tracing::warn!(realm = %self.realm_name, "the authenticator session was closed; joining again");
                self.lost(ctx, "the router's authenticator session was closed");
            }
            _ => {}
        }
    }
}

//! The Dealer role: registrations and calls (`rfc/text/basic/remote_procedure_call.md`).
//!
//! Every method handles one message from one session and answers through the
//! realm's outbox; none of them blocks. A message that breaks the protocol (as
//! opposed to a request that merely fails) comes back as [`ProtocolViolation`],
//! and the realm ends that session with ABORT.

mod calls;
pub mod registry;

use switchboard_proto::error_uri::{
    CANCELED, INVALID_ARGUMENT, INVALID_URI, NO_SUCH_PROCEDURE, NO_SUCH_REGISTRATION,
    PROCEDURE_ALREADY_EXISTS,
};
use switchboard_proto::uri::{is_reserved, Components};
use switchboard_proto::{
    code, Call, CallResult, Dict, Error, Interrupt, Invocation, Message, Register, Registered,
    Unregister, Unregistered, Value, Yield,
};

use crate::realm::{Context, SessionId};
use crate::replies::error;
use calls::{PendingCall, PendingCalls};
use registry::{RegisterError, Registry, UnregisterError};

/// A message that breaks the protocol; the realm aborts the sender's session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("protocol violation: {0}")]
pub struct ProtocolViolation(pub String);

/// The dealer's state: the registration table and the calls in flight.
#[derive(Debug, Default)]
pub struct Dealer {
    registry: Registry,
    calls: PendingCalls,
}

impl Dealer {
    /// The registration table.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// How many calls are waiting for a callee.
    pub fn pending_calls(&self) -> usize {
        self.calls.len()
    }

    pub(crate) fn register(
        &mut self,
        cx: &mut Context<'_>,
        callee: SessionId,
        register: Register,
    ) -> Result<(), ProtocolViolation> {
        let reply = |uri: &str, why: String| error(code::REGISTER, register.request, uri, why);
        if !cx
            .config
            .uri_check
            .is_valid(&register.procedure, Components::NonEmpty)
        {
            cx.out.send(
                callee,
                reply(
                    INVALID_URI,
                    format!("invalid procedure URI {:?}", register.procedure),
                ),
            );
            return Ok(());
        }
        if is_reserved(&register.procedure) {
            let why = format!(
                "{:?} is in the reserved wamp. namespace",
                register.procedure
            );
            cx.out.send(callee, reply(INVALID_URI, why));
            return Ok(());
        }
        if let Some(unsupported) = unsupported_register_option(&register.options) {
            cx.out.send(callee, reply(INVALID_ARGUMENT, unsupported));
            return Ok(());
        }
        let message = match self
            .registry
            .register(cx.router_ids, callee, &register.procedure)
        {
            Ok(registration) => Message::Registered(Registered {
                request: register.request,
                registration,
            }),
            Err(e @ RegisterError::AlreadyExists(_)) => {
                reply(PROCEDURE_ALREADY_EXISTS, e.to_string())
            }
        };
        cx.out.send(callee, message);
        Ok(())
    }

    pub(crate) fn unregister(
        &mut self,
        cx: &mut Context<'_>,
        callee: SessionId,
        unregister: Unregister,
    ) -> Result<(), ProtocolViolation> {
        let message = match self
            .registry
            .unregister(cx.router_ids, callee, unregister.registration)
        {
            Ok(()) => Message::Unregistered(Unregistered {
                request: unregister.request,
                details: None,
            }),
            Err(e @ UnregisterError::NoSuchRegistration(_)) => error(
                code::UNREGISTER,
                unregister.request,
                NO_SUCH_REGISTRATION,
                e.to_string(),
            ),
        };
        cx.out.send(callee, message);
        Ok(())
    }

    pub(crate) fn call(
        &mut self,
        cx: &mut Context<'_>,
        caller: SessionId,
        call: Call,
    ) -> Result<(), ProtocolViolation> {
        if self.calls.is_pending(caller, call.request) {
            return Err(ProtocolViolation(format!(
                "CALL request id {} is already in use by a pending call",
                call.request
            )));
        }
        let reply = |uri: &str, why: String| error(code::CALL, call.request, uri, why);
        if !cx
            .config
            .uri_check
            .is_valid(&call.procedure, Components::NonEmpty)
        {
            cx.out.send(
                caller,
                reply(
                    INVALID_URI,
                    format!("invalid procedure URI {:?}", call.procedure),
                ),
            );
            return Ok(());
        }
        let Some(registration) = self.registry.match_procedure(&call.procedure) else {
            let why = format!("no callee registered procedure {:?}", call.procedure);
            cx.out.send(caller, reply(NO_SUCH_PROCEDURE, why));
            return Ok(());
        };
        // Exact registrations have exactly one callee.
        let callee = registration.callees[0];
        let Some(callee_record) = cx.sessions.get_mut(callee) else {
            let why = format!("the callee of {:?} is gone", call.procedure);
            cx.out.send(caller, reply(CANCELED, why));
            return Ok(());
        };
        let invocation = callee_record.invocation_ids.next_id();
        self.calls.insert(PendingCall {
            caller,
            caller_request: call.request,
            callee,
            invocation,
            registration: registration.id,
        });
        let message = Message::Invocation(Invocation {
            request: invocation,
            registration: registration.id,
            details: Dict::new(),
            arguments: call.arguments,
        });
        cx.out.send(callee, message);
        Ok(())
    }

    pub(crate) fn yield_result(
        &mut self,
        cx: &mut Context<'_>,
        callee: SessionId,
        result: Yield,
    ) -> Result<(), ProtocolViolation> {
        // A YIELD for an invocation we no longer know (already answered, or its
        // caller left) is ignored, as the spec asks.
        if let Some(call) = self.calls.complete(callee, result.request) {
            let message = Message::Result(CallResult {
                request: call.caller_request,
                details: Dict::new(),
                arguments: result.arguments,
            });
            cx.out.send(call.caller, message);
        }
        Ok(())
    }

    pub(crate) fn invocation_error(
        &mut self,
        cx: &mut Context<'_>,
        callee: SessionId,
        failure: Error,
    ) -> Result<(), ProtocolViolation> {
        if let Some(call) = self.calls.complete(callee, failure.request) {
            let message = Message::Error(Error {
                request_type: code::CALL,
                request: call.caller_request,
                details: failure.details,
                error: failure.error,
                arguments: failure.arguments,
            });
            cx.out.send(call.caller, message);
        }
        Ok(())
    }

    /// `session` left: its registrations go, its callers get `wamp.error.canceled`,
    /// and callees still working for it are interrupted if they can be.
    pub(crate) fn session_left(&mut self, cx: &mut Context<'_>, session: SessionId) {
        self.registry.remove_session(cx.router_ids, session);
        for call in self.calls.remove_session(session) {
            if call.callee == session {
                let why = "the callee left before answering";
                cx.out.send(
                    call.caller,
                    error(code::CALL, call.caller_request, CANCELED, why),
                );
            } else if let Some(callee) = cx.sessions.get_mut(call.callee) {
                // The caller left. The spec asks for INTERRUPT (killnowait) so the
                // callee can stop working, but only if it announced call canceling.
                if callee.features.callee_call_canceling {
                    let mut options = Dict::new();
                    options.insert("mode".into(), Value::from("killnowait"));
                    options.insert("reason".into(), Value::from(CANCELED));
                    let interrupt = Interrupt {
                        request: call.invocation,
                        options,
                    };
                    cx.out.send(call.callee, Message::Interrupt(interrupt));
                }
            }
        }
    }
}

/// REGISTER options this dealer does not implement yet, described for the error.
/// `match: "exact"` and `invoke: "single"` are the defaults and always accepted.
fn unsupported_register_option(options: &Dict) -> Option<String> {
    let check = |key: &str, default: &str| match options.get(key) {
        None => None,
        Some(Value::String(s)) if s == default => None,
        Some(other) => Some(format!("REGISTER option {key}={other:?} is not supported")),
    };
    check("match", "exact").or_else(|| check("invoke", "single"))
}

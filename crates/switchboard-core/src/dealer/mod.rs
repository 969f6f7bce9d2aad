//! The Dealer role: registrations and calls (`rfc/text/basic/remote_procedure_call.md`
//! and the Advanced Profile's RPC features).
//!
//! Every method handles one input and answers through the realm's outbox; none
//! of them blocks. A message that breaks the protocol (as opposed to a request
//! that merely fails) comes back as [`ProtocolViolation`], and the realm ends
//! that session with ABORT. Where each decision lives:
//! which registration a call matches is [`crate::matching`], which callee
//! serves it is [`invoke_policy`], what a call is waiting for is `calls`.

mod calls;
pub mod invoke_policy;
mod options;
pub mod registry;

use std::time::Duration;

use switchboard_proto::error_uri::{
    CANCELED, CANCELED_ALT, FEATURE_NOT_SUPPORTED, INVALID_ARGUMENT, INVALID_URI,
    NO_SUCH_PROCEDURE, NO_SUCH_REGISTRATION, PROCEDURE_ALREADY_EXISTS, TIMEOUT,
};
use switchboard_proto::uri::{is_reserved, Components};
use switchboard_proto::{
    code, Call, CallResult, Cancel, Dict, Error, Interrupt, Invocation, Message, Register,
    Registered, Unregister, Unregistered, Value, Yield,
};

use crate::matching::MatchPolicy;
use crate::meta::{self, MetaEvent};
use crate::realm::{Context, SessionId};
use crate::replies::error;
use calls::{PendingCall, PendingCalls};
use options::{CallOptions, CancelMode, RegisterOptions};
use registry::{Callee, Joined, RegisterRequest, Registry};

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

/// Whether `uri` is acceptable as a REGISTER pattern under `policy`.
fn valid_pattern(cx: &Context<'_>, uri: &str, policy: MatchPolicy) -> bool {
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

fn interrupt(invocation: u64, mode: CancelMode, reason: &str) -> Message {
    let mut options = Dict::new();
    options.insert("mode".into(), Value::from(mode.as_str()));
    options.insert("reason".into(), Value::from(reason));
    Message::Interrupt(Interrupt {
        request: invocation,
        options,
    })
}

fn millis(d: Duration) -> Value {
    Value::from(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
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

    /// When the next call times out, if any call has a router-enforced timeout.
    pub(crate) fn next_deadline(&self) -> Option<std::time::Instant> {
        self.calls.next_deadline()
    }

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
        let procedure = register.procedure.as_str();
        if !valid_pattern(cx, procedure, options.match_policy) {
            return cx.out.send(
                session,
                reply(INVALID_URI, format!("invalid procedure URI {procedure:?}")),
            );
        }
        if is_reserved(procedure) {
            let why = format!("{procedure:?} is in the reserved wamp. namespace");
            return cx.out.send(session, reply(INVALID_URI, why));
        }
        let request = RegisterRequest {
            procedure,
            match_policy: options.match_policy,
            invoke: options.invoke,
            callee: Callee {
                session,
                disclose_caller: options.disclose_caller,
                forward_timeout: options.forward_timeout,
            },
        };
        let (clock, now) = (cx.clock, cx.now);
        let joined = match self
            .registry
            .register(cx.router_ids, request, || clock.iso8601(now))
        {
            Ok(joined) => joined,
            Err(refused) => {
                return cx.out.send(
                    session,
                    reply(PROCEDURE_ALREADY_EXISTS, refused.to_string()),
                )
            }
        };
        let id = match joined {
            Joined::Created(id) => {
                if let Some(registration) = self.registry.get(id) {
                    cx.events
                        .push(MetaEvent::registration_created(session, registration));
                }
                id
            }
            Joined::Existing(id) => id,
        };
        cx.events
            .push(MetaEvent::registration(meta::ON_REGISTER, session, id));
        let registered = Registered {
            request: register.request,
            registration: id,
        };
        cx.out.send(session, Message::Registered(registered));
    }

    pub(crate) fn unregister(
        &mut self,
        cx: &mut Context<'_>,
        session: SessionId,
        unregister: Unregister,
    ) {
        match self
            .registry
            .unregister(cx.router_ids, session, unregister.registration)
        {
            Ok(deleted) => {
                let done = Unregistered {
                    request: unregister.request,
                    details: None,
                };
                cx.out.send(session, Message::Unregistered(done));
                registration_left(cx, session, unregister.registration, deleted);
            }
            Err(refused) => {
                let reply = error(
                    code::UNREGISTER,
                    unregister.request,
                    NO_SUCH_REGISTRATION,
                    refused.to_string(),
                );
                cx.out.send(session, reply);
            }
        }
    }

    pub(crate) fn call(
        &mut self,
        cx: &mut Context<'_>,
        caller: SessionId,
        call: Call,
    ) -> Result<(), ProtocolViolation> {
        let reply = |uri: &str, why: String| error(code::CALL, call.request, uri, why);
        let options = match CallOptions::parse(&call.options) {
            Ok(options) => options,
            Err(why) => {
                cx.out.send(caller, reply(INVALID_ARGUMENT, why));
                return Ok(());
            }
        };
        let caller_features = cx
            .sessions
            .get(caller)
            .map(|s| s.features)
            .unwrap_or_default();
        if options.progress && !caller_features.caller_progressive_call_invocations {
            return Err(ProtocolViolation(
                "progressive CALL from a caller that did not announce progressive_call_invocations"
                    .into(),
            ));
        }
        if let Some(pending) = self.calls.by_request(caller, call.request) {
            if pending.streaming {
                let key = (pending.callee, pending.invocation);
                self.continue_stream(cx, caller, key, options, call);
                return Ok(());
            }
            if options.progress {
                return Ok(()); // A chunk after the stream's last one: dropped, as the spec says.
            }
            return Err(ProtocolViolation(format!(
                "CALL request id {} is already in use by a pending call",
                call.request
            )));
        }
        if self.calls.stream_finished(caller, call.request) {
            return Ok(()); // A late chunk of a stream that has ended: dropped silently.
        }
        // A refusal from here on ends the call before it starts. If this CALL was
        // the first chunk of a progressive call, its later chunks continue a
        // finished call and must be dropped, not refused again one by one (or,
        // for the last chunk, started as a new call).
        let mut refuse = |uri: &str, why: String| {
            if options.progress {
                self.calls.remember_finished_stream(caller, call.request);
            }
            cx.out.send(caller, reply(uri, why));
        };
        if !cx
            .config
            .uri_check
            .is_valid(&call.procedure, Components::NonEmpty)
        {
            refuse(
                INVALID_URI,
                format!("invalid procedure URI {:?}", call.procedure),
            );
            return Ok(());
        }
        let Some(registration) = self.registry.match_procedure(&call.procedure) else {
            let why = format!("no callee registered procedure {:?}", call.procedure);
            refuse(NO_SUCH_PROCEDURE, why);
            return Ok(());
        };
        let (registration_id, match_policy) = (registration.id, registration.match_policy);
        let Some(callee) = self.registry.choose_callee(registration_id, cx.rng) else {
            refuse(NO_SUCH_PROCEDURE, "the registration has no callee".into());
            return Ok(());
        };
        let Some(callee_record) = cx.sessions.get_mut(callee.session) else {
            refuse(CANCELED, "the callee is gone".into());
            return Ok(());
        };
        if options.progress && !callee_record.features.callee_progressive_call_invocations {
            let why = "the callee does not accept progressive call invocations".into();
            refuse(FEATURE_NOT_SUPPORTED, why);
            return Ok(());
        }
        let receive_progress =
            options.receive_progress && callee_record.features.callee_progressive_call_results;
        let invocation = callee_record.invocation_ids.next_id();
        let timeout = cx.config.call_timeout(options.timeout);
        let forwarded_timeout = timeout.filter(|_| callee.forward_timeout);

        let mut details = Dict::new();
        if match_policy != MatchPolicy::Exact {
            details.insert("procedure".into(), Value::from(call.procedure.as_str()));
        }
        if receive_progress {
            details.insert("receive_progress".into(), Value::Bool(true));
        }
        if options.progress {
            details.insert("progress".into(), Value::Bool(true));
        }
        if let Some(timeout) = forwarded_timeout {
            details.insert("timeout".into(), millis(timeout));
        }
        if options.disclose_me || callee.disclose_caller || cx.config.disclose_caller {
            if let Some(record) = cx.sessions.get(caller) {
                details.insert("caller".into(), Value::from(caller));
                details.insert("caller_authid".into(), Value::from(record.authid.as_str()));
                details.insert(
                    "caller_authrole".into(),
                    Value::from(record.authrole.as_str()),
                );
            }
        }
        self.calls.insert(
            PendingCall {
                caller,
                caller_request: call.request,
                callee: callee.session,
                invocation,
                registration: registration_id,
                receive_progress,
                timeout: if forwarded_timeout.is_some() {
                    None
                } else {
                    timeout
                },
                killing: false,
                streaming: options.progress,
            },
            cx.now,
        );
        let message = Message::Invocation(Invocation {
            request: invocation,
            registration: registration_id,
            details,
            arguments: call.arguments,
        });
        cx.out.send(callee.session, message);
        Ok(())
    }

    /// One more chunk of a progressive call invocation: it goes to the callee the
    /// first chunk went to, under the same invocation id.
    fn continue_stream(
        &mut self,
        cx: &mut Context<'_>,
        caller: SessionId,
        key: (SessionId, u64),
        options: CallOptions,
        call: Call,
    ) {
        let (callee, invocation) = key;
        let Some(pending) = self.calls.get_mut(callee, invocation) else {
            return;
        };
        let registration = pending.registration;
        let mut details = Dict::new();
        if options.progress {
            details.insert("progress".into(), Value::Bool(true));
        } else {
            pending.streaming = false;
            self.calls.remember_finished_stream(caller, call.request);
        }
        let message = Message::Invocation(Invocation {
            request: invocation,
            registration,
            details,
            arguments: call.arguments,
        });
        cx.out.send(callee, message);
    }

    pub(crate) fn yield_result(&mut self, cx: &mut Context<'_>, callee: SessionId, result: Yield) {
        let progress = result
            .options
            .get("progress")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        // A YIELD for an invocation we no longer know (answered, timed out,
        // canceled, or its caller left) is dropped, as the spec asks.
        let Some(call) = self.calls.get_mut(callee, result.request) else {
            return;
        };
        if progress {
            // Progress goes only to a caller that asked for it; anything else
            // would be a RESULT the caller takes as final.
            if call.receive_progress {
                let mut details = Dict::new();
                details.insert("progress".into(), Value::Bool(true));
                let message = Message::Result(CallResult {
                    request: call.caller_request,
                    details,
                    arguments: result.arguments,
                });
                cx.out.send(call.caller, message);
                self.calls.touch(callee, result.request, cx.now);
            }
            return;
        }
        if let Some(call) = self.calls.complete(callee, result.request) {
            let message = Message::Result(CallResult {
                request: call.caller_request,
                details: Dict::new(),
                arguments: result.arguments,
            });
            cx.out.send(call.caller, message);
        }
    }

    pub(crate) fn invocation_error(
        &mut self,
        cx: &mut Context<'_>,
        callee: SessionId,
        failure: Error,
    ) {
        let Some(call) = self.calls.complete(callee, failure.request) else {
            return;
        };
        let uri = if failure.error == CANCELED_ALT {
            CANCELED.to_owned()
        } else {
            failure.error
        };
        let message = Message::Error(Error {
            request_type: code::CALL,
            request: call.caller_request,
            details: failure.details,
            error: uri,
            arguments: failure.arguments,
        });
        cx.out.send(call.caller, message);
    }

    pub(crate) fn cancel(&mut self, cx: &mut Context<'_>, caller: SessionId, cancel: Cancel) {
        let mode = match CancelMode::parse(&cancel.options) {
            Ok(mode) => mode,
            Err(why) => {
                return cx.out.send(
                    caller,
                    error(code::CANCEL, cancel.request, INVALID_ARGUMENT, why),
                )
            }
        };
        // Canceling a call that already finished does nothing (the spec asks for no answer).
        let Some(call) = self.calls.by_request(caller, cancel.request) else {
            return;
        };
        let (callee, invocation) = (call.callee, call.invocation);
        let can_interrupt = cx
            .sessions
            .get(callee)
            .is_some_and(|s| s.features.callee_call_canceling);
        let mode = if can_interrupt {
            mode
        } else {
            CancelMode::Skip
        };
        let canceled = || {
            error(
                code::CALL,
                cancel.request,
                CANCELED,
                "the call was canceled",
            )
        };
        match mode {
            CancelMode::Skip => {
                self.calls.complete(callee, invocation);
                cx.out.send(caller, canceled());
            }
            CancelMode::KillNoWait => {
                self.calls.complete(callee, invocation);
                cx.out.send(caller, canceled());
                cx.out.send(callee, interrupt(invocation, mode, CANCELED));
            }
            CancelMode::Kill => {
                if let Some(call) = self.calls.get_mut(callee, invocation) {
                    if !call.killing {
                        call.killing = true;
                        cx.out.send(callee, interrupt(invocation, mode, CANCELED));
                    }
                }
            }
        }
    }

    /// Fails every call whose timeout has passed: `wamp.error.timeout` to the caller
    /// and, if it can take one, INTERRUPT (killnowait) to the callee.
    pub(crate) fn handle_timeout(&mut self, cx: &mut Context<'_>) {
        for call in self.calls.expire(cx.now) {
            let why = "the call timed out";
            cx.out.send(
                call.caller,
                error(code::CALL, call.caller_request, TIMEOUT, why),
            );
            if cx
                .sessions
                .get(call.callee)
                .is_some_and(|s| s.features.callee_call_canceling)
            {
                cx.out.send(
                    call.callee,
                    interrupt(call.invocation, CancelMode::KillNoWait, TIMEOUT),
                );
            }
        }
    }

    /// `session` left: its registrations go (with their meta events), its callers
    /// get `wamp.error.canceled`, and callees still working for it are interrupted
    /// if they can be.
    pub(crate) fn session_left(&mut self, cx: &mut Context<'_>, session: SessionId) {
        for call in self.calls.remove_session(session) {
            if call.callee == session {
                let why = "the callee left before answering";
                cx.out.send(
                    call.caller,
                    error(code::CALL, call.caller_request, CANCELED, why),
                );
            } else if cx
                .sessions
                .get(call.callee)
                .is_some_and(|s| s.features.callee_call_canceling)
            {
                // The caller left: the spec asks for INTERRUPT (killnowait) so the
                // callee stops working (and streaming) for nobody.
                cx.out.send(
                    call.callee,
                    interrupt(call.invocation, CancelMode::KillNoWait, CANCELED),
                );
            }
        }
        for (id, deleted) in self.registry.remove_session(cx.router_ids, session) {
            registration_left(cx, session, id, deleted);
        }
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

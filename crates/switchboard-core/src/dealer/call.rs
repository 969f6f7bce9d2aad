//! The caller's side of a call: the node that holds the caller's session owns
//! the call. It picks the callee, enforces the timeout, applies CANCEL modes,
//! and decides which results reach the caller.

use std::time::Duration;

use switchboard_proto::error_uri::{
    CANCELED, FEATURE_NOT_SUPPORTED, INVALID_ARGUMENT, INVALID_URI, NO_AVAILABLE_CALLEE,
    NO_SUCH_PROCEDURE, TIMEOUT, UNAVAILABLE,
};
use switchboard_proto::uri::Components;
use switchboard_proto::{code, Arguments, Call, CallResult, Cancel, Dict, Error, Message, Value};

use super::calls::{OnUnavailable, OutboundCall, Reroute};
use super::invoke_policy::InvokePolicy;
use super::options::{CallOptions, CancelMode};
use super::registry::Callee;
use super::{Dealer, ProtocolViolation};
use crate::cluster::{CallRef, NodeId, PeerMessage};
use crate::features::PayloadRole;
use crate::matching::MatchPolicy;
use crate::ppt::{announced_modes, check_sender, unannounced_mode};
use crate::realm::{Context, SessionId};
use crate::replies::error;

fn millis(d: Duration) -> Value {
    Value::from(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn interrupt(call: CallRef, mode: CancelMode, reason: &str) -> PeerMessage {
    PeerMessage::Interrupt {
        call,
        mode,
        reason: reason.to_owned(),
    }
}

/// INVOCATION.Details of a new call: the matched URI for a pattern, progress
/// flags, the forwarded timeout, and the caller when it is disclosed.
#[allow(clippy::too_many_arguments)]
fn invocation_details(
    cx: &Context<'_>,
    caller: SessionId,
    procedure: &str,
    options: &CallOptions,
    match_policy: MatchPolicy,
    callee: &Callee,
    receive_progress: bool,
    forwarded_timeout: Option<Duration>,
) -> Dict {
    let mut details = Dict::new();
    if match_policy != MatchPolicy::Exact {
        details.insert("procedure".into(), Value::from(procedure));
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
    if let Some(ppt) = &options.ppt {
        ppt.copy_into(&mut details);
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
    details
}

/// Where a new call goes: the registration that matched and its chosen callee.
struct Route {
    registration: u64,
    match_policy: MatchPolicy,
    invoke: InvokePolicy,
    callee: Callee,
}

/// The call's record on the caller's side and the INVOKE for `route`'s callee
/// (its `on_unavailable` is the caller's to set).
fn invoke(
    cx: &Context<'_>,
    call: CallRef,
    procedure: &str,
    options: &CallOptions,
    route: &Route,
    arguments: Arguments,
) -> (OutboundCall, PeerMessage) {
    let callee = route.callee;
    let receive_progress =
        options.receive_progress && callee.features.callee_progressive_call_results;
    let timeout = cx.config.call_timeout(options.timeout);
    let forwarded_timeout = timeout.filter(|_| callee.forward_timeout);
    let details = invocation_details(
        cx,
        call.caller,
        procedure,
        options,
        route.match_policy,
        &callee,
        receive_progress,
        forwarded_timeout,
    );
    let outbound = OutboundCall {
        callee,
        registration: route.registration,
        receive_progress,
        timeout: if forwarded_timeout.is_some() {
            None
        } else {
            timeout
        },
        killing: false,
        streaming: options.progress,
        on_unavailable: OnUnavailable::PassOn,
    };
    let caller_modes = announced_modes(cx, call.caller, PayloadRole::Caller);
    let invoke = PeerMessage::Invoke {
        call,
        callee: callee.session,
        registration: route.registration,
        details,
        arguments,
        caller_passthru: caller_modes.passthru,
        caller_transparency: caller_modes.transparency,
    };
    (outbound, invoke)
}

/// Why a new call is refused before it starts: the ERROR's URI and text.
struct Refusal(&'static str, String);

impl Dealer {
    /// A CALL: the continuation of a progressive call in flight, or a new call,
    /// which is routed ([`Self::route`]) and started ([`Self::start_call`]).
    pub(crate) fn call(
        &mut self,
        cx: &mut Context<'_>,
        caller: SessionId,
        call: Call,
    ) -> Result<(), ProtocolViolation> {
        let options = match CallOptions::parse(&call.options) {
            Ok(options) => options,
            Err(why) => {
                let refusal = error(code::CALL, call.request, INVALID_ARGUMENT, why);
                cx.out.send(caller, refusal);
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
        check_sender(
            cx,
            caller,
            PayloadRole::Caller,
            options.ppt.as_ref(),
            "CALL",
        )?;
        if let Some(pending) = self.calls.get(caller, call.request) {
            if pending.streaming {
                self.continue_stream(cx, caller, options, call);
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
        match self.route(cx, &call.procedure, &options) {
            Ok(route) => self.start_call(cx, caller, call, &options, route),
            Err(Refusal(uri, why)) => {
                // The call ends before it starts. If this CALL was the first
                // chunk of a progressive call, its later chunks continue a
                // finished call and must be dropped, not refused again one by
                // one (or, for the last chunk, started as a new call).
                if options.progress {
                    self.calls.remember_finished_stream(caller, call.request);
                }
                cx.out
                    .send(caller, error(code::CALL, call.request, uri, why));
            }
        }
        Ok(())
    }

    /// Picks the registration and the callee for a new call to `procedure`.
    fn route(
        &mut self,
        cx: &mut Context<'_>,
        procedure: &str,
        options: &CallOptions,
    ) -> Result<Route, Refusal> {
        if !cx
            .config
            .uri_check
            .is_valid(procedure, Components::NonEmpty)
        {
            return Err(Refusal(
                INVALID_URI,
                format!("invalid procedure URI {procedure:?}"),
            ));
        }
        let Some(registration) = self.registry.match_procedure(procedure) else {
            return Err(Refusal(
                NO_SUCH_PROCEDURE,
                format!("no callee registered procedure {procedure:?}"),
            ));
        };
        let (registration, match_policy, invoke) = (
            registration.id,
            registration.match_policy,
            registration.invoke,
        );
        let Some(callee) =
            self.registry
                .choose_callee(registration, cx.unreachable, cx.draining, &[], cx.rng)
        else {
            return Err(Refusal(
                NO_SUCH_PROCEDURE,
                "the registration has no callee".into(),
            ));
        };
        if options.progress && !callee.features.callee_progressive_call_invocations {
            return Err(Refusal(
                FEATURE_NOT_SUPPORTED,
                "the callee does not accept progressive call invocations".into(),
            ));
        }
        let announced = callee.features.payload_modes(PayloadRole::Callee);
        if let Some(mode) = unannounced_mode(options.ppt.as_ref(), announced) {
            return Err(Refusal(
                FEATURE_NOT_SUPPORTED,
                format!("the callee did not announce {}", mode.feature()),
            ));
        }
        Ok(Route {
            registration,
            match_policy,
            invoke,
            callee,
        })
    }

    /// Records the call (with the timeout the router enforces) and sends its
    /// INVOCATION towards the callee's node.
    fn start_call(
        &mut self,
        cx: &mut Context<'_>,
        caller: SessionId,
        call: Call,
        options: &CallOptions,
        route: Route,
    ) {
        let on_unavailable = if options.progress {
            OnUnavailable::PassOn
        } else if route.invoke == InvokePolicy::Single {
            OnUnavailable::NoOtherCallee
        } else {
            OnUnavailable::Reroute(Box::new(Reroute {
                procedure: call.procedure.clone(),
                options: options.clone(),
                match_policy: route.match_policy,
                arguments: call.arguments.clone(),
                declined: Vec::new(),
            }))
        };
        let call_ref = CallRef {
            node: cx.node,
            caller,
            request: call.request,
        };
        let (outbound, invoke) = invoke(
            cx,
            call_ref,
            &call.procedure,
            options,
            &route,
            call.arguments,
        );
        let outbound = OutboundCall {
            on_unavailable,
            ..outbound
        };
        self.calls.insert(caller, call.request, outbound, cx.now);
        self.send_to_callee_side(cx, route.callee.node, invoke);
    }

    /// The callee answered `wamp.error.unavailable`. The call goes to another
    /// callee of its registration, picked by the registration's policy as if
    /// every callee that declined were not registered; with none left (or for
    /// a `single` registration), the caller gets `wamp.error.no_available_callee`.
    /// Returns whether it dealt with the answer; if not (a progressive call
    /// invocation, a call being killed, or one no longer pending), the error
    /// goes to the caller as it is.
    fn reroute(&mut self, cx: &mut Context<'_>, call: CallRef) -> bool {
        let Some(pending) = self.calls.get_mut(call.caller, call.request) else {
            return false;
        };
        if pending.killing {
            return false;
        }
        let reroute = match std::mem::replace(&mut pending.on_unavailable, OnUnavailable::PassOn) {
            OnUnavailable::PassOn => return false,
            OnUnavailable::NoOtherCallee => None,
            OnUnavailable::Reroute(mut reroute) => {
                reroute.declined.push(pending.callee.session);
                Some(reroute)
            }
        };
        let registration = pending.registration;
        let next = reroute.as_ref().and_then(|r| {
            self.registry.choose_callee(
                registration,
                cx.unreachable,
                cx.draining,
                &r.declined,
                cx.rng,
            )
        });
        let (Some(reroute), Some(callee)) = (reroute, next) else {
            self.calls.complete(call.caller, call.request);
            let why = "every callee of the procedure answered wamp.error.unavailable";
            cx.out.send(
                call.caller,
                error(code::CALL, call.request, NO_AVAILABLE_CALLEE, why),
            );
            return true;
        };
        let announced = callee.features.payload_modes(PayloadRole::Callee);
        if let Some(mode) = unannounced_mode(reroute.options.ppt.as_ref(), announced) {
            // As for the first callee: the call is not offered to one that
            // would misread the opaque payload.
            self.calls.complete(call.caller, call.request);
            let why = format!("the next callee did not announce {}", mode.feature());
            cx.out.send(
                call.caller,
                error(code::CALL, call.request, FEATURE_NOT_SUPPORTED, &why),
            );
            return true;
        }
        let route = Route {
            registration,
            match_policy: reroute.match_policy,
            invoke: self
                .registry
                .get(registration)
                .map_or(InvokePolicy::Single, |r| r.invoke),
            callee,
        };
        let (outbound, message) = invoke(
            cx,
            call,
            &reroute.procedure,
            &reroute.options,
            &route,
            reroute.arguments.clone(),
        );
        if let Some(pending) = self.calls.get_mut(call.caller, call.request) {
            // The deadline the caller's timeout set stays as it is.
            pending.callee = outbound.callee;
            pending.receive_progress = outbound.receive_progress;
            pending.on_unavailable = OnUnavailable::Reroute(reroute);
        }
        self.send_to_callee_side(cx, callee.node, message);
        true
    }

    /// One more chunk of a progressive call invocation: it goes to the callee the
    /// first chunk went to (sticky, whatever the invoke policy), as the same invocation.
    fn continue_stream(
        &mut self,
        cx: &mut Context<'_>,
        caller: SessionId,
        options: CallOptions,
        call: Call,
    ) {
        let Some(pending) = self.calls.get_mut(caller, call.request) else {
            return;
        };
        let (callee, registration) = (pending.callee, pending.registration);
        let mut details = Dict::new();
        if let Some(ppt) = &options.ppt {
            ppt.copy_into(&mut details);
        }
        if options.progress {
            details.insert("progress".into(), Value::Bool(true));
        } else {
            pending.streaming = false;
            self.calls.remember_finished_stream(caller, call.request);
        }
        let caller_modes = announced_modes(cx, caller, PayloadRole::Caller);
        let invoke = PeerMessage::Invoke {
            call: CallRef {
                node: cx.node,
                caller,
                request: call.request,
            },
            callee: callee.session,
            registration,
            details,
            arguments: call.arguments,
            caller_passthru: caller_modes.passthru,
            caller_transparency: caller_modes.transparency,
        };
        self.send_to_callee_side(cx, callee.node, invoke);
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
        let Some(pending) = self.calls.get(caller, cancel.request) else {
            return;
        };
        let callee = pending.callee;
        let mode = if callee.features.callee_call_canceling {
            mode
        } else {
            CancelMode::Skip
        };
        let call = CallRef {
            node: cx.node,
            caller,
            request: cancel.request,
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
                self.calls.complete(caller, cancel.request);
                cx.out.send(caller, canceled());
            }
            CancelMode::KillNoWait => {
                self.calls.complete(caller, cancel.request);
                cx.out.send(caller, canceled());
                self.send_to_callee_side(cx, callee.node, interrupt(call, mode, CANCELED));
            }
            CancelMode::Kill => {
                if let Some(pending) = self.calls.get_mut(caller, cancel.request) {
                    if !pending.killing {
                        pending.killing = true;
                        self.send_to_callee_side(cx, callee.node, interrupt(call, mode, CANCELED));
                    }
                }
            }
        }
    }

    /// Fails every call whose timeout has passed: `wamp.error.timeout` to the caller
    /// and, if it can take one, INTERRUPT (killnowait) to the callee.
    pub(crate) fn handle_timeout(&mut self, cx: &mut Context<'_>) {
        for ((caller, request), pending) in self.calls.expire(cx.now) {
            cx.out.send(
                caller,
                error(code::CALL, request, TIMEOUT, "the call timed out"),
            );
            self.stop_callee(cx, caller, request, &pending, TIMEOUT);
        }
    }

    /// The caller left: its calls end, and callees still working for it are told
    /// to stop (the spec asks for INTERRUPT killnowait, so nobody streams to nobody).
    pub(crate) fn caller_left(&mut self, cx: &mut Context<'_>, caller: SessionId) {
        for ((caller, request), pending) in self.calls.remove_caller(caller) {
            self.stop_callee(cx, caller, request, &pending, CANCELED);
        }
    }

    /// Sends INTERRUPT (killnowait) for a call that ended on the caller's side,
    /// if its callee announced it can take one.
    fn stop_callee(
        &mut self,
        cx: &mut Context<'_>,
        caller: SessionId,
        request: u64,
        pending: &OutboundCall,
        reason: &str,
    ) {
        if pending.callee.features.callee_call_canceling {
            let call = CallRef {
                node: cx.node,
                caller,
                request,
            };
            self.send_to_callee_side(
                cx,
                pending.callee.node,
                interrupt(call, CancelMode::KillNoWait, reason),
            );
        }
    }

    /// The node serving some calls is gone: their callers hear it now, without
    /// waiting for the cluster to commit the node's removal.
    pub(crate) fn callee_node_down(&mut self, cx: &mut Context<'_>, node: NodeId) {
        for ((caller, request), _) in self.calls.remove_node(node) {
            let why = "the callee's router node is unreachable";
            cx.out
                .send(caller, error(code::CALL, request, CANCELED, why));
        }
    }

    /// A result or error from the callee's side.
    pub(crate) fn handle_caller_side(&mut self, cx: &mut Context<'_>, message: PeerMessage) {
        match message {
            PeerMessage::Result {
                call,
                progress: true,
                ppt,
                arguments,
            } => {
                // Progress goes only to a caller that asked for it; anything else
                // would be a RESULT the caller takes as final.
                let Some(pending) = self.calls.get(call.caller, call.request) else {
                    return;
                };
                if pending.receive_progress {
                    let mut details = Dict::new();
                    details.insert("progress".into(), Value::Bool(true));
                    if let Some(ppt) = ppt {
                        ppt.copy_into(&mut details);
                    }
                    let result = CallResult {
                        request: call.request,
                        details,
                        arguments,
                    };
                    cx.out.send(call.caller, Message::Result(result));
                    self.calls.touch(call.caller, call.request, cx.now);
                }
            }
            // A late answer (the call timed out, was canceled, or its caller left)
            // finds nothing and is dropped, as the spec asks.
            PeerMessage::Result {
                call,
                progress: false,
                ppt,
                arguments,
            } if self.calls.complete(call.caller, call.request).is_some() => {
                let mut details = Dict::new();
                if let Some(ppt) = ppt {
                    ppt.copy_into(&mut details);
                }
                let result = CallResult {
                    request: call.request,
                    details,
                    arguments,
                };
                cx.out.send(call.caller, Message::Result(result));
            }
            PeerMessage::Error { call, error, .. }
                if error == UNAVAILABLE && self.reroute(cx, call) => {}
            PeerMessage::Error {
                call,
                error: uri,
                details,
                arguments,
            } if self.calls.complete(call.caller, call.request).is_some() => {
                let failure = Error {
                    request_type: code::CALL,
                    request: call.request,
                    details,
                    error: uri,
                    arguments,
                };
                cx.out.send(call.caller, Message::Error(failure));
            }
            _ => {}
        }
    }
}

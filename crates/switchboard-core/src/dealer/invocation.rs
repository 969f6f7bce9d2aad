//! The callee's side of a call: the node that holds the callee's session owns
//! the invocation (the id the callee sees) and relays what the callee answers
//! to the caller's side, wherever that is.

use switchboard_proto::error_uri::{CANCELED, CANCELED_ALT, FEATURE_NOT_SUPPORTED};
use switchboard_proto::{code, Dict, Error, Interrupt, Invocation, Message, Value, Yield};

use super::options::CancelMode;
use super::{Dealer, ProtocolViolation};
use crate::cluster::{CallRef, NodeId, PeerMessage};
use crate::features::{PayloadMode, PayloadModes, PayloadRole};
use crate::ppt::{check_sender, unannounced_mode, Ppt};
use crate::realm::{Context, SessionId};
use crate::replies::error;

fn canceled(call: CallRef, why: &str) -> PeerMessage {
    failed(call, CANCELED, why)
}

fn failed(call: CallRef, uri: &str, why: &str) -> PeerMessage {
    PeerMessage::Error {
        call,
        error: uri.to_owned(),
        details: Dict::new(),
        arguments: switchboard_proto::Arguments::list(vec![Value::from(why)]),
    }
}

/// Why an answer in a payload mode does not reach its caller.
fn caller_without_mode(mode: PayloadMode) -> String {
    format!(
        "the answer uses {} options, and the caller did not announce {}",
        mode.attributes(),
        mode.feature()
    )
}

impl Dealer {
    /// An INVOKE or INTERRUPT from the caller's side.
    pub(crate) fn handle_callee_side(&mut self, cx: &mut Context<'_>, message: PeerMessage) {
        match message {
            PeerMessage::Invoke {
                call,
                callee,
                registration,
                details,
                arguments,
                caller_passthru,
                caller_transparency,
            } => {
                // A further chunk of a progressive call goes to the invocation it continues.
                let invocation = match self.invocations.invocation_of(&call) {
                    Some((_, invocation)) => invocation,
                    None => {
                        let Some(record) = cx.sessions.get_mut(callee) else {
                            let why = "the callee left before the call reached it";
                            return self.send_to_caller_side(cx, call, canceled(call, why));
                        };
                        let invocation = record.invocation_ids.next_id();
                        let caller_modes = PayloadModes {
                            passthru: caller_passthru,
                            transparency: caller_transparency,
                        };
                        self.invocations
                            .insert(callee, invocation, call, caller_modes);
                        invocation
                    }
                };
                let message = Invocation {
                    request: invocation,
                    registration,
                    details,
                    arguments,
                };
                cx.out.send(callee, Message::Invocation(message));
            }
            PeerMessage::Interrupt { call, mode, reason } => {
                let Some((callee, invocation)) = self.invocations.invocation_of(&call) else {
                    return;
                };
                // After `killnowait` nothing the callee says is wanted; after `kill`
                // its answer still goes to the caller.
                if mode != CancelMode::Kill {
                    self.invocations.remove(callee, invocation);
                }
                let mut options = Dict::new();
                options.insert("mode".into(), Value::from(mode.as_str()));
                options.insert("reason".into(), Value::from(reason));
                cx.out.send(
                    callee,
                    Message::Interrupt(Interrupt {
                        request: invocation,
                        options,
                    }),
                );
            }
            _ => {}
        }
    }

    pub(crate) fn yield_result(
        &mut self,
        cx: &mut Context<'_>,
        callee: SessionId,
        result: Yield,
    ) -> Result<(), ProtocolViolation> {
        let ppt = callee_ppt(cx, callee, &result.options, "YIELD")?;
        let progress = result
            .options
            .get("progress")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        // A YIELD for an invocation we no longer know (answered, or interrupted
        // with killnowait) is dropped, as the spec asks.
        if let Some(call) = self.invocations.call_of(callee, result.request) {
            let caller_modes = self.invocations.caller_modes(&call);
            if let Some(mode) = unannounced_mode(ppt.as_ref(), caller_modes) {
                // The spec answers the callee with feature_not_supported; the
                // caller, who would otherwise wait for nothing, gets it too.
                self.invocations.remove(callee, result.request);
                let why = caller_without_mode(mode);
                let refusal = error(code::YIELD, result.request, FEATURE_NOT_SUPPORTED, &why);
                cx.out.send(callee, refusal);
                let message = failed(call, FEATURE_NOT_SUPPORTED, &why);
                self.send_to_caller_side(cx, call, message);
                return Ok(());
            }
        }
        let call = if progress {
            self.invocations.call_of(callee, result.request)
        } else {
            self.invocations.remove(callee, result.request)
        };
        if let Some(call) = call {
            let message = PeerMessage::Result {
                call,
                progress,
                ppt,
                arguments: result.arguments,
            };
            self.send_to_caller_side(cx, call, message);
        }
        Ok(())
    }

    pub(crate) fn invocation_error(
        &mut self,
        cx: &mut Context<'_>,
        callee: SessionId,
        failure: Error,
    ) -> Result<(), ProtocolViolation> {
        let ppt = callee_ppt(cx, callee, &failure.details, "ERROR")?;
        let Some(call) = self.invocations.call_of(callee, failure.request) else {
            return Ok(());
        };
        let caller_modes = self.invocations.caller_modes(&call);
        self.invocations.remove(callee, failure.request);
        if let Some(mode) = unannounced_mode(ppt.as_ref(), caller_modes) {
            let message = failed(call, FEATURE_NOT_SUPPORTED, &caller_without_mode(mode));
            self.send_to_caller_side(cx, call, message);
            return Ok(());
        }
        let error = if failure.error == CANCELED_ALT {
            CANCELED.to_owned()
        } else {
            failure.error
        };
        let message = PeerMessage::Error {
            call,
            error,
            details: failure.details,
            arguments: failure.arguments,
        };
        self.send_to_caller_side(cx, call, message);
        Ok(())
    }

    /// The callee left: each caller it was serving gets `wamp.error.canceled`.
    pub(crate) fn callee_left(&mut self, cx: &mut Context<'_>, callee: SessionId) {
        for (_, _, call) in self.invocations.remove_callee(callee) {
            self.send_to_caller_side(cx, call, canceled(call, "the callee left before answering"));
        }
    }

    /// The callers' node is gone: their invocations here stop (INTERRUPT
    /// killnowait to callees that can take one), and nothing is answered.
    pub(crate) fn caller_node_down(&mut self, cx: &mut Context<'_>, node: NodeId) {
        for (callee, invocation, _) in self.invocations.remove_origin(node) {
            if cx
                .sessions
                .get(callee)
                .is_some_and(|s| s.features.callee_call_canceling)
            {
                let mut options = Dict::new();
                options.insert("mode".into(), Value::from(CancelMode::KillNoWait.as_str()));
                options.insert("reason".into(), Value::from(CANCELED));
                cx.out.send(
                    callee,
                    Message::Interrupt(Interrupt {
                        request: invocation,
                        options,
                    }),
                );
            }
        }
    }
}

/// The `ppt_*` (or `enc_*`) attributes of a callee's YIELD or ERROR. A callee has no one to
/// hear an ERROR about its own answer, so unusable attributes (or attributes from
/// a callee that did not announce the mode, which the spec calls a protocol
/// error) end its session.
fn callee_ppt(
    cx: &Context<'_>,
    callee: SessionId,
    options: &Dict,
    what: &str,
) -> Result<Option<Ppt>, ProtocolViolation> {
    let ppt = Ppt::parse(options).map_err(|e| ProtocolViolation(format!("{what}: {e}")))?;
    check_sender(cx, callee, PayloadRole::Callee, ppt.as_ref(), what)?;
    Ok(ppt)
}

//! Small builders and extractors for the scenario tests: an options dict from
//! pairs, and "this message must be an X" unwrappers that fail with the message
//! they got instead.

use switchboard_proto::{
    Arguments, CallResult, Dict, Error, Event, Interrupt, Invocation, Message, Value,
};

/// Callee features for INTERRUPT.
pub(super) const CANCELING: &[&str] = &["call_canceling"];
/// Callee features for progressive results (which the spec ties to canceling).
pub(super) const PROGRESSIVE_RESULTS: &[&str] = &["progressive_call_results", "call_canceling"];
/// Callee features for progressive invocations (also tied to canceling).
pub(super) const PROGRESSIVE_INVOCATIONS: &[&str] =
    &["progressive_call_invocations", "call_canceling"];

/// A dict from `(key, value)` pairs.
pub(super) fn opts(pairs: &[(&str, Value)]) -> Dict {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// A list value.
pub(super) fn list(items: Vec<Value>) -> Value {
    Value::List(items)
}

pub(super) fn invocation(message: Message) -> Invocation {
    match message {
        Message::Invocation(m) => m,
        other => panic!("expected INVOCATION, got {other:?}"),
    }
}

pub(super) fn result(message: Message) -> CallResult {
    match message {
        Message::Result(m) => m,
        other => panic!("expected RESULT, got {other:?}"),
    }
}

pub(super) fn interrupt(message: Message) -> Interrupt {
    match message {
        Message::Interrupt(m) => m,
        other => panic!("expected INTERRUPT, got {other:?}"),
    }
}

pub(super) fn event(message: Message) -> Event {
    match message {
        Message::Event(m) => m,
        other => panic!("expected EVENT, got {other:?}"),
    }
}

pub(super) fn error(message: Message) -> Error {
    match message {
        Message::Error(m) => m,
        other => panic!("expected ERROR, got {other:?}"),
    }
}

/// `(request type, request id, error URI)` of an ERROR.
pub(super) fn error_of(message: Message) -> (u64, u64, String) {
    let e = error(message);
    (e.request_type, e.request, e.error)
}

/// A message's positional arguments, decoded.
pub(super) fn args(arguments: &Arguments) -> Vec<Value> {
    arguments.args_values().expect("decodable args")
}

/// The single positional argument of a RESULT.
pub(super) fn single_result(message: Message) -> Value {
    let mut values = args(&result(message).arguments);
    assert_eq!(values.len(), 1, "expected one result value, got {values:?}");
    values.remove(0)
}

/// The INTERRUPT's request id and mode.
pub(super) fn interrupt_mode(message: Message) -> (u64, String) {
    let i = interrupt(message);
    let mode = i.options.get("mode").and_then(Value::as_str).unwrap_or("");
    (i.request, mode.to_owned())
}

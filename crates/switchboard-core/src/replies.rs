//! Builders for the messages the router sends when something is refused, so every
//! refusal carries a human-readable reason the same way: Autobahn and most clients
//! show `args[0]` of an ERROR, and `details.message` of an ABORT or GOODBYE.

use switchboard_proto::{Abort, Arguments, Dict, Error, Goodbye, Message, Value};

/// `ERROR` for request `request` of type `request_type`, with `message` as `args[0]`.
pub fn error(request_type: u64, request: u64, uri: &str, message: impl Into<String>) -> Message {
    Message::Error(Error {
        request_type,
        request,
        details: Dict::new(),
        error: uri.to_owned(),
        arguments: Arguments::list(vec![Value::String(message.into())]),
    })
}

fn message_details(message: impl Into<String>) -> Dict {
    let mut details = Dict::new();
    details.insert("message".into(), Value::String(message.into()));
    details
}

/// `ABORT` with `reason` and `details.message`.
pub fn abort(reason: &str, message: impl Into<String>) -> Message {
    Message::Abort(Abort {
        details: message_details(message),
        reason: reason.to_owned(),
    })
}

/// `GOODBYE` with `reason` and `details.message`.
pub fn goodbye(reason: &str, message: impl Into<String>) -> Message {
    Message::Goodbye(Goodbye {
        details: message_details(message),
        reason: reason.to_owned(),
    })
}

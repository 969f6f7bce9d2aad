//! The WAMP v2 wire model: messages, codecs, URIs and identifiers.
//!
//! Nothing here touches a socket or a clock. A transport hands [`decode`] a whole
//! frame and gets a [`Message`]; the router hands [`encode`] a message and gets the
//! bytes to write. Call arguments (`args`, `kwargs`) are kept as [`Payload`]s that
//! remember the bytes they arrived in, so a router relaying a call between two
//! sessions that share a serializer copies them verbatim instead of re-encoding.
#![warn(missing_docs, unreachable_pub)]

pub mod codec;
pub mod error_uri;
pub mod id;
pub mod message;
mod payload;
pub mod uri;
mod value;

pub use codec::{decode, encode, Codec, DecodeError, EncodeError};
pub use id::{Id, IdGenerator, SessionScopeIds, MAX_ID};
pub use message::*;
pub use payload::{Arguments, Payload, TRANSPARENT_PAYLOAD_MARKER};
pub use value::{Dict, Value};

//! Call and event arguments, kept in the bytes they arrived in.
//!
//! A router never needs to look inside `args` and `kwargs`; it only moves them from
//! a CALL to an INVOCATION, a YIELD to a RESULT. [`Payload::Encoded`] keeps the
//! slice of the incoming frame (a cheap `Bytes` clone, no copy), and the encoder
//! writes it back verbatim when the receiving session uses the same codec. Only
//! when codecs differ is the payload decoded into a [`Value`] and written again.

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec::{Codec, DecodeError};
use crate::value::{Dict, Value};

/// The option (in CALL, YIELD, ERROR, PUBLISH) or detail (in INVOCATION, RESULT,
/// EVENT) that says the payload is transparent, in the "payload transparency"
/// draft that preceded Payload Passthru Mode and that Autobahn still speaks:
/// `enc_algo` names the scheme (`cryptobox`, `mqtt`, `xbr`, `x_...`) and the
/// payload is one binary element *in place of* the `Arguments|list`, not inside
/// it. Only with this marker does a message decode with such an element, so every
/// other message keeps the strict list shape.
pub const TRANSPARENT_PAYLOAD_MARKER: &str = "enc_algo";

/// One positional element of a message that carries application data.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// The element's bytes exactly as received, in `codec`.
    Encoded {
        /// The codec the bytes are in.
        codec: Codec,
        /// One complete encoded value (a list for `args`, a dict for `kwargs`).
        bytes: Bytes,
    },
    /// A value built in memory (by the router's meta API or a client).
    Value(Value),
}

impl Payload {
    /// Decodes the payload into a [`Value`] (a no-op clone for in-memory values).
    pub fn to_value(&self) -> Result<Value, DecodeError> {
        match self {
            Payload::Encoded { codec, bytes } => codec.decode_value(bytes),
            Payload::Value(v) => Ok(v.clone()),
        }
    }
}

impl From<Value> for Payload {
    fn from(v: Value) -> Self {
        Payload::Value(v)
    }
}

/// How a payload travels between routers (a cluster's peer links): still in its
/// wire bytes, tagged with their codec, so forwarding never decodes it either.
#[derive(Serialize, Deserialize)]
enum PayloadOnLink {
    Json(Bytes),
    Msgpack(Bytes),
    Value(Value),
    // After `Value`: variants are tagged by position on the link.
    Cbor(Bytes),
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let on_link = match self {
            Payload::Encoded {
                codec: Codec::Json,
                bytes,
            } => PayloadOnLink::Json(bytes.clone()),
            Payload::Encoded {
                codec: Codec::Msgpack,
                bytes,
            } => PayloadOnLink::Msgpack(bytes.clone()),
            Payload::Encoded {
                codec: Codec::Cbor,
                bytes,
            } => PayloadOnLink::Cbor(bytes.clone()),
            Payload::Value(v) => PayloadOnLink::Value(v.clone()),
        };
        on_link.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match PayloadOnLink::deserialize(deserializer)? {
            PayloadOnLink::Json(bytes) => Payload::Encoded {
                codec: Codec::Json,
                bytes,
            },
            PayloadOnLink::Msgpack(bytes) => Payload::Encoded {
                codec: Codec::Msgpack,
                bytes,
            },
            PayloadOnLink::Cbor(bytes) => Payload::Encoded {
                codec: Codec::Cbor,
                bytes,
            },
            PayloadOnLink::Value(v) => Payload::Value(v),
        })
    }
}

/// The optional `Arguments|list` and `ArgumentsKw|dict` that end CALL, INVOCATION,
/// YIELD, RESULT, ERROR, PUBLISH and EVENT.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Arguments {
    /// Positional arguments (a list), if any were sent.
    pub args: Option<Payload>,
    /// Keyword arguments (a dict), if any were sent.
    pub kwargs: Option<Payload>,
}

impl Arguments {
    /// No arguments at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// Positional arguments built in memory.
    pub fn list(args: Vec<Value>) -> Self {
        Self {
            args: Some(Payload::Value(Value::List(args))),
            kwargs: None,
        }
    }

    /// Positional and keyword arguments built in memory.
    pub fn with_kwargs(args: Vec<Value>, kwargs: Dict) -> Self {
        Self {
            args: Some(Payload::Value(Value::List(args))),
            kwargs: Some(Payload::Value(Value::Dict(kwargs))),
        }
    }

    /// How many trailing message elements these arguments take (0, 1 or 2):
    /// `kwargs` without `args` still needs an empty `args` list before it.
    pub fn element_count(&self) -> usize {
        match (&self.args, &self.kwargs) {
            (_, Some(_)) => 2,
            (Some(_), None) => 1,
            (None, None) => 0,
        }
    }

    /// Decodes the positional arguments (empty when absent).
    pub fn args_values(&self) -> Result<Vec<Value>, DecodeError> {
        match &self.args {
            None => Ok(Vec::new()),
            Some(p) => match p.to_value()? {
                Value::List(l) => Ok(l),
                _ => Err(DecodeError::InvalidPayload("args must be a list")),
            },
        }
    }

    /// Decodes the keyword arguments (empty when absent).
    pub fn kwargs_values(&self) -> Result<Dict, DecodeError> {
        match &self.kwargs {
            None => Ok(Dict::new()),
            Some(p) => match p.to_value()? {
                Value::Dict(d) => Ok(d),
                _ => Err(DecodeError::InvalidPayload("kwargs must be a dict")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_cross_a_peer_link_in_their_wire_bytes() {
        let arguments = Arguments {
            args: Some(Payload::Encoded {
                codec: Codec::Json,
                bytes: Bytes::from_static(b"[1, 2]"),
            }),
            kwargs: Some(Payload::Value(Value::Dict(Dict::new()))),
        };
        let on_link = rmp_serde::to_vec(&arguments).unwrap();
        let back: Arguments = rmp_serde::from_slice(&on_link).unwrap();
        assert_eq!(back, arguments);
    }
}

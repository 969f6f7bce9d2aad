//! Serializers: how a [`Message`] becomes a frame and back.
//!
//! Both codecs split a frame into its top-level elements first (byte ranges into
//! the frame), then each message type decodes the elements it expects. That one
//! split is what lets `args`/`kwargs` stay undecoded: they become
//! [`Payload::Encoded`] slices of the frame.

mod cbor;
mod json;
mod msgpack;

use std::ops::Range;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::message::Message;
use crate::payload::Payload;
use crate::value::Value;

/// A WAMP serializer, named by its WebSocket subprotocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// `wamp.2.json`: UTF-8 JSON text frames.
    Json,
    /// `wamp.2.msgpack`: MessagePack binary frames.
    Msgpack,
    /// `wamp.2.cbor`: CBOR binary frames.
    Cbor,
}

impl Codec {
    /// Every codec, in the router's order of preference.
    pub const ALL: [Codec; 3] = [Codec::Json, Codec::Msgpack, Codec::Cbor];

    /// The WebSocket subprotocol that selects this codec.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Codec::Json => "wamp.2.json",
            Codec::Msgpack => "wamp.2.msgpack",
            Codec::Cbor => "wamp.2.cbor",
        }
    }

    /// The serializer's short name: `json`, `msgpack` or `cbor`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Json => "json",
            Codec::Msgpack => "msgpack",
            Codec::Cbor => "cbor",
        }
    }

    /// The codec for a WebSocket subprotocol, if we speak it.
    pub fn from_subprotocol(name: &str) -> Option<Codec> {
        Codec::ALL.into_iter().find(|c| c.subprotocol() == name)
    }

    /// The serializer id a RawSocket handshake names the codec by.
    pub fn rawsocket_id(self) -> u8 {
        match self {
            Codec::Json => 1,
            Codec::Msgpack => 2,
            Codec::Cbor => 3,
        }
    }

    /// The codec for a RawSocket handshake's serializer id, if there is one.
    pub fn from_rawsocket_id(id: u8) -> Option<Codec> {
        Codec::ALL.into_iter().find(|c| c.rawsocket_id() == id)
    }

    /// Whether frames of this codec travel as WebSocket text (else binary).
    pub fn is_text(self) -> bool {
        matches!(self, Codec::Json)
    }

    /// Decodes one complete encoded value.
    pub fn decode_value(self, bytes: &[u8]) -> Result<Value, DecodeError> {
        self.decode_element(bytes)
    }

    /// Encodes one value on its own (not as a message).
    pub fn encode_value(self, value: &Value) -> Result<Vec<u8>, EncodeError> {
        let mut buf = Vec::new();
        self.write_element(&mut buf, value)?;
        Ok(buf)
    }

    fn decode_element<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, DecodeError> {
        match self {
            Codec::Json => json::decode_element(bytes),
            Codec::Msgpack => msgpack::decode_element(bytes),
            Codec::Cbor => cbor::decode_element(bytes),
        }
    }

    fn write_element<T: Serialize + ?Sized>(
        self,
        buf: &mut Vec<u8>,
        value: &T,
    ) -> Result<(), EncodeError> {
        match self {
            Codec::Json => json::write_element(buf, value),
            Codec::Msgpack => msgpack::write_element(buf, value),
            Codec::Cbor => cbor::write_element(buf, value),
        }
    }
}

/// Why a frame is not a WAMP message. Every variant is a protocol violation.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    /// The frame is not valid JSON / MessagePack / CBOR, or not an array.
    #[error("frame is not a {0} array")]
    NotAnArray(&'static str),
    /// The array is empty or its first element is not an integer.
    #[error("message has no integer type code")]
    MissingTypeCode,
    /// The type code is not one WAMP defines.
    #[error("unknown message type {0}")]
    UnknownType(u64),
    /// The message has too few or too many elements.
    #[error("{message} cannot have {len} elements")]
    WrongLength {
        /// The message type.
        message: &'static str,
        /// How many elements it had.
        len: usize,
    },
    /// One element has the wrong type.
    #[error("{message} element {index} is not a valid {expected}")]
    InvalidField {
        /// The message type.
        message: &'static str,
        /// The element's position in the array.
        index: usize,
        /// What the element should have been.
        expected: &'static str,
    },
    /// `args` or `kwargs` (or a value inside them) is not representable.
    #[error("invalid payload: {0}")]
    InvalidPayload(&'static str),
}

/// Why a message could not be written (a value a codec cannot represent).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode message: {0}")]
pub struct EncodeError(pub String);

/// Decodes one frame in `codec` into a message.
pub fn decode(codec: Codec, frame: Bytes) -> Result<Message, DecodeError> {
    let elements = match codec {
        Codec::Json => json::split(&frame)?,
        Codec::Msgpack => msgpack::split(&frame)?,
        Codec::Cbor => cbor::split(&frame)?,
    };
    Message::decode(&mut Fields {
        codec,
        frame,
        elements,
        message: "message",
    })
}

/// Encodes a message as one frame in `codec`.
pub fn encode(codec: Codec, message: &Message) -> Result<Vec<u8>, EncodeError> {
    let mut writer = FrameWriter::new(codec, message.element_count());
    message.encode(&mut writer)?;
    Ok(writer.finish())
}

/// The top-level elements of one decoded frame, read by position.
pub(crate) struct Fields {
    codec: Codec,
    frame: Bytes,
    elements: Vec<Range<usize>>,
    /// The message type being decoded, for error messages.
    pub(crate) message: &'static str,
}

impl Fields {
    pub(crate) fn len(&self) -> usize {
        self.elements.len()
    }

    fn bytes(&self, index: usize) -> &[u8] {
        &self.frame[self.elements[index].clone()]
    }

    /// Decodes element `index` as `T`, reporting `expected` if it is not one.
    pub(crate) fn get<T: DeserializeOwned>(
        &self,
        index: usize,
        expected: &'static str,
    ) -> Result<T, DecodeError> {
        let invalid = || DecodeError::InvalidField {
            message: self.message,
            index,
            expected,
        };
        if index >= self.elements.len() {
            return Err(invalid());
        }
        self.codec
            .decode_element(self.bytes(index))
            .map_err(|_| invalid())
    }

    /// Element `index` if present, as a still-encoded payload of the given shape.
    pub(crate) fn payload(
        &self,
        index: usize,
        shape: PayloadShape,
    ) -> Result<Option<Payload>, DecodeError> {
        if index >= self.elements.len() {
            return Ok(None);
        }
        let range = self.elements[index].clone();
        let ok = match self.codec {
            Codec::Json => json::has_shape(&self.frame[range.clone()], shape),
            Codec::Msgpack => msgpack::has_shape(&self.frame[range.clone()], shape),
            Codec::Cbor => cbor::has_shape(&self.frame[range.clone()], shape),
        };
        if !ok {
            return Err(DecodeError::InvalidField {
                message: self.message,
                index,
                expected: shape.name(),
            });
        }
        Ok(Some(Payload::Encoded {
            codec: self.codec,
            bytes: self.frame.slice(range),
        }))
    }
}

/// Which container a payload element must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PayloadShape {
    /// `Arguments|list`.
    List,
    /// `ArgumentsKw|dict`.
    Dict,
    /// A transparent payload in place of `Arguments|list` (a binary, or a string
    /// where the codec has no binary type): see [`crate::payload::TRANSPARENT_PAYLOAD_MARKER`].
    Opaque,
}

impl PayloadShape {
    fn name(self) -> &'static str {
        match self {
            PayloadShape::List => "list",
            PayloadShape::Dict => "dict",
            PayloadShape::Opaque => "binary",
        }
    }
}

/// Writes the elements of one message into a frame.
pub(crate) struct FrameWriter {
    codec: Codec,
    buf: Vec<u8>,
    written: usize,
}

impl FrameWriter {
    fn new(codec: Codec, element_count: usize) -> Self {
        let mut buf = Vec::with_capacity(64);
        match codec {
            Codec::Json => buf.push(b'['),
            Codec::Msgpack => msgpack::write_array_len(&mut buf, element_count),
            Codec::Cbor => cbor::write_array_len(&mut buf, element_count),
        }
        Self {
            codec,
            buf,
            written: 0,
        }
    }

    fn separate(&mut self) {
        if self.codec == Codec::Json && self.written > 0 {
            self.buf.push(b',');
        }
        self.written += 1;
    }

    /// Appends one element.
    pub(crate) fn field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        self.separate();
        self.codec.write_element(&mut self.buf, value)
    }

    /// Appends a payload, verbatim when it is already in this codec.
    pub(crate) fn payload(&mut self, payload: &Payload) -> Result<(), EncodeError> {
        match payload {
            Payload::Encoded { codec, bytes } if *codec == self.codec => {
                self.separate();
                self.buf.extend_from_slice(bytes);
                Ok(())
            }
            Payload::Encoded { codec, bytes } => {
                let value: Value = codec
                    .decode_element(bytes)
                    .map_err(|e| EncodeError(e.to_string()))?;
                self.field(&value)
            }
            Payload::Value(value) => self.field(value),
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.codec == Codec::Json {
            self.buf.push(b']');
        }
        self.buf
    }
}

#[cfg(test)]
mod tests;

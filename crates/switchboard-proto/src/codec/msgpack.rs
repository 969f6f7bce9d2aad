//! `wamp.2.msgpack`: rmp-serde for values, rmpv to walk element boundaries.

use std::ops::Range;

use rmpv::ValueRef;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{DecodeError, EncodeError, PayloadShape};

/// The most elements any WAMP message has (ERROR, EVENT, INVOCATION: 6 or 7).
const MAX_ELEMENTS: usize = 8;

/// The byte range of each top-level element of a MessagePack array frame.
///
/// Each element is walked once with `rmpv` (which borrows strings and binaries
/// instead of copying them); the walk also rejects what WAMP dictionaries cannot
/// hold (non-string keys, extension types), so relaying to JSON never fails later.
pub(super) fn split(frame: &[u8]) -> Result<Vec<Range<usize>>, DecodeError> {
    let mut rest = frame;
    let len = rmp::decode::read_array_len(&mut rest)
        .map_err(|_| DecodeError::NotAnArray("MessagePack"))?;
    // The length comes from the network: never allocate by it (a 5-byte frame
    // could claim four billion elements). No WAMP message has more than 7.
    let mut ranges = Vec::with_capacity((len as usize).min(MAX_ELEMENTS));
    for _ in 0..len {
        let start = frame.len() - rest.len();
        let value = rmpv::decode::read_value_ref(&mut rest)
            .map_err(|_| DecodeError::NotAnArray("MessagePack"))?;
        check_representable(&value)?;
        ranges.push(start..frame.len() - rest.len());
    }
    if !rest.is_empty() {
        return Err(DecodeError::NotAnArray("MessagePack"));
    }
    Ok(ranges)
}

fn check_representable(value: &ValueRef<'_>) -> Result<(), DecodeError> {
    match value {
        ValueRef::Ext(..) => Err(DecodeError::InvalidPayload(
            "MessagePack extension types are not WAMP values",
        )),
        ValueRef::String(s) if s.as_str().is_none() => {
            Err(DecodeError::InvalidPayload("strings must be UTF-8"))
        }
        ValueRef::Array(items) => items.iter().try_for_each(check_representable),
        ValueRef::Map(entries) => entries.iter().try_for_each(|(k, v)| match k {
            ValueRef::String(s) if s.as_str().is_some() => check_representable(v),
            _ => Err(DecodeError::InvalidPayload(
                "dictionary keys must be strings",
            )),
        }),
        _ => Ok(()),
    }
}

pub(super) fn decode_element<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    rmp_serde::from_slice(bytes)
        .map_err(|_| DecodeError::InvalidPayload("not a valid MessagePack value"))
}

pub(super) fn write_element<T: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    value: &T,
) -> Result<(), EncodeError> {
    rmp_serde::encode::write(buf, value).map_err(|e| EncodeError(e.to_string()))
}

pub(super) fn write_array_len(buf: &mut Vec<u8>, len: usize) {
    // Writing into a Vec cannot fail, and a message has at most 7 elements.
    let _ = rmp::encode::write_array_len(buf, len as u32);
}

pub(super) fn has_shape(bytes: &[u8], shape: PayloadShape) -> bool {
    let Some(&marker) = bytes.first() else {
        return false;
    };
    match shape {
        PayloadShape::List => matches!(marker, 0x90..=0x9f | 0xdc | 0xdd),
        PayloadShape::Dict => matches!(marker, 0x80..=0x8f | 0xde | 0xdf),
        // bin 8/16/32, or a str (fixstr, str 8/16/32).
        PayloadShape::Opaque => matches!(marker, 0xc4..=0xc6 | 0xa0..=0xbf | 0xd9..=0xdb),
    }
}

//! `wamp.2.cbor`: ciborium for values, its low-level decoder to walk element
//! boundaries.

use std::ops::Range;

use ciborium_ll::{simple, Decoder, Encoder, Header};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{DecodeError, EncodeError, PayloadShape};

/// The most elements any WAMP message has (ERROR, EVENT, INVOCATION: 6 or 7).
const MAX_ELEMENTS: usize = 8;

/// How deep lists and dictionaries may nest. The walk recurses, so without a
/// bound a small frame of nested array headers would overflow the stack; the
/// value decoder (ciborium) refuses deeper nesting too.
const MAX_DEPTH: usize = 128;

/// Bytes read at a time while skipping a byte or text string (at least 4, so a
/// UTF-8 character always fits).
const SKIP_CHUNK: usize = 256;

type Walker<'a> = Decoder<&'a [u8]>;

/// The byte range of each top-level element of a CBOR array frame.
///
/// The walk reads every element once (strings are checked, not copied); it
/// also rejects what WAMP values cannot hold (tags, non-string dictionary
/// keys, simple values other than booleans and null, integers below
/// `i64::MIN`), so relaying to another codec never fails later.
pub(super) fn split(frame: &[u8]) -> Result<Vec<Range<usize>>, DecodeError> {
    let not_array = || DecodeError::NotAnArray("CBOR");
    let mut walker = Decoder::from(frame);
    let len = match walker.pull().map_err(|_| not_array())? {
        Header::Array(len) => len,
        _ => return Err(not_array()),
    };
    // The length comes from the network: never allocate by it.
    let mut ranges = Vec::with_capacity(len.unwrap_or(MAX_ELEMENTS).min(MAX_ELEMENTS));
    while len != Some(ranges.len()) {
        let start = walker.offset();
        let header = walker.pull().map_err(|_| not_array())?;
        if len.is_none() && matches!(header, Header::Break) {
            break;
        }
        skip(&mut walker, header, 0)?;
        ranges.push(start..walker.offset());
    }
    if walker.offset() != frame.len() {
        return Err(not_array());
    }
    Ok(ranges)
}

fn malformed() -> DecodeError {
    DecodeError::InvalidPayload("not a valid CBOR value")
}

/// Reads past the item that starts with `header` (already pulled).
fn skip(walker: &mut Walker<'_>, header: Header, depth: usize) -> Result<(), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::InvalidPayload("values nest too deeply"));
    }
    match header {
        Header::Positive(_) | Header::Float(_) => Ok(()),
        Header::Negative(n) if n <= i64::MAX as u64 => Ok(()),
        Header::Negative(_) => Err(DecodeError::InvalidPayload("integer out of range")),
        Header::Simple(simple::FALSE | simple::TRUE | simple::NULL) => Ok(()),
        Header::Simple(_) => Err(DecodeError::InvalidPayload(
            "CBOR simple values other than true, false and null are not WAMP values",
        )),
        Header::Tag(_) => Err(DecodeError::InvalidPayload("CBOR tags are not WAMP values")),
        Header::Break => Err(malformed()),
        Header::Bytes(len) => {
            let mut chunk = [0u8; SKIP_CHUNK];
            let mut segments = walker.bytes(len);
            while let Some(mut segment) = segments.pull().map_err(|_| malformed())? {
                while segment.pull(&mut chunk).map_err(|_| malformed())?.is_some() {}
            }
            Ok(())
        }
        Header::Text(len) => skip_text(walker, len),
        Header::Array(len) => each_item(walker, len, |walker, header| {
            skip(walker, header, depth + 1)
        }),
        Header::Map(len) => {
            // A map of `len` entries is `2 * len` items: key, value, key, ...
            let items = match len {
                Some(n) => Some(n.checked_mul(2).ok_or_else(malformed)?),
                None => None,
            };
            let mut is_key = true;
            each_item(walker, items, |walker, header| {
                let key = is_key;
                is_key = !is_key;
                match header {
                    Header::Text(len) if key => skip_text(walker, len),
                    _ if key => Err(DecodeError::InvalidPayload(
                        "dictionary keys must be strings",
                    )),
                    _ => skip(walker, header, depth + 1),
                }
            })
            .and_then(|()| if is_key { Ok(()) } else { Err(malformed()) })
        }
    }
}

/// Reads past a text string, checking it is UTF-8.
fn skip_text(walker: &mut Walker<'_>, len: Option<usize>) -> Result<(), DecodeError> {
    let not_utf8 = || DecodeError::InvalidPayload("strings must be UTF-8");
    let mut chunk = [0u8; SKIP_CHUNK];
    let mut segments = walker.text(len);
    while let Some(mut segment) = segments.pull().map_err(|_| not_utf8())? {
        while segment.pull(&mut chunk).map_err(|_| not_utf8())?.is_some() {}
    }
    Ok(())
}

/// Calls `each` on the header of every item of a container holding `len`
/// items (or, if `None`, items up to a break).
fn each_item(
    walker: &mut Walker<'_>,
    len: Option<usize>,
    mut each: impl FnMut(&mut Walker<'_>, Header) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let mut seen = 0;
    while len != Some(seen) {
        let header = walker.pull().map_err(|_| malformed())?;
        if len.is_none() && matches!(header, Header::Break) {
            return Ok(());
        }
        each(walker, header)?;
        seen += 1;
    }
    Ok(())
}

pub(super) fn decode_element<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    ciborium::de::from_reader(bytes)
        .map_err(|_| DecodeError::InvalidPayload("not a valid CBOR value"))
}

pub(super) fn write_element<T: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    value: &T,
) -> Result<(), EncodeError> {
    ciborium::ser::into_writer(value, buf).map_err(|e| EncodeError(e.to_string()))
}

pub(super) fn write_array_len(buf: &mut Vec<u8>, len: usize) {
    // Writing into a Vec cannot fail.
    let _ = Encoder::from(buf).push(Header::Array(Some(len)));
}

pub(super) fn has_shape(bytes: &[u8], shape: PayloadShape) -> bool {
    let Some(&initial) = bytes.first() else {
        return false;
    };
    // The major type is the initial byte's top three bits.
    match shape {
        PayloadShape::List => initial >> 5 == 4,
        PayloadShape::Dict => initial >> 5 == 5,
        // 2 byte string, 3 text string.
        PayloadShape::Opaque => matches!(initial >> 5, 2 | 3),
    }
}

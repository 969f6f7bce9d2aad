//! `wamp.2.json`: serde_json, with `RawValue` to find element boundaries.

use std::ops::Range;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;

use super::{DecodeError, EncodeError, PayloadShape};

/// The byte range of each top-level element of a JSON array frame.
pub(super) fn split(frame: &[u8]) -> Result<Vec<Range<usize>>, DecodeError> {
    let raw: Vec<&RawValue> =
        serde_json::from_slice(frame).map_err(|_| DecodeError::NotAnArray("JSON"))?;
    let base = frame.as_ptr() as usize;
    Ok(raw
        .iter()
        .map(|r| {
            let start = r.get().as_ptr() as usize - base;
            start..start + r.get().len()
        })
        .collect())
}

pub(super) fn decode_element<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    serde_json::from_slice(bytes).map_err(|_| DecodeError::InvalidPayload("not a valid JSON value"))
}

pub(super) fn write_element<T: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    value: &T,
) -> Result<(), EncodeError> {
    serde_json::to_writer(buf, value).map_err(|e| EncodeError(e.to_string()))
}

/// `RawValue` slices carry no surrounding whitespace, so the first byte tells.
pub(super) fn has_shape(bytes: &[u8], shape: PayloadShape) -> bool {
    match shape {
        PayloadShape::List => bytes.first() == Some(&b'['),
        PayloadShape::Dict => bytes.first() == Some(&b'{'),
        // JSON carries binary as a string (NUL-prefixed base64).
        PayloadShape::Opaque => bytes.first() == Some(&b'"'),
    }
}

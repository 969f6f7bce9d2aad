//! ERROR: the answer to a request that failed. `rfc/text/basic/...` per request.

use super::wire_format;
use crate::payload::Arguments;
use crate::value::Dict;

/// `[ERROR, REQUEST.Type|int, REQUEST.Request|id, Details|dict, Error|uri,
/// Arguments|list?, ArgumentsKw|dict?]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Error {
    /// The type code of the message that failed (CALL, REGISTER, INVOCATION, ...).
    pub request_type: u64,
    /// The id of the request that failed.
    pub request: u64,
    /// Extra details.
    pub details: Dict,
    /// The error URI.
    pub error: String,
    /// Application data describing the error.
    pub arguments: Arguments,
}
wire_format!(Error, super::code::ERROR, "ERROR",
    fields { request_type: "request type", request: "request id", details: "details dict", error: "error URI" },
    arguments arguments, transparent_with details);

//! Remote procedure call messages. `rfc/text/basic/remote_procedure_call.md`.

use super::wire_format;
use crate::payload::Arguments;
use crate::value::Dict;

/// `[REGISTER, Request|id, Options|dict, Procedure|uri]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Register {
    /// The callee's request id.
    pub request: u64,
    /// `match`, `invoke`, `disclose_caller`, `forward_timeout`, ...
    pub options: Dict,
    /// The procedure URI (or pattern).
    pub procedure: String,
}
wire_format!(
    Register,
    super::code::REGISTER,
    "REGISTER",
    fields {
        request: "request id",
        options: "options dict",
        procedure: "procedure URI"
    }
);

/// `[REGISTERED, REGISTER.Request|id, Registration|id]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Registered {
    /// The REGISTER's request id.
    pub request: u64,
    /// The registration's id.
    pub registration: u64,
}
wire_format!(
    Registered,
    super::code::REGISTERED,
    "REGISTERED",
    fields {
        request: "request id",
        registration: "registration id"
    }
);

/// `[UNREGISTER, Request|id, REGISTERED.Registration|id]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Unregister {
    /// The callee's request id.
    pub request: u64,
    /// The registration to leave.
    pub registration: u64,
}
wire_format!(
    Unregister,
    super::code::UNREGISTER,
    "UNREGISTER",
    fields {
        request: "request id",
        registration: "registration id"
    }
);

/// `[UNREGISTERED, UNREGISTER.Request|id]`, or with the Advanced Profile's
/// `Details|dict` when the router revokes a registration (request `0`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Unregistered {
    /// The UNREGISTER's request id, or 0 for a router-initiated revocation.
    pub request: u64,
    /// `{"registration": id, "reason": uri}` on revocation.
    pub details: Option<Dict>,
}

super::acknowledgement_with_details!(Unregistered, super::code::UNREGISTERED, "UNREGISTERED");

/// `[CALL, Request|id, Options|dict, Procedure|uri, Arguments|list?, ArgumentsKw|dict?]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Call {
    /// The caller's request id.
    pub request: u64,
    /// `timeout`, `receive_progress`, `disclose_me`, `progress`, ...
    pub options: Dict,
    /// The procedure to call.
    pub procedure: String,
    /// The call's arguments, relayed untouched.
    pub arguments: Arguments,
}
wire_format!(Call, super::code::CALL, "CALL",
    fields { request: "request id", options: "options dict", procedure: "procedure URI" },
    arguments arguments, transparent_with options);

/// `[CANCEL, CALL.Request|id, Options|dict]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cancel {
    /// The CALL's request id.
    pub request: u64,
    /// `mode`: `skip`, `kill` or `killnowait`.
    pub options: Dict,
}
wire_format!(
    Cancel,
    super::code::CANCEL,
    "CANCEL",
    fields {
        request: "request id",
        options: "options dict"
    }
);

/// `[RESULT, CALL.Request|id, Details|dict, YIELD.Arguments|list?, YIELD.ArgumentsKw|dict?]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CallResult {
    /// The CALL's request id.
    pub request: u64,
    /// `progress` for a progressive result.
    pub details: Dict,
    /// The callee's result, relayed untouched.
    pub arguments: Arguments,
}
wire_format!(CallResult, super::code::RESULT, "RESULT",
    fields { request: "request id", details: "details dict" },
    arguments arguments, transparent_with details);

/// `[INVOCATION, Request|id, REGISTERED.Registration|id, Details|dict,
/// CALL.Arguments|list?, CALL.ArgumentsKw|dict?]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Invocation {
    /// The router's request id, in the callee's session scope.
    pub request: u64,
    /// The registration that matched.
    pub registration: u64,
    /// `caller`, `procedure`, `receive_progress`, `timeout`, ...
    pub details: Dict,
    /// The caller's arguments.
    pub arguments: Arguments,
}
wire_format!(Invocation, super::code::INVOCATION, "INVOCATION",
    fields { request: "request id", registration: "registration id", details: "details dict" },
    arguments arguments, transparent_with details);

/// `[INTERRUPT, INVOCATION.Request|id, Options|dict]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Interrupt {
    /// The INVOCATION's request id.
    pub request: u64,
    /// `mode` and `reason`.
    pub options: Dict,
}
wire_format!(
    Interrupt,
    super::code::INTERRUPT,
    "INTERRUPT",
    fields {
        request: "request id",
        options: "options dict"
    }
);

/// `[YIELD, INVOCATION.Request|id, Options|dict, Arguments|list?, ArgumentsKw|dict?]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Yield {
    /// The INVOCATION's request id.
    pub request: u64,
    /// `progress` for a progressive result.
    pub options: Dict,
    /// The result, relayed untouched.
    pub arguments: Arguments,
}
wire_format!(Yield, super::code::YIELD, "YIELD",
    fields { request: "request id", options: "options dict" },
    arguments arguments, transparent_with options);

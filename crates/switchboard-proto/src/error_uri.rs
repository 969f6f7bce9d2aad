//! The error and close URIs the router emits (`rfc/text/basic/uri_reference.md`,
//! `rfc/text/advanced/uris.md`). One place, so spelling is decided once.
#![allow(missing_docs)]

pub const INVALID_URI: &str = "wamp.error.invalid_uri";
pub const NO_SUCH_PROCEDURE: &str = "wamp.error.no_such_procedure";
pub const PROCEDURE_ALREADY_EXISTS: &str = "wamp.error.procedure_already_exists";
pub const NO_SUCH_REGISTRATION: &str = "wamp.error.no_such_registration";
pub const NO_SUCH_SUBSCRIPTION: &str = "wamp.error.no_such_subscription";
pub const INVALID_ARGUMENT: &str = "wamp.error.invalid_argument";
/// The spec's canonical spelling; [`CANCELED_ALT`] is accepted on input.
pub const CANCELED: &str = "wamp.error.canceled";
pub const CANCELED_ALT: &str = "wamp.error.cancelled";
pub const TIMEOUT: &str = "wamp.error.timeout";
pub const PAYLOAD_SIZE_EXCEEDED: &str = "wamp.error.payload_size_exceeded";
pub const PROTOCOL_VIOLATION: &str = "wamp.error.protocol_violation";
pub const NOT_AUTHORIZED: &str = "wamp.error.not_authorized";
pub const NO_SUCH_REALM: &str = "wamp.error.no_such_realm";
pub const NO_MATCHING_AUTH_METHOD: &str = "wamp.error.no_matching_auth_method";
/// The credentials were checked and are wrong (the spec draft's finer
/// `authentication_failed`).
pub const AUTHENTICATION_DENIED: &str = "wamp.error.authentication_denied";
/// Authentication could not be carried out (an authenticator failed, a message
/// was malformed): the spec's "fail secure" reason.
pub const AUTHENTICATION_FAILED: &str = "wamp.error.authentication_failed";
/// No principal has the authid the client gave.
pub const NO_SUCH_PRINCIPAL: &str = "wamp.error.no_such_principal";
/// The role assigned to a session does not exist on the realm.
pub const NO_SUCH_ROLE: &str = "wamp.error.no_such_role";
pub const NO_SUCH_SESSION: &str = "wamp.error.no_such_session";
pub const FEATURE_NOT_SUPPORTED: &str = "wamp.error.feature_not_supported";
/// The router lost (or could not reach) part of itself: a peer node, a majority.
/// A callee cannot take the call now: it said so (call re-routing), or its
/// outbound queue is full.
pub const UNAVAILABLE: &str = "wamp.error.unavailable";
/// Every callee of the procedure answered [`UNAVAILABLE`] to the call.
pub const NO_AVAILABLE_CALLEE: &str = "wamp.error.no_available_callee";
/// ABORT reason for a session closed because it did not read its socket.
pub const SLOW_CONSUMER: &str = "switchboard.error.slow_consumer";
pub const NETWORK_FAILURE: &str = "wamp.error.network_failure";

pub const CLOSE_SYSTEM_SHUTDOWN: &str = "wamp.close.system_shutdown";
pub const CLOSE_REALM: &str = "wamp.close.close_realm";
pub const GOODBYE_AND_OUT: &str = "wamp.close.goodbye_and_out";
pub const CLOSE_KILLED: &str = "wamp.close.killed";

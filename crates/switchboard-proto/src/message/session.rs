//! Session messages: opening (HELLO, WELCOME, CHALLENGE, AUTHENTICATE) and
//! closing (ABORT, GOODBYE). `rfc/text/basic/session_lifecycle.md`.

use super::wire_format;
use crate::value::Dict;

/// `[HELLO, Realm|uri, Details|dict]`: a client asks to join a realm.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Hello {
    /// The realm to join.
    pub realm: String,
    /// Roles, features, `authmethods`, `authid`, ...
    pub details: Dict,
}
wire_format!(
    Hello,
    super::code::HELLO,
    "HELLO",
    fields {
        realm: "realm URI",
        details: "details dict"
    }
);

/// `[WELCOME, Session|id, Details|dict]`: the router admits a session.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Welcome {
    /// The session's id, in the global scope.
    pub session: u64,
    /// The router's roles and features, and the session's auth facts.
    pub details: Dict,
}
wire_format!(
    Welcome,
    super::code::WELCOME,
    "WELCOME",
    fields {
        session: "session id",
        details: "details dict"
    }
);

/// `[ABORT, Details|dict, Reason|uri]`: a session ends before or instead of
/// starting, or a peer gives up on a broken one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Abort {
    /// Usually `{"message": "..."}`.
    pub details: Dict,
    /// Why, as an error URI.
    pub reason: String,
}
wire_format!(
    Abort,
    super::code::ABORT,
    "ABORT",
    fields {
        details: "details dict",
        reason: "reason URI"
    }
);

/// `[CHALLENGE, AuthMethod|string, Extra|dict]`: the router asks for proof.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Challenge {
    /// The authentication method chosen.
    pub auth_method: String,
    /// Method-specific data.
    pub extra: Dict,
}
wire_format!(
    Challenge,
    super::code::CHALLENGE,
    "CHALLENGE",
    fields {
        auth_method: "auth method",
        extra: "extra dict"
    }
);

/// `[AUTHENTICATE, Signature|string, Extra|dict]`: the client's answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Authenticate {
    /// The proof.
    pub signature: String,
    /// Method-specific data.
    pub extra: Dict,
}
wire_format!(
    Authenticate,
    super::code::AUTHENTICATE,
    "AUTHENTICATE",
    fields {
        signature: "signature",
        extra: "extra dict"
    }
);

/// `[GOODBYE, Details|dict, Reason|uri]`: one side closes, the other replies.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Goodbye {
    /// Usually empty, or `{"message": "..."}`.
    pub details: Dict,
    /// `wamp.close.*` or an error URI.
    pub reason: String,
}
wire_format!(
    Goodbye,
    super::code::GOODBYE,
    "GOODBYE",
    fields {
        details: "details dict",
        reason: "reason URI"
    }
);

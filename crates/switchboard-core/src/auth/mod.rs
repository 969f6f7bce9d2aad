//! Who a session is: the realm's authentication config, and the handshake
//! (HELLO, CHALLENGE, AUTHENTICATE) that ends in an [`Identity`] or an ABORT
//! (`rfc/text/advanced/authentication.md`).
//!
//! The handshake runs before a session reaches its realm, on the connection's
//! own thread: the costly parts (argon2 ticket hashes, PBKDF2 for secrets a
//! dynamic authenticator returns, Ed25519 checks) never hold up a realm. The
//! realm only admits identities that are already decided. Like everything in
//! this crate it does no I/O: randomness and wall time are passed in, and a
//! dynamic authenticator is an output ([`Step::Ask`]) whose answer is an input.

mod cryptosign;
mod dynamic;
mod handshake;
mod principals;
mod throttle;
mod ticket;
mod wampcra;

use switchboard_proto::Dict;

pub use cryptosign::{PublicKey, PublicKeyError};
pub use dynamic::{AuthenticatorReply, AuthenticatorRequest};
pub use handshake::{Fresh, Handshake, PasswordCheck, Refusal, Step, MAX_SIGNATURE_LEN};
pub use principals::{Principal, PrincipalError, Principals};
pub use throttle::FailureThrottle;
pub use ticket::{hash_ticket, Ticket, TicketError};
pub use wampcra::{derive_key, CraKey, Salt, SaltError};

use crate::permissions::Permissions;
use crate::realm::SessionId;

/// An authentication method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// No credentials.
    Anonymous,
    /// A shared secret sent as is.
    Ticket,
    /// HMAC challenge-response over a shared secret.
    WampCra,
    /// Ed25519 signature of a random challenge.
    Cryptosign,
}

impl AuthMethod {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Anonymous => "anonymous",
            AuthMethod::Ticket => "ticket",
            AuthMethod::WampCra => "wampcra",
            AuthMethod::Cryptosign => "cryptosign",
        }
    }

    /// The method of that name, if the router has it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "anonymous" => Some(AuthMethod::Anonymous),
            "ticket" => Some(AuthMethod::Ticket),
            "wampcra" => Some(AuthMethod::WampCra),
            "cryptosign" => Some(AuthMethod::Cryptosign),
            _ => None,
        }
    }
}

/// Who vouched for an identity (WELCOME's `authprovider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthProvider {
    /// The realm's configured principals (or its anonymous role).
    Static,
    /// The realm's dynamic authenticator.
    Dynamic,
    /// The router itself, for its own internal sessions: they are not subject
    /// to the realm's permissions.
    Router,
}

impl AuthProvider {
    /// The provider's name in WELCOME.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthProvider::Static => "static",
            AuthProvider::Dynamic => "dynamic",
            AuthProvider::Router => "switchboard",
        }
    }
}

/// A decided identity, ready to join its realm.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The authid; `None` for anonymous sessions, which the realm names after
    /// their session id.
    pub authid: Option<String>,
    /// The role whose permissions apply.
    pub authrole: String,
    /// How the session authenticated.
    pub authmethod: AuthMethod,
    /// Who vouched for it.
    pub authprovider: AuthProvider,
    /// WELCOME's `authextra` (what a dynamic authenticator returned as `extra`).
    pub authextra: Dict,
    /// The session id promised in a challenge, used if it is still free.
    pub session: Option<SessionId>,
}

impl Identity {
    /// An anonymous session acting as `role`.
    pub fn anonymous(role: impl Into<String>) -> Self {
        Self {
            authid: None,
            authrole: role.into(),
            authmethod: AuthMethod::Anonymous,
            authprovider: AuthProvider::Static,
            authextra: Dict::new(),
            session: None,
        }
    }

    /// One of the router's own sessions (it calls dynamic authenticators).
    pub fn router(authid: impl Into<String>) -> Self {
        Self {
            authid: Some(authid.into()),
            authrole: "switchboard.router".to_owned(),
            authmethod: AuthMethod::Anonymous,
            authprovider: AuthProvider::Router,
            authextra: Dict::new(),
            session: None,
        }
    }

    /// Whether the realm's permissions are skipped for this session.
    pub fn is_router(&self) -> bool {
        self.authprovider == AuthProvider::Router
    }
}

/// Where a realm's dynamic authenticator is registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatorRef {
    /// The procedure, called as `(realm, authid, details)`.
    pub procedure: String,
    /// The realm it is registered in.
    pub realm: String,
}

/// A realm's security: who may join, how they prove it, and what each role may do.
#[derive(Debug, PartialEq)]
pub struct RealmSecurity {
    /// The methods the realm accepts.
    pub methods: Vec<AuthMethod>,
    /// The role anonymous sessions act as.
    pub anonymous_role: String,
    /// The configured principals.
    pub principals: Principals,
    /// Asked about authids that are not configured principals.
    pub authenticator: Option<AuthenticatorRef>,
    /// What each role may do.
    pub permissions: Permissions,
}

impl RealmSecurity {
    /// Anonymous sessions with every right: a realm with no security config.
    pub fn open() -> Self {
        Self {
            methods: vec![AuthMethod::Anonymous],
            anonymous_role: "anonymous".to_owned(),
            principals: Principals::default(),
            authenticator: None,
            permissions: Permissions::AllowAll,
        }
    }

    /// Whether the realm accepts `method`.
    pub fn accepts(&self, method: AuthMethod) -> bool {
        self.methods.contains(&method)
    }
}

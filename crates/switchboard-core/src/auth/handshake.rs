//! One session's authentication handshake, from HELLO to an [`Identity`] or an
//! ABORT.
//!
//! [`Handshake::start`] takes the HELLO; each later input
//! ([`Handshake::authenticate`] for the client's AUTHENTICATE,
//! [`Handshake::answer`] for the dynamic authenticator's reply) returns the next
//! [`Step`]. Randomness and the wall clock come in once, as [`Fresh`], so a
//! handshake is a pure function of its inputs.

use std::sync::Arc;
use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use switchboard_proto::error_uri::{
    AUTHENTICATION_DENIED, AUTHENTICATION_FAILED, NO_MATCHING_AUTH_METHOD, NO_SUCH_PRINCIPAL,
    NO_SUCH_ROLE, PROTOCOL_VIOLATION,
};
use switchboard_proto::{Authenticate, Challenge, Dict, Hello, Message, Value, MAX_ID};

use super::dynamic::{read_reply, Vouched};
use super::wampcra::ChallengeFields;
use super::{
    AuthMethod, AuthProvider, AuthenticatorReply, AuthenticatorRequest, CraKey, Identity,
    Principal, PublicKey, RealmSecurity, Ticket,
};
use crate::realm::SessionId;
use crate::replies::abort;

/// Longest AUTHENTICATE signature read. The longest legitimate one is a
/// cryptosign signature with its message, 192 hex characters; tickets are
/// secrets a person or a config chose.
pub const MAX_SIGNATURE_LEN: usize = 4096;

/// Randomness and time for one handshake, drawn by its owner.
#[derive(Debug, Clone, Copy)]
pub struct Fresh {
    /// A cryptosign challenge, or a WAMP-CRA nonce (from a CSPRNG).
    pub random: [u8; 32],
    /// The session id to promise in a WAMP-CRA challenge.
    pub session: SessionId,
    /// Now, for the WAMP-CRA challenge's timestamp.
    pub now: SystemTime,
}

impl Fresh {
    /// Draws from a cryptographically secure `rng`.
    pub fn draw(rng: &mut (impl rand::RngCore + rand::CryptoRng), now: SystemTime) -> Self {
        use rand::Rng;
        let mut random = [0u8; 32];
        rng.fill_bytes(&mut random);
        Self {
            random,
            session: rng.gen_range(1..=MAX_ID),
            now,
        }
    }
}

/// What the handshake's owner must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Send this CHALLENGE and wait for AUTHENTICATE.
    Challenge(Message),
    /// Call the dynamic authenticator and pass its reply to [`Handshake::answer`].
    Ask(AuthenticatorRequest),
    /// Run this check away from the realm's thread and pass its outcome to
    /// [`Handshake::checked`].
    Check(PasswordCheck),
    /// The session may join as this identity.
    Admit(Identity),
    /// The session is refused.
    Refuse(Refusal),
}

/// Why a handshake failed: the ABORT's reason URI and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The ABORT reason.
    pub reason: String,
    /// Its `details.message`.
    pub message: String,
}

impl Refusal {
    /// A refusal with any reason URI.
    pub fn new(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// Wrong credentials.
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(AUTHENTICATION_DENIED, message)
    }

    /// Authentication could not be carried out.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(AUTHENTICATION_FAILED, message)
    }

    /// The ABORT for the client.
    pub fn to_abort(&self) -> Message {
        abort(&self.reason, self.message.clone())
    }
}

/// An identity decided but for the proof.
#[derive(Debug, Clone)]
struct Claim {
    authid: String,
    role: String,
    provider: AuthProvider,
    extra: Dict,
}

impl Claim {
    fn of(principal: &Principal) -> Self {
        Self {
            authid: principal.authid.clone(),
            role: principal.role.clone(),
            provider: AuthProvider::Static,
            extra: Dict::new(),
        }
    }
}

/// What AUTHENTICATE must prove.
#[derive(Debug, Clone)]
enum Proof {
    Ticket(Claim, Ticket),
    /// The ticket goes to the dynamic authenticator.
    TicketForAuthenticator,
    WampCra(Claim, CraKey, String),
    Cryptosign(Claim, PublicKey),
}

#[derive(Debug, Clone)]
enum State {
    Challenged(Box<Proof>),
    Asking,
    Checking(Box<Claim>),
    Finished,
}

/// A ticket offered against a password hash: slow on purpose (argon2id's
/// defaults take about 26 ms of CPU), so the transport runs it on a thread
/// of its own rather than on the realm's, where every session's calls would
/// wait behind it. The outcome goes back through [`Handshake::checked`].
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordCheck {
    ticket: Ticket,
    offered: String,
}

impl PasswordCheck {
    /// Whether the offered ticket matches the hash.
    pub fn run(&self) -> bool {
        self.ticket.verify(&self.offered)
    }
}

impl std::fmt::Debug for PasswordCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordCheck")
            .field("ticket", &self.ticket)
            .field("offered", &"<redacted>")
            .finish()
    }
}

/// One session's handshake. See the module documentation.
#[derive(Debug)]
pub struct Handshake {
    security: Arc<RealmSecurity>,
    hello: Hello,
    method: AuthMethod,
    peer: Option<String>,
    fresh: Fresh,
    state: State,
}

impl Handshake {
    /// Starts on `hello` for a realm with `security`. `peer` describes the
    /// client's address for a dynamic authenticator.
    pub fn start(
        security: Arc<RealmSecurity>,
        hello: Hello,
        peer: Option<String>,
        fresh: Fresh,
    ) -> (Self, Step) {
        let chosen = choose_method(&security, &hello);
        let mut handshake = Self {
            security,
            hello,
            method: chosen.as_ref().map_or(AuthMethod::Anonymous, |m| *m),
            peer,
            fresh,
            state: State::Finished,
        };
        let step = match chosen {
            Ok(method) => handshake.begin(method),
            Err(refusal) => Step::Refuse(refusal),
        };
        (handshake, step)
    }

    /// The HELLO this handshake started from.
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// Gives the HELLO back, once the handshake is over.
    pub fn into_hello(self) -> Hello {
        self.hello
    }

    /// The method chosen (for logs and metrics).
    pub fn method(&self) -> AuthMethod {
        self.method
    }

    /// The authid the client asked for, if any (for logs).
    pub fn requested_authid(&self) -> Option<&str> {
        self.hello.details.get("authid").and_then(Value::as_str)
    }

    /// The client's AUTHENTICATE.
    pub fn authenticate(&mut self, message: &Authenticate) -> Step {
        let State::Challenged(proof) = std::mem::replace(&mut self.state, State::Finished) else {
            return Step::Refuse(Refusal::new(
                PROTOCOL_VIOLATION,
                "AUTHENTICATE was not asked for",
            ));
        };
        let signature = message.signature.as_str();
        if signature.len() > MAX_SIGNATURE_LEN {
            return Step::Refuse(Refusal::failed(format!(
                "a signature of {} bytes is longer than the {MAX_SIGNATURE_LEN} allowed",
                signature.len()
            )));
        }
        let (claim, valid) = match *proof {
            Proof::TicketForAuthenticator => {
                self.state = State::Asking;
                let mut details = Dict::new();
                details.insert("ticket".into(), Value::from(signature));
                return Step::Ask(self.request(details));
            }
            Proof::Ticket(claim, ticket @ Ticket::Hashed(_)) => {
                self.state = State::Checking(Box::new(claim));
                return Step::Check(PasswordCheck {
                    ticket,
                    offered: signature.to_owned(),
                });
            }
            Proof::Ticket(claim, ticket) => (claim, ticket.verify(signature)),
            Proof::WampCra(claim, key, challenge) => (claim, key.verify(&challenge, signature)),
            Proof::Cryptosign(claim, key) => (claim, key.verify(&self.fresh.random, signature)),
        };
        self.judged(claim, valid)
    }

    /// The outcome of the [`PasswordCheck`] this handshake asked for.
    pub fn checked(&mut self, valid: bool) -> Step {
        match std::mem::replace(&mut self.state, State::Finished) {
            State::Checking(claim) => self.judged(*claim, valid),
            _ => Step::Refuse(Refusal::failed("a password check was not expected")),
        }
    }

    fn judged(&self, claim: Claim, valid: bool) -> Step {
        if valid {
            Step::Admit(self.identity(claim))
        } else {
            Step::Refuse(Refusal::denied(format!(
                "wrong {} credentials for {:?}",
                self.method.as_str(),
                claim.authid
            )))
        }
    }

    /// The dynamic authenticator's reply.
    pub fn answer(&mut self, reply: AuthenticatorReply) -> Step {
        if !matches!(
            std::mem::replace(&mut self.state, State::Finished),
            State::Asking
        ) {
            return Step::Refuse(Refusal::failed("an authenticator answer was not expected"));
        }
        match read_reply(self.method, reply) {
            Ok(vouched) => self.vouched(vouched),
            Err(refusal) => Step::Refuse(refusal),
        }
    }

    fn begin(&mut self, method: AuthMethod) -> Step {
        let authid = self.requested_authid().map(str::to_owned);
        let principal = authid
            .as_deref()
            .and_then(|a| self.security.principals.get(a))
            .cloned();
        let dynamic = self.security.authenticator.is_some();
        match method {
            AuthMethod::Anonymous => Step::Admit(Identity {
                session: Some(self.fresh.session),
                ..Identity::anonymous(self.security.anonymous_role.clone())
            }),
            AuthMethod::Ticket | AuthMethod::WampCra if authid.is_none() => {
                Step::Refuse(Refusal::new(
                    NO_SUCH_PRINCIPAL,
                    format!("{} needs an authid", method.as_str()),
                ))
            }
            AuthMethod::Ticket => match principal {
                Some(p) => match p.ticket.clone() {
                    Some(ticket) => self.challenge(Proof::Ticket(Claim::of(&p), ticket)),
                    None => Step::Refuse(no_credential(&p, method)),
                },
                None if dynamic => self.challenge(Proof::TicketForAuthenticator),
                None => Step::Refuse(unknown(authid.as_deref())),
            },
            AuthMethod::WampCra => match principal {
                Some(p) => match p.wampcra.clone() {
                    Some(key) => self.cra_challenge(Claim::of(&p), key),
                    None => Step::Refuse(no_credential(&p, method)),
                },
                None if dynamic => self.ask(),
                None => Step::Refuse(unknown(authid.as_deref())),
            },
            AuthMethod::Cryptosign => self.begin_cryptosign(authid.as_deref(), principal, dynamic),
        }
    }

    fn begin_cryptosign(
        &mut self,
        authid: Option<&str>,
        principal: Option<Principal>,
        dynamic: bool,
    ) -> Step {
        let authextra = self.hello.details.get("authextra").and_then(Value::as_dict);
        let binding = authextra.and_then(|e| e.get("channel_binding"));
        if binding.is_some_and(|b| *b != Value::Null) {
            return Step::Refuse(Refusal::failed(
                "cryptosign channel binding is not supported by this router",
            ));
        }
        let Some(key) = self.offered_key() else {
            return Step::Refuse(Refusal::failed(
                "cryptosign needs authextra.pubkey: the hex Ed25519 public key",
            ));
        };
        let principal = match authid {
            Some(_) => principal,
            None => self.security.principals.by_key(&key).cloned(),
        };
        match principal {
            Some(p) if p.authorized_keys.contains(&key) => {
                self.challenge(Proof::Cryptosign(Claim::of(&p), key))
            }
            Some(p) => Step::Refuse(Refusal::denied(format!(
                "public key {} is not authorized for {:?}",
                key.to_hex(),
                p.authid
            ))),
            None if dynamic => self.ask(),
            None => Step::Refuse(unknown(authid)),
        }
    }

    fn offered_key(&self) -> Option<PublicKey> {
        let authextra = self.hello.details.get("authextra")?.as_dict()?;
        PublicKey::from_hex(authextra.get("pubkey")?.as_str()?).ok()
    }

    fn vouched(&mut self, vouched: Vouched) -> Step {
        if !self.security.permissions.has_role(&vouched.role) {
            return Step::Refuse(Refusal::new(
                NO_SUCH_ROLE,
                format!("the realm has no role {:?}", vouched.role),
            ));
        }
        let authid = vouched
            .authid
            .or_else(|| self.requested_authid().map(str::to_owned))
            .or_else(|| self.offered_key().map(PublicKey::to_hex));
        let Some(authid) = authid else {
            return Step::Refuse(unknown(None));
        };
        let claim = Claim {
            authid,
            role: vouched.role,
            provider: AuthProvider::Dynamic,
            extra: vouched.extra,
        };
        match self.method {
            AuthMethod::WampCra => match vouched.wampcra {
                Some(key) => self.cra_challenge(claim, key),
                None => Step::Refuse(Refusal::failed("the authenticator returned no secret")),
            },
            AuthMethod::Cryptosign => match self.offered_key() {
                Some(key) if vouched.keys.contains(&key) => {
                    self.challenge(Proof::Cryptosign(claim, key))
                }
                _ => Step::Refuse(Refusal::denied(format!(
                    "the offered public key is not authorized for {:?}",
                    claim.authid
                ))),
            },
            AuthMethod::Ticket | AuthMethod::Anonymous => Step::Admit(self.identity(claim)),
        }
    }

    fn cra_challenge(&mut self, claim: Claim, key: CraKey) -> Step {
        let nonce = BASE64.encode(&self.fresh.random[..16]);
        let timestamp = humantime::format_rfc3339_millis(self.fresh.now).to_string();
        let text = ChallengeFields {
            authid: &claim.authid,
            authrole: &claim.role,
            authprovider: claim.provider.as_str(),
            session: self.fresh.session,
            nonce: &nonce,
            timestamp: &timestamp,
        }
        .to_json();
        self.challenge(Proof::WampCra(claim, key, text))
    }

    fn challenge(&mut self, proof: Proof) -> Step {
        let extra = match &proof {
            Proof::Ticket(..) | Proof::TicketForAuthenticator => Dict::new(),
            Proof::WampCra(_, key, text) => key.challenge_extra(text),
            Proof::Cryptosign(..) => {
                let mut extra = Dict::new();
                extra.insert(
                    "challenge".into(),
                    Value::from(hex::encode(self.fresh.random)),
                );
                extra.insert("channel_binding".into(), Value::Null);
                extra
            }
        };
        self.state = State::Challenged(Box::new(proof));
        Step::Challenge(Message::Challenge(Challenge {
            auth_method: self.method.as_str().to_owned(),
            extra,
        }))
    }

    fn ask(&mut self) -> Step {
        self.state = State::Asking;
        Step::Ask(self.request(Dict::new()))
    }

    /// The authenticator call: `(realm, authid, details)`.
    fn request(&self, mut details: Dict) -> AuthenticatorRequest {
        let hello = &self.hello.details;
        details.insert("authmethod".into(), Value::from(self.method.as_str()));
        details.insert("session".into(), Value::UInt(self.fresh.session));
        for key in ["authid", "authrole", "authextra"] {
            if let Some(value) = hello.get(key) {
                details.insert(key.into(), value.clone());
            }
        }
        if let Some(peer) = &self.peer {
            let mut transport = Dict::new();
            transport.insert("peer".into(), Value::from(peer.as_str()));
            details.insert("transport".into(), Value::Dict(transport));
        }
        let authenticator = self
            .security
            .authenticator
            .as_ref()
            .unwrap_or_else(|| unreachable!("asked only when an authenticator is configured"));
        AuthenticatorRequest {
            realm: authenticator.realm.clone(),
            procedure: authenticator.procedure.clone(),
            args: vec![
                Value::from(self.hello.realm.as_str()),
                hello.get("authid").cloned().unwrap_or(Value::Null),
                Value::Dict(details),
            ],
        }
    }

    fn identity(&self, claim: Claim) -> Identity {
        Identity {
            authid: Some(claim.authid),
            authrole: claim.role,
            authmethod: self.method,
            authprovider: claim.provider,
            authextra: claim.extra,
            session: Some(self.fresh.session),
        }
    }
}

/// The first method the client offers (in its order of preference) that the
/// realm accepts and, for a configured authid, that the principal has a
/// credential for. A HELLO without `authmethods` offers `anonymous`.
fn choose_method(security: &RealmSecurity, hello: &Hello) -> Result<AuthMethod, Refusal> {
    let offered: Vec<&str> = match hello.details.get("authmethods").and_then(Value::as_list) {
        Some(list) if !list.is_empty() => list.iter().filter_map(Value::as_str).collect(),
        _ => vec![AuthMethod::Anonymous.as_str()],
    };
    let principal = hello
        .details
        .get("authid")
        .and_then(Value::as_str)
        .and_then(|authid| security.principals.get(authid));
    offered
        .iter()
        .filter_map(|name| AuthMethod::from_name(name))
        .find(|&method| {
            security.accepts(method)
                && match (method, principal) {
                    (AuthMethod::Anonymous, _) | (_, None) => true,
                    (_, Some(p)) => p.can_use(method),
                }
        })
        .ok_or_else(|| {
            Refusal::new(
                NO_MATCHING_AUTH_METHOD,
                format!(
                    "none of the offered authmethods {offered:?} is accepted here (the realm accepts {:?})",
                    security.methods.iter().map(|m| m.as_str()).collect::<Vec<_>>()
                ),
            )
        })
}

fn unknown(authid: Option<&str>) -> Refusal {
    Refusal::new(
        NO_SUCH_PRINCIPAL,
        match authid {
            Some(authid) => format!("no principal {authid:?}"),
            None => "no principal holds the offered key".to_owned(),
        },
    )
}

fn no_credential(principal: &Principal, method: AuthMethod) -> Refusal {
    Refusal::denied(format!(
        "{:?} has no {} credentials",
        principal.authid,
        method.as_str()
    ))
}

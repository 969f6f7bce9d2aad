//! The dynamic authenticator, in Crossbar.io's convention: a WAMP procedure,
//! called as `(realm, authid, details)`, that vouches for authids the config
//! does not name. What it must return depends on the method: a role (ticket,
//! once the ticket is known), the secret (wampcra) or the public keys
//! (cryptosign), before the challenge.

use switchboard_proto::error_uri::{
    AUTHENTICATION_FAILED, CANCELED, NETWORK_FAILURE, NO_SUCH_PROCEDURE, TIMEOUT,
};
use switchboard_proto::{Dict, Value};

use super::handshake::Refusal;
use super::{AuthMethod, CraKey, PublicKey};

/// A call the transport must make on the router's behalf.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthenticatorRequest {
    /// The realm the procedure is registered in.
    pub realm: String,
    /// The procedure.
    pub procedure: String,
    /// `[realm, authid, details]`.
    pub args: Vec<Value>,
}

/// What the call returned.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthenticatorReply {
    /// RESULT: its positional and keyword arguments.
    Result(Vec<Value>, Dict),
    /// ERROR: its URI and message (`args[0]`), or a failure to make the call.
    Error {
        /// The error URI.
        uri: String,
        /// A human-readable reason.
        message: String,
    },
}

/// What an authenticator said about an authid.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Vouched {
    pub(super) authid: Option<String>,
    pub(super) role: String,
    pub(super) extra: Dict,
    pub(super) wampcra: Option<CraKey>,
    pub(super) keys: Vec<PublicKey>,
}

/// Errors of the router's own making (the procedure could not be reached or
/// did not answer in time) fail secure; errors the procedure raised, such as
/// `com.example.no_such_user`, are the client's answer and pass through.
fn router_made(uri: &str) -> bool {
    [NO_SUCH_PROCEDURE, CANCELED, TIMEOUT, NETWORK_FAILURE].contains(&uri)
        || uri.starts_with("wamp.error.no_available_callee")
        || uri == "wamp.error.unavailable"
}

/// Reads the authenticator's answer for `method`.
pub(super) fn read_reply(
    method: AuthMethod,
    reply: AuthenticatorReply,
) -> Result<Vouched, Refusal> {
    let (args, kwargs) = match reply {
        AuthenticatorReply::Error { uri, message } if router_made(&uri) => {
            return Err(Refusal::failed(format!(
                "the authenticator could not be called ({uri}: {message})"
            )))
        }
        AuthenticatorReply::Error { uri, message } => return Err(Refusal::new(uri, message)),
        AuthenticatorReply::Result(args, kwargs) => (args, kwargs),
    };
    let answer = match args.into_iter().next() {
        Some(value) => value,
        None if !kwargs.is_empty() => Value::Dict(kwargs),
        None => return Err(bad_answer("it returned nothing")),
    };
    let dict = match answer {
        Value::String(role) if method == AuthMethod::Ticket => {
            let mut d = Dict::new();
            d.insert("role".into(), Value::String(role));
            d
        }
        Value::Dict(d) => d,
        _ => return Err(bad_answer("it returned neither a dict nor a role")),
    };
    let text = |key: &str| -> Result<Option<String>, Refusal> {
        match dict.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad_answer(&format!("{key} is not a string"))),
        }
    };
    let number = |key: &str| -> Result<Option<u32>, Refusal> {
        match dict.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| bad_answer(&format!("{key} is not a number"))),
        }
    };
    let role = text("role")?.ok_or_else(|| {
        Refusal::new(
            switchboard_proto::error_uri::NO_SUCH_ROLE,
            "the authenticator assigned no role",
        )
    })?;
    let extra = match dict.get("extra") {
        None | Some(Value::Null) => Dict::new(),
        Some(Value::Dict(d)) => d.clone(),
        Some(_) => return Err(bad_answer("extra is not a dict")),
    };
    let wampcra = match method {
        AuthMethod::WampCra => {
            let secret = text("secret")?.ok_or_else(|| bad_answer("no secret"))?;
            let key = CraKey::from_parts(
                &secret,
                text("salt")?,
                number("iterations")?,
                number("keylen")?,
            )
            .map_err(|e| bad_answer(&e.to_string()))?;
            Some(key)
        }
        _ => None,
    };
    let keys = match method {
        AuthMethod::Cryptosign => {
            let listed: Vec<&Value> = match dict.get("pubkey") {
                Some(Value::List(list)) => list.iter().collect(),
                Some(one @ Value::String(_)) => vec![one],
                _ => return Err(bad_answer("no pubkey")),
            };
            listed
                .into_iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| bad_answer("a pubkey is not a string"))
                        .and_then(|s| {
                            PublicKey::from_hex(s).map_err(|e| bad_answer(&e.to_string()))
                        })
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        _ => Vec::new(),
    };
    Ok(Vouched {
        authid: text("authid")?,
        role,
        extra,
        wampcra,
        keys,
    })
}

fn bad_answer(why: &str) -> Refusal {
    Refusal::new(
        AUTHENTICATION_FAILED,
        format!("the authenticator's answer is unusable: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(pairs: &[(&str, Value)]) -> Value {
        Value::Dict(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    fn result(value: Value) -> AuthenticatorReply {
        AuthenticatorReply::Result(vec![value], Dict::new())
    }

    #[test]
    fn a_ticket_authenticator_may_return_just_a_role() {
        let v = read_reply(AuthMethod::Ticket, result(Value::from("frontend"))).unwrap();
        assert_eq!((v.role.as_str(), v.authid), ("frontend", None));
    }

    #[test]
    fn a_dict_may_replace_the_authid_and_carry_extra() {
        let answer = dict(&[
            ("role", Value::from("r")),
            ("authid", Value::from("joe@example")),
            ("extra", dict(&[("tier", Value::from("gold"))])),
        ]);
        let v = read_reply(AuthMethod::Ticket, result(answer)).unwrap();
        assert_eq!(v.authid.as_deref(), Some("joe@example"));
        assert_eq!(v.extra.get("tier"), Some(&Value::from("gold")));
    }

    #[test]
    fn wampcra_needs_a_secret_and_cryptosign_a_pubkey() {
        let no_secret = dict(&[("role", Value::from("r"))]);
        assert!(read_reply(AuthMethod::WampCra, result(no_secret.clone())).is_err());
        assert!(read_reply(AuthMethod::Cryptosign, result(no_secret)).is_err());
        let salted = dict(&[
            ("role", Value::from("r")),
            ("secret", Value::from("pw")),
            ("salt", Value::from("s")),
            ("iterations", Value::Int(10)),
            ("keylen", Value::Int(32)),
        ]);
        assert!(read_reply(AuthMethod::WampCra, result(salted))
            .unwrap()
            .wampcra
            .is_some());
        let key = "1adfc8bfe1d35616e64dffbd900096f23b066f914c8c2ffbb66f6075b96e116d";
        let keyed = dict(&[
            ("role", Value::from("r")),
            ("pubkey", Value::List(vec![Value::from(key)])),
        ]);
        assert_eq!(
            read_reply(AuthMethod::Cryptosign, result(keyed))
                .unwrap()
                .keys
                .len(),
            1
        );
    }

    #[test]
    fn an_application_error_passes_through_and_a_router_error_fails_secure() {
        let raised = AuthenticatorReply::Error {
            uri: "com.example.no_such_user".into(),
            message: "who?".into(),
        };
        assert_eq!(
            read_reply(AuthMethod::Ticket, raised).unwrap_err().reason,
            "com.example.no_such_user"
        );
        let unreachable = AuthenticatorReply::Error {
            uri: NO_SUCH_PROCEDURE.into(),
            message: String::new(),
        };
        assert_eq!(
            read_reply(AuthMethod::Ticket, unreachable)
                .unwrap_err()
                .reason,
            AUTHENTICATION_FAILED
        );
    }

    #[test]
    fn an_answer_without_a_role_is_no_such_role() {
        let refusal = read_reply(AuthMethod::Ticket, result(dict(&[]))).unwrap_err();
        assert_eq!(refusal.reason, switchboard_proto::error_uri::NO_SUCH_ROLE);
    }
}

//! WAMP-CRA (`rfc/text/advanced/authentication_cra.md`): the router sends a
//! JSON challenge string, the client answers with base64(HMAC-SHA256(key, it)).
//!
//! Salted secrets follow Autobahn's `derive_key`, which is what every client
//! does: the key is the *base64 text* of PBKDF2-HMAC-SHA256(password, salt),
//! and those ASCII bytes (not the raw PBKDF2 output) are the HMAC key. The
//! router derives it once, when the config is loaded, so a login costs one HMAC
//! whatever the iteration count.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use switchboard_proto::{Dict, Value};

/// The salt parameters sent in a salted challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Salt {
    /// The salt, used as its UTF-8 bytes (as Autobahn does).
    pub salt: String,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// Derived key length in bytes.
    pub keylen: u32,
}

/// Bounds on salt parameters, so a config (or a dynamic authenticator) cannot
/// make one login cost seconds of CPU, nor an empty key.
const MAX_ITERATIONS: u32 = 10_000_000;
const MAX_KEYLEN: u32 = 1024;

/// Why salt parameters are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaltError {
    /// Iterations out of `1..=10_000_000`.
    #[error("iterations must be between 1 and {MAX_ITERATIONS}")]
    Iterations,
    /// Key length out of `1..=1024`.
    #[error("keylen must be between 1 and {MAX_KEYLEN}")]
    KeyLen,
    /// Only some of salt, iterations and keylen were given.
    #[error("a salted secret needs all of salt, iterations and keylen")]
    Partial,
}

/// The HMAC key of a principal, and the salt to announce if it is salted.
#[derive(Clone, PartialEq, Eq)]
pub struct CraKey {
    key: Vec<u8>,
    salt: Option<Salt>,
}

impl CraKey {
    /// A plain secret: its UTF-8 bytes are the key.
    pub fn unsalted(secret: &str) -> Self {
        Self {
            key: secret.as_bytes().to_vec(),
            salt: None,
        }
    }

    /// A password with salt parameters: the key is Autobahn's `derive_key`.
    pub fn salted(password: &str, salt: Salt) -> Result<Self, SaltError> {
        if !(1..=MAX_ITERATIONS).contains(&salt.iterations) {
            return Err(SaltError::Iterations);
        }
        if !(1..=MAX_KEYLEN).contains(&salt.keylen) {
            return Err(SaltError::KeyLen);
        }
        let key = derive_key(password, &salt.salt, salt.iterations, salt.keylen);
        Ok(Self {
            key: key.into_bytes(),
            salt: Some(salt),
        })
    }

    /// From optional salt parameters: none means unsalted, all three salted.
    pub fn from_parts(
        secret: &str,
        salt: Option<String>,
        iterations: Option<u32>,
        keylen: Option<u32>,
    ) -> Result<Self, SaltError> {
        match (salt, iterations, keylen) {
            (None, None, None) => Ok(Self::unsalted(secret)),
            (Some(salt), Some(iterations), Some(keylen)) => Self::salted(
                secret,
                Salt {
                    salt,
                    iterations,
                    keylen,
                },
            ),
            _ => Err(SaltError::Partial),
        }
    }

    /// CHALLENGE.Extra: the challenge string, plus the salt parameters if salted.
    pub fn challenge_extra(&self, challenge: &str) -> Dict {
        let mut extra = Dict::new();
        extra.insert("challenge".into(), Value::from(challenge));
        if let Some(salt) = &self.salt {
            extra.insert("salt".into(), Value::from(salt.salt.as_str()));
            extra.insert("iterations".into(), Value::Int(salt.iterations.into()));
            extra.insert("keylen".into(), Value::Int(salt.keylen.into()));
        }
        extra
    }

    /// The signature a client holding this key sends for `challenge`.
    pub fn sign(&self, challenge: &str) -> String {
        BASE64.encode(self.hmac(challenge))
    }

    /// Whether `signature` (base64) is this key's signature of `challenge`,
    /// compared in constant time.
    pub fn verify(&self, challenge: &str, signature: &str) -> bool {
        let Ok(offered) = BASE64.decode(signature.trim()) else {
            return false;
        };
        self.hmac(challenge).ct_eq(&offered).into()
    }

    fn hmac(&self, challenge: &str) -> Vec<u8> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|e| unreachable!("HMAC takes any key length: {e}"));
        mac.update(challenge.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

impl std::fmt::Debug for CraKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CraKey")
            .field("key", &"<redacted>")
            .field("salt", &self.salt)
            .finish()
    }
}

/// Autobahn's `derive_key`: base64(PBKDF2-HMAC-SHA256(password, salt, iterations, keylen)).
pub fn derive_key(password: &str, salt: &str, iterations: u32, keylen: u32) -> String {
    let mut out = vec![0u8; keylen as usize];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt.as_bytes(), iterations, &mut out);
    BASE64.encode(out)
}

/// What the challenge string says (the spec's fields).
#[derive(Debug, Clone)]
pub(super) struct ChallengeFields<'a> {
    /// The authid being authenticated.
    pub(super) authid: &'a str,
    /// The role it will get.
    pub(super) authrole: &'a str,
    /// `static` or `dynamic`.
    pub(super) authprovider: &'a str,
    /// The session id the session will get.
    pub(super) session: u64,
    /// Random, so no two challenges are alike.
    pub(super) nonce: &'a str,
    /// UTC, ISO 8601 with milliseconds.
    pub(super) timestamp: &'a str,
}

impl ChallengeFields<'_> {
    /// The challenge as the JSON text the client signs (stored, never rebuilt).
    pub(super) fn to_json(&self) -> String {
        serde_json::json!({
            "authid": self.authid,
            "authrole": self.authrole,
            "authmethod": "wampcra",
            "authprovider": self.authprovider,
            "nonce": self.nonce,
            "timestamp": self.timestamp,
            "session": self.session,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derive_key_matches_autobahn() {
        // autobahn/wamp/test/test_wamp_auth.py::test_derive_key
        assert_eq!(
            derive_key("L3L1YUE8Txlw", "salt123", 1000, 32),
            "qzcdsr9uu/L5hnss3kjNTRe490ETgA70ZBaB5rvnJ5Y="
        );
        // Crossbar's docs: the salted secret of "secret1".
        assert_eq!(
            derive_key("secret1", "salt123", 100, 16),
            "prq7+YkJ1/KlW1X0YczMHw=="
        );
    }

    #[test]
    fn signatures_match_autobahn_compute_wcs() {
        // autobahn/wamp/test/test_wamp_auth.py::test_compute_wcs
        let key = CraKey::unsalted("L3L1YUE8Txlw");
        let signature = key.sign("[1, 2, 3]");
        assert_eq!(signature, "1njQtmmeYO41N5EWEzD2kAjjEKRZ5kPZt/TzpYXOzR0=");
        assert!(key.verify("[1, 2, 3]", &signature));
        assert!(!key.verify("[1, 2, 4]", &signature));
        assert!(!key.verify("[1, 2, 3]", "not base64!"));
    }

    #[test]
    fn a_salted_key_signs_with_the_base64_text_of_the_derived_key() {
        let salt = Salt {
            salt: "salt123".into(),
            iterations: 100,
            keylen: 32,
        };
        let key = CraKey::salted("s33kr1t", salt).unwrap();
        // Computed with Autobahn: compute_wcs(derive_key("s33kr1t", "salt123", 100, 32), "[1, 2, 3]").
        assert!(key.verify("[1, 2, 3]", "w/VDmzl+cNbT4pCo6O3rRTk6mPTQPU+Bk7wlQsRF54c="));
        let extra = key.challenge_extra("c");
        assert_eq!(extra.get("iterations"), Some(&Value::Int(100)));
        assert_eq!(extra.get("salt"), Some(&Value::from("salt123")));
    }

    #[test]
    fn partial_or_extreme_salt_parameters_are_refused() {
        assert_eq!(
            CraKey::from_parts("p", Some("s".into()), None, Some(32)),
            Err(SaltError::Partial)
        );
        assert_eq!(
            CraKey::from_parts("p", Some("s".into()), Some(0), Some(32)),
            Err(SaltError::Iterations)
        );
        assert_eq!(
            CraKey::from_parts("p", Some("s".into()), Some(10), Some(0)),
            Err(SaltError::KeyLen)
        );
    }

    #[test]
    fn the_challenge_is_json_with_the_spec_fields() {
        let text = ChallengeFields {
            authid: "peter",
            authrole: "backend",
            authprovider: "static",
            session: 42,
            nonce: "n",
            timestamp: "2026-01-01T00:00:00.000Z",
        }
        .to_json();
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["authmethod"], "wampcra");
        assert_eq!(parsed["session"], 42);
        assert_eq!(parsed["authid"], "peter");
    }
}

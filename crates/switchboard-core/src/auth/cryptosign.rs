//! WAMP-Cryptosign (`rfc/text/advanced/authentication_cryptosign.md`): the
//! router sends 32 random bytes, the client signs them with its Ed25519 key.
//!
//! The client's AUTHENTICATE signature is hex: either the 64-byte signature,
//! or (as Autobahn and PyNaCl send it) the signature followed by the 32 signed
//! bytes, which must then be the challenge. Channel binding is not offered:
//! rustls exposes no `tls-unique` value, the only binding Autobahn supports.

use ed25519_dalek::{Signature, VerifyingKey};

/// An Ed25519 public key a principal may sign with.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

/// Why a public key is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an Ed25519 public key (64 hex characters): {0}")]
pub struct PublicKeyError(String);

impl PublicKey {
    /// From its 64 hex characters.
    pub fn from_hex(text: &str) -> Result<Self, PublicKeyError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|e| PublicKeyError(e.to_string()))?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|e| PublicKeyError(e.to_string()))
    }

    /// The 32 bytes.
    pub fn to_bytes(self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The 64 hex characters (what an authid defaults to, as the spec suggests).
    pub fn to_hex(self) -> String {
        hex::encode(self.0.as_bytes())
    }

    /// Whether `signature` (hex, see the module docs) signs `challenge`.
    pub fn verify(&self, challenge: &[u8; 32], signature: &str) -> bool {
        let Ok(bytes) = hex::decode(signature.trim()) else {
            return false;
        };
        let (sig, signed) = match bytes.len() {
            64 => (&bytes[..], &challenge[..]),
            96 => (&bytes[..64], &bytes[64..]),
            _ => return false,
        };
        if signed != challenge {
            return false;
        }
        let Ok(sig) = Signature::from_slice(sig) else {
            return false;
        };
        self.0.verify_strict(challenge, &sig).is_ok()
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    #[test]
    fn the_spec_test_vector_verifies() {
        // rfc/text/advanced/authentication_cryptosign.md, "Test Vectors", no channel id.
        let key =
            PublicKey::from_hex("1adfc8bfe1d35616e64dffbd900096f23b066f914c8c2ffbb66f6075b96e116d")
                .unwrap();
        let challenge = [0xffu8; 32];
        let sig = "b32675b221f08593213737bef8240e7c15228b07028e19595294678c90d11c0cae80a357331bfc5cc9fb71081464e6e75013517c2cf067ad566a6b7b728e5d03";
        let with_message = format!("{sig}{}", "ff".repeat(32));
        assert!(key.verify(&challenge, sig));
        assert!(key.verify(&challenge, &with_message));
        assert!(!key.verify(&[0u8; 32], sig));
    }

    #[test]
    fn a_signature_over_other_bytes_or_by_another_key_fails() {
        let signer = SigningKey::from_bytes(&[7u8; 32]);
        let other = SigningKey::from_bytes(&[8u8; 32]);
        let key = PublicKey::from_hex(&hex::encode(signer.verifying_key().as_bytes())).unwrap();
        let challenge = [3u8; 32];
        let good = hex::encode(signer.sign(&challenge).to_bytes());
        assert!(key.verify(&challenge, &good));
        let by_other = hex::encode(other.sign(&challenge).to_bytes());
        assert!(!key.verify(&challenge, &by_other));
        // 96 bytes whose message part is not the challenge.
        let wrong_message = format!("{good}{}", hex::encode([4u8; 32]));
        assert!(!key.verify(&challenge, &wrong_message));
        for junk in ["", "zz", &"00".repeat(63), &"ab".repeat(5000)] {
            assert!(!key.verify(&challenge, junk));
        }
    }

    #[test]
    fn malformed_public_keys_are_refused() {
        assert!(PublicKey::from_hex("abcd").is_err());
        assert!(PublicKey::from_hex(&"zz".repeat(32)).is_err());
    }
}

//! Ticket authentication (`rfc/text/advanced/authentication_ticket.md`): the
//! client's AUTHENTICATE signature is a shared secret, checked against the
//! principal's ticket, stored in clear or as a password hash.

use argon2::password_hash::PasswordHash;
use argon2::Argon2;
use pbkdf2::Pbkdf2;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A principal's ticket as configured.
#[derive(Clone, PartialEq, Eq)]
pub enum Ticket {
    /// The ticket itself.
    Clear(String),
    /// A PHC string (`$argon2id$...` or `$pbkdf2-sha256$...`), so the config
    /// need not hold the ticket.
    Hashed(String),
}

/// Why a configured ticket is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// It starts like a PHC string but is not one.
    #[error("not a valid PHC hash string: {0}")]
    NotPhc(String),
    /// A PHC string of an algorithm the router cannot check.
    #[error("unsupported hash algorithm {0:?} (use argon2id or pbkdf2-sha256)")]
    Algorithm(String),
    /// An empty ticket would let an empty AUTHENTICATE in.
    #[error("a ticket must not be empty")]
    Empty,
}

impl Ticket {
    /// A ticket from config: a PHC hash if it starts with `$`, else the ticket.
    pub fn parse(text: &str) -> Result<Self, TicketError> {
        if text.is_empty() {
            return Err(TicketError::Empty);
        }
        if !text.starts_with('$') {
            return Ok(Ticket::Clear(text.to_owned()));
        }
        let hash = PasswordHash::new(text).map_err(|e| TicketError::NotPhc(e.to_string()))?;
        match hash.algorithm.as_str() {
            "argon2id" | "argon2i" | "argon2d" | "pbkdf2-sha256" | "pbkdf2-sha512" => {
                Ok(Ticket::Hashed(text.to_owned()))
            }
            other => Err(TicketError::Algorithm(other.to_owned())),
        }
    }

    /// Whether `offered` is this ticket. A clear ticket is compared through
    /// SHA-256 digests in constant time, so neither its content nor its length
    /// shows in the timing.
    pub fn verify(&self, offered: &str) -> bool {
        match self {
            Ticket::Clear(ticket) => {
                let want = Sha256::digest(ticket.as_bytes());
                let got = Sha256::digest(offered.as_bytes());
                want.ct_eq(&got).into()
            }
            Ticket::Hashed(phc) => PasswordHash::new(phc).is_ok_and(|hash| {
                hash.verify_password(&[&Argon2::default(), &Pbkdf2], offered)
                    .is_ok()
            }),
        }
    }
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ticket::Clear(_) => f.write_str("Ticket::Clear(<redacted>)"),
            Ticket::Hashed(phc) => write!(f, "Ticket::Hashed({phc})"),
        }
    }
}

/// An argon2id PHC string for `ticket`, with a fresh salt from `rng`: what
/// `switchboard hash-ticket` prints for the config.
pub fn hash_ticket(ticket: &str, rng: &mut (impl rand::RngCore + rand::CryptoRng)) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::generate(rng);
    Argon2::default()
        .hash_password(ticket.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .unwrap_or_else(|e| unreachable!("argon2 with default parameters cannot fail: {e}"))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn a_clear_ticket_matches_only_itself() {
        let ticket = Ticket::parse("secret!!!").unwrap();
        assert!(ticket.verify("secret!!!"));
        assert!(!ticket.verify("secret!!"));
        assert!(!ticket.verify(""));
    }

    #[test]
    fn an_argon2_hash_checks_the_ticket_it_was_made_from() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let phc = hash_ticket("secret!!!", &mut rng);
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        let ticket = Ticket::parse(&phc).unwrap();
        assert!(ticket.verify("secret!!!"));
        assert!(!ticket.verify("secret!!?"));
    }

    #[test]
    fn a_pbkdf2_phc_string_made_elsewhere_is_accepted() {
        // hashlib.pbkdf2_hmac('sha256', b'secret!!!', b'saltsaltsalt', 1000, 32),
        // in PHC base64 (no padding).
        let phc = "$pbkdf2-sha256$i=1000,l=32$c2FsdHNhbHRzYWx0$AEyIzD6uPhfXHexm3o5fsrtaX95EF5uzSG/Eel0+AVM";
        let ticket = Ticket::parse(phc).unwrap();
        assert!(ticket.verify("secret!!!"));
        assert!(!ticket.verify("secret"));
    }

    #[test]
    fn malformed_or_unknown_hashes_and_empty_tickets_are_refused_at_load() {
        assert!(matches!(Ticket::parse("$"), Err(TicketError::NotPhc(_))));
        assert!(matches!(
            Ticket::parse("$nope"),
            Err(TicketError::Algorithm(_))
        ));
        assert!(matches!(
            Ticket::parse("$md5$abc$def"),
            Err(TicketError::Algorithm(_) | TicketError::NotPhc(_))
        ));
        assert_eq!(Ticket::parse(""), Err(TicketError::Empty));
    }

    #[test]
    fn debug_never_shows_a_clear_ticket() {
        let shown = format!("{:?}", Ticket::parse("secret!!!").unwrap());
        assert!(!shown.contains("secret"), "{shown}");
    }
}

//! The principals a realm's config names: authids with a role and credentials.

use std::collections::HashMap;

use super::{AuthMethod, CraKey, PublicKey, Ticket};

/// One configured principal.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// Its authid.
    pub authid: String,
    /// The role its sessions act as.
    pub role: String,
    /// For `ticket`.
    pub ticket: Option<Ticket>,
    /// For `wampcra`.
    pub wampcra: Option<CraKey>,
    /// For `cryptosign`.
    pub authorized_keys: Vec<PublicKey>,
}

impl Principal {
    /// Whether it has a credential for `method`.
    pub fn can_use(&self, method: AuthMethod) -> bool {
        match method {
            AuthMethod::Anonymous => false,
            AuthMethod::Ticket => self.ticket.is_some(),
            AuthMethod::WampCra => self.wampcra.is_some(),
            AuthMethod::Cryptosign => !self.authorized_keys.is_empty(),
        }
    }
}

/// Why a set of principals is inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    /// Two principals share an authid.
    #[error("authid {0:?} is configured twice")]
    DuplicateAuthid(String),
    /// Two principals share a public key, so a key alone could not say who signs.
    #[error("public key {key} belongs to both {first:?} and {second:?}")]
    SharedKey {
        /// The key, in hex.
        key: String,
        /// One owner.
        first: String,
        /// The other.
        second: String,
    },
}

/// A realm's principals, by authid and by public key.
#[derive(Debug, Default, PartialEq)]
pub struct Principals {
    by_authid: HashMap<String, Principal>,
    by_key: HashMap<[u8; 32], String>,
}

impl Principals {
    /// Indexes `list`, refusing duplicate authids and keys.
    pub fn new(list: Vec<Principal>) -> Result<Self, PrincipalError> {
        let mut principals = Self::default();
        for principal in list {
            for key in &principal.authorized_keys {
                if let Some(first) = principals
                    .by_key
                    .insert(key.to_bytes(), principal.authid.clone())
                    .filter(|first| *first != principal.authid)
                {
                    return Err(PrincipalError::SharedKey {
                        key: key.to_hex(),
                        first,
                        second: principal.authid.clone(),
                    });
                }
            }
            let authid = principal.authid.clone();
            if principals
                .by_authid
                .insert(authid.clone(), principal)
                .is_some()
            {
                return Err(PrincipalError::DuplicateAuthid(authid));
            }
        }
        Ok(principals)
    }

    /// The principal with this authid.
    pub fn get(&self, authid: &str) -> Option<&Principal> {
        self.by_authid.get(authid)
    }

    /// The principal that holds this key.
    pub fn by_key(&self, key: &PublicKey) -> Option<&Principal> {
        self.by_key
            .get(&key.to_bytes())
            .and_then(|authid| self.by_authid.get(authid))
    }

    /// Every principal.
    pub fn iter(&self) -> impl Iterator<Item = &Principal> {
        self.by_authid.values()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.by_authid.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_authid.is_empty()
    }
}

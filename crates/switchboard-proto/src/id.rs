//! Identifiers in the spec's three scopes (`rfc/text/basic/ids.md`).
//!
//! All ids are integers in `[1, 2^53]` so that they survive a JavaScript number.
//! *Global* ids (sessions, publications) are drawn at random so they cannot be
//! guessed; *router* ids (registrations, subscriptions) only need to be unique
//! within the router; *session* ids (request ids) count up from 1.

use std::collections::HashSet;

use rand::Rng;

/// A WAMP id.
pub type Id = u64;

/// The largest id the spec allows: 2^53.
pub const MAX_ID: Id = 1 << 53;

/// Draws ids at random in `[1, 2^53]`, never repeating one still in use.
#[derive(Debug, Default)]
pub struct IdGenerator {
    in_use: HashSet<Id>,
}

impl IdGenerator {
    /// A random id from `rng` not currently in use; it stays reserved until
    /// [`Self::release`]. (The randomness is the caller's, so a router seeds it
    /// from the OS and a test from a constant.)
    pub fn next_id(&mut self, rng: &mut impl Rng) -> Id {
        loop {
            let id = rng.gen_range(1..=MAX_ID);
            if self.in_use.insert(id) {
                return id;
            }
        }
    }

    /// Takes `id` if it is free (a session id promised during authentication);
    /// `false` if it is in use.
    pub fn reserve(&mut self, id: Id) -> bool {
        (1..=MAX_ID).contains(&id) && self.in_use.insert(id)
    }

    /// A random id that is not tracked (for publications, which are never released).
    pub fn fresh(rng: &mut impl Rng) -> Id {
        rng.gen_range(1..=MAX_ID)
    }

    /// Makes `id` available again.
    pub fn release(&mut self, id: Id) {
        self.in_use.remove(&id);
    }
}

/// Sequential ids for one session's requests: 1, 2, 3, ... wrapping after 2^53.
#[derive(Debug, Default, Clone)]
pub struct SessionScopeIds {
    last: Id,
}

impl SessionScopeIds {
    /// The next id in sequence.
    pub fn next_id(&mut self) -> Id {
        self.last = if self.last >= MAX_ID {
            1
        } else {
            self.last + 1
        };
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_stay_in_range_and_do_not_repeat_while_in_use() {
        let mut ids = IdGenerator::default();
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
        let drawn: HashSet<Id> = (0..1000).map(|_| ids.next_id(&mut rng)).collect();
        assert_eq!(drawn.len(), 1000);
        assert!(drawn.iter().all(|&id| (1..=MAX_ID).contains(&id)));
    }

    #[test]
    fn session_scope_counts_from_one_and_wraps_after_max() {
        let mut ids = SessionScopeIds::default();
        assert_eq!((ids.next_id(), ids.next_id()), (1, 2));
        ids.last = MAX_ID;
        assert_eq!(ids.next_id(), 1);
    }
}

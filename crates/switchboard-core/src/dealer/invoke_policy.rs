//! Which callee of a shared registration gets the next call
//! (`rfc/text/advanced/ap_rpc_shared_registration.md`).

use rand::Rng;

/// A registration's `invoke` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum InvokePolicy {
    /// One callee only; a second REGISTER is refused (the default).
    Single,
    /// Each call goes to the next callee in registration order, wrapping around.
    RoundRobin,
    /// Each call goes to a callee picked uniformly at random.
    Random,
    /// Every call goes to the longest-registered callee (hot standby).
    First,
    /// Every call goes to the most recently registered callee.
    Last,
}

impl InvokePolicy {
    /// The policy named by an `invoke` option; `None` for an unknown name.
    pub fn from_option(name: &str) -> Option<Self> {
        match name {
            "single" => Some(InvokePolicy::Single),
            "roundrobin" => Some(InvokePolicy::RoundRobin),
            "random" => Some(InvokePolicy::Random),
            "first" => Some(InvokePolicy::First),
            "last" => Some(InvokePolicy::Last),
            _ => None,
        }
    }

    /// The option's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            InvokePolicy::Single => "single",
            InvokePolicy::RoundRobin => "roundrobin",
            InvokePolicy::Random => "random",
            InvokePolicy::First => "first",
            InvokePolicy::Last => "last",
        }
    }

    /// The index of the callee (of `count`, in registration order) to invoke.
    /// `cursor` is the registration's round-robin position.
    pub(crate) fn choose(self, count: usize, cursor: &mut usize, rng: &mut impl Rng) -> usize {
        debug_assert!(count > 0, "a registration always has a callee");
        match self {
            InvokePolicy::Single | InvokePolicy::First => 0,
            InvokePolicy::Last => count - 1,
            InvokePolicy::Random => rng.gen_range(0..count),
            InvokePolicy::RoundRobin => {
                let chosen = *cursor % count;
                *cursor = (chosen + 1) % count;
                chosen
            }
        }
    }

    /// Keeps round robin fair when the callee at `removed` leaves: the callee
    /// that was next stays next.
    pub(crate) fn callee_removed(cursor: &mut usize, removed: usize, remaining: usize) {
        if removed < *cursor {
            *cursor -= 1;
        }
        if *cursor >= remaining {
            *cursor = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn roundrobin_cycles_in_registration_order() {
        let (mut cursor, mut rng) = (0, rand::rngs::StdRng::seed_from_u64(1));
        let picks: Vec<usize> = (0..7)
            .map(|_| InvokePolicy::RoundRobin.choose(3, &mut cursor, &mut rng))
            .collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn roundrobin_stays_fair_when_a_callee_leaves() {
        let (mut cursor, mut rng) = (0, rand::rngs::StdRng::seed_from_u64(1));
        // Callees a, b, c; a and b have been called, c is next.
        InvokePolicy::RoundRobin.choose(3, &mut cursor, &mut rng);
        InvokePolicy::RoundRobin.choose(3, &mut cursor, &mut rng);
        // a (index 0) leaves: c is now index 1 and must still be next.
        InvokePolicy::callee_removed(&mut cursor, 0, 2);
        assert_eq!(InvokePolicy::RoundRobin.choose(2, &mut cursor, &mut rng), 1);
        assert_eq!(InvokePolicy::RoundRobin.choose(2, &mut cursor, &mut rng), 0);
    }

    #[test]
    fn first_and_last_are_stable_and_random_stays_in_range() {
        let (mut cursor, mut rng) = (0, rand::rngs::StdRng::seed_from_u64(7));
        assert_eq!(InvokePolicy::First.choose(4, &mut cursor, &mut rng), 0);
        assert_eq!(InvokePolicy::Last.choose(4, &mut cursor, &mut rng), 3);
        let mut seen = [false; 4];
        for _ in 0..200 {
            seen[InvokePolicy::Random.choose(4, &mut cursor, &mut rng)] = true;
        }
        assert_eq!(seen, [true; 4]);
    }
}

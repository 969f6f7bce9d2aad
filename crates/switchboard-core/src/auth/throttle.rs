//! Slows down repeated authentication failures from one address.
//!
//! A failed handshake's ABORT is held back for a delay that doubles with each
//! failure past a few free ones, so guessing tickets or secrets from one address
//! costs time, while a user who mistypes once notices nothing. The table is
//! bounded: entries expire, and when it is full the stalest are dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failures counted per address.
#[derive(Debug)]
pub struct FailureThrottle {
    entries: HashMap<IpAddr, Entry>,
    /// Failures answered at once before delays start.
    free: u32,
    /// The first delay; each further failure doubles it.
    base: Duration,
    /// The longest delay.
    max: Duration,
    /// Failures older than this are forgotten.
    window: Duration,
    /// Most addresses tracked at once.
    capacity: usize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
}

impl Default for FailureThrottle {
    fn default() -> Self {
        Self::new(3, Duration::from_millis(250), Duration::from_secs(8))
    }
}

impl FailureThrottle {
    /// `free` failures without delay, then `base`, doubling up to `max`.
    pub fn new(free: u32, base: Duration, max: Duration) -> Self {
        Self {
            entries: HashMap::new(),
            free,
            base,
            max,
            window: Duration::from_secs(300),
            capacity: 100_000,
        }
    }

    /// Records a failure from `addr` at `now`; returns how long to hold its ABORT.
    pub fn failed(&mut self, addr: IpAddr, now: Instant) -> Duration {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&addr) {
            self.evict(now);
        }
        let window = self.window;
        let entry = self.entries.entry(addr).or_insert(Entry {
            failures: 0,
            last: now,
        });
        if now.saturating_duration_since(entry.last) > window {
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last = now;
        match entry.failures.checked_sub(self.free + 1) {
            None => Duration::ZERO,
            Some(doublings) => self
                .base
                .checked_mul(1u32.checked_shl(doublings).unwrap_or(u32::MAX))
                .map_or(self.max, |d| d.min(self.max)),
        }
    }

    /// A success from `addr` clears its count.
    pub fn succeeded(&mut self, addr: IpAddr) {
        self.entries.remove(&addr);
    }

    /// How many addresses are tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn evict(&mut self, now: Instant) {
        let window = self.window;
        self.entries
            .retain(|_, e| now.saturating_duration_since(e.last) <= window);
        if self.entries.len() >= self.capacity {
            // Still full of recent failures: drop the older half.
            let mut times: Vec<Instant> = self.entries.values().map(|e| e.last).collect();
            times.sort_unstable();
            let cutoff = times[times.len() / 2];
            self.entries.retain(|_, e| e.last > cutoff);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn delays_start_after_the_free_failures_and_double_up_to_the_maximum() {
        let mut t = FailureThrottle::new(2, Duration::from_millis(100), Duration::from_millis(500));
        let now = Instant::now();
        let delays: Vec<u128> = (0..7).map(|_| t.failed(A, now).as_millis()).collect();
        assert_eq!(delays, vec![0, 0, 100, 200, 400, 500, 500]);
        assert_eq!(
            t.failed(B, now),
            Duration::ZERO,
            "other addresses are not slowed"
        );
    }

    #[test]
    fn a_success_or_a_quiet_window_clears_the_count() {
        let mut t = FailureThrottle::new(0, Duration::from_millis(100), Duration::from_secs(1));
        let now = Instant::now();
        assert_eq!(t.failed(A, now), Duration::from_millis(100));
        t.succeeded(A);
        assert_eq!(t.failed(A, now), Duration::from_millis(100));
        let later = now + Duration::from_secs(301);
        assert_eq!(t.failed(A, later), Duration::from_millis(100));
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut t = FailureThrottle {
            capacity: 10,
            ..Default::default()
        };
        let now = Instant::now();
        for i in 0..100u8 {
            t.failed(IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 0, i)), now);
        }
        assert!(t.len() <= 10, "{}", t.len());
    }
}

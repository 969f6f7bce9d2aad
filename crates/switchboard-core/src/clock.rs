//! Wall-clock time for the few places WAMP wants it (a registration's `created`),
//! derived from the monotonic `now` every input carries, so the core still never
//! reads a clock itself.

use std::time::{Instant, SystemTime};

/// A monotonic instant and the wall-clock time it corresponds to, given by the
/// realm's owner when the realm is made.
#[derive(Debug, Clone, Copy)]
pub struct ClockAnchor {
    /// A monotonic instant.
    pub instant: Instant,
    /// The wall-clock time at `instant`.
    pub wall: SystemTime,
}

impl ClockAnchor {
    /// The anchor for "now", for owners that run on a real clock.
    pub fn now() -> Self {
        Self {
            instant: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    /// `now` as an ISO-8601 UTC timestamp with milliseconds.
    pub(crate) fn iso8601(&self, now: Instant) -> String {
        let wall = self.wall + now.saturating_duration_since(self.instant);
        humantime::format_rfc3339_millis(wall).to_string()
    }
}

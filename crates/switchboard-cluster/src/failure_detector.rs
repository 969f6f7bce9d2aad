//! Whether one peer is alive, decided from what its link observed, with time
//! passed in (no clock, no sockets: the tests below run on a virtual clock).
//!
//! Two kinds of evidence, judged differently:
//!
//! - **Silence.** A healthy peer sends at least a heartbeat every interval, so a
//!   peer silent past the failure timeout is down. Silence is all a paused
//!   process or a partition ever shows, and it is ambiguous (a long GC pause,
//!   a slow network), so it gets the whole timeout.
//! - **A crash.** A process that dies has its connections closed or reset by
//!   its kernel at once, and a redial then fails (refused where the host is
//!   still up, unreachable where a container's address went with it). A lost
//!   connection alone proves nothing (the peer may just have dropped it and be
//!   redialling), but a lost connection *and* a failed redial mean nobody is
//!   listening any more: the peer is down now, not a second and a half later.
//!   A paused process never closes its connections, and its kernel still
//!   accepts a redial, so it cannot be mistaken for a crash.

use std::time::{Duration, Instant};

/// Why a peer was declared down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownCause {
    /// Nothing heard from it for longer than the failure timeout.
    Silent,
    /// Its connection was closed or reset and a redial failed.
    Crashed,
}

/// One peer's liveness.
#[derive(Debug, Clone)]
pub struct FailureDetector {
    failure_timeout: Duration,
    last_heard: Option<Instant>,
    /// Set when the peer's end closed or reset the connection, cleared when it
    /// is heard from again.
    lost: bool,
    /// A redial after the loss failed: the crash is confirmed.
    redial_failed: bool,
    up: bool,
}

/// What a call to [`FailureDetector::heard_from`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// It was up already.
    StillUp,
    /// It was down (or never up), and is up now.
    CameUp,
}

impl FailureDetector {
    /// A peer not heard from yet (not up, and not down either: it was never up).
    pub fn new(failure_timeout: Duration) -> Self {
        Self {
            failure_timeout,
            last_heard: None,
            lost: false,
            redial_failed: false,
            up: false,
        }
    }

    /// Whether the peer is considered alive.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// A frame arrived from the peer.
    pub fn heard_from(&mut self, now: Instant) -> Heard {
        self.last_heard = Some(now);
        self.lost = false;
        self.redial_failed = false;
        if std::mem::replace(&mut self.up, true) {
            Heard::StillUp
        } else {
            Heard::CameUp
        }
    }

    /// The peer's end closed or reset the connection (not this node dropping a
    /// silent one: that is silence, already judged).
    pub fn connection_lost(&mut self) {
        self.lost = true;
    }

    /// Whether the connection was lost and the peer has not been heard from since
    /// (nor declared down): what a probe of its address is for.
    pub fn awaits_probe(&self) -> bool {
        self.up && self.lost
    }

    /// A redial (or a probe) after the loss was refused, unreachable or unanswered.
    pub fn redial_failed(&mut self) {
        if self.lost {
            self.redial_failed = true;
        }
    }

    /// Whether the peer has just gone down: at most once per time it was up.
    pub fn poll(&mut self, now: Instant) -> Option<DownCause> {
        if !self.up {
            return None;
        }
        let cause = if self.lost && self.redial_failed {
            DownCause::Crashed
        } else if self
            .last_heard
            .is_some_and(|t| now.saturating_duration_since(t) > self.failure_timeout)
        {
            DownCause::Silent
        } else {
            return None;
        };
        self.up = false;
        Some(cause)
    }

    /// When [`Self::poll`] could next report silence, if the peer is up.
    pub fn silent_deadline(&self) -> Option<Instant> {
        self.up
            .then_some(self.last_heard)
            .flatten()
            .map(|t| t + self.failure_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_millis(1500);

    fn up_at(t0: Instant) -> FailureDetector {
        let mut detector = FailureDetector::new(TIMEOUT);
        assert_eq!(detector.heard_from(t0), Heard::CameUp);
        detector
    }

    #[test]
    fn a_peer_never_heard_from_is_neither_up_nor_reported_down() {
        let t0 = Instant::now();
        let mut detector = FailureDetector::new(TIMEOUT);
        assert!(!detector.is_up());
        assert_eq!(detector.poll(t0 + TIMEOUT * 10), None);
    }

    #[test]
    fn a_silent_peer_is_down_only_after_the_failure_timeout() {
        let t0 = Instant::now();
        let mut detector = up_at(t0);
        assert_eq!(detector.poll(t0 + TIMEOUT), None);
        assert_eq!(
            detector.poll(t0 + TIMEOUT + Duration::from_millis(1)),
            Some(DownCause::Silent)
        );
        assert_eq!(detector.poll(t0 + TIMEOUT * 3), None, "reported once");
    }

    #[test]
    fn each_frame_pushes_the_deadline_back() {
        let t0 = Instant::now();
        let mut detector = up_at(t0);
        let later = t0 + Duration::from_millis(1000);
        assert_eq!(detector.heard_from(later), Heard::StillUp);
        assert_eq!(detector.poll(t0 + TIMEOUT + Duration::from_millis(1)), None);
        assert_eq!(detector.silent_deadline(), Some(later + TIMEOUT));
    }

    #[test]
    fn a_lost_connection_and_a_failed_redial_mean_down_at_once() {
        let t0 = Instant::now();
        let mut detector = up_at(t0);
        detector.connection_lost();
        assert_eq!(
            detector.poll(t0),
            None,
            "a lost connection alone proves nothing"
        );
        detector.redial_failed();
        assert_eq!(detector.poll(t0), Some(DownCause::Crashed));
        assert!(!detector.is_up());
    }

    #[test]
    fn a_failed_dial_without_a_lost_connection_waits_for_the_timeout() {
        // A partitioned peer: the connection is still open as far as this end
        // knows, and another dial (to a new address, say) failing proves nothing.
        let t0 = Instant::now();
        let mut detector = up_at(t0);
        detector.redial_failed();
        assert_eq!(detector.poll(t0 + Duration::from_millis(10)), None);
        assert_eq!(
            detector.poll(t0 + TIMEOUT * 2),
            Some(DownCause::Silent),
            "silence still counts"
        );
    }

    #[test]
    fn a_peer_that_answers_after_the_loss_is_not_a_crash() {
        // It dropped the connection and redialled (or was restarted at once):
        // its frame clears the loss before any failed redial is counted.
        let t0 = Instant::now();
        let mut detector = up_at(t0);
        detector.connection_lost();
        assert_eq!(
            detector.heard_from(t0 + Duration::from_millis(5)),
            Heard::StillUp
        );
        detector.redial_failed();
        assert_eq!(detector.poll(t0 + Duration::from_millis(10)), None);
    }

    #[test]
    fn a_crashed_peer_comes_back_up_when_heard_from() {
        let t0 = Instant::now();
        let mut detector = up_at(t0);
        detector.connection_lost();
        detector.redial_failed();
        assert_eq!(detector.poll(t0), Some(DownCause::Crashed));
        assert_eq!(
            detector.heard_from(t0 + Duration::from_secs(3)),
            Heard::CameUp
        );
        assert_eq!(detector.poll(t0 + Duration::from_secs(3)), None);
    }
}

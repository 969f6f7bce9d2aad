//! A proposal's life on its own node: when it goes to the cluster, and what
//! happens when it does not commit.
//!
//! A session's commands are held back until its `SessionJoined` is applied, so
//! the cluster may commit proposals in any order (they are proposed
//! concurrently) without a request reaching the log before its session. When a
//! proposal fails, the policy is here, decided from what its node can know:
//! nothing was sent (no leader), or it may be in a log and may still commit.
//! Only the first allows an ERROR; the second is proposed again, which
//! `requests.rs` makes safe.

use std::time::{Duration, Instant};

use crate::cluster::{ProposalFailure, RegistryCommand};

use super::{Outcome, Realm, SessionId};
use switchboard_proto::error_uri::NETWORK_FAILURE;

/// What a request refused for want of a leader is told.
const NO_LEADER: &str = "no leader: this node cannot reach a majority of the cluster";

/// How long a failed proposal waits before it is made again, per failure so far
/// (up to [`RETRY_DELAY_MAX`]): long enough not to spin while no leader is known,
/// short enough that a new leader gets it within an election or two.
const RETRY_DELAY_STEP: Duration = Duration::from_millis(100);
const RETRY_DELAY_MAX: Duration = Duration::from_secs(1);

/// How many failures in a row with no leader known a request that never left
/// this node waits out before it is refused: retries after 100, 200, 300 and
/// 400 ms, about as long as electing a new leader takes, so a REGISTER made
/// during a leader change gets the new leader rather than an error.
const NOT_SENT_GRACE: u32 = 4;

/// How often a session's `SessionJoined` or `SessionLeft` is proposed before the
/// node gives up (a node cut off for good: the others remove its sessions with
/// `NodeDown`).
const MAX_MEMBERSHIP_ATTEMPTS: u32 = 300;

/// The wait before a proposal that failed `failures` times is made again.
fn retry_delay(failures: u32) -> Duration {
    (RETRY_DELAY_STEP * failures).min(RETRY_DELAY_MAX)
}

impl Realm {
    /// A proposal did not commit. A request that no log can hold (no leader was
    /// known at any attempt) is answered with ERROR `wamp.error.network_failure`
    /// once a new leader has had time to appear; anything that may still commit
    /// is proposed again later (every copy is the same command, and the
    /// replicated state applies it once), so its answer comes from the commit.
    /// A session's joining and leaving are proposed again until they commit.
    pub fn handle_proposal_failed(
        &mut self,
        now: Instant,
        command: RegistryCommand,
        failure: ProposalFailure,
    ) {
        let (uri, why) = (NETWORK_FAILURE, NO_LEADER);
        let failures = match command.requester() {
            Some(by) => {
                let Some(waiting) = self.shared.pending.get_mut(by.session, by.seq) else {
                    return; // Answered already, or its session is gone.
                };
                waiting.failures += 1;
                match &failure {
                    ProposalFailure::NoLeader
                        if !waiting.maybe_in_log && waiting.failures > NOT_SENT_GRACE =>
                    {
                        self.refuse(by.session, by.seq, uri, why);
                        return;
                    }
                    ProposalFailure::NoLeader => {}
                    ProposalFailure::Unknown(_) => waiting.maybe_in_log = true,
                }
                waiting.failures
            }
            None => {
                let Some(session) = command.session() else {
                    return;
                };
                let failures = self.shared.membership_failures.entry(session).or_insert(0);
                *failures += 1;
                let failures = *failures;
                if let (RegistryCommand::SessionJoined { .. }, ProposalFailure::NoLeader) =
                    (&command, &failure)
                {
                    if failures > NOT_SENT_GRACE {
                        self.refuse_held_requests(session, uri, why);
                    }
                }
                if failures > MAX_MEMBERSHIP_ATTEMPTS {
                    self.shared.membership_failures.remove(&session);
                    return;
                }
                failures
            }
        };
        self.shared
            .retries
            .push((now + retry_delay(failures), command));
    }

    /// Answers request `seq` of `session` with ERROR `uri`, if it still waits.
    fn refuse(&mut self, session: SessionId, seq: u64, uri: &str, why: &str) {
        let refusal = Outcome::refused(uri, why);
        if let Some(answer) = self.shared.pending.answer(session, seq, &refusal) {
            self.shared.out.send(session, answer);
        }
    }

    /// No leader took the session's joining: the requests it made meanwhile,
    /// which never left this node, are refused now rather than kept waiting for
    /// a cluster that may be out of reach for long.
    fn refuse_held_requests(&mut self, session: SessionId, uri: &str, why: &str) {
        let Some(held) = self.shared.joining.get_mut(&session) else {
            return;
        };
        let (refused, kept): (Vec<_>, Vec<_>) = std::mem::take(held)
            .into_iter()
            .partition(|command| command.requester().is_some());
        *held = kept;
        for by in refused.iter().filter_map(RegistryCommand::requester) {
            self.refuse(by.session, by.seq, uri, why);
        }
    }

    /// Moves the failed proposals whose time has come back to the cluster.
    pub(super) fn retry_due(&mut self, now: Instant) {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.shared.retries)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.shared.retries = later;
        self.shared
            .to_commit
            .extend(due.into_iter().map(|(_, command)| command));
    }

    /// When the next failed proposal is to be made again.
    pub(super) fn next_retry(&self) -> Option<Instant> {
        self.shared.retries.iter().map(|(at, _)| *at).min()
    }

    /// Hands a proposal to the cluster, unless its session's `SessionJoined` has
    /// yet to be applied: then it waits for that.
    pub(super) fn queue_for_commit(&mut self, command: RegistryCommand) {
        match (&command, command.session()) {
            (RegistryCommand::SessionJoined { session, .. }, _) => {
                self.shared.joining.insert(*session, Vec::new());
            }
            (_, Some(session)) => {
                if let Some(held) = self.shared.joining.get_mut(&session) {
                    held.push(command);
                    return;
                }
            }
            (_, None) => {}
        }
        self.shared.to_commit.push_back(command);
    }

    /// The session's `SessionJoined` is applied: what it asked for meanwhile goes
    /// to the cluster now.
    pub(super) fn release_held(&mut self, session: SessionId) {
        if let Some(held) = self.shared.joining.remove(&session) {
            self.shared.to_commit.extend(held);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_delay_grows_with_failures_up_to_a_second() {
        assert_eq!(retry_delay(1), Duration::from_millis(100));
        assert_eq!(retry_delay(3), Duration::from_millis(300));
        assert_eq!(retry_delay(50), Duration::from_secs(1));
    }
}

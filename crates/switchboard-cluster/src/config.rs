//! openraft's timings and snapshot policy for a Switchboard cluster.
//!
//! The defaults assume a LAN: a heartbeat every 100 ms, and an election after 300 to
//! 600 ms of silence (randomised within the range so that two followers rarely stand at
//! once), i.e. a dead leader is replaced in well under a second. A snapshot every 1,000
//! entries bounds both the log on disk and the replay at restart (see
//! [`crate::state_machine`]).

use openraft::{Config, ConfigError, SnapshotPolicy};

use crate::ClusterError;

/// How often the leader tells followers it is alive, in milliseconds.
pub const DEFAULT_HEARTBEAT_MS: u64 = 100;
/// The shortest silence after which a follower stands for election, in milliseconds.
pub const DEFAULT_ELECTION_MIN_MS: u64 = 300;
/// The longest silence after which a follower stands for election, in milliseconds.
pub const DEFAULT_ELECTION_MAX_MS: u64 = 600;
/// How many entries since the last snapshot trigger the next one.
pub const DEFAULT_SNAPSHOT_EVERY_N_LOGS: u64 = 1000;
/// How many entries a snapshot leaves in the log. A follower only slightly behind then
/// catches up from these entries instead of receiving a whole snapshot.
pub const LOGS_KEPT_AFTER_SNAPSHOT: u64 = 100;

/// The cluster name openraft puts in its logs and metrics.
const CLUSTER_NAME: &str = "switchboard";

/// A validated openraft [`Config`] with the given timings (milliseconds) and a snapshot
/// every `snapshot_every_n_logs` entries.
///
/// Besides openraft's own checks (election min < max, heartbeat < election min), a zero
/// heartbeat or snapshot interval is refused: the first would spin, the second would
/// snapshot after every entry.
pub fn raft_config(
    heartbeat_ms: u64,
    election_min_ms: u64,
    election_max_ms: u64,
    snapshot_every_n_logs: u64,
) -> Result<Config, ClusterError> {
    positive("heartbeat_ms", heartbeat_ms)?;
    positive("snapshot_every_n_logs", snapshot_every_n_logs)?;
    let config = Config {
        cluster_name: CLUSTER_NAME.to_string(),
        heartbeat_interval: heartbeat_ms,
        election_timeout_min: election_min_ms,
        election_timeout_max: election_max_ms,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(snapshot_every_n_logs),
        max_in_snapshot_log_to_keep: LOGS_KEPT_AFTER_SNAPSHOT,
        ..Config::default()
    };
    Ok(config.validate()?)
}

/// [`raft_config`] with the `DEFAULT_*` values.
pub fn default_raft_config() -> Config {
    raft_config(
        DEFAULT_HEARTBEAT_MS,
        DEFAULT_ELECTION_MIN_MS,
        DEFAULT_ELECTION_MAX_MS,
        DEFAULT_SNAPSHOT_EVERY_N_LOGS,
    )
    .expect("the default Raft timings are valid (pinned by a unit test)")
}

fn positive(name: &str, value: u64) -> Result<(), ClusterError> {
    if value == 0 {
        return Err(ClusterError::from(ConfigError::InvalidNumber {
            invalid: value.to_string(),
            reason: format!("{name} must be > 0"),
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_applied() {
        let config = default_raft_config();
        assert_eq!(config.heartbeat_interval, 100);
        assert_eq!(
            (config.election_timeout_min, config.election_timeout_max),
            (300, 600)
        );
        assert_eq!(config.snapshot_policy, SnapshotPolicy::LogsSinceLast(1000));
        assert_eq!(config.max_in_snapshot_log_to_keep, LOGS_KEPT_AFTER_SNAPSHOT);
    }

    #[test]
    fn election_range_must_not_be_empty() {
        let err = raft_config(100, 600, 600, 1000).unwrap_err();
        assert!(matches!(
            err,
            ClusterError::Config(error) if matches!(*error, ConfigError::ElectionTimeout { .. })
        ));
    }

    #[test]
    fn election_must_outlast_the_heartbeat() {
        let err = raft_config(300, 300, 600, 1000).unwrap_err();
        assert!(matches!(
            err,
            ClusterError::Config(error)
                if matches!(*error, ConfigError::ElectionTimeoutLTHeartBeat { .. })
        ));
    }

    #[test]
    fn zero_heartbeat_or_snapshot_interval_is_refused() {
        assert!(raft_config(0, 300, 600, 1000).is_err());
        assert!(raft_config(100, 300, 600, 0).is_err());
    }
}

//! Log compaction: `purge` drops every entry up to a log id, remembers that id, and
//! both facts survive a restart.

mod common;

use common::{open, set_ents};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::testing::log_id;
use openraft::RaftLogReader;

#[tokio::test]
async fn purge_removes_entries_up_to_and_including_the_log_id() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _state_machine) = open(dir.path());
    log.blocking_append(set_ents(1, 10)).await.unwrap();

    log.purge(log_id(1, 1, 6)).await.unwrap();

    assert_eq!(log.try_get_log_entries(..).await.unwrap(), set_ents(7, 10));
    assert!(log.try_get_log_entries(1..7).await.unwrap().is_empty());
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 1, 6)));
    assert_eq!(state.last_log_id, Some(log_id(1, 1, 10)));
}

#[tokio::test]
async fn purging_everything_leaves_the_purged_id_as_the_last_log_id() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _state_machine) = open(dir.path());
    log.blocking_append(set_ents(1, 3)).await.unwrap();

    log.purge(log_id(1, 1, 3)).await.unwrap();

    assert!(log.try_get_log_entries(..).await.unwrap().is_empty());
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 1, 3)));
    assert_eq!(state.last_log_id, Some(log_id(1, 1, 3)));
}

#[tokio::test]
async fn purged_entries_stay_purged_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut log, _state_machine) = open(dir.path());
        log.blocking_append(set_ents(1, 10)).await.unwrap();
        log.purge(log_id(1, 1, 6)).await.unwrap();
    }

    let (mut log, _state_machine) = open(dir.path());
    assert_eq!(log.try_get_log_entries(..).await.unwrap(), set_ents(7, 10));
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 1, 6)));

    // The log keeps growing from where it was.
    log.blocking_append(set_ents(11, 11)).await.unwrap();
    assert_eq!(log.try_get_log_entries(..).await.unwrap(), set_ents(7, 11));
}

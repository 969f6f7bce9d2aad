//! A node that restarts still knows its vote, its log and its commit point: reopening
//! the store from the same directory returns exactly what was written.

mod common;

use common::{open, set_ents};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::testing::log_id;
use openraft::{RaftLogReader, Vote};

#[tokio::test]
async fn vote_entries_and_committed_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let vote = Vote::new_committed(3, 2);
    let written = set_ents(1, 5);
    {
        let (mut log, _state_machine) = open(dir.path());
        log.save_vote(&vote).await.unwrap();
        log.blocking_append(written.clone()).await.unwrap();
        log.save_committed(Some(log_id(1, 1, 4))).await.unwrap();
    }

    let (mut log, _state_machine) = open(dir.path());
    assert_eq!(log.read_vote().await.unwrap(), Some(vote));
    assert_eq!(log.read_committed().await.unwrap(), Some(log_id(1, 1, 4)));
    assert_eq!(log.try_get_log_entries(..).await.unwrap(), written);
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_log_id, Some(log_id(1, 1, 5)));
    assert_eq!(state.last_purged_log_id, None);
}

#[tokio::test]
async fn a_truncated_suffix_stays_gone_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut log, _state_machine) = open(dir.path());
        log.blocking_append(set_ents(1, 5)).await.unwrap();
        log.truncate(log_id(1, 1, 4)).await.unwrap();
    }

    let (mut log, _state_machine) = open(dir.path());
    assert_eq!(log.try_get_log_entries(..).await.unwrap(), set_ents(1, 3));
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_log_id, Some(log_id(1, 1, 3)));
}

#[tokio::test]
async fn a_second_open_of_a_directory_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(dir.path());
    let second = switchboard_cluster::open_storage::<common::Kv>(dir.path());
    assert!(second.is_err(), "two nodes must not share one log");
}

//! A restarted node gets its state back from the last snapshot plus the committed
//! entries after it, which openraft re-applies at startup (`StorageHelper` is what a
//! starting `Raft` runs). Each entry is applied exactly once to the result.

mod common;

use common::{expected_kv, open, set_ents};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::testing::{blank_ent, log_id, membership_ent};
use openraft::{RaftSnapshotBuilder, StorageHelper};

#[tokio::test]
async fn state_is_rebuilt_from_snapshot_and_committed_log_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot_id = {
        let (mut log, mut state_machine) = open(dir.path());
        log.blocking_append(set_ents(1, 10)).await.unwrap();
        log.save_committed(Some(log_id(1, 1, 8))).await.unwrap();
        state_machine.apply(set_ents(1, 6)).await.unwrap();
        let snapshot = state_machine.build_snapshot().await.unwrap();
        log.purge(log_id(1, 1, 6)).await.unwrap();
        state_machine.apply(set_ents(7, 8)).await.unwrap();
        assert_eq!(state_machine.read(Clone::clone).await, expected_kv(8));
        snapshot.meta.snapshot_id
    };

    let (mut log, mut state_machine) = open(dir.path());
    // Straight from disk: the snapshot, nothing after it.
    assert_eq!(state_machine.last_applied().await, Some(log_id(1, 1, 6)));
    assert_eq!(state_machine.read(Clone::clone).await, expected_kv(6));
    let current = state_machine.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta.last_log_id, Some(log_id(1, 1, 6)));
    assert_eq!(current.meta.snapshot_id, snapshot_id);

    // What a starting Raft node does: re-apply (snapshot, committed], no further.
    StorageHelper::new(&mut log, &mut state_machine)
        .get_initial_state()
        .await
        .unwrap();
    assert_eq!(state_machine.last_applied().await, Some(log_id(1, 1, 8)));
    assert_eq!(state_machine.read(Clone::clone).await, expected_kv(8));
}

#[tokio::test]
async fn without_a_snapshot_the_committed_log_is_replayed_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut log, mut state_machine) = open(dir.path());
        // A real log starts at index 0, with the membership `Raft::initialize` writes.
        let mut entries = vec![membership_ent(0, 0, 0, vec![[1].into()])];
        entries.extend(set_ents(1, 5));
        log.blocking_append(entries.clone()).await.unwrap();
        log.save_committed(Some(log_id(1, 1, 5))).await.unwrap();
        state_machine.apply(entries).await.unwrap();
    }

    let (mut log, mut state_machine) = open(dir.path());
    assert_eq!(state_machine.last_applied().await, None);
    assert!(state_machine
        .get_current_snapshot()
        .await
        .unwrap()
        .is_none());

    StorageHelper::new(&mut log, &mut state_machine)
        .get_initial_state()
        .await
        .unwrap();
    assert_eq!(state_machine.read(Clone::clone).await, expected_kv(5));
}

#[tokio::test]
async fn membership_comes_back_with_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let membership = {
        let (_log, mut state_machine) = open(dir.path());
        let entries = vec![
            membership_ent(1, 1, 1, vec![[1, 2, 3].into()]),
            blank_ent(1, 1, 2),
        ];
        state_machine.apply(entries).await.unwrap();
        state_machine.build_snapshot().await.unwrap();
        state_machine.applied_state().await.unwrap().1
    };
    assert_eq!(membership.log_id(), &Some(log_id(1, 1, 1)));

    let (_log, mut state_machine) = open(dir.path());
    let (last_applied, restored) = state_machine.applied_state().await.unwrap();
    assert_eq!(last_applied, Some(log_id(1, 1, 2)));
    assert_eq!(restored, membership);
}

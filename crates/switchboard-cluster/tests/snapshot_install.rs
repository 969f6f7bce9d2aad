//! A lagging node receives the leader's snapshot: installing it replaces the state,
//! survives a restart, and bytes that contradict their meta are refused.

mod common;

use common::{expected_kv, open, set_ents, Kv};
use openraft::storage::RaftStateMachine;
use openraft::testing::log_id;
use openraft::RaftSnapshotBuilder;

#[tokio::test]
async fn an_installed_snapshot_replaces_the_state_and_survives_reopening() {
    let leader_dir = tempfile::tempdir().unwrap();
    let (_leader_log, mut leader) = open(leader_dir.path());
    leader.apply(set_ents(1, 5)).await.unwrap();
    let snapshot = leader.build_snapshot().await.unwrap();

    let follower_dir = tempfile::tempdir().unwrap();
    {
        let (_log, mut follower) = open(follower_dir.path());
        follower.apply(set_ents(1, 2)).await.unwrap(); // stale state, to be replaced
        let mut received = follower.begin_receiving_snapshot().await.unwrap();
        *received = *snapshot.snapshot.clone();
        follower
            .install_snapshot(&snapshot.meta, received)
            .await
            .unwrap();
        assert_eq!(follower.read(Clone::clone).await, expected_kv(5));
    }

    let (_log, mut follower) = open(follower_dir.path());
    assert_eq!(follower.read(Clone::clone).await, expected_kv(5));
    assert_eq!(follower.last_applied().await, Some(log_id(1, 1, 5)));
    let current = follower.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta, snapshot.meta);
    assert_eq!(
        current.snapshot.into_inner(),
        snapshot.snapshot.into_inner()
    );
}

#[tokio::test]
async fn a_snapshot_whose_bytes_contradict_its_meta_is_refused() {
    let leader_dir = tempfile::tempdir().unwrap();
    let (_leader_log, mut leader) = open(leader_dir.path());
    leader.apply(set_ents(1, 5)).await.unwrap();
    let snapshot = leader.build_snapshot().await.unwrap();
    let mut meta = snapshot.meta.clone();
    meta.last_log_id = Some(log_id(1, 1, 9));

    let follower_dir = tempfile::tempdir().unwrap();
    let (_log, mut follower) = open(follower_dir.path());
    let result = follower.install_snapshot(&meta, snapshot.snapshot).await;

    assert!(result.is_err());
    assert_eq!(follower.read(Clone::clone).await, Kv::default());
    assert!(follower.get_current_snapshot().await.unwrap().is_none());
}

#[tokio::test]
async fn garbage_snapshot_bytes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, mut state_machine) = open(dir.path());
    let meta = openraft::SnapshotMeta::default();
    let garbage = Box::new(std::io::Cursor::new(vec![0xc1, 0x00]));

    assert!(state_machine
        .install_snapshot(&meta, garbage)
        .await
        .is_err());
}

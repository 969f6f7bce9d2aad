//! `apply` answers one response per entry: normal entries go to the application's
//! `ReplicatedState::apply` with their log index, blank and membership entries answer
//! an empty response and only move the bookkeeping. (openraft's suite cannot build
//! normal entries, so it does not cover this.)

mod common;

use common::{open, set_ent};
use openraft::storage::RaftStateMachine;
use openraft::testing::{blank_ent, log_id, membership_ent};
use switchboard_cluster::CommandResponse;

#[tokio::test]
async fn apply_answers_one_response_per_entry_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, mut state_machine) = open(dir.path());
    let entries = vec![
        blank_ent(1, 1, 1),
        set_ent(2, "k", "a"),
        membership_ent(1, 1, 3, vec![[1, 2].into()]),
        set_ent(4, "k", "b"),
    ];

    let responses = state_machine.apply(entries).await.unwrap();

    let previous = |value: Option<&str>| CommandResponse::encode(&value).unwrap();
    assert_eq!(
        responses,
        vec![
            CommandResponse::default(),
            previous(None),
            CommandResponse::default(),
            previous(Some("a")),
        ]
    );
    let (last_applied, membership) = state_machine.applied_state().await.unwrap();
    assert_eq!(last_applied, Some(log_id(1, 1, 4)));
    assert_eq!(membership.log_id(), &Some(log_id(1, 1, 3)));
    let kv = state_machine.read(Clone::clone).await;
    assert_eq!(kv.values["k"], "b");
    assert_eq!((kv.commands_applied, kv.last_index), (2, 4));
}

//! What the scenario tests share: a toy replicated state, entry builders, and a
//! `StoreBuilder` that gives openraft's suite a fresh directory per test.
#![allow(dead_code)] // each test file uses a different part

use std::collections::BTreeMap;
use std::path::Path;

use openraft::testing::{log_id, StoreBuilder};
use openraft::{EntryPayload, StorageIOError};
use serde::{Deserialize, Serialize};
use switchboard_cluster::types::{Entry, StorageError};
use switchboard_cluster::{
    open_storage, Command, CommandResponse, LogStore, ReplicatedState, StateMachineStore,
    TypeConfig,
};
use tempfile::TempDir;

/// A key-value map that also counts the commands applied to it, so that an entry
/// applied twice (or skipped) after a restart shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Kv {
    pub values: BTreeMap<String, String>,
    pub commands_applied: u64,
    pub last_index: u64,
}

/// The only command `Kv` knows.
#[derive(Serialize, Deserialize)]
pub struct Set {
    pub key: String,
    pub value: String,
}

impl ReplicatedState for Kv {
    /// Answers the previous value, MessagePack-encoded.
    fn apply(&mut self, index: u64, command: &Command) -> CommandResponse {
        let Ok(set) = command.decode::<Set>() else {
            return CommandResponse::default();
        };
        self.commands_applied += 1;
        self.last_index = index;
        let previous = self.values.insert(set.key, set.value);
        CommandResponse::encode(&previous).unwrap_or_default()
    }
}

pub type Storage = (LogStore, StateMachineStore<Kv>);

pub fn open(dir: &Path) -> Storage {
    open_storage(dir).expect("open storage")
}

pub fn set(key: &str, value: &str) -> Command {
    Command::encode(&Set {
        key: key.into(),
        value: value.into(),
    })
    .unwrap()
}

/// A normal entry at `index` (term 1, leader 1) that sets `key` to `value`.
pub fn set_ent(index: u64, key: &str, value: &str) -> Entry {
    Entry {
        log_id: log_id(1, 1, index),
        payload: EntryPayload::Normal(set(key, value)),
    }
}

/// Normal entries `first..=last`, each setting `k{i}` to `v{i}`.
pub fn set_ents(first: u64, last: u64) -> Vec<Entry> {
    (first..=last)
        .map(|i| set_ent(i, &format!("k{i}"), &format!("v{i}")))
        .collect()
}

/// The state `set_ents(1, last)` leads to.
pub fn expected_kv(last: u64) -> Kv {
    Kv {
        values: (1..=last)
            .map(|i| (format!("k{i}"), format!("v{i}")))
            .collect(),
        commands_applied: last,
        last_index: last,
    }
}

/// Opens storage in a fresh temporary directory; the directory is the guard the
/// suite drops after each test.
pub struct TempStoreBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore<Kv>, TempDir> for TempStoreBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore<Kv>), StorageError> {
        let dir = tempfile::tempdir().map_err(|e| StorageIOError::write(&e))?;
        let (log, state_machine) =
            open_storage(dir.path()).map_err(|e| StorageIOError::write(&e))?;
        Ok((dir, log, state_machine))
    }
}

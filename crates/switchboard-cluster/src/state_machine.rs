//! The replicated state machine and its snapshots, generic over the application.
//!
//! # Restart: last snapshot plus the log, not the state on every apply
//!
//! Applying a batch of entries changes memory only. The state reaches disk whole, as
//! a snapshot, when openraft asks for one (every `snapshot_every_n_logs` entries, see
//! [`crate::config`]) or when one is installed from the leader. On restart
//! [`open`](crate::open_storage) loads the last snapshot and reports its log id as
//! last applied; openraft then re-applies the committed entries after it, reading the
//! committed log id the [`LogStore`](crate::LogStore) keeps for this purpose. Until the
//! first snapshot that means replaying the log from its start, which is still there:
//! openraft purges only entries a stored snapshot covers.
//!
//! The alternative, writing the state after every apply batch, would encode the whole
//! state (a registry of 100,000 registrations, say) and wait for an fsync on every
//! commit, to save replaying at most one snapshot interval of entries at startup.
//! Replaying is correct because [`ReplicatedState::apply`] is deterministic.
//!
//! Layout (file [`STATE_MACHINE_FILE`](crate::STATE_MACHINE_FILE)), one table
//! `snapshot`: `meta` -> MessagePack [`SnapshotMeta`], `data` -> the snapshot bytes,
//! a MessagePack map of the state, its last applied log id and membership. Both keys
//! are written in one transaction.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::db::{self, NamedValues};
use crate::types::{
    CommandResponse, Entry, LogId, ReplicatedState, Snapshot, SnapshotMeta, StorageError,
    StoredMembership, TypeConfig,
};
use crate::ClusterError;

/// The current snapshot, as two named values.
const SNAPSHOT: NamedValues = TableDefinition::new("snapshot");
const SNAPSHOT_META: &str = "meta";
const SNAPSHOT_DATA: &str = "data";

/// The state and how far into the log it reaches; always changed together.
#[derive(Default)]
struct Applied<S> {
    state: S,
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
}

/// What a snapshot's bytes decode to. Self-describing, so a snapshot file can be
/// checked against the meta stored or sent with it.
#[derive(Serialize, Deserialize)]
struct SnapshotPayload<T> {
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    state: T,
}

/// Whether a snapshot may replace a newer stored one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Replace {
    /// Installed from the leader: openraft has decided, it replaces whatever is stored.
    Always,
    /// Built locally from a view that an install may have overtaken since.
    IfNotOlder,
}

/// The state machine of one node: `S` in memory, its snapshots in redb.
///
/// Cloning is cheap and shares both, so the application keeps a clone to read the
/// state (see [`read`](Self::read)) while openraft owns another. It is also its own
/// snapshot builder.
pub struct StateMachineStore<S> {
    db: Arc<Database>,
    applied: Arc<RwLock<Applied<S>>>,
}

impl<S> Clone for StateMachineStore<S> {
    fn clone(&self) -> Self {
        Self {
            db: Arc::clone(&self.db),
            applied: Arc::clone(&self.applied),
        }
    }
}

impl<S: ReplicatedState> StateMachineStore<S> {
    /// Opens or creates the state machine file at `path` and restores the state from
    /// the snapshot stored there, if any.
    pub(crate) fn open(path: &Path) -> Result<Self, ClusterError> {
        let db = db::open(path, &[SNAPSHOT])?;
        let applied = match load_snapshot(&db)? {
            Some((meta, data)) => {
                let payload = decode_payload::<S>(&meta, &data)?;
                tracing::info!(%meta, "restored the state machine from its snapshot");
                Applied {
                    state: payload.state,
                    last_applied: meta.last_log_id,
                    last_membership: meta.last_membership,
                }
            }
            None => Applied::default(),
        };
        Ok(Self {
            db,
            applied: Arc::new(RwLock::new(applied)),
        })
    }

    /// Runs `f` on the current state, e.g. to look up a registration.
    pub async fn read<R>(&self, f: impl FnOnce(&S) -> R) -> R {
        f(&self.applied.read().await.state)
    }

    /// Runs `f` on the state with write access (to attach what snapshots do not hold).
    pub async fn update<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        f(&mut self.applied.write().await.state)
    }

    /// The id of the last entry applied to the state, `None` before the first.
    pub async fn last_applied(&self) -> Option<LogId> {
        self.applied.read().await.last_applied
    }
}

impl<S: ReplicatedState> RaftSnapshotBuilder<TypeConfig> for StateMachineStore<S> {
    /// Encodes the state under a read lock (a consistent cut: state, last applied and
    /// membership together), then stores it durably before returning, because
    /// openraft purges the log up to this snapshot as soon as it has it.
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let (meta, data) = {
            let applied = self.applied.read().await;
            let payload = SnapshotPayload {
                last_applied: applied.last_applied,
                last_membership: applied.last_membership.clone(),
                state: &applied.state,
            };
            let data =
                db::encode(&payload).map_err(|e| StorageIOError::write_snapshot(None, &e))?;
            let meta = SnapshotMeta {
                last_log_id: applied.last_applied,
                last_membership: applied.last_membership.clone(),
                snapshot_id: snapshot_id(applied.last_applied.as_ref()),
            };
            (meta, data)
        };
        let data = store_snapshot(&self.db, meta.clone(), data, Replace::IfNotOlder)
            .await
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        tracing::info!(%meta, bytes = data.len(), "built a snapshot");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl<S: ReplicatedState> RaftStateMachine<TypeConfig> for StateMachineStore<S> {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let applied = self.applied.read().await;
        Ok((applied.last_applied, applied.last_membership.clone()))
    }

    /// One response per entry, in order. Blank entries (a new leader's first) and
    /// membership changes carry no command and answer an empty response.
    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResponse>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut applied = self.applied.write().await;
        let Applied {
            state,
            last_applied,
            last_membership,
        } = &mut *applied;
        let mut responses = Vec::new();
        for entry in entries {
            let response = match entry.payload {
                EntryPayload::Blank => CommandResponse::default(),
                EntryPayload::Normal(command) => state.apply(entry.log_id.index, &command),
                EntryPayload::Membership(membership) => {
                    *last_membership = StoredMembership::new(Some(entry.log_id), membership);
                    CommandResponse::default()
                }
            };
            *last_applied = Some(entry.log_id);
            responses.push(response);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    /// Checks the bytes against `meta`, stores them, then swaps the state in, all under
    /// the write lock so nobody sees the new snapshot on disk with the old state.
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let signature = || Some(meta.signature());
        let data = snapshot.into_inner();
        let payload = decode_payload::<S>(meta, &data)
            .map_err(|e| StorageIOError::read_snapshot(signature(), &e))?;

        let mut applied = self.applied.write().await;
        store_snapshot(&self.db, meta.clone(), data, Replace::Always)
            .await
            .map_err(|e| StorageIOError::write_snapshot(signature(), &e))?;
        applied.state.install(payload.state);
        applied.last_applied = meta.last_log_id;
        applied.last_membership = meta.last_membership.clone();
        tracing::info!(%meta, "installed a snapshot");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let stored =
            load_snapshot(&self.db).map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        Ok(stored.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}

/// Reads the stored snapshot, `None` if there has never been one.
fn load_snapshot(db: &Database) -> Result<Option<(SnapshotMeta, Vec<u8>)>, ClusterError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(SNAPSHOT)?;
    let Some(meta) = table.get(SNAPSHOT_META)? else {
        return Ok(None);
    };
    let meta: SnapshotMeta = db::decode(meta.value())?;
    let data = table
        .get(SNAPSHOT_DATA)?
        .ok_or_else(|| ClusterError::Inconsistent(format!("snapshot {meta} has no data")))?;
    Ok(Some((meta, data.value().to_vec())))
}

/// Stores `meta` and `data` in one durable commit and hands `data` back. With
/// [`Replace::IfNotOlder`], a stored snapshot that reaches further is kept instead.
async fn store_snapshot(
    db: &Arc<Database>,
    meta: SnapshotMeta,
    data: Vec<u8>,
    replace: Replace,
) -> Result<Vec<u8>, ClusterError> {
    db::write(db, Durability::Immediate, move |txn| {
        if replace == Replace::IfNotOlder {
            let table = txn.open_table(SNAPSHOT)?;
            let stored = table.get(SNAPSHOT_META)?;
            if let Some(stored) = stored {
                let stored: SnapshotMeta = db::decode(stored.value())?;
                if stored.last_log_id > meta.last_log_id {
                    tracing::debug!(%stored, built = %meta, "kept the newer stored snapshot");
                    return Ok(data);
                }
            }
        }
        db::put_value(txn, SNAPSHOT, SNAPSHOT_META, &meta)?;
        txn.open_table(SNAPSHOT)?
            .insert(SNAPSHOT_DATA, data.as_slice())?;
        Ok(data)
    })
    .await
}

/// Decodes snapshot bytes and checks they cover what `meta` says they cover.
fn decode_payload<S: ReplicatedState>(
    meta: &SnapshotMeta,
    data: &[u8],
) -> Result<SnapshotPayload<S>, ClusterError> {
    let payload: SnapshotPayload<S> = db::decode(data)?;
    if payload.last_applied != meta.last_log_id {
        return Err(ClusterError::Inconsistent(format!(
            "snapshot {meta} holds state up to {:?}",
            payload.last_applied
        )));
    }
    Ok(payload)
}

/// Unique per build: two snapshots at the same log id may still differ in bytes
/// (openraft's own caveat), and the id is how a transfer tells them apart.
fn snapshot_id(last_applied: Option<&LogId>) -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis())
        .unwrap_or(0);
    match last_applied {
        Some(log_id) => format!("{}-{}-{millis}", log_id.leader_id, log_id.index),
        None => format!("empty-{millis}"),
    }
}

#[cfg(test)]
mod tests {
    use openraft::testing::log_id;

    use super::*;

    fn meta_at(index: u64) -> SnapshotMeta {
        SnapshotMeta {
            last_log_id: Some(log_id(1, 1, index)),
            last_membership: StoredMembership::default(),
            snapshot_id: format!("at-{index}"),
        }
    }

    #[tokio::test]
    async fn a_late_built_snapshot_does_not_overwrite_a_newer_installed_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = db::open(&dir.path().join("sm.redb"), &[SNAPSHOT]).unwrap();
        store_snapshot(&db, meta_at(5), vec![5], Replace::Always)
            .await
            .unwrap();

        store_snapshot(&db, meta_at(3), vec![3], Replace::IfNotOlder)
            .await
            .unwrap();

        let (meta, data) = load_snapshot(&db).unwrap().unwrap();
        assert_eq!((meta.snapshot_id.as_str(), data), ("at-5", vec![5]));
    }

    #[tokio::test]
    async fn an_install_replaces_even_a_newer_stored_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let db = db::open(&dir.path().join("sm.redb"), &[SNAPSHOT]).unwrap();
        store_snapshot(&db, meta_at(5), vec![5], Replace::Always)
            .await
            .unwrap();

        store_snapshot(&db, meta_at(3), vec![3], Replace::Always)
            .await
            .unwrap();

        let (meta, _) = load_snapshot(&db).unwrap().unwrap();
        assert_eq!(meta.snapshot_id, "at-3");
    }

    #[test]
    fn snapshot_ids_name_the_log_id_they_cover() {
        let id = snapshot_id(Some(&log_id(2, 7, 42)));
        assert!(id.contains("-42-"), "{id}");
        assert!(snapshot_id(None).starts_with("empty-"));
    }
}

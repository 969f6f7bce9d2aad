//! The Raft log and vote, durable in redb.
//!
//! Raft's safety rests on two promises a node makes to its peers: it votes at most
//! once per term, and it keeps every entry it acknowledged. Both must survive a crash,
//! so [`LogStore::save_vote`](openraft::storage::RaftLogStorage::save_vote) and
//! [`append`](openraft::storage::RaftLogStorage::append) return (or signal) only
//! after a durable redb commit. The log is compacted by `purge`, which openraft calls
//! once a snapshot covers the entries.
//!
//! Layout (file [`LOG_FILE`](crate::LOG_FILE)):
//! - `raft_log`: log index -> MessagePack of the whole [`Entry`];
//! - `raft_meta`: `vote`, `committed` and `last_purged` -> MessagePack of each value.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{OptionalSend, StorageIOError};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use crate::db::{self, NamedValues};
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};
use crate::ClusterError;

/// Log entries by index.
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
/// The vote and the log pointers.
const META: NamedValues = TableDefinition::new("raft_meta");

const VOTE: &str = "vote";
const COMMITTED: &str = "committed";
const LAST_PURGED: &str = "last_purged";

/// The durable Raft log of one node. Cloning is cheap and shares the database; a
/// clone is also the log reader openraft hands to replication tasks.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
}

impl LogStore {
    /// Opens or creates the log file at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, ClusterError> {
        let db = db::open(path, &[META])?;
        // The entry table has another key type than `META`, so it is created here.
        let txn = db.begin_write()?;
        txn.open_table(LOG)?;
        txn.commit()?;
        Ok(Self { db })
    }

    fn last_purged(&self) -> Result<Option<LogId>, ClusterError> {
        db::read_value(&self.db, META, LAST_PURGED)
    }

    /// The id of the newest entry still in the log, if any.
    fn last_entry_id(&self) -> Result<Option<LogId>, ClusterError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(LOG)?;
        let last = table.last()?;
        last.map(|(_, bytes)| db::decode::<Entry>(bytes.value()).map(|entry| entry.log_id))
            .transpose()
    }

    fn read_range(&self, range: (Bound<u64>, Bound<u64>)) -> Result<Vec<Entry>, ClusterError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(LOG)?;
        let mut entries = Vec::new();
        for row in table.range::<u64>(range)? {
            let (_, bytes) = row?;
            entries.push(db::decode(bytes.value())?);
        }
        Ok(entries)
    }

    /// Writes `entries` in one durable commit.
    async fn append_durably(&self, entries: Vec<Entry>) -> Result<(), ClusterError> {
        let rows = entries
            .iter()
            .map(|entry| Ok((entry.log_id.index, db::encode(entry)?)))
            .collect::<Result<Vec<_>, ClusterError>>()?;
        db::write(&self.db, Durability::Immediate, move |txn| {
            let mut table = txn.open_table(LOG)?;
            for (index, bytes) in &rows {
                table.insert(*index, bytes.as_slice())?;
            }
            Ok(())
        })
        .await
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let bounds = (range.start_bound().cloned(), range.end_bound().cloned());
        Ok(self
            .read_range(bounds)
            .map_err(|e| StorageIOError::read_logs(&e))?)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let read = || -> Result<_, ClusterError> {
            let last_purged_log_id = self.last_purged()?;
            // With every entry purged, the last log id is the last purged one.
            let last_log_id = self.last_entry_id()?.or(last_purged_log_id);
            Ok(LogState {
                last_purged_log_id,
                last_log_id,
            })
        };
        Ok(read().map_err(|e| StorageIOError::read_logs(&e))?)
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let vote = *vote;
        let written = db::write(&self.db, Durability::Immediate, move |txn| {
            db::put_value(txn, META, VOTE, &vote)
        });
        Ok(written.await.map_err(|e| StorageIOError::write_vote(&e))?)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(db::read_value(&self.db, META, VOTE).map_err(|e| StorageIOError::read_vote(&e))?)
    }

    /// Saved so that a restart re-applies the committed entries past the last
    /// snapshot (see [`crate::state_machine`]).
    ///
    /// Not durable on its own: `committed` is an optimisation that may lag. If a crash
    /// loses it, startup re-applies fewer entries and openraft applies the rest when the
    /// leader tells it the commit index again. The next append's durable commit flushes
    /// it anyway, so this adds no fsync to the commit path.
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let written = db::write(&self.db, Durability::None, move |txn| {
            db::put_value(txn, META, COMMITTED, &committed)
        });
        Ok(written.await.map_err(|e| StorageIOError::write(&e))?)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let committed: Option<Option<LogId>> =
            db::read_value(&self.db, META, COMMITTED).map_err(|e| StorageIOError::read(&e))?;
        Ok(committed.flatten())
    }

    /// Commits before it signals: openraft counts this node towards a quorum as soon
    /// as `callback` fires, so the entries must already be on disk.
    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        match self.append_durably(entries).await {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(StorageIOError::write_logs(&e).into())
            }
        }
    }

    /// Removes `[log_id.index, ∞)` in one transaction, so no hole is ever visible.
    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(%log_id, "truncating the raft log");
        let from = log_id.index;
        let written = db::write(&self.db, Durability::Immediate, move |txn| {
            txn.open_table(LOG)?
                .retain_in::<u64, _>(from.., |_, _| false)?;
            Ok(())
        });
        Ok(written
            .await
            .map_err(|e| StorageIOError::write_log_entry(log_id, &e))?)
    }

    /// Removes `(-∞, log_id.index]` and records `log_id` as the last purged id in the
    /// same transaction, so a crash leaves either the old log or the compacted one.
    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(%log_id, "purging the raft log");
        let upto = log_id.index;
        let written = db::write(&self.db, Durability::Immediate, move |txn| {
            txn.open_table(LOG)?
                .retain_in::<u64, _>(..=upto, |_, _| false)?;
            db::put_value(txn, META, LAST_PURGED, &log_id)
        });
        Ok(written
            .await
            .map_err(|e| StorageIOError::write_log_entry(log_id, &e))?)
    }
}

#[cfg(test)]
mod tests {
    use openraft::testing::{blank_ent, log_id};
    use openraft::RaftLogId;

    use super::*;

    fn open_temp() -> (tempfile::TempDir, LogStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(&dir.path().join("log.redb")).unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn entries_are_keyed_by_their_index() {
        let (_dir, store) = open_temp();
        let entries: Vec<Entry> = (3..6).map(|i| blank_ent(1, 1, i)).collect();
        store.append_durably(entries).await.unwrap();

        let got = store
            .read_range((Bound::Included(4), Bound::Unbounded))
            .unwrap();
        let ids: Vec<u64> = got.iter().map(|e| e.get_log_id().index).collect();
        assert_eq!(ids, vec![4, 5]);
        assert_eq!(store.last_entry_id().unwrap(), Some(log_id(1, 1, 5)));
    }

    #[tokio::test]
    async fn an_undecodable_entry_is_a_read_error_not_a_panic() {
        let (_dir, mut store) = open_temp();
        db::write(&store.db, Durability::Immediate, |txn| {
            txn.open_table(LOG)?.insert(1, [0xc1u8].as_slice())?;
            Ok(())
        })
        .await
        .unwrap();

        let err = store.try_get_log_entries(0..10).await.unwrap_err();
        assert!(err.to_string().contains("decode"), "{err}");
    }

    #[tokio::test]
    async fn committed_reads_back_after_a_non_durable_save() {
        let (_dir, mut store) = open_temp();
        assert_eq!(store.read_committed().await.unwrap(), None);
        store.save_committed(Some(log_id(2, 1, 7))).await.unwrap();
        assert_eq!(store.read_committed().await.unwrap(), Some(log_id(2, 1, 7)));
    }
}

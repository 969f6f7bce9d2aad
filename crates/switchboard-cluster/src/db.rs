//! The few redb and MessagePack helpers both stores share.
//!
//! Writes go through [`write`], on tokio's blocking pool. Reads stay on the calling
//! task: redb readers take no lock against the writer (each sees the last commit), and
//! they are short.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, Durability, ReadableDatabase, TableDefinition, WriteTransaction};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::ClusterError;

/// A table of small named values (vote, pointers, snapshot meta), MessagePack-encoded.
pub(crate) type NamedValues = TableDefinition<'static, &'static str, &'static [u8]>;

/// Opens or creates the redb file at `path` and creates `tables` if missing, so that
/// later read transactions can open them without a "table does not exist" case.
pub(crate) fn open(path: &Path, tables: &[NamedValues]) -> Result<Arc<Database>, ClusterError> {
    let db = Database::create(path)?;
    let txn = db.begin_write()?;
    for table in tables {
        txn.open_table(*table)?;
    }
    txn.commit()?;
    Ok(Arc::new(db))
}

/// Runs `f` in one write transaction and commits it with `durability`, on tokio's
/// blocking pool.
///
/// A durable commit waits for an fsync. Doing that on the blocking pool keeps the
/// runtime's worker threads (two on a small node) free for the network and the timers
/// while the caller still awaits the commit, so "returned" keeps meaning "on disk".
pub(crate) async fn write<T, F>(
    db: &Arc<Database>,
    durability: Durability,
    f: F,
) -> Result<T, ClusterError>
where
    T: Send + 'static,
    F: FnOnce(&WriteTransaction) -> Result<T, ClusterError> + Send + 'static,
{
    let db = Arc::clone(db);
    tokio::task::spawn_blocking(move || {
        let mut txn = db.begin_write()?;
        txn.set_durability(durability)?;
        let value = f(&txn)?;
        txn.commit()?;
        Ok(value)
    })
    .await?
}

/// Reads and decodes one named value, `None` if it was never written.
pub(crate) fn read_value<T: DeserializeOwned>(
    db: &Database,
    table: NamedValues,
    key: &str,
) -> Result<Option<T>, ClusterError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(table)?;
    let value = table.get(key)?;
    value.map(|bytes| decode(bytes.value())).transpose()
}

/// Encodes and stores one named value inside `txn`.
pub(crate) fn put_value<T: Serialize + ?Sized>(
    txn: &WriteTransaction,
    table: NamedValues,
    key: &str,
    value: &T,
) -> Result<(), ClusterError> {
    let bytes = encode(value)?;
    txn.open_table(table)?.insert(key, bytes.as_slice())?;
    Ok(())
}

/// MessagePack with field names: openraft's types and the application's state may
/// skip or add fields across versions, which positional arrays would misread.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, ClusterError> {
    Ok(rmp_serde::to_vec_named(value)?)
}

/// The inverse of [`encode`]; bytes from disk or the network that do not decode are
/// an error, never a panic.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ClusterError> {
    Ok(rmp_serde::from_slice(bytes)?)
}

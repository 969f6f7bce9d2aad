//! The Raft type configuration and the seam where the replicated application plugs in.
//!
//! Why opaque bytes and not a `TypeConfig` generic over the application:
//! `declare_raft_types!` in openraft 0.9 declares a plain struct with no type
//! parameters, and writing `RaftTypeConfig` by hand for a `TypeConfig<S>` would drag
//! `S` through the derives openraft demands of a config (`Copy`, `Ord`, `Default`, ...)
//! and through every openraft type in the crate's signatures. Instead the log carries a
//! [`Command`] of MessagePack bytes and the state machine is generic over a
//! [`ReplicatedState`] that decodes them. The storage code compiles once, never learns
//! what a WAMP registration is, and the application swaps its command enum without
//! touching it. The price is one decode per applied entry, which the application would
//! pay for any serialized log anyway.

use std::io::Cursor;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::ClusterError;

/// A node's id in the cluster.
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// The types openraft runs with in a Switchboard cluster.
    ///
    /// A node is an [`openraft::BasicNode`], whose `addr` is its peer address; snapshots
    /// are whole in-memory buffers, which suits a registry that fits in memory anyway.
    pub TypeConfig:
        D = Command,
        R = CommandResponse,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A log id: the term and node of the leader that wrote it, and its index.
pub type LogId = openraft::LogId<NodeId>;
/// A log entry as stored and replicated.
pub type Entry = openraft::Entry<TypeConfig>;
/// A node's vote (term, candidate, committed or not).
pub type Vote = openraft::Vote<NodeId>;
/// The membership config and the log id that introduced it.
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
/// What a snapshot covers: last log id, membership, id.
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;
/// A snapshot: its meta and its bytes.
pub type Snapshot = openraft::Snapshot<TypeConfig>;
/// The error openraft's storage traits return.
pub type StorageError = openraft::StorageError<NodeId>;

/// One application command as it travels through the log: MessagePack bytes the
/// [`ReplicatedState`] decodes when the entry is applied.
///
/// Serialized as a byte string (MessagePack `bin`), not as a list of numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Command(#[serde(with = "serde_bytes")] pub Vec<u8>);

impl Command {
    /// Encodes an application command (field names kept, so adding a field later
    /// still reads old entries).
    pub fn encode<T: Serialize + ?Sized>(command: &T) -> Result<Self, ClusterError> {
        Ok(Self(rmp_serde::to_vec_named(command)?))
    }

    /// Decodes the application command this entry carries.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ClusterError> {
        Ok(rmp_serde::from_slice(&self.0)?)
    }
}

/// What applying a [`Command`] answered, as MessagePack bytes; empty for blank and
/// membership entries, which carry no command.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommandResponse(#[serde(with = "serde_bytes")] pub Vec<u8>);

impl CommandResponse {
    /// Encodes an application response.
    pub fn encode<T: Serialize + ?Sized>(response: &T) -> Result<Self, ClusterError> {
        Ok(Self(rmp_serde::to_vec_named(response)?))
    }

    /// Decodes an application response.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ClusterError> {
        Ok(rmp_serde::from_slice(&self.0)?)
    }
}

/// The application state every node replicates, e.g. the WAMP registry.
///
/// `apply` must be deterministic: given the same state, index and command, every node
/// must reach the same new state and answer the same response, because each node
/// applies the log on its own. So no clocks, no randomness, no I/O; anything like an
/// id that must be fresh is derived from `index`. It is infallible on purpose: a
/// command that cannot be decoded or is refused must still be applied the same way
/// everywhere, so it answers with an error response rather than failing the node.
///
/// The whole state is serialized into each snapshot, hence the serde bounds.
pub trait ReplicatedState: Default + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Applies the committed `command` found at log `index`.
    fn apply(&mut self, index: u64, command: &Command) -> CommandResponse;

    /// Takes over the state of an installed snapshot. Replacing `self` is the
    /// default; a state that also holds something not in snapshots (a channel to
    /// the application, say) keeps it and passes the news on.
    fn install(&mut self, restored: Self) {
        *self = restored;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_is_a_msgpack_bin_not_an_array_of_numbers() {
        let bytes = rmp_serde::to_vec(&Command(vec![1, 2, 3])).unwrap();
        // 0xc4 = bin 8, then the length, then the bytes themselves.
        assert_eq!(bytes, vec![0xc4, 3, 1, 2, 3]);
    }

    #[test]
    fn command_round_trips_an_application_value() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Register {
            procedure: String,
        }
        let original = Register {
            procedure: "com.example.add".into(),
        };
        let command = Command::encode(&original).unwrap();
        assert_eq!(command.decode::<Register>().unwrap(), original);
    }

    #[test]
    fn decoding_garbage_is_an_error_not_a_panic() {
        let command = Command(vec![0xc1]); // 0xc1 is never used in MessagePack
        assert!(matches!(
            command.decode::<String>(),
            Err(ClusterError::Decode(_))
        ));
    }
}

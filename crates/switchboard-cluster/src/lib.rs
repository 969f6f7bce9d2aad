//! Durable, compacting Raft storage for a Switchboard cluster, under openraft 0.9.
//!
//! A cluster agrees on one ordered history of commands (registry changes, later) and
//! every node applies it to the same deterministic state machine. openraft runs the
//! protocol; this crate gives it the two things it cannot do itself:
//!
//! - a [`LogStore`] that keeps the vote and the log on disk, so that a node which
//!   restarts never forgets a vote it cast or an entry it acknowledged (forgetting
//!   either breaks Raft's safety), and that drops entries already captured by a
//!   snapshot so the log does not grow forever;
//! - a [`StateMachineStore`] that applies committed entries to any
//!   [`ReplicatedState`] and builds, stores and installs snapshots of it, so a new or
//!   lagging node catches up from a snapshot instead of from entry one.
//!
//! Both live in [redb](https://www.redb.org) files in one directory per node, opened by
//! [`open_storage`]. The storage knows nothing about WAMP: commands are opaque bytes
//! (see [`types`]), and the application decides what they mean.
//!
//! Restart: the state machine is rebuilt from the last stored snapshot plus the
//! committed entries still in the log, which openraft re-applies at startup from the
//! committed log id the log store keeps. See [`state_machine`] for why.
#![warn(missing_docs, unreachable_pub)]

pub mod config;
mod db;
pub mod failure_detector;
mod link_writer;
pub mod log_store;
pub mod network;
pub mod node;
pub mod peer;
pub mod peer_tls;
pub mod proposer;
pub mod replica;
pub mod state_machine;
pub mod types;

use std::path::Path;

pub use config::{default_raft_config, raft_config};
pub use log_store::LogStore;
pub use node::{
    ClusterConfig, ClusterEvents, ClusterNode, ClusterStatus, MemberChange, ProposeError,
};
pub use peer::{LinkSecurity, LinkTiming};
pub use peer_tls::{node_name, PeerTls, PeerTlsError};
pub use replica::{ClusterCommand, CommitSink};
pub use state_machine::StateMachineStore;
pub use types::{Command, CommandResponse, NodeId, ReplicatedState, TypeConfig};

/// The file in a node's directory that holds the vote, the log and its pointers.
pub const LOG_FILE: &str = "raft-log.redb";

/// The file in a node's directory that holds the current snapshot.
pub const STATE_MACHINE_FILE: &str = "state-machine.redb";

/// Opens (or creates) a node's storage in `dir`.
///
/// Two redb files, not one: redb admits one write transaction per database at a time,
/// and openraft writes the log (from its core task) and the state machine's snapshots
/// (from its state-machine task) concurrently. Writing a large snapshot into the same
/// file would stall log appends, and with them heartbeats and elections, for the
/// length of that commit. The two files need no shared transaction: the state
/// machine records its own last applied log id, and openraft reconciles the two at
/// startup.
///
/// Each file is locked by redb while open, so a second `open_storage` on the same
/// directory fails until every handle from the first is dropped.
pub fn open_storage<S: ReplicatedState>(
    dir: &Path,
) -> Result<(LogStore, StateMachineStore<S>), ClusterError> {
    std::fs::create_dir_all(dir)?;
    let log = LogStore::open(&dir.join(LOG_FILE))?;
    let state_machine = StateMachineStore::open(&dir.join(STATE_MACHINE_FILE))?;
    Ok((log, state_machine))
}

/// What can go wrong in this crate, mapped at its boundary.
///
/// Inside the openraft traits these become `openraft::StorageError`s (with the subject
/// and verb openraft wants), which shut the Raft node down: a store that cannot read or
/// write is not safe to keep voting with.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The node directory could not be created.
    #[error("cluster storage directory: {0}")]
    Io(#[from] std::io::Error),
    /// redb could not open, read or commit.
    #[error("cluster storage: {0}")]
    Db(#[from] redb::Error),
    /// A value could not be encoded as MessagePack.
    #[error("cannot encode for cluster storage: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    /// Stored or received bytes are not the MessagePack we expect.
    #[error("cannot decode cluster data: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
    /// Raft could not start or refused an operation.
    #[error("raft: {0}")]
    Raft(String),
    /// Stored or received data decodes but contradicts itself.
    #[error("inconsistent cluster data: {0}")]
    Inconsistent(String),
    /// The Raft timings or snapshot policy are not usable. (Boxed: openraft's error
    /// is large, and this one travels in every `Result` of the crate.)
    #[error("raft config: {0}")]
    Config(Box<openraft::ConfigError>),
    /// A blocking storage task panicked or was cancelled.
    #[error("cluster storage task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl From<openraft::ConfigError> for ClusterError {
    fn from(error: openraft::ConfigError) -> Self {
        ClusterError::Config(Box::new(error))
    }
}

/// redb returns a distinct error type per operation; all of them fold into
/// [`redb::Error`], so `?` works on any of them inside this crate.
macro_rules! from_redb {
    ($($error:ty),* $(,)?) => {
        $(impl From<$error> for ClusterError {
            fn from(error: $error) -> Self {
                ClusterError::Db(error.into())
            }
        })*
    };
}

from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError,
);

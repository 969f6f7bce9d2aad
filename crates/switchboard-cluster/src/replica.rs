//! Switchboard's replicated state: every realm's registry, kept by shadow realms
//! that apply committed commands with the very code the live realms use (WAMP's
//! rules live only in `switchboard-core`), so a snapshot of them is exactly the
//! registry at that log index. Each committed command is also handed to the
//! node's live realms through a [`CommitSink`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use switchboard_core::cluster::{RegistryCommand, RegistrySnapshot};
use switchboard_core::{ClockAnchor, Realm, RealmConfig};

use crate::proposer::{position, LogEntry};
use crate::types::{Command, CommandResponse, ReplicatedState};

/// A registry change for one realm: the log's payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterCommand {
    /// The realm it applies to.
    pub realm: String,
    /// The change.
    pub command: RegistryCommand,
}

/// Where committed changes go on this node (its live realms).
pub trait CommitSink: Send + Sync {
    /// `command` was committed at `position` (see [`crate::proposer::position`]);
    /// apply it to `realm`.
    fn committed(&self, position: u64, realm: &str, command: &RegistryCommand);
    /// A snapshot replaced the replicated state: restore each realm from it.
    fn restored(&self, realms: &BTreeMap<String, RegistrySnapshot>);
}

/// The state machine's application state.
#[derive(Default)]
pub struct SwitchboardState {
    /// One shadow realm per realm name, registry only (no sessions).
    realms: BTreeMap<String, Realm>,
    /// The live realms; not part of snapshots.
    sink: Option<Arc<dyn CommitSink>>,
}

/// The shadows never have sessions, so they never need a node of their own.
const SHADOW_NODE: u64 = u64::MAX;

fn shadow(name: &str) -> Realm {
    Realm::replicated(
        RealmConfig::anonymous(name),
        ClockAnchor::now(),
        SHADOW_NODE,
        // The shadows route no call and admit no session: they never draw.
        0,
    )
}

impl SwitchboardState {
    /// Connects the live realms; from now on they see every commit and restore.
    pub fn attach(&mut self, sink: Arc<dyn CommitSink>) {
        self.sink = Some(sink);
    }

    /// Every realm's registry as of the last applied command.
    pub fn snapshots(&self) -> BTreeMap<String, RegistrySnapshot> {
        self.realms
            .iter()
            .map(|(name, realm)| (name.clone(), realm.snapshot()))
            .collect()
    }
}

impl ReplicatedState for SwitchboardState {
    fn apply(&mut self, index: u64, command: &Command) -> CommandResponse {
        let commands = match command.decode::<LogEntry>() {
            Ok(entry) => entry.commands,
            // An entry written before proposals were batched.
            Err(_) => match command.decode::<ClusterCommand>() {
                Ok(single) => vec![single],
                Err(_) => {
                    tracing::error!(
                        index,
                        "undecodable command in the log; skipped on every node"
                    );
                    return CommandResponse::default();
                }
            },
        };
        for (place, ClusterCommand { realm, command }) in commands.into_iter().enumerate() {
            let position = position(index, place);
            let shadow = self
                .realms
                .entry(realm.clone())
                .or_insert_with(|| shadow(&realm));
            shadow.apply(Instant::now(), position, command.clone());
            // The shadow has no sessions to talk to; drop what it would have said.
            while shadow.poll_outgoing().is_some() {}
            if let Some(sink) = &self.sink {
                sink.committed(position, &realm, &command);
            }
        }
        CommandResponse::default()
    }

    fn install(&mut self, restored: Self) {
        self.realms = restored.realms;
        if let Some(sink) = &self.sink {
            sink.restored(&self.snapshots());
        }
    }
}

impl Serialize for SwitchboardState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.snapshots().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SwitchboardState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let snapshots = BTreeMap::<String, RegistrySnapshot>::deserialize(deserializer)?;
        let realms = snapshots
            .into_iter()
            .map(|(name, snapshot)| {
                let mut realm = shadow(&name);
                realm.restore(Instant::now(), snapshot);
                (name, realm)
            })
            .collect();
        Ok(Self { realms, sink: None })
    }
}

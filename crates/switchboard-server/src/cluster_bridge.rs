//! Where the cluster meets the realm actors: committed registry changes, restored
//! snapshots, realm messages from other nodes and dead nodes go to the realm
//! actors' mailboxes, in the order the cluster produced them.

use std::collections::{BTreeMap, HashMap};

use actix::Addr;
use switchboard_cluster::{ClusterEvents, CommitSink};
use switchboard_core::cluster::{NodeId, PeerMessage, RegistryCommand, RegistrySnapshot};

use crate::realm_actor::{Apply, NodeDown, NodeUp, PeerIn, RealmActor, Restore};

/// Routes cluster events to the realm actor of each realm.
pub(crate) struct ClusterBridge {
    pub(crate) realms: HashMap<String, Addr<RealmActor>>,
}

impl CommitSink for ClusterBridge {
    fn committed(&self, position: u64, realm: &str, command: &RegistryCommand) {
        if let Some(actor) = self.realms.get(realm) {
            actor.do_send(Apply {
                position,
                command: command.clone(),
            });
        }
    }

    fn restored(&self, realms: &BTreeMap<String, RegistrySnapshot>) {
        for (name, snapshot) in realms {
            if let Some(actor) = self.realms.get(name) {
                actor.do_send(Restore(snapshot.clone()));
            }
        }
    }
}

impl ClusterEvents for ClusterBridge {
    fn peer_message(&self, from: NodeId, realm: &str, message: PeerMessage) {
        if let Some(actor) = self.realms.get(realm) {
            actor.do_send(PeerIn { from, message });
        }
    }

    fn node_down(&self, node: NodeId) {
        for actor in self.realms.values() {
            actor.do_send(NodeDown(node));
        }
    }

    fn node_up(&self, node: NodeId) {
        for actor in self.realms.values() {
            actor.do_send(NodeUp(node));
        }
    }
}

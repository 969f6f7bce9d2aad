//! The realms a router serves, by name. Fixed at start: realms come from config.

use std::collections::HashMap;

use std::sync::Arc;

use actix::{Actor, Addr, Arbiter};
use switchboard_cluster::ClusterNode;
use switchboard_core::auth::RealmSecurity;
use switchboard_core::cluster::NodeId;
use switchboard_core::RealmConfig;

use crate::metrics::Metrics;
use crate::realm_actor::{
    AskDrainProgress, AttachCluster, Drain, DrainProgress, RealmActor, Shutdown,
};

/// Realm name -> its actor and its security.
pub(crate) struct RealmDirectory {
    by_name: HashMap<String, Addr<RealmActor>>,
    /// What the connections' handshakes need, read without asking the realm.
    security: HashMap<String, Arc<RealmSecurity>>,
    /// Each realm runs on its own arbiter (thread), away from the transports.
    _arbiters: Vec<Arbiter>,
    /// Set when the node starts leaving: no new session is admitted.
    draining: std::sync::atomic::AtomicBool,
}

impl RealmDirectory {
    /// Starts one actor per realm; `node` is this node's id in a cluster.
    pub(crate) fn start(
        realms: &[RealmConfig],
        node: Option<NodeId>,
        metrics: &Arc<Metrics>,
    ) -> Self {
        let mut by_name = HashMap::new();
        let mut security = HashMap::new();
        let mut arbiters = Vec::new();
        for config in realms {
            security.insert(config.name.clone(), config.security.clone());
            let arbiter = Arbiter::new();
            let config = config.clone();
            let name = config.name.clone();
            let metrics = metrics.clone();
            let addr = RealmActor::start_in_arbiter(&arbiter.handle(), move |_| {
                RealmActor::new(config, node, metrics)
            });
            by_name.insert(name, addr);
            arbiters.push(arbiter);
        }
        Self {
            by_name,
            security,
            _arbiters: arbiters,
            draining: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Every realm's actor, by name.
    pub(crate) fn actors(&self) -> HashMap<String, Addr<RealmActor>> {
        self.by_name.clone()
    }

    /// The runtime of the first configured realm's arbiter, for the cluster's
    /// peer links: a forwarded call's frames are then read on the thread that
    /// handles them. With several realms, the others' frames cross one thread.
    pub(crate) async fn first_realm_runtime(&self) -> Option<tokio::runtime::Handle> {
        let arbiter = self._arbiters.first()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        arbiter.spawn(async move {
            let _ = tx.send(tokio::runtime::Handle::current());
        });
        rx.await.ok()
    }

    /// The arbiter of the node's realm, when it serves exactly one: sessions
    /// placed there reach their realm without crossing a thread.
    pub(crate) fn only_realm_arbiter(&self) -> Option<actix::ArbiterHandle> {
        match self._arbiters.as_slice() {
            [only] => Some(only.handle()),
            _ => None,
        }
    }

    /// Tells every realm it is part of `node`'s cluster.
    pub(crate) async fn attach_cluster(&self, node: &Arc<ClusterNode>) {
        for addr in self.by_name.values() {
            let _ = addr.send(AttachCluster(node.clone())).await;
        }
    }

    pub(crate) fn get(&self, realm: &str) -> Option<&Addr<RealmActor>> {
        self.by_name.get(realm)
    }

    /// The realm's actor and security, if the router has it.
    pub(crate) fn lookup(&self, realm: &str) -> Option<(&Addr<RealmActor>, &Arc<RealmSecurity>)> {
        Some((self.by_name.get(realm)?, self.security.get(realm)?))
    }

    /// Whether the node is leaving (new connections are refused).
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops admitting sessions, and has every realm tell the cluster that
    /// new calls should go elsewhere.
    pub(crate) async fn drain_all(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
        for addr in self.by_name.values() {
            let _ = addr.send(Drain).await;
        }
    }

    /// Every realm's progress in leaving, summed: committed and settled only
    /// if they are in every realm.
    pub(crate) async fn drain_progress(&self) -> DrainProgress {
        let mut total = DrainProgress {
            committed: true,
            serving: 0,
            settled: true,
        };
        for addr in self.by_name.values() {
            let progress = addr.send(AskDrainProgress).await.unwrap_or_default();
            total.committed &= progress.committed;
            total.serving += progress.serving;
            total.settled &= progress.settled;
        }
        total
    }

    pub(crate) async fn shutdown_all(&self) {
        for addr in self.by_name.values() {
            let _ = addr.send(Shutdown).await;
        }
    }
}

impl Drop for RealmDirectory {
    fn drop(&mut self) {
        for arbiter in &self._arbiters {
            arbiter.stop();
        }
    }
}

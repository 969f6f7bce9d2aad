//! The realms a router serves, by name. Fixed at start: realms come from config.

use std::collections::HashMap;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::{Actor, Addr, Arbiter, ArbiterHandle};
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
    /// Each realm runs on its own arbiter (thread), with its sessions.
    arbiters: Vec<Arbiter>,
    /// Realm name -> the thread its actor and sessions run on.
    threads: HashMap<String, ArbiterHandle>,
    /// Where the next session that named no known realm goes, round-robin.
    next_thread: AtomicUsize,
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
        let mut threads = HashMap::new();
        for config in realms {
            security.insert(config.name.clone(), config.security.clone());
            let arbiter = Arbiter::new();
            let config = config.clone();
            let name = config.name.clone();
            let metrics = metrics.clone();
            let addr = RealmActor::start_in_arbiter(&arbiter.handle(), move |_| {
                RealmActor::new(config, node, metrics)
            });
            by_name.insert(name.clone(), addr);
            threads.insert(name, arbiter.handle());
            arbiters.push(arbiter);
        }
        Self {
            by_name,
            security,
            arbiters,
            threads,
            next_thread: AtomicUsize::new(0),
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
        let arbiter = self.arbiters.first()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        arbiter.spawn(async move {
            let _ = tx.send(tokio::runtime::Handle::current());
        });
        rx.await.ok()
    }

    /// Whether a session's thread depends on the realm its HELLO names, so
    /// the HELLO is worth reading before the session is placed.
    pub(crate) fn places_by_realm(&self) -> bool {
        self.arbiters.len() > 1
    }

    /// The thread a new session lives on: its realm's, so a call between two
    /// sessions of a realm crosses no thread. `realm` is what the session's
    /// HELLO named, if it was read before placing it. A session that named
    /// no realm served here (it will be refused, or it sent something else
    /// first) goes to any realm's thread, round-robin. A node with no realm
    /// (which the binary's settings refuse) keeps it on the calling thread.
    pub(crate) fn session_thread(&self, realm: Option<&str>) -> ArbiterHandle {
        if let [only] = self.arbiters.as_slice() {
            return only.handle();
        }
        if let Some(thread) = realm.and_then(|name| self.threads.get(name)) {
            return thread.clone();
        }
        match self.arbiters.len() {
            0 => Arbiter::current(),
            count => {
                let next = self.next_thread.fetch_add(1, Ordering::Relaxed) % count;
                self.arbiters[next].handle()
            }
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
        self.draining.load(Ordering::Relaxed)
    }

    /// Stops admitting sessions, and has every realm tell the cluster that
    /// new calls should go elsewhere.
    pub(crate) async fn drain_all(&self) {
        self.draining.store(true, Ordering::Relaxed);
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
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::thread::ThreadId;

    use super::*;

    /// The thread `handle` runs its work on.
    async fn thread_of(handle: &ArbiterHandle) -> ThreadId {
        let (tx, rx) = tokio::sync::oneshot::channel();
        handle.spawn_fn(move || {
            let _ = tx.send(std::thread::current().id());
        });
        rx.await.unwrap()
    }

    #[actix_web::test]
    async fn a_session_goes_to_the_thread_of_the_realm_its_hello_names() {
        let configs = ["com.example.a", "com.example.b"].map(RealmConfig::anonymous);
        let directory = RealmDirectory::start(&configs, None, &Arc::new(Metrics::new()));
        assert!(directory.places_by_realm());
        let a = thread_of(&directory.threads["com.example.a"]).await;
        let b = thread_of(&directory.threads["com.example.b"]).await;
        assert_ne!(a, b, "each realm has a thread of its own");
        for _ in 0..3 {
            let placed = directory.session_thread(Some("com.example.b"));
            assert_eq!(thread_of(&placed).await, b);
        }
        // No realm known: the realms' threads take turns.
        let first = thread_of(&directory.session_thread(None)).await;
        let second = thread_of(&directory.session_thread(Some("com.example.nope"))).await;
        assert_ne!(first, second);
        assert!([a, b].contains(&first) && [a, b].contains(&second));
    }

    #[actix_web::test]
    async fn with_one_realm_every_session_goes_to_its_thread() {
        let configs = [RealmConfig::anonymous("com.example.a")];
        let directory = RealmDirectory::start(&configs, None, &Arc::new(Metrics::new()));
        assert!(!directory.places_by_realm());
        let a = thread_of(&directory.threads["com.example.a"]).await;
        for named in [None, Some("com.example.a"), Some("com.example.nope")] {
            assert_eq!(thread_of(&directory.session_thread(named)).await, a);
        }
    }
}

//! A node's graceful leave, on SIGTERM: what lets a rolling restart fail no call
//! whose caller and callee both stay on other nodes.
//!
//! 1. The node stops admitting sessions (WebSocket upgrades and `/health/ready`
//!    answer 503), and each realm has the cluster commit that the node is
//!    draining: from then on every node routes new calls to callees elsewhere
//!    whenever one exists.
//! 2. The calls this node's callees are serving finish, up to the drain timeout.
//! 3. (The caller of [`leave`] says GOODBYE to every session here; their
//!    `SessionLeft`s go through Raft like any session's.)
//! 4. Once every realm's registry changes have committed, the node hands over
//!    leadership if it leads, and stops Raft and its links.
//!
//! On a single node step 1 only refuses new sessions: there is nowhere else
//! to send calls.

use std::time::Duration;

use switchboard_cluster::ClusterNode;
use tokio::time::Instant;

use crate::directory::RealmDirectory;

/// How often the realms are asked how far they have got.
const POLL: Duration = Duration::from_millis(10);

/// How long nothing may be served here, after the drain committed, before the
/// node says GOODBYE. This node applies the commit as soon as it hears of it,
/// but another node may hear a heartbeat later (100 ms by default) and until
/// then still route a call here; a quiet spell longer than that catches it.
const QUIET: Duration = Duration::from_millis(300);

/// Steps 1 and 2: `true` if every realm's calls finished within `timeout`.
pub(crate) async fn drain(realms: &RealmDirectory, timeout: Duration) -> bool {
    let started = Instant::now();
    realms.drain_all().await;
    let mut quiet_since = None;
    loop {
        let progress = realms.drain_progress().await;
        if progress.committed && progress.serving == 0 {
            let since = *quiet_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= QUIET {
                tracing::info!(took = ?started.elapsed(), "drained: no call is served here any more");
                return true;
            }
        } else {
            quiet_since = None;
        }
        if started.elapsed() >= timeout {
            tracing::warn!(
                serving = progress.serving,
                routed_elsewhere = progress.committed,
                "drain timeout: saying goodbye with calls still in flight"
            );
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Step 4: waits (at most `within`) for the sessions' removals to commit, then
/// leaves the cluster.
pub(crate) async fn leave(realms: &RealmDirectory, node: &ClusterNode, within: Duration) {
    let (started, deadline) = (Instant::now(), Instant::now() + within);
    let settled = loop {
        let settled = realms.drain_progress().await.settled;
        if settled || Instant::now() >= deadline {
            break settled;
        }
        tokio::time::sleep(POLL).await;
    };
    tracing::info!(settled, took = ?started.elapsed(), "the sessions' removal has committed (or the wait ended)");
    node.leave().await;
    tracing::info!("left the cluster");
}

//! Three (or more) real router processes forming a cluster on loopback.

#![allow(dead_code)]

use std::time::Duration;

use super::Router;

/// A free TCP port on loopback (released before use; fine for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `switchboard certs` to write a development CA and certificates for
/// `nodes` (`1,2,3`) into `out`.
pub fn make_certs(out: &std::path::Path, nodes: &str) {
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "certs",
            "--out",
            out.to_str().expect("utf-8 temp dir"),
            "--nodes",
            nodes,
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("switchboard certs runs");
    assert!(status.success(), "switchboard certs failed");
}

/// The cluster's processes; node `i + 1` is `nodes[i]` (`None` while killed).
pub struct Cluster {
    pub nodes: Vec<Option<Router>>,
    members: String,
    peer_addrs: Vec<String>,
    dir: std::path::PathBuf,
    /// Flags every node gets besides its cluster ones.
    extra: Vec<String>,
    /// Whether peer links use mutual TLS, with certificates in `dir`.
    tls: bool,
    /// Every node's `--failure-timeout-ms`.
    failure_timeout_ms: u64,
}

/// The admin token every test cluster's nodes read from their token file.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// How long a silent node may stay silent before the others call it down.
pub const FAILURE_TIMEOUT_MS: u64 = 600;

impl Cluster {
    pub fn start(size: usize) -> Cluster {
        Self::start_with(size, &[])
    }

    /// A cluster whose nodes all get `extra` flags too.
    pub fn start_with(size: usize, extra: &[&str]) -> Cluster {
        Self::launch(size, extra, false, FAILURE_TIMEOUT_MS)
    }

    /// A cluster whose peer links use mutual TLS with a development CA.
    pub fn start_tls(size: usize) -> Cluster {
        Self::launch(size, &[], true, FAILURE_TIMEOUT_MS)
    }

    /// A cluster whose nodes wait `ms` of silence before calling a peer down.
    pub fn start_with_failure_timeout(size: usize, ms: u64) -> Cluster {
        Self::launch(size, &[], false, ms)
    }

    fn launch(size: usize, extra: &[&str], tls: bool, failure_timeout_ms: u64) -> Cluster {
        let peer_addrs: Vec<String> = (0..size)
            .map(|_| format!("127.0.0.1:{}", free_port()))
            .collect();
        let members = peer_addrs
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{}={a}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let dir = std::env::temp_dir().join(format!(
            "switchboard-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        let mut cluster = Cluster {
            nodes: Vec::new(),
            members,
            peer_addrs,
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            tls,
            failure_timeout_ms,
        };
        std::fs::create_dir_all(&cluster.dir).expect("the cluster's directory");
        if tls {
            let nodes: Vec<String> = (1..=size + 1).map(|n| n.to_string()).collect();
            make_certs(&cluster.dir.join("certs"), &nodes.join(","));
        }
        std::fs::write(cluster.token_file(), format!("{ADMIN_TOKEN}\n")).expect("token file");
        let mut spawned: Vec<Router> = (1..=size).map(|id| cluster.spawn(id)).collect();
        for router in &mut spawned {
            router.wait_ready();
        }
        cluster.nodes = spawned.into_iter().map(Some).collect();
        cluster
    }

    /// Starts a node that is not a member yet (it waits to be added); returns its
    /// id, its peer address and the process.
    pub fn spawn_joiner(&mut self) -> (usize, String, Router) {
        let id = self.peer_addrs.len() + 1;
        let addr = format!("127.0.0.1:{}", free_port());
        self.peer_addrs.push(addr.clone());
        self.members = format!("{},{id}={addr}", self.members);
        (id, addr, self.spawn(id))
    }

    fn token_file(&self) -> std::path::PathBuf {
        self.dir.join("admin-token")
    }

    /// A membership request to node `id` carrying the admin token: (status, body).
    pub fn admin(&self, id: usize, method: &str, path: &str, body: &str) -> (u16, String) {
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        self.node(id)
            .http_request(method, path, body, &[("Authorization", &bearer)])
    }

    fn spawn(&self, id: usize) -> Router {
        self.spawn_with_certs(id, &self.dir.join("certs"))
    }

    /// Starts node `id` with its peer certificate from `certs` (made by
    /// [`make_certs`]); the CA there is the one it trusts.
    pub fn spawn_with_certs(&self, id: usize, certs: &std::path::Path) -> Router {
        let data = self.dir.join(format!("node-{id}"));
        let token_file = self.token_file();
        let (id_text, timeout) = (id.to_string(), self.failure_timeout_ms.to_string());
        let mut args = vec![
            "--node-id",
            &id_text,
            "--members",
            &self.members,
            "--peer-listen",
            &self.peer_addrs[id - 1],
            "--data-dir",
            data.to_str().expect("utf-8 temp dir"),
            "--failure-timeout-ms",
            &timeout,
            "--admin-token-file",
            token_file.to_str().expect("utf-8 temp dir"),
        ];
        let tls_files = [
            certs.join("ca.pem"),
            certs.join(format!("node-{id}.pem")),
            certs.join(format!("node-{id}-key.pem")),
        ];
        let tls_paths: Vec<&str> = tls_files
            .iter()
            .map(|p| p.to_str().expect("utf-8 temp dir"))
            .collect();
        if self.tls {
            args.extend([
                "--cluster-tls-ca",
                tls_paths[0],
                "--cluster-tls-cert",
                tls_paths[1],
                "--cluster-tls-key",
                tls_paths[2],
            ]);
        }
        args.extend(self.extra.iter().map(String::as_str));
        Router::spawn(&args)
    }

    /// The cluster's directory (certificates live in `certs/` under it).
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    pub fn node(&self, id: usize) -> &Router {
        self.nodes[id - 1].as_ref().expect("node is running")
    }

    /// SIGKILL node `id`.
    pub fn kill(&mut self, id: usize) {
        if let Some(mut router) = self.nodes[id - 1].take() {
            router.kill();
        }
    }

    /// A session on node `id`, in the test realm.
    pub async fn client(
        &self,
        id: usize,
        codec: switchboard_client::Codec,
    ) -> switchboard_client::Client {
        switchboard_client::Client::connect(&self.node(id).url, super::REALM, codec)
            .await
            .expect("join")
    }

    /// SIGTERM node `id` and wait (at most `within`) for it to exit.
    pub fn terminate(&mut self, id: usize, within: Duration) -> Option<std::process::ExitStatus> {
        let mut router = self.nodes[id - 1].take()?;
        router.terminate(within)
    }

    /// Node `id`'s data directory (its Raft log and snapshots).
    pub fn data_dir(&self, id: usize) -> std::path::PathBuf {
        self.dir.join(format!("node-{id}"))
    }

    /// Starts node `id` again on its stored data and waits until it serves.
    pub fn restart(&mut self, id: usize) {
        let mut router = self.spawn(id);
        router.wait_ready();
        self.nodes[id - 1] = Some(router);
    }

    /// The current leader, as some live node reports it.
    pub fn leader(&self) -> Option<usize> {
        for router in self.nodes.iter().flatten() {
            let status = router.http_get("/cluster/status");
            let json: serde_json::Value = serde_json::from_str(&status).ok()?;
            if let Some(leader) = json["leader"].as_u64() {
                return Some(leader as usize);
            }
        }
        None
    }

    /// Node `id`'s `/cluster/status`.
    pub fn status(&self, id: usize) -> serde_json::Value {
        serde_json::from_str(&self.node(id).http_get("/cluster/status")).unwrap_or_default()
    }

    /// Waits until node `to` has applied everything node `from` had applied
    /// when called. REGISTERED means the registration is committed and
    /// applied on the callee's node; another node sees it once it has applied
    /// it too, a moment later.
    pub async fn caught_up(&self, to: usize, from: usize) {
        let applied = |id| self.status(id)["last_applied"].as_u64().unwrap_or(0);
        let target = applied(from);
        Cluster::eventually(&format!("node {to} to apply node {from}'s log"), || {
            applied(to) >= target
        })
        .await;
    }

    /// Waits (bounded) until `check` holds.
    pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
        for _ in 0..200 {
            if check() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for router in self.nodes.iter_mut().flatten() {
            router.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

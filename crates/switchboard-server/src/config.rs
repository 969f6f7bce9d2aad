//! What the server needs to know, already validated by the binary.

use std::time::Duration;

use switchboard_core::RealmConfig;

/// Transport and realm settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// HTTP path of the WebSocket endpoint, e.g. `/ws`.
    pub path: String,
    /// The realms this router serves.
    pub realms: Vec<RealmConfig>,
    /// Largest WAMP message accepted, in bytes (whole message, after reassembly).
    pub max_message_size: usize,
    /// How often to ping an idle client.
    pub ping_interval: Duration,
    /// How long a client may stay silent (no frame, no pong) before it is dropped.
    pub ping_timeout: Duration,
    /// How long to wait for a client's GOODBYE after the router said GOODBYE.
    pub goodbye_timeout: Duration,
    /// Threads accepting client connections: TLS handshakes, HTTP requests
    /// and WebSocket upgrades. Sessions then run on their realm's thread.
    pub workers: usize,
    /// Set to run as a node of a cluster; `None` is the single embedded node.
    pub cluster: Option<switchboard_cluster::ClusterConfig>,
    /// The bearer token membership changes need; `None` refuses them all.
    pub admin_token: Option<crate::AdminToken>,
    /// Most WebSocket connections open at once; upgrades beyond get HTTP 503.
    pub max_connections: Option<usize>,
    /// How long a connection may take to send HELLO, and then again to finish
    /// authenticating and get WELCOME.
    pub hello_timeout: Duration,
    /// TLS for the client listener: with it, only wss is served.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// On SIGTERM, how long a cluster node lets the calls its callees serve
    /// finish (with no new ones routed to them) before it says GOODBYE.
    pub drain_timeout: Duration,
    /// RawSocket listeners (both off by default).
    pub rawsocket: RawSocketConfig,
}

/// Where to accept WAMP-over-RawSocket, besides the WebSocket endpoint.
#[derive(Debug, Clone, Default)]
pub struct RawSocketConfig {
    /// Host and port for RawSocket over TCP (port 0 picks a free one).
    pub tcp: Option<(String, u16)>,
    /// Path of a Unix socket; a stale socket file there is removed first.
    pub unix: Option<std::path::PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            path: "/ws".to_owned(),
            realms: vec![RealmConfig::anonymous("com.example.realm")],
            max_message_size: 16 * 1024 * 1024,
            ping_interval: Duration::from_secs(30),
            ping_timeout: Duration::from_secs(90),
            goodbye_timeout: Duration::from_secs(2),
            workers: default_workers(),
            cluster: None,
            admin_token: None,
            tls: None,
            max_connections: Some(100_000),
            hello_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(5),
            rawsocket: RawSocketConfig::default(),
        }
    }
}

/// One accepting thread per core, as actix-web would choose: TLS handshakes are
/// the costly part of accepting, and they spread over these threads.
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

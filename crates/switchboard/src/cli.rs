//! Command-line flags. Each one overrides the config file and `SWITCHBOARD_*`.

use std::path::PathBuf;

use clap::Parser;

use crate::settings::{LogFormat, SETTINGS};

/// A clustered WAMP v2 router. With no flags: ws://0.0.0.0:18080/ws, realm
/// com.example.realm, anonymous authentication.
#[derive(Debug, Parser)]
#[command(version, about, after_help = env_help())]
pub(crate) struct Cli {
    /// Instead of running the router, do one of these and exit.
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    /// TOML config file (also SWITCHBOARD_CONFIG).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long)]
    pub(crate) host: Option<String>,
    /// Port to listen on (0 picks a free one).
    #[arg(long)]
    pub(crate) port: Option<u16>,
    /// HTTP path of the WebSocket endpoint.
    #[arg(long)]
    pub(crate) path: Option<String>,
    /// Also serve WAMP-over-RawSocket over TCP on this port, on --host (0 picks a free one).
    #[arg(long, value_name = "PORT")]
    pub(crate) rawsocket_port: Option<u16>,
    /// Also serve WAMP-over-RawSocket on this Unix socket path.
    #[arg(long, value_name = "PATH")]
    pub(crate) rawsocket_path: Option<PathBuf>,
    /// Largest message accepted, in bytes.
    #[arg(long, value_name = "BYTES")]
    pub(crate) max_message_size: Option<usize>,
    /// Interval between keepalive pings, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub(crate) ping_interval_ms: Option<u64>,
    /// Silence after which a client is dropped, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub(crate) ping_timeout_ms: Option<u64>,
    /// Threads accepting client connections: TLS, HTTP and WebSocket
    /// upgrades (sessions then run on their realm's thread) [default: one per core].
    #[arg(long, value_name = "N")]
    pub(crate) workers: Option<usize>,
    /// Realms to serve (anonymous, loose URIs), replacing the configured ones.
    #[arg(long = "realm", value_name = "URI")]
    pub(crate) realms: Vec<String>,
    /// This node's id in a cluster (omit for the single embedded node).
    #[arg(long, value_name = "ID")]
    pub(crate) node_id: Option<u64>,
    /// Address to accept other nodes' connections on.
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) peer_listen: Option<String>,
    /// Every cluster member, this node included: `1=host:port,2=host:port,...`.
    #[arg(long, value_name = "LIST")]
    pub(crate) members: Option<String>,
    /// Directory for this node's Raft log and snapshots.
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<String>,
    /// Silence after which another node is declared down, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub(crate) failure_timeout_ms: Option<u64>,
    /// A file holding the bearer token that membership changes need (there is
    /// no flag for the token itself: command lines are visible to every user).
    #[arg(long, value_name = "PATH")]
    pub(crate) admin_token_file: Option<String>,
    /// Raft log entries between two snapshots of the replicated state.
    #[arg(long, value_name = "ENTRIES")]
    pub(crate) snapshot_every: Option<u64>,
    /// PEM certificate chain: the client listener then speaks TLS only (wss).
    #[arg(long, value_name = "PATH")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "PATH")]
    pub(crate) tls_key: Option<PathBuf>,
    /// PEM certificate of the cluster CA: peer links use mutual TLS.
    #[arg(long, value_name = "PATH")]
    pub(crate) cluster_tls_ca: Option<String>,
    /// This node's PEM certificate for peer links (named switchboard-node-<id>).
    #[arg(long, value_name = "PATH")]
    pub(crate) cluster_tls_cert: Option<String>,
    /// PEM private key of --cluster-tls-cert.
    #[arg(long, value_name = "PATH")]
    pub(crate) cluster_tls_key: Option<String>,
    /// Log filter, in `RUST_LOG` syntax.
    #[arg(long, value_name = "FILTER")]
    pub(crate) log_filter: Option<String>,
    /// Log format.
    #[arg(long, value_enum)]
    pub(crate) log_format: Option<LogFormat>,
}

fn env_help() -> String {
    let names: Vec<String> = SETTINGS
        .iter()
        .map(|key| format!("  {}", env_name(key)))
        .collect();
    format!(
        "Environment overrides (between the config file and flags):\n{}",
        names.join("\n")
    )
}

/// The environment variable for a dotted config key: `server.port` -> `SWITCHBOARD_PORT`.
pub(crate) fn env_name(key: &str) -> String {
    let last = key.rsplit('.').next().unwrap_or(key);
    let name = if key.starts_with("log.") {
        format!("log_{last}")
    } else if key.starts_with("server.tls.") {
        format!("tls_{last}")
    } else if key.starts_with("server.rawsocket.") {
        format!("rawsocket_{last}")
    } else if key.starts_with("cluster.tls.") {
        format!("cluster_tls_{last}")
    } else {
        last.to_owned()
    };
    format!("SWITCHBOARD_{}", name.to_uppercase())
}

/// One-shot commands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// GET an HTTP URL on a router and exit 0 if it answers 200: a healthcheck
    /// for images that have no shell or curl (`switchboard probe
    /// http://127.0.0.1:18080/health/ready`).
    Probe {
        /// The URL, `http://host:port/path`.
        url: String,
    },
    /// Write a development CA and certificates signed by it: `server.pem` for
    /// the client listener, `node-<id>.pem` for each cluster node.
    Certs {
        /// Directory to write to.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Node ids to make peer-link certificates for: `1,2,3`.
        #[arg(long, value_delimiter = ',', value_name = "IDS")]
        nodes: Vec<u64>,
        /// Extra host names or addresses the certificates are valid for.
        #[arg(long = "host", value_name = "NAME")]
        hosts: Vec<String>,
        /// Replace certificates already in DIR.
        #[arg(long, conflicts_with = "if_missing")]
        force: bool,
        /// Do nothing (and succeed) if DIR already holds a CA: for a
        /// container that runs at every start.
        #[arg(long)]
        if_missing: bool,
    },
    /// Read a ticket from stdin and print the argon2id hash to put in the
    /// config instead of the ticket.
    HashTicket,
}

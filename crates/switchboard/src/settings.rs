//! Settings, layered: built-in defaults, then the TOML file, then `SWITCHBOARD_*`
//! environment variables, then flags. Every error names the key it is about.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use switchboard_cluster::LinkSecurity;
use switchboard_core::outbound::OutboundLimits;
use switchboard_core::RealmConfig;
use switchboard_proto::uri::{Components, UriCheck};
use switchboard_server::{RawSocketConfig, ServerConfig};

use crate::cli::{env_name, Cli};
use crate::cluster_settings::{path, ClusterSettings, FileCluster};
use crate::realm_settings::{FileRealm, OutboundOverride};
use crate::tls_settings::ListenerTls;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Clone)]
pub(crate) struct LogSettings {
    pub(crate) filter: String,
    pub(crate) format: LogFormat,
}

/// Everything the binary needs, fully resolved.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) path: String,
    pub(crate) max_message_size: usize,
    pub(crate) ping_interval_ms: u64,
    pub(crate) ping_timeout_ms: u64,
    pub(crate) hello_timeout_ms: u64,
    pub(crate) drain_timeout_ms: u64,
    /// RawSocket over TCP on `host`, off unless set.
    pub(crate) rawsocket_port: Option<u16>,
    /// RawSocket on a Unix socket, off unless set.
    pub(crate) rawsocket_path: Option<PathBuf>,
    /// 0: no limit.
    pub(crate) max_connections: usize,
    /// The outbound budget of every realm's sessions, unless a realm sets its own.
    pub(crate) outbound_soft_limit: usize,
    pub(crate) outbound_hard_limit: usize,
    pub(crate) write_stall_timeout_ms: u64,
    /// Realms' own outbound budgets (`[[realm]]` keys), by realm name.
    pub(crate) realm_outbound: BTreeMap<String, OutboundOverride>,
    pub(crate) workers: usize,
    pub(crate) realms: Vec<RealmConfig>,
    pub(crate) log: LogSettings,
    pub(crate) cluster: ClusterSettings,
    /// TLS on the client listener.
    pub(crate) tls: ListenerTls,
    /// Where the realms came from, as text: its digest is what every node of a
    /// cluster compares, so a node with other principals or roles stands out.
    pub(crate) realm_source: String,
}

impl Default for Settings {
    /// The seed's defaults: `ws://localhost:18080/ws`, realm `com.example.realm`, anonymous.
    fn default() -> Self {
        let server = ServerConfig::default();
        Self {
            host: "0.0.0.0".to_owned(),
            port: 18080,
            path: server.path,
            max_message_size: server.max_message_size,
            ping_interval_ms: millis(server.ping_interval),
            ping_timeout_ms: millis(server.ping_timeout),
            hello_timeout_ms: millis(server.hello_timeout),
            drain_timeout_ms: millis(server.drain_timeout),
            rawsocket_port: None,
            rawsocket_path: None,
            max_connections: server.max_connections.unwrap_or(0),
            outbound_soft_limit: OutboundLimits::default().soft,
            outbound_hard_limit: OutboundLimits::default().hard,
            write_stall_timeout_ms: millis(OutboundLimits::default().stall),
            realm_outbound: BTreeMap::new(),
            workers: server.workers,
            realms: server.realms,
            log: LogSettings {
                filter: "info,openraft=warn".to_owned(),
                format: LogFormat::Text,
            },
            cluster: ClusterSettings::default(),
            tls: ListenerTls::default(),
            realm_source: "realms: com.example.realm".to_owned(),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Parses `value` for `key` into `T`, or says which key and why.
fn parse<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|e| format!("{key}: invalid value {value:?}: {e}"))
}

/// Every setting that has an environment override, by its dotted key.
pub(crate) const SETTINGS: &[&str] = &[
    "server.host",
    "server.port",
    "server.path",
    "server.max_message_size",
    "server.ping_interval_ms",
    "server.ping_timeout_ms",
    "server.hello_timeout_ms",
    "server.drain_timeout_ms",
    "server.rawsocket.port",
    "server.rawsocket.path",
    "server.max_connections",
    "server.outbound_soft_limit",
    "server.outbound_hard_limit",
    "server.write_stall_timeout_ms",
    "server.workers",
    "server.tls.cert",
    "server.tls.key",
    "realms",
    "log.filter",
    "log.format",
    "cluster.node_id",
    "cluster.peer_listen",
    "cluster.members",
    "cluster.data_dir",
    "cluster.heartbeat_ms",
    "cluster.failure_timeout_ms",
    "cluster.snapshot_every",
    "cluster.admin_token",
    "cluster.admin_token_file",
    "cluster.tls.ca",
    "cluster.tls.cert",
    "cluster.tls.key",
];

impl Settings {
    /// Sets `key` (one of [`SETTINGS`]) from its text form.
    fn set_from_text(&mut self, key: &str, v: &str) -> Result<(), String> {
        match key {
            "server.host" => self.host = v.to_owned(),
            "server.port" => self.port = parse(key, v)?,
            "server.path" => self.path = v.to_owned(),
            "server.max_message_size" => self.max_message_size = parse(key, v)?,
            "server.ping_interval_ms" => self.ping_interval_ms = parse(key, v)?,
            "server.ping_timeout_ms" => self.ping_timeout_ms = parse(key, v)?,
            "server.hello_timeout_ms" => self.hello_timeout_ms = parse(key, v)?,
            "server.drain_timeout_ms" => self.drain_timeout_ms = parse(key, v)?,
            "server.rawsocket.port" => self.rawsocket_port = Some(parse(key, v)?),
            "server.rawsocket.path" => self.rawsocket_path = path(v),
            "server.max_connections" => self.max_connections = parse(key, v)?,
            "server.outbound_soft_limit" => self.outbound_soft_limit = parse(key, v)?,
            "server.outbound_hard_limit" => self.outbound_hard_limit = parse(key, v)?,
            "server.write_stall_timeout_ms" => self.write_stall_timeout_ms = parse(key, v)?,
            "server.workers" => self.workers = parse(key, v)?,
            "server.tls.cert" => self.tls.cert = path(v),
            "server.tls.key" => self.tls.key = path(v),
            "realms" => {
                let names = v.split(',').map(str::trim).filter(|n| !n.is_empty());
                self.realms = names.map(RealmConfig::anonymous).collect();
                self.realm_source = format!("realms: {v}");
            }
            "log.filter" => self.log.filter = v.to_owned(),
            "log.format" => {
                self.log.format = match v.trim() {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    other => {
                        return Err(format!(
                            "{key}: invalid value {other:?}: expected \"text\" or \"json\""
                        ))
                    }
                }
            }
            cluster if cluster.starts_with("cluster.") => self.cluster.set_from_text(key, v)?,
            _ => return Err(format!("{key}: unknown setting")),
        }
        Ok(())
    }
}

/// The TOML file's shape. Unknown keys are errors, so a typo cannot go unnoticed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    server: Option<FileServer>,
    log: Option<FileLog>,
    realm: Option<Vec<FileRealm>>,
    cluster: Option<FileCluster>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileServerTls {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRawSocket {
    port: Option<u16>,
    path: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileServer {
    tls: Option<FileServerTls>,
    rawsocket: Option<FileRawSocket>,
    host: Option<String>,
    port: Option<u16>,
    path: Option<String>,
    max_message_size: Option<usize>,
    ping_interval_ms: Option<u64>,
    ping_timeout_ms: Option<u64>,
    hello_timeout_ms: Option<u64>,
    drain_timeout_ms: Option<u64>,
    max_connections: Option<usize>,
    outbound_soft_limit: Option<usize>,
    outbound_hard_limit: Option<usize>,
    write_stall_timeout_ms: Option<u64>,
    workers: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLog {
    filter: Option<String>,
    format: Option<LogFormat>,
}

impl Settings {
    /// Defaults, then `--config` (or `SWITCHBOARD_CONFIG`), then the environment, then flags.
    pub(crate) fn load(
        cli: &Cli,
        env: impl Iterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let env: Vec<(String, String)> =
            env.filter(|(k, _)| k.starts_with("SWITCHBOARD_")).collect();
        let mut settings = Settings::default();
        let config_path = cli.config.clone().or_else(|| {
            env.iter()
                .find(|(k, _)| k == "SWITCHBOARD_CONFIG")
                .map(|(_, v)| v.into())
        });
        if let Some(path) = config_path {
            settings.apply_file(&path)?;
        }
        settings.apply_env(&env)?;
        settings.apply_flags(cli)?;
        settings.validate()?;
        Ok(settings)
    }

    fn apply_file(&mut self, path: &Path) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let file: FileConfig = toml::from_str(&text)
            .with_context(|| format!("invalid config file {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(server) = file.server {
            if let Some(tls) = server.tls {
                self.tls.cert = tls.cert.map(|p| base.join(p)).or(self.tls.cert.take());
                self.tls.key = tls.key.map(|p| base.join(p)).or(self.tls.key.take());
            }
            if let Some(rawsocket) = server.rawsocket {
                self.rawsocket_port = rawsocket.port.or(self.rawsocket_port);
                self.rawsocket_path = rawsocket
                    .path
                    .map(|p| base.join(p))
                    .or(self.rawsocket_path.take());
            }
            set(&mut self.host, server.host);
            set(&mut self.port, server.port);
            set(&mut self.path, server.path);
            set(&mut self.max_message_size, server.max_message_size);
            set(&mut self.ping_interval_ms, server.ping_interval_ms);
            set(&mut self.ping_timeout_ms, server.ping_timeout_ms);
            set(&mut self.hello_timeout_ms, server.hello_timeout_ms);
            set(&mut self.drain_timeout_ms, server.drain_timeout_ms);
            set(&mut self.max_connections, server.max_connections);
            set(&mut self.outbound_soft_limit, server.outbound_soft_limit);
            set(&mut self.outbound_hard_limit, server.outbound_hard_limit);
            set(
                &mut self.write_stall_timeout_ms,
                server.write_stall_timeout_ms,
            );
            set(&mut self.workers, server.workers);
        }
        if let Some(log) = file.log {
            set(&mut self.log.filter, log.filter);
            set(&mut self.log.format, log.format);
        }
        if let Some(cluster) = file.cluster {
            self.cluster.apply_file(cluster, base)?;
        }
        if let Some(realms) = file.realm {
            self.realm_source = realm_source(&text, base)?;
            self.realm_outbound = realms
                .iter()
                .map(|realm| (realm.name().to_owned(), realm.outbound_override()))
                .collect();
            self.realms = realms
                .into_iter()
                .enumerate()
                .map(|(i, realm)| realm.into_config(&format!("realm[{i}]"), base))
                .collect::<anyhow::Result<_>>()?;
        }
        Ok(())
    }

    fn apply_env(&mut self, env: &[(String, String)]) -> anyhow::Result<()> {
        for (name, value) in env {
            if let Some(key) = SETTINGS.iter().find(|key| env_name(key) == *name) {
                self.set_from_text(key, value)
                    .map_err(|e| anyhow::anyhow!("{name} ({e})"))?;
            }
        }
        Ok(())
    }

    fn apply_flags(&mut self, cli: &Cli) -> anyhow::Result<()> {
        set(&mut self.host, cli.host.clone());
        set(&mut self.port, cli.port);
        set(&mut self.path, cli.path.clone());
        set(&mut self.max_message_size, cli.max_message_size);
        set(&mut self.ping_interval_ms, cli.ping_interval_ms);
        set(&mut self.ping_timeout_ms, cli.ping_timeout_ms);
        set(&mut self.workers, cli.workers);
        self.rawsocket_port = cli.rawsocket_port.or(self.rawsocket_port);
        self.rawsocket_path = cli.rawsocket_path.clone().or(self.rawsocket_path.take());
        if let Some(cert) = &cli.tls_cert {
            self.tls.cert = Some(cert.clone());
        }
        if let Some(key) = &cli.tls_key {
            self.tls.key = Some(key.clone());
        }
        set(&mut self.log.filter, cli.log_filter.clone());
        set(&mut self.log.format, cli.log_format);
        for (key, value) in [
            ("cluster.node_id", cli.node_id.map(|v| v.to_string())),
            ("cluster.peer_listen", cli.peer_listen.clone()),
            ("cluster.members", cli.members.clone()),
            ("cluster.data_dir", cli.data_dir.clone()),
            (
                "cluster.failure_timeout_ms",
                cli.failure_timeout_ms.map(|v| v.to_string()),
            ),
            (
                "cluster.snapshot_every",
                cli.snapshot_every.map(|v| v.to_string()),
            ),
            ("cluster.admin_token_file", cli.admin_token_file.clone()),
            ("cluster.tls.ca", cli.cluster_tls_ca.clone()),
            ("cluster.tls.cert", cli.cluster_tls_cert.clone()),
            ("cluster.tls.key", cli.cluster_tls_key.clone()),
        ] {
            if let Some(value) = value {
                self.cluster.set_from_text(key, &value).map_err(|e| {
                    anyhow::anyhow!(
                        "--{} ({e})",
                        key.trim_start_matches("cluster.")
                            .replace("tls.", "cluster-tls-")
                            .replace('_', "-")
                    )
                })?;
            }
        }
        if !cli.realms.is_empty() {
            self.realms = cli.realms.iter().map(RealmConfig::anonymous).collect();
            self.realm_source = format!("realms: {}", cli.realms.join(","));
        }
        Ok(())
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !self.path.starts_with('/') {
            bail!("server.path: {:?} must start with '/'", self.path);
        }
        if self.max_message_size < 1024 {
            bail!(
                "server.max_message_size: {} is below the minimum of 1024 bytes",
                self.max_message_size
            );
        }
        if self.workers == 0 {
            bail!("server.workers: must be at least 1");
        }
        if self.ping_interval_ms == 0 {
            bail!("server.ping_interval_ms: must be greater than 0");
        }
        if self.hello_timeout_ms == 0 {
            bail!("server.hello_timeout_ms: must be greater than 0");
        }
        self.realm_configs()?;
        if self.ping_timeout_ms <= self.ping_interval_ms {
            bail!(
                "server.ping_timeout_ms: {} must be greater than server.ping_interval_ms ({})",
                self.ping_timeout_ms,
                self.ping_interval_ms
            );
        }
        self.cluster.validate()?;
        self.tls.load()?;
        self.cluster.tls.load()?;
        if self.realms.is_empty() {
            bail!("realm: at least one realm must be configured");
        }
        crate::realm_settings::check_authenticators(&self.realms)?;
        for (i, realm) in self.realms.iter().enumerate() {
            if !UriCheck::Loose.is_valid(&realm.name, Components::NonEmpty) {
                bail!("realm[{i}].name: {:?} is not a valid URI", realm.name);
            }
            if self.realms[..i].iter().any(|r| r.name == realm.name) {
                bail!("realm[{i}].name: {:?} is configured twice", realm.name);
            }
        }
        Ok(())
    }

    pub(crate) fn realm_names(&self) -> Vec<&str> {
        self.realms.iter().map(|r| r.name.as_str()).collect()
    }

    /// The server-wide outbound budget.
    fn outbound_limits(&self) -> anyhow::Result<OutboundLimits> {
        OutboundOverride::default()
            .apply(OutboundLimits {
                soft: self.outbound_soft_limit,
                hard: self.outbound_hard_limit,
                stall: Duration::from_millis(self.write_stall_timeout_ms),
            })
            .map_err(|e| anyhow::anyhow!("server.{e}"))
    }

    /// The realms, each with its outbound budget: its own where it sets one,
    /// the server's otherwise.
    fn realm_configs(&self) -> anyhow::Result<Vec<RealmConfig>> {
        let default = self.outbound_limits()?;
        self.realms
            .iter()
            .enumerate()
            .map(|(i, realm)| {
                let own = self
                    .realm_outbound
                    .get(&realm.name)
                    .cloned()
                    .unwrap_or_default();
                let outbound = own
                    .apply(default)
                    .map_err(|e| anyhow::anyhow!("realm[{i}].{e}"))?;
                Ok(RealmConfig {
                    outbound,
                    ..realm.clone()
                })
            })
            .collect()
    }

    /// The server's configuration, with the TLS material loaded.
    pub(crate) fn server_config(&self) -> anyhow::Result<ServerConfig> {
        let digest = Sha256::digest(self.realm_source.as_bytes());
        let security = LinkSecurity {
            tls: self.cluster.tls.load()?,
            config_digest: hex::encode(&digest[..8]),
        };
        Ok(ServerConfig {
            path: self.path.clone(),
            realms: self.realm_configs()?,
            max_message_size: self.max_message_size,
            ping_interval: Duration::from_millis(self.ping_interval_ms),
            ping_timeout: Duration::from_millis(self.ping_timeout_ms),
            workers: self.workers,
            cluster: self.cluster.to_config(security),
            admin_token: self.cluster.admin_token().ok().flatten(),
            tls: self.tls.load()?,
            hello_timeout: Duration::from_millis(self.hello_timeout_ms),
            drain_timeout: Duration::from_millis(self.drain_timeout_ms),
            max_connections: Some(self.max_connections).filter(|&n| n > 0),
            rawsocket: RawSocketConfig {
                tcp: self.rawsocket_port.map(|port| (self.host.clone(), port)),
                unix: self.rawsocket_path.clone(),
            },
            ..ServerConfig::default()
        })
    }
}

/// The text the realm digest is taken of: the file's `[[realm]]` tables in a
/// canonical form (so formatting and comments do not count), then every
/// principals file they name.
fn realm_source(text: &str, base: &Path) -> anyhow::Result<String> {
    let value: toml::Table = toml::from_str(text)?;
    let realms = value
        .get("realm")
        .cloned()
        .unwrap_or(toml::Value::Array(vec![]));
    let mut source = toml::to_string(&toml::Table::from_iter([(
        "realm".to_owned(),
        realms.clone(),
    )]))?;
    for realm in realms.as_array().into_iter().flatten() {
        if let Some(file) = realm.get("principals_file").and_then(|f| f.as_str()) {
            let path = base.join(file);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            source.push_str(&text);
        }
    }
    Ok(source)
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use switchboard_core::auth::RealmSecurity;
    use switchboard_core::matching::MatchPolicy;

    use super::*;

    fn load(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let cli = Cli::try_parse_from(std::iter::once("switchboard").chain(args.iter().copied()))?;
        Settings::load(
            &cli,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    fn file(text: &str) -> tempfile_path::TempFile {
        tempfile_path::TempFile::new(text)
    }

    /// A config file in the temp dir that removes itself.
    mod tempfile_path {
        pub(super) struct TempFile(pub(super) std::path::PathBuf);
        impl TempFile {
            pub(super) fn new(text: &str) -> Self {
                static COUNTER: std::sync::atomic::AtomicUsize =
                    std::sync::atomic::AtomicUsize::new(0);
                let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let path = std::env::temp_dir()
                    .join(format!("switchboard-test-{}-{n}.toml", std::process::id()));
                std::fs::write(&path, text).expect("write temp config");
                Self(path)
            }
            pub(super) fn arg(&self) -> &str {
                self.0.to_str().expect("utf-8 temp path")
            }
        }
        impl Drop for TempFile {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    #[test]
    fn no_flags_gives_the_seed_defaults() {
        let s = load(&[], &[]).unwrap();
        assert_eq!((s.port, s.path.as_str()), (18080, "/ws"));
        assert_eq!(s.realm_names(), vec!["com.example.realm"]);
        assert_eq!(*s.realms[0].security, RealmSecurity::open());
    }

    #[test]
    fn flags_beat_environment_which_beats_the_file() {
        let f = file("[server]\nport = 1000\npath = \"/file\"\nhost = \"10.0.0.1\"\n");
        let s = load(
            &["--config", f.arg(), "--port", "3000"],
            &[("SWITCHBOARD_PORT", "2000"), ("SWITCHBOARD_PATH", "/env")],
        )
        .unwrap();
        assert_eq!(
            (s.port, s.path.as_str(), s.host.as_str()),
            (3000, "/env", "10.0.0.1")
        );
    }

    #[test]
    fn session_threads_come_from_the_file_the_environment_or_a_flag() {
        let f = file("[server]\nworkers = 3\n");
        let from_file = load(&["--config", f.arg()], &[]).unwrap();
        let from_env = load(&[], &[("SWITCHBOARD_WORKERS", "4")]).unwrap();
        let from_flag = load(&["--workers", "5"], &[]).unwrap();
        assert_eq!(
            (from_file.workers, from_env.workers, from_flag.workers),
            (3, 4, 5)
        );
        assert_eq!(from_flag.server_config().unwrap().workers, 5);
        assert!(load(&[], &[]).unwrap().workers >= 1);
    }

    #[test]
    fn history_rules_come_from_the_file_and_bad_ones_name_their_key() {
        let f = file(concat!(
            "[[realm]]\nname = \"a.b\"\n",
            "[[realm.history]]\nuri = \"com.example.log.\"\nmatch = \"prefix\"\nlimit = 50\n",
            "[[realm.history]]\nuri = \"com.example.price\"\nlimit = 5\n",
        ));
        let s = load(&["--config", f.arg()], &[]).unwrap();
        let realms = s.server_config().unwrap().realms;
        let rules: Vec<_> = realms[0]
            .history
            .iter()
            .map(|r| (r.uri.as_str(), r.match_policy, r.limit))
            .collect();
        assert_eq!(
            rules,
            vec![
                ("com.example.log.", MatchPolicy::Prefix, 50),
                ("com.example.price", MatchPolicy::Exact, 5),
            ]
        );
        let bad = file("[[realm]]\nname = \"a.b\"\n[[realm.history]]\nuri = \"t\"\nlimit = 0\n");
        let error = load(&["--config", bad.arg()], &[])
            .and_then(|s| s.server_config())
            .unwrap_err();
        assert!(
            format!("{error:#}").contains("history[0].limit"),
            "{error:#}"
        );
    }

    #[test]
    fn realms_come_from_the_file_with_their_settings() {
        let f = file(concat!(
            "[[realm]]\nname = \"a.b\"\nanonymous = false\nuri_check = \"strict\"\n",
            "default_call_timeout_ms = 30000\nmax_call_timeout_ms = 60000\ndisclose_caller = false\n",
            "disclose_publisher = true\n",
        ));
        let s = load(&["--config", f.arg()], &[]).unwrap();
        let expected = RealmConfig {
            name: "a.b".into(),
            uri_check: UriCheck::Strict,
            default_call_timeout: Some(Duration::from_secs(30)),
            max_call_timeout: Some(Duration::from_secs(60)),
            disclose_caller: false,
            disclose_publisher: true,
            security: std::sync::Arc::new(RealmSecurity {
                methods: vec![],
                ..RealmSecurity::open()
            }),
            outbound: OutboundLimits::default(),
            history: Vec::new(),
        };
        assert_eq!(s.server_config().unwrap().realms, vec![expected]);
    }

    #[test]
    fn unknown_keys_in_the_file_are_named() {
        let f = file("[server]\nprot = 1\n");
        let err = format!("{:#}", load(&["--config", f.arg()], &[]).unwrap_err());
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn wrongly_typed_values_in_the_file_are_named() {
        let f = file("[server]\nport = \"abc\"\n");
        let err = format!("{:#}", load(&["--config", f.arg()], &[]).unwrap_err());
        assert!(err.contains("port"), "{err}");
    }

    #[test]
    fn bad_environment_values_name_the_variable() {
        let err = load(&[], &[("SWITCHBOARD_PORT", "abc")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("SWITCHBOARD_PORT"), "{err}");
        let err = load(&[], &[("SWITCHBOARD_LOG_FORMAT", "xml")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("SWITCHBOARD_LOG_FORMAT"), "{err}");
    }

    #[test]
    fn invalid_combinations_name_the_key() {
        let err = load(&["--path", "ws"], &[]).unwrap_err().to_string();
        assert!(err.starts_with("server.path"), "{err}");
        let err = load(
            &["--ping-interval-ms", "5000", "--ping-timeout-ms", "100"],
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("server.ping_timeout_ms"), "{err}");
        let err = load(&["--workers", "0"], &[]).unwrap_err().to_string();
        assert!(err.starts_with("server.workers"), "{err}");
        let err = load(&["--realm", "a", "--realm", "a"], &[])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("realm[1].name"), "{err}");
        let err = load(&["--realm", "bad realm"], &[])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("realm[0].name"), "{err}");
    }

    #[test]
    fn environment_names_follow_the_keys() {
        assert_eq!(env_name("server.port"), "SWITCHBOARD_PORT");
        assert_eq!(env_name("log.format"), "SWITCHBOARD_LOG_FORMAT");
        assert_eq!(env_name("realms"), "SWITCHBOARD_REALMS");
    }

    #[test]
    fn rawsocket_is_off_unless_a_port_or_path_comes_from_the_file_the_environment_or_a_flag() {
        assert_eq!(
            env_name("server.rawsocket.port"),
            "SWITCHBOARD_RAWSOCKET_PORT"
        );
        assert_eq!(
            env_name("server.rawsocket.path"),
            "SWITCHBOARD_RAWSOCKET_PATH"
        );
        let off = load(&[], &[]).unwrap().server_config().unwrap();
        assert!(off.rawsocket.tcp.is_none() && off.rawsocket.unix.is_none());

        let f = file("[server]\nhost = \"127.0.0.1\"\n[server.rawsocket]\nport = 8081\npath = \"wamp.sock\"\n");
        let s = load(&["--config", f.arg()], &[]).unwrap();
        let config = s.server_config().unwrap();
        assert_eq!(config.rawsocket.tcp, Some(("127.0.0.1".to_owned(), 8081)));
        let unix = config.rawsocket.unix.unwrap();
        assert!(
            unix.ends_with("wamp.sock") && unix.is_absolute() == Path::new(f.arg()).is_absolute()
        );

        let s = load(
            &["--config", f.arg(), "--rawsocket-port", "0"],
            &[
                ("SWITCHBOARD_RAWSOCKET_PORT", "9000"),
                ("SWITCHBOARD_RAWSOCKET_PATH", "/tmp/env.sock"),
            ],
        )
        .unwrap();
        assert_eq!(s.rawsocket_port, Some(0), "the flag beats the environment");
        assert_eq!(s.rawsocket_path, Some(PathBuf::from("/tmp/env.sock")));
        let s = load(&["--rawsocket-path", "/tmp/flag.sock"], &[]).unwrap();
        assert_eq!(s.rawsocket_path, Some(PathBuf::from("/tmp/flag.sock")));
        assert_eq!(s.rawsocket_port, None);
    }

    #[test]
    fn tls_settings_need_their_pairs_and_have_their_own_environment_names() {
        assert_eq!(env_name("server.tls.cert"), "SWITCHBOARD_TLS_CERT");
        assert_eq!(env_name("cluster.tls.ca"), "SWITCHBOARD_CLUSTER_TLS_CA");
        let err = load(&["--tls-cert", "/nonexistent.pem"], &[])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("server.tls.key"), "{err}");
        let err = load(&[], &[("SWITCHBOARD_CLUSTER_TLS_CA", "/ca.pem")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cluster.tls"), "{err}");
        let err = format!(
            "{:#}",
            load(
                &[
                    "--tls-cert",
                    "/nonexistent.pem",
                    "--tls-key",
                    "/nonexistent.pem"
                ],
                &[]
            )
            .unwrap_err()
        );
        assert!(err.starts_with("server.tls.cert"), "{err}");
    }

    #[test]
    fn tls_files_in_the_config_are_read_from_the_config_files_directory() {
        let dir = tempfile::tempdir().unwrap();
        crate::certs::generate(dir.path(), &[1], &[], false).unwrap();
        let config = dir.path().join("switchboard.toml");
        std::fs::write(
            &config,
            "[server.tls]\ncert = \"server.pem\"\nkey = \"server-key.pem\"\n",
        )
        .unwrap();
        let s = load(&["--config", config.to_str().unwrap()], &[]).unwrap();
        assert!(s.server_config().unwrap().tls.is_some());
    }

    #[test]
    fn the_realm_digest_changes_with_any_principal_but_not_with_formatting() {
        let base = Path::new(".");
        let a = "[[realm]]\nname = \"r\"\nauthmethods = [\"ticket\"]\n";
        let b = "# a comment\n[[realm]]\nname    = \"r\"\nauthmethods = [ \"ticket\" ]\n";
        let c = "[[realm]]\nname = \"r\"\nauthmethods = [\"wampcra\"]\n";
        let digest = |t: &str| realm_source(t, base).unwrap();
        assert_eq!(digest(a), digest(b));
        assert_ne!(digest(a), digest(c));
    }

    #[test]
    fn a_realm_may_set_its_own_outbound_budget_over_the_servers() {
        let f = file(concat!(
            "[server]\noutbound_hard_limit = 5000\nwrite_stall_timeout_ms = 700\n",
            "[[realm]]\nname = \"a\"\noutbound_soft_limit = 1000\n",
            "[[realm]]\nname = \"b\"\n",
        ));
        let s = load(
            &["--config", f.arg()],
            &[("SWITCHBOARD_OUTBOUND_SOFT_LIMIT", "2000")],
        )
        .unwrap();
        let realms = s.server_config().unwrap().realms;
        let limits: Vec<(usize, usize, u128)> = realms
            .iter()
            .map(|r| {
                (
                    r.outbound.soft,
                    r.outbound.hard,
                    r.outbound.stall.as_millis(),
                )
            })
            .collect();
        assert_eq!(limits, vec![(1000, 5000, 700), (2000, 5000, 700)]);
    }

    #[test]
    fn an_outbound_budget_whose_hard_limit_is_below_its_soft_one_is_refused() {
        let f = file("[[realm]]\nname = \"a\"\noutbound_hard_limit = 10\n");
        let err = format!("{:#}", load(&["--config", f.arg()], &[]).unwrap_err());
        assert!(err.starts_with("realm[0].outbound_hard_limit"), "{err}");
        let err = load(&[], &[("SWITCHBOARD_OUTBOUND_SOFT_LIMIT", "0")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("server.outbound_hard_limit"), "{err}");
        let err = load(&[], &[("SWITCHBOARD_HELLO_TIMEOUT_MS", "0")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("server.hello_timeout_ms"), "{err}");
    }
}

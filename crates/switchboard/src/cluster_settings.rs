//! The `[cluster]` settings: without a `node_id` the router is the single embedded
//! node; with one, it is a member of the cluster described by `members`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use serde::Deserialize;
use switchboard_cluster::config::DEFAULT_SNAPSHOT_EVERY_N_LOGS;
use switchboard_cluster::{
    default_raft_config, raft_config, ClusterConfig, LinkSecurity, LinkTiming,
};
use switchboard_server::AdminToken;

use crate::tls_settings::PeerTlsFiles;

/// An empty value clears a path setting.
pub(crate) fn path(value: &str) -> Option<PathBuf> {
    Some(PathBuf::from(value.trim())).filter(|p| !p.as_os_str().is_empty())
}

/// Cluster membership and timing, as configured.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClusterSettings {
    pub(crate) node_id: Option<u64>,
    pub(crate) peer_listen: String,
    pub(crate) members: BTreeMap<u64, String>,
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) heartbeat_ms: u64,
    pub(crate) failure_timeout_ms: u64,
    /// Log entries between two snapshots of the replicated state (small values
    /// make tests reach the snapshot path; large ones cost a longer replay).
    pub(crate) snapshot_every: u64,
    /// The bearer token for membership changes, as given (empty: none).
    pub(crate) admin_token: String,
    /// Or a file holding it (a Kubernetes Secret mounted as a file, say).
    pub(crate) admin_token_file: Option<PathBuf>,
    /// Mutual TLS on peer links.
    pub(crate) tls: PeerTlsFiles,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            node_id: None,
            peer_listen: "0.0.0.0:19000".to_owned(),
            members: BTreeMap::new(),
            data_dir: None,
            heartbeat_ms: 100,
            failure_timeout_ms: 1500,
            snapshot_every: DEFAULT_SNAPSHOT_EVERY_N_LOGS,
            admin_token: String::new(),
            admin_token_file: None,
            tls: PeerTlsFiles::default(),
        }
    }
}

/// The `[cluster]` table of the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileCluster {
    node_id: Option<u64>,
    peer_listen: Option<String>,
    members: Option<String>,
    data_dir: Option<PathBuf>,
    heartbeat_ms: Option<u64>,
    failure_timeout_ms: Option<u64>,
    snapshot_every: Option<u64>,
    admin_token: Option<String>,
    admin_token_file: Option<PathBuf>,
    tls: Option<FileClusterTls>,
}

/// The `[cluster.tls]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileClusterTls {
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

/// Parses `1=host:port,2=host:port`.
pub(crate) fn parse_members(text: &str) -> Result<BTreeMap<u64, String>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|member| {
            let (id, addr) = member
                .split_once('=')
                .ok_or_else(|| format!("{member:?} is not id=host:port"))?;
            let id: u64 = id
                .trim()
                .parse()
                .map_err(|_| format!("{id:?} is not a node id"))?;
            Ok((id, addr.trim().to_owned()))
        })
        .collect()
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

impl ClusterSettings {
    /// Applies the `[cluster]` table; relative paths are taken from `base`,
    /// the config file's directory.
    pub(crate) fn apply_file(&mut self, file: FileCluster, base: &Path) -> anyhow::Result<()> {
        if let Some(tls) = file.tls {
            let resolve = |p: Option<PathBuf>, old: &mut Option<PathBuf>| {
                if let Some(p) = p {
                    *old = Some(base.join(p));
                }
            };
            resolve(tls.ca, &mut self.tls.ca);
            resolve(tls.cert, &mut self.tls.cert);
            resolve(tls.key, &mut self.tls.key);
        }
        if let Some(id) = file.node_id {
            self.node_id = Some(id);
        }
        set(&mut self.peer_listen, file.peer_listen);
        if let Some(members) = file.members {
            self.members =
                parse_members(&members).map_err(|e| anyhow::anyhow!("cluster.members: {e}"))?;
        }
        if let Some(dir) = file.data_dir {
            self.data_dir = Some(dir);
        }
        set(&mut self.heartbeat_ms, file.heartbeat_ms);
        set(&mut self.failure_timeout_ms, file.failure_timeout_ms);
        set(&mut self.snapshot_every, file.snapshot_every);
        set(&mut self.admin_token, file.admin_token);
        if let Some(path) = file.admin_token_file {
            self.admin_token_file = Some(path);
        }
        Ok(())
    }

    /// Sets one `cluster.*` key from text (environment variables and flags).
    pub(crate) fn set_from_text(&mut self, key: &str, value: &str) -> Result<(), String> {
        let number = |v: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|e| format!("{key}: invalid value {v:?}: {e}"))
        };
        match key {
            "cluster.node_id" => self.node_id = Some(number(value)?),
            "cluster.peer_listen" => self.peer_listen = value.to_owned(),
            "cluster.members" => {
                self.members = parse_members(value).map_err(|e| format!("{key}: {e}"))?
            }
            "cluster.data_dir" => self.data_dir = Some(value.into()),
            "cluster.heartbeat_ms" => self.heartbeat_ms = number(value)?,
            "cluster.failure_timeout_ms" => self.failure_timeout_ms = number(value)?,
            "cluster.snapshot_every" => self.snapshot_every = number(value)?,
            "cluster.admin_token" => self.admin_token = value.to_owned(),
            "cluster.tls.ca" => self.tls.ca = path(value),
            "cluster.tls.cert" => self.tls.cert = path(value),
            "cluster.tls.key" => self.tls.key = path(value),
            "cluster.admin_token_file" => {
                self.admin_token_file =
                    Some(value.into()).filter(|p: &PathBuf| !p.as_os_str().is_empty())
            }
            _ => return Err(format!("{key}: unknown setting")),
        }
        Ok(())
    }

    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        self.admin_token()?;
        let Some(id) = self.node_id else {
            return Ok(());
        };
        if !self.members.contains_key(&id) {
            bail!("cluster.members: must list this node ({id}) with its peer address");
        }
        if self.heartbeat_ms == 0 || self.failure_timeout_ms <= 2 * self.heartbeat_ms {
            bail!(
                "cluster.failure_timeout_ms: {} must be more than twice cluster.heartbeat_ms ({})",
                self.failure_timeout_ms,
                self.heartbeat_ms
            );
        }
        self.raft_config()?;
        Ok(())
    }

    /// The cluster configuration, or `None` for a single node.
    pub(crate) fn to_config(&self, security: LinkSecurity) -> Option<ClusterConfig> {
        let node_id = self.node_id?;
        Some(ClusterConfig {
            node_id,
            members: self.members.clone(),
            peer_listen: self.peer_listen.clone(),
            data_dir: self
                .data_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("data/node-{node_id}"))),
            timing: LinkTiming {
                heartbeat: Duration::from_millis(self.heartbeat_ms),
                failure_timeout: Duration::from_millis(self.failure_timeout_ms),
            },
            raft: self.raft_config().ok()?,
            security,
            // The server places the links beside its realm.
            link_runtime: None,
        })
    }

    /// The admin token, from the setting or its file (not both); `None` if
    /// neither gives one, which leaves membership changes refused.
    pub(crate) fn admin_token(&self) -> anyhow::Result<Option<AdminToken>> {
        let text = match (&self.admin_token_file, self.admin_token.trim().is_empty()) {
            (Some(_), false) => {
                bail!("cluster.admin_token and cluster.admin_token_file: set one, not both")
            }
            (Some(path), true) => std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!(
                    "cluster.admin_token_file: cannot read {}: {e}",
                    path.display()
                )
            })?,
            (None, _) => self.admin_token.clone(),
        };
        AdminToken::new(&text).map_err(|e| anyhow::anyhow!("cluster.admin_token: {e}"))
    }

    fn raft_config(&self) -> anyhow::Result<openraft::Config> {
        let defaults = default_raft_config();
        raft_config(
            defaults.heartbeat_interval,
            defaults.election_timeout_min,
            defaults.election_timeout_max,
            self.snapshot_every,
        )
        .map_err(|e| anyhow::anyhow!("cluster.snapshot_every: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_parse_and_bad_ones_are_named() {
        let m = parse_members("1=a:1, 2=b:2").unwrap();
        assert_eq!(m.get(&2).map(String::as_str), Some("b:2"));
        assert!(parse_members("x=a:1").unwrap_err().contains("\"x\""));
        assert!(parse_members("1a:1").is_err());
        assert_eq!(
            parse_members("0=a:1").unwrap().len(),
            1,
            "a StatefulSet's ordinals start at 0"
        );
    }

    #[test]
    fn a_node_must_be_among_its_members() {
        let s = ClusterSettings {
            node_id: Some(3),
            members: parse_members("1=a:1,2=b:2").unwrap(),
            ..Default::default()
        };
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("cluster.members"));
        assert!(
            ClusterSettings::default()
                .to_config(LinkSecurity::default())
                .is_none(),
            "no node id: single node"
        );
    }

    #[test]
    fn the_admin_token_comes_from_the_setting_or_its_file_never_both() {
        let mut s = ClusterSettings::default();
        assert_eq!(s.admin_token().unwrap(), None, "no token: none");
        s.set_from_text("cluster.admin_token", "0123456789abcdef")
            .unwrap();
        assert!(s.admin_token().unwrap().is_some());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "fedcba9876543210fedcba\n").unwrap();
        s.set_from_text("cluster.admin_token_file", file.to_str().unwrap())
            .unwrap();
        assert!(s.validate().unwrap_err().to_string().contains("not both"));
        s.admin_token.clear();
        assert_eq!(
            s.admin_token().unwrap(),
            AdminToken::new("fedcba9876543210fedcba").unwrap()
        );
        s.admin_token_file = None;
        s.admin_token = "short".into();
        assert!(s
            .admin_token()
            .unwrap_err()
            .to_string()
            .contains("at least 16"));
    }

    #[test]
    fn the_snapshot_interval_is_a_setting_and_zero_is_refused() {
        let mut s = ClusterSettings {
            node_id: Some(1),
            members: parse_members("1=a:1").unwrap(),
            ..Default::default()
        };
        s.set_from_text("cluster.snapshot_every", "20").unwrap();
        let config = s.to_config(LinkSecurity::default()).unwrap();
        assert_eq!(
            config.raft.snapshot_policy,
            openraft::SnapshotPolicy::LogsSinceLast(20)
        );
        s.snapshot_every = 0;
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("cluster.snapshot_every"));
    }
}

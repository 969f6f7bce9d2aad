//! Starting the systems under test as processes of their own: Switchboard (one
//! node or a three-node cluster), Crossbar.io, and our raw relay. Each is killed,
//! with any processes it started, when its handle is dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;
use switchboard_client::{Client, Codec};

use crate::load::REALM;
use crate::procfs::process_tree;

/// A router (or relay) process, killed with its descendants when dropped.
pub struct RouterProcess {
    child: Child,
    /// Its WebSocket URL.
    pub url: String,
}

impl RouterProcess {
    /// Its process id (the root of its process tree).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for RouterProcess {
    fn drop(&mut self) {
        // Crossbar's router runs in a worker process under its node controller:
        // find them all before the controller dies and its workers are reparented.
        for pid in process_tree(self.child.id()).into_iter().rev() {
            // SAFETY: kill has no memory-safety preconditions; these are our descendants.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
        }
        let _ = self.child.wait();
    }
}

/// A free port on loopback.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts the Switchboard binary `bin` with `args` (on an ephemeral loopback
/// port) without waiting for it.
pub fn spawn(bin: &Path, args: &[String]) -> anyhow::Result<Child> {
    Command::new(bin)
        .args(["--host", "127.0.0.1", "--port", "0"])
        .args(args)
        .env("RUST_LOG", "error,openraft=off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))
}

/// Waits for a process's `... listening on <url>` line (Switchboard's, or the relay's).
pub fn ready(mut child: Child) -> anyhow::Result<RouterProcess> {
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let Some((_, url)) = line.trim().split_once(" listening on ") else {
        let _ = child.kill();
        let _ = child.wait();
        bail!("process did not start: {line:?}");
    };
    Ok(RouterProcess {
        child,
        url: url.to_owned(),
    })
}

/// A single Switchboard node with the default realm.
pub fn start_switchboard(bin: &Path) -> anyhow::Result<RouterProcess> {
    ready(spawn(bin, &[])?)
}

/// The second realm of [`start_switchboard_with_two_realms`].
pub const SECOND_REALM: &str = "com.example.realm2";

/// A single Switchboard node serving the default realm and [`SECOND_REALM`]
/// (each realm runs on its own thread), its config written into `dir`.
pub fn start_switchboard_with_two_realms(bin: &Path, dir: &Path) -> anyhow::Result<RouterProcess> {
    std::fs::create_dir_all(dir)?;
    let config = dir.join("two-realms.toml");
    std::fs::write(
        &config,
        format!("[[realm]]\nname = \"{REALM}\"\n\n[[realm]]\nname = \"{SECOND_REALM}\"\n"),
    )?;
    ready(spawn(
        bin,
        &["--config".into(), config.display().to_string()],
    )?)
}

/// Three Switchboard cluster nodes on loopback, with their data in `dir`.
pub fn start_cluster(bin: &Path, dir: &Path) -> anyhow::Result<Vec<RouterProcess>> {
    let peers: Vec<String> = (0..3)
        .map(|_| free_port().map(|p| format!("127.0.0.1:{p}")))
        .collect::<Result<_, _>>()?;
    let members = peers
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{}={a}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let children = (1..=3)
        .map(|id| {
            let data: PathBuf = dir.join(format!("node-{id}"));
            spawn(
                bin,
                &[
                    "--node-id".into(),
                    id.to_string(),
                    "--members".into(),
                    members.clone(),
                    "--peer-listen".into(),
                    peers[id - 1].clone(),
                    "--data-dir".into(),
                    data.display().to_string(),
                ],
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    children.into_iter().map(ready).collect()
}

/// Whether the cluster node serving `url` is the Raft leader (from its
/// `/cluster/status`).
pub fn is_leader(url: &str) -> bool {
    use std::io::{Read, Write};
    let authority = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap_or_default();
    let mut body = String::new();
    if let Ok(mut s) = std::net::TcpStream::connect(authority) {
        let _ = write!(
            s,
            "GET /cluster/status HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
        );
        let _ = s.read_to_string(&mut body);
    }
    body.contains("\"state\":\"Leader\"")
}

/// Starts the relay binary `bin` on an ephemeral loopback port.
pub fn start_relay(bin: &Path) -> anyhow::Result<RouterProcess> {
    let child = Command::new(bin)
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    ready(child)
}

/// Crossbar.io's node configuration: one router worker serving our realm to
/// anonymous clients with every action allowed, WebSocket on loopback `port`
/// with both our serializers, and room for 64 KiB payloads (16 MiB, as
/// Switchboard's default). No keepalive pings, as none are sent to Switchboard.
pub fn crossbar_config(port: u16) -> serde_json::Value {
    json!({
        "version": 2,
        "controller": {},
        "workers": [{
            "type": "router",
            "realms": [{
                "name": REALM,
                "roles": [{
                    "name": "anonymous",
                    "permissions": [{
                        "uri": "",
                        "match": "prefix",
                        "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
                        "disclose": {"caller": false, "publisher": false},
                        "cache": true
                    }]
                }]
            }],
            "transports": [{
                "type": "websocket",
                "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": port},
                "serializers": ["json", "msgpack"],
                "options": {"max_message_size": 16 << 20, "max_frame_size": 16 << 20},
                "auth": {"anonymous": {"type": "static", "role": "anonymous"}}
            }]
        }]
    })
}

/// Starts Crossbar.io (`crossbar`, the executable in its virtualenv) with a
/// fresh node directory `dir` (config, keys and log), and waits until a WAMP
/// session can join the realm.
pub async fn start_crossbar(crossbar: &Path, dir: &Path) -> anyhow::Result<RouterProcess> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let port = free_port()?;
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&crossbar_config(port))?,
    )?;
    let log = std::fs::File::create(dir.join("node.log"))?;
    let child = Command::new(crossbar)
        .args(["start", "--color", "false", "--loglevel", "warn", "--cbdir"])
        .arg(dir)
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", crossbar.display()))?;
    let mut router = RouterProcess {
        child,
        url: format!("ws://127.0.0.1:{port}/ws"),
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(client) = Client::connect(&router.url, REALM, Codec::Json).await {
            let _ = client.leave().await;
            return Ok(router);
        }
        if router.child.try_wait()?.is_some() || Instant::now() > deadline {
            bail!(
                "Crossbar.io did not start; see {}",
                dir.join("node.log").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

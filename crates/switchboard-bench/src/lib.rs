//! Shared pieces of the benchmark programs: starting router processes and
//! summarising latencies.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

/// A router process, killed when dropped.
pub struct RouterProcess {
    child: Child,
    /// Its WebSocket URL.
    pub url: String,
}

impl Drop for RouterProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port on loopback.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts `bin` with `args` (on an ephemeral port) without waiting for it.
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

/// Waits for the router's listening line.
pub fn ready(mut child: Child) -> anyhow::Result<RouterProcess> {
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let Some(url) = line.trim().strip_prefix("switchboard listening on ") else {
        bail!("router did not start: {line:?}");
    };
    Ok(RouterProcess {
        child,
        url: url.to_owned(),
    })
}

/// Three cluster nodes on loopback, with their data in `dir`.
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

/// Median, 99th percentile and maximum of `samples`.
pub fn summary(samples: &mut [Duration]) -> (Duration, Duration, Duration) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99), samples[samples.len() - 1])
}

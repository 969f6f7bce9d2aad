//! REGISTER commit latency and throughput on a three-node loopback cluster (and on
//! one node for comparison). Usage: `cluster_register <path to switchboard binary> [count]`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use switchboard_bench::registration::{register_latencies, register_rate, summary};
use switchboard_bench::systems::{is_leader, start_cluster, start_switchboard};

fn row(label: &str, samples: &mut [Duration]) {
    let (median, p99, max) = summary(samples);
    println!(
        "{label:<34} {:>6} {:>12.3?} {:>12.3?} {:>12.3?}",
        samples.len(),
        median,
        p99,
        max
    );
}

/// REGISTERs pipelined from one session, and sessions sending one each.
const PIPELINED: usize = 2_000;
const SESSIONS: usize = 200;

/// Throughput rows for the router at `url`, under fresh procedure names.
async fn rates(label: &str, url: &str, tag: &str) -> anyhow::Result<()> {
    let pipelined = register_rate(url, &format!("com.bench.{tag}.p.proc"), PIPELINED, 1).await?;
    let concurrent =
        register_rate(url, &format!("com.bench.{tag}.c.proc"), SESSIONS, SESSIONS).await?;
    println!("{label:<34} {pipelined:>14.0}/s {concurrent:>14.0}/s");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let bin = PathBuf::from(
        args.next()
            .context("usage: cluster_register <switchboard binary> [count]")?,
    );
    let count: usize = args.next().map(|c| c.parse()).transpose()?.unwrap_or(500);
    let dir = std::env::temp_dir().join(format!("switchboard-bench-{}", std::process::id()));

    println!("REGISTER until REGISTERED, {count} sequential registrations per row");
    println!(
        "{:<34} {:>6} {:>12} {:>12} {:>12}",
        "where", "n", "median", "p99", "max"
    );
    let single = start_switchboard(&bin)?;
    row(
        "single node",
        &mut register_latencies(&single.url, "com.bench.single.proc", count).await?,
    );

    let nodes = start_cluster(&bin, &dir)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut labels = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let role = if is_leader(&node.url) {
            "leader"
        } else {
            "follower"
        };
        let label = format!("3-node cluster, node {} ({role})", i + 1);
        row(
            &label,
            &mut register_latencies(&node.url, &format!("com.bench.n{i}.proc"), count).await?,
        );
        labels.push(label);
    }

    println!();
    println!("REGISTER throughput: {PIPELINED} pipelined from one session; one from each of {SESSIONS} sessions");
    println!("{:<34} {:>16} {:>16}", "where", "pipelined", "concurrent");
    rates("single node", &single.url, "single").await?;
    drop(single);
    for (i, (node, label)) in nodes.iter().zip(&labels).enumerate() {
        rates(label, &node.url, &format!("rate{i}")).await?;
    }
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

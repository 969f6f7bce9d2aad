//! REGISTER commit latency on a three-node loopback cluster (and on one node for
//! comparison). Usage: `cluster_register <path to switchboard binary> [count]`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use switchboard_bench::registration::{register_latencies, summary};
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
    drop(single);

    let nodes = start_cluster(&bin, &dir)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (i, node) in nodes.iter().enumerate() {
        let role = if is_leader(&node.url) {
            "leader"
        } else {
            "follower"
        };
        row(
            &format!("3-node cluster, node {} ({role})", i + 1),
            &mut register_latencies(&node.url, &format!("com.bench.n{i}.proc"), count).await?,
        );
    }
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

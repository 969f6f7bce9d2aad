//! REGISTER commit latency on a three-node loopback cluster (and on one node for
//! comparison). Usage: `cluster_register <path to switchboard binary> [count]`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use switchboard_bench::{ready, spawn, start_cluster, summary};
use switchboard_client::{Arguments, Client, Codec, Dict};

async fn measure(url: &str, count: usize, tag: &str) -> anyhow::Result<Vec<Duration>> {
    let client = Client::connect(url, "com.example.realm", Codec::Msgpack).await?;
    let mut samples = Vec::with_capacity(count);
    for i in 0..count {
        let uri = format!("com.bench.{tag}.proc{i}");
        let started = Instant::now();
        client
            .register(&uri, Dict::new(), |_| async { Ok(Arguments::none()) })
            .await?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}

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
    let single = ready(spawn(&bin, &[])?)?;
    row(
        "single node",
        &mut measure(&single.url, count, "single").await?,
    );
    drop(single);

    let nodes = start_cluster(&bin, &dir)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = |url: &str| -> String {
        use std::io::{Read, Write};
        let authority = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut body = String::new();
        if let Ok(mut s) = std::net::TcpStream::connect(&authority) {
            let _ = write!(
                s,
                "GET /cluster/status HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
            );
            let _ = s.read_to_string(&mut body);
        }
        body
    };
    let leader_is = |url: &str| status(url).contains("\"state\":\"Leader\"");
    for (i, node) in nodes.iter().enumerate() {
        let role = if leader_is(&node.url) {
            "leader"
        } else {
            "follower"
        };
        row(
            &format!("3-node cluster, node {} ({role})", i + 1),
            &mut measure(&node.url, count, &format!("n{i}")).await?,
        );
    }
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

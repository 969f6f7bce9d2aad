//! Memory that comes back: for each cycle, open many sessions, have each
//! register, subscribe, call and publish, close them all, and print the
//! router's resident memory. RSS must level off after the first cycles.
//!
//! Usage: `soak <switchboard binary> [cycles] [sessions per cycle]`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::future::join_all;
use switchboard_bench::procfs::{raise_file_limit, resident_bytes};
use switchboard_bench::systems::{ready, spawn};
use switchboard_client::{Arguments, Client, Codec, Dict, Value};

const REALM: &str = "com.example.realm";

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Opens `count` sessions, `batch` at a time.
async fn open(url: &str, count: usize, batch: usize) -> anyhow::Result<Vec<Client>> {
    let mut clients = Vec::with_capacity(count);
    for start in (0..count).step_by(batch) {
        let end = (start + batch).min(count);
        let opened = join_all((start..end).map(|_| Client::connect(url, REALM, Codec::Json))).await;
        for client in opened {
            clients.push(client.context("opening a session")?);
        }
    }
    Ok(clients)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let bin = PathBuf::from(
        args.next()
            .context("usage: soak <switchboard binary> [cycles] [sessions]")?,
    );
    let cycles: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let sessions: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5000);
    let files = raise_file_limit();
    anyhow::ensure!(
        files as usize > sessions * 2 + 100,
        "the open-file limit ({files}) is too low for {sessions} sessions"
    );
    let router = ready(spawn(&bin, &[])?)?;
    println!("{sessions} sessions per cycle: open, register + subscribe, call + publish, close");
    println!(
        "{:>5} {:>10} {:>12} {:>10} {:>10}",
        "cycle", "seconds", "router RSS", "calls", "events"
    );
    println!(
        "{:>5} {:>10} {:>9.1} MiB {:>10} {:>10}",
        0,
        "-",
        mib(resident_bytes(router.pid())),
        0,
        0
    );
    for cycle in 1..=cycles {
        let started = Instant::now();
        let clients = open(&router.url, sessions, 250).await?;
        let events = Arc::new(AtomicUsize::new(0));
        for chunk in clients.chunks(250) {
            join_all(chunk.iter().map(|client| {
                let events = events.clone();
                async move {
                    let procedure = format!("com.soak.p{}", client.session_id());
                    client
                        .register(
                            &procedure,
                            Dict::new(),
                            |inv| async move { Ok(inv.arguments) },
                        )
                        .await?;
                    client
                        .subscribe("com.soak.topic", Dict::new(), move |_| {
                            events.fetch_add(1, Ordering::Relaxed);
                        })
                        .await?;
                    anyhow::Ok(())
                }
            }))
            .await
            .into_iter()
            .collect::<anyhow::Result<Vec<_>>>()?;
        }
        // Each session calls the next one's procedure once.
        let mut calls = 0;
        for (i, chunk) in clients.chunks(250).enumerate() {
            let answered = join_all(chunk.iter().enumerate().map(|(j, client)| {
                let target = &clients[(i * 250 + j + 1) % clients.len()];
                let procedure = format!("com.soak.p{}", target.session_id());
                async move {
                    client
                        .call(&procedure, Arguments::list(vec![Value::from("ping")]))
                        .await
                }
            }))
            .await;
            calls += answered.iter().filter(|r| r.is_ok()).count();
        }
        // A few publications, each to every session.
        for client in clients.iter().take(10) {
            client
                .publish(
                    "com.soak.topic",
                    Dict::new(),
                    Arguments::list(vec![Value::from(1)]),
                )
                .await?;
        }
        let expected = 10 * sessions;
        let deadline = Instant::now() + Duration::from_secs(30);
        while events.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut closing = clients.into_iter();
        loop {
            let batch: Vec<Client> = closing.by_ref().take(250).collect();
            if batch.is_empty() {
                break;
            }
            join_all(batch.into_iter().map(Client::leave)).await;
        }
        // Let the router finish closing before measuring.
        tokio::time::sleep(Duration::from_secs(2)).await;
        println!(
            "{:>5} {:>10.1} {:>9.1} MiB {:>10} {:>10}",
            cycle,
            started.elapsed().as_secs_f64(),
            mib(resident_bytes(router.pid())),
            calls,
            events.load(Ordering::Relaxed)
        );
    }
    Ok(())
}

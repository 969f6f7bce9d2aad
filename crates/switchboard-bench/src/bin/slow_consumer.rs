//! One subscriber stops reading while a publisher floods its topic: what does
//! the router's memory do, and what do the healthy sessions see? Then a
//! publisher floods a topic nobody subscribes to.
//!
//! Usage: `slow_consumer <switchboard binary> [flood seconds]`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use switchboard_bench::procfs::resident_bytes;
use switchboard_bench::systems::{ready, spawn};
use switchboard_client::{Arguments, Client, Codec, Dict, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const REALM: &str = "com.example.realm";
const EVENT_BYTES: usize = 4096;

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A subscriber on a socket with a 4 KiB receive buffer that never reads
/// after SUBSCRIBED.
async fn stalled_subscriber(
    addr: SocketAddr,
    topic: &str,
) -> anyhow::Result<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.set_recv_buffer_size(4096)?;
    socket.connect(&addr.into())?;
    socket.set_nonblocking(true)?;
    let tcp = tokio::net::TcpStream::from_std(socket.into())?;
    let mut request = format!("ws://{addr}/ws").into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "wamp.2.json".parse()?);
    let (mut ws, _) = tokio_tungstenite::client_async(request, tcp).await?;
    for text in [
        format!(r#"[1, "{REALM}", {{"roles": {{"subscriber": {{}}}}}}]"#),
        format!(r#"[32, 1, {{}}, "{topic}"]"#),
    ] {
        ws.send(WsMessage::Text(text)).await?;
        ws.next().await.context("closed")??;
    }
    Ok(ws)
}

/// One `/metrics` value.
async fn metric(addr: SocketAddr, prefix: &str) -> f64 {
    let Ok(mut tcp) = tokio::net::TcpStream::connect(addr).await else {
        return 0.0;
    };
    let _ = tcp
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    let mut text = String::new();
    let _ = tcp.read_to_string(&mut text).await;
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Publishes `EVENT_BYTES` events to `topic` as fast as the router takes them
/// until `stop`; every 64th is acknowledged, which keeps this process's own
/// queue short. Returns how many were published.
async fn flood(publisher: &Client, topic: &str, stop: &AtomicBool) -> anyhow::Result<u64> {
    let payload = Arguments::list(vec![Value::from("x".repeat(EVENT_BYTES))]);
    let acknowledge = Dict::from([("acknowledge".to_owned(), Value::Bool(true))]);
    let mut published = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let options = if published % 64 == 63 {
            acknowledge.clone()
        } else {
            Dict::new()
        };
        publisher.publish(topic, options, payload.clone()).await?;
        published += 1;
    }
    Ok(published)
}

/// Samples the router's RSS until `stop`; returns the largest.
async fn peak_rss(pid: u32, stop: Arc<AtomicBool>) -> u64 {
    let mut peak = 0;
    while !stop.load(Ordering::Relaxed) {
        peak = peak.max(resident_bytes(pid));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    peak
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let bin = PathBuf::from(
        args.next()
            .context("usage: slow_consumer <switchboard binary> [flood seconds]")?,
    );
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(20);
    let router = ready(spawn(&bin, &[])?)?;
    let addr: SocketAddr = router
        .url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .parse()?;

    let _stalled = stalled_subscriber(addr, "com.bench.flood").await?;
    let delivered = Arc::new(AtomicUsize::new(0));
    let mut healthy = Vec::new();
    for _ in 0..2 {
        let subscriber = Client::connect(&router.url, REALM, Codec::Json).await?;
        let delivered = delivered.clone();
        subscriber
            .subscribe("com.bench.flood", Dict::new(), move |_| {
                delivered.fetch_add(1, Ordering::Relaxed);
            })
            .await?;
        healthy.push(subscriber);
    }
    let callee = Client::connect(&router.url, REALM, Codec::Json).await?;
    callee
        .register("com.bench.echo", Dict::new(), |inv| async move {
            Ok(inv.arguments)
        })
        .await?;
    let caller = Client::connect(&router.url, REALM, Codec::Json).await?;
    let publisher = Client::connect(&router.url, REALM, Codec::Json).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline = resident_bytes(router.pid());

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(peak_rss(router.pid(), stop.clone()));
    let calls = {
        let stop = stop.clone();
        let slowest = Arc::new(AtomicU64::new(0));
        async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                caller
                    .call("com.bench.echo", Arguments::list(vec![Value::from(1)]))
                    .await?;
                latencies.push(started.elapsed());
                slowest.fetch_max(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            anyhow::Ok(latencies)
        }
    };
    let started = Instant::now();
    let stopper = {
        let stop = stop.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            stop.store(true, Ordering::Relaxed);
        }
    };
    let (published, latencies, ()) =
        tokio::join!(flood(&publisher, "com.bench.flood", &stop), calls, stopper);
    let elapsed = started.elapsed();
    let published = published?;
    let mut latencies = latencies?;
    let peak = sampler.await?;
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let dropped = metric(addr, "switchboard_events_dropped_total").await;

    println!("{seconds} s flood of {EVENT_BYTES}-byte events to a topic with one stalled and two healthy subscribers");
    println!("{:<48} {:>12}", "events published", published);
    println!(
        "{:<48} {:>12.0}",
        "events/s delivered to each healthy subscriber",
        delivered.load(Ordering::Relaxed) as f64 / 2.0 / elapsed.as_secs_f64()
    );
    println!(
        "{:<48} {:>12.0}",
        "events dropped for the stalled subscriber", dropped
    );
    println!(
        "{:<48} {:>8.1} MiB (baseline {:.1}, peak {:.1})",
        "router RSS growth",
        mib(peak.saturating_sub(baseline)),
        mib(baseline),
        mib(peak)
    );
    println!(
        "{:<48} {:>9.2?} p50 {:>9.2?} p99 ({} calls)",
        "healthy calls (1 in flight) during the flood",
        at(0.5),
        at(0.99),
        latencies.len()
    );

    // A publisher flooding a topic nobody subscribes to.
    let before = resident_bytes(router.pid());
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(peak_rss(router.pid(), stop.clone()));
    let stopper = {
        let stop = stop.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(seconds / 2)).await;
            stop.store(true, Ordering::Relaxed);
        }
    };
    let (published, ()) = tokio::join!(flood(&publisher, "com.bench.nobody", &stop), stopper);
    let peak = sampler.await?;
    println!(
        "{:<48} {:>8.1} MiB ({} events in {} s, no subscriber)",
        "router RSS growth, flood to an empty topic",
        mib(peak.saturating_sub(before)),
        published?,
        seconds / 2
    );
    drop(healthy);
    Ok(())
}

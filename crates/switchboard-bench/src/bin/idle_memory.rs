//! Bench row (g) alone: a fresh router's resident memory before and after
//! opening many idle JSON WebSocket sessions, per session, repeated.
//!
//! Usage: `idle_memory <switchboard binary> [sessions] [runs] [raw]` (`raw`:
//! RawSocket over TCP instead of WebSocket), or
//! `idle_memory --url ws://HOST:PORT/ws --pid PID [sessions] [hold seconds]`
//! to measure a router started by hand (under a profiler, say) and hold the
//! sessions open for a while.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{stream, StreamExt};
use switchboard_bench::procfs::resident_bytes;
use switchboard_bench::systems::{spawn, start_switchboard};
use switchboard_client::{Client, Codec};

const REALM: &str = "com.example.realm";

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with(field))?.to_owned();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// A RawSocket session (JSON) that joined the realm, held open.
async fn raw_session(addr: String) -> anyhow::Result<tokio::net::TcpStream> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.write_all(&[0x7F, 0xF1, 0, 0]).await?;
    let mut reply = [0u8; 4];
    tcp.read_exact(&mut reply).await?;
    anyhow::ensure!(
        reply[0] == 0x7F && reply[1] & 0x0F == 1,
        "handshake refused"
    );
    let hello = format!(r#"[1,"{REALM}",{{"roles":{{"caller":{{}},"callee":{{}}}}}}]"#);
    let len = hello.len() as u32;
    let mut frame = vec![0u8, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    frame.extend_from_slice(hello.as_bytes());
    tcp.write_all(&frame).await?;
    let mut head = [0u8; 4];
    tcp.read_exact(&mut head).await?;
    let len = u32::from_be_bytes([0, head[1], head[2], head[3]]) as usize;
    let mut body = vec![0u8; len];
    tcp.read_exact(&mut body).await?;
    anyhow::ensure!(body.starts_with(b"[2,"), "no WELCOME");
    Ok(tcp)
}

async fn measure_raw(addr: &str, pid: u32, sessions: usize) -> anyhow::Result<f64> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = resident_bytes(pid);
    let opened: Vec<_> = stream::iter(0..sessions)
        .map(|_| raw_session(addr.to_owned()))
        .buffer_unordered(64)
        .collect()
        .await;
    let ok = opened.iter().filter(|s| s.is_ok()).count();
    if let Some(e) = opened.iter().find_map(|s| s.as_ref().err()) {
        println!("first error: {e}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = resident_bytes(pid);
    let per = (after as f64 - before as f64) / ok.max(1) as f64;
    println!(
        "{ok} RawSocket sessions: {:.0} B/session ({:.2} KiB)",
        per,
        per / 1024.0
    );
    Ok(per)
}

async fn measure(url: &str, pid: u32, sessions: usize, hold: Duration) -> anyhow::Result<f64> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = resident_bytes(pid);
    let anon_before = status_kib(pid, "RssAnon:");
    let started = Instant::now();
    let opened: Vec<_> = stream::iter(0..sessions)
        .map(|_| Client::connect(url, REALM, Codec::Json))
        .buffer_unordered(64)
        .collect()
        .await;
    let took = started.elapsed();
    let ok = opened.iter().filter(|s| s.is_ok()).count();
    if let Some(e) = opened.iter().find_map(|s| s.as_ref().err()) {
        println!("first error: {e}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = resident_bytes(pid);
    let anon_after = status_kib(pid, "RssAnon:");
    let per = (after as f64 - before as f64) / ok.max(1) as f64;
    println!(
        "{ok} sessions in {:.1} s: RSS {} -> {} KiB, {:.0} B/session ({:.2} KiB); RssAnon {:.0} B/session",
        took.as_secs_f64(),
        before / 1024,
        after / 1024,
        per,
        per / 1024.0,
        (anon_after as f64 - anon_before as f64) * 1024.0 / ok.max(1) as f64,
    );
    if !hold.is_zero() {
        println!("holding {} s", hold.as_secs());
        tokio::time::sleep(hold).await;
    }
    drop(opened);
    Ok(per)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--url") {
        let url = args.get(1).context("--url URL")?;
        let pid: u32 = args.get(3).context("--pid PID")?.parse()?;
        let sessions = args.get(4).map_or(Ok(10_000), |s| s.parse())?;
        let hold = Duration::from_secs(args.get(5).map_or(Ok(0), |s| s.parse())?);
        measure(url, pid, sessions, hold).await?;
        return Ok(());
    }
    let bin = PathBuf::from(
        args.first()
            .context("usage: idle_memory <switchboard> [sessions] [runs]")?,
    );
    let sessions = args.get(1).map_or(Ok(10_000), |s| s.parse())?;
    let runs: usize = args.get(2).map_or(Ok(3), |s| s.parse())?;
    let raw = args.get(3).map(String::as_str) == Some("raw");
    let mut figures = Vec::new();
    for _ in 0..runs {
        if raw {
            let mut child = spawn(&bin, &["--rawsocket-port".into(), "0".into()])?;
            let stdout = child.stdout.take().context("no stdout")?;
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line)?;
            let addr = line
                .trim()
                .rsplit_once("tcp://")
                .context("no RawSocket line")?
                .1
                .to_owned();
            figures.push(measure_raw(&addr, child.id(), sessions).await?);
            let _ = child.kill();
            let _ = child.wait();
            continue;
        }
        let router = start_switchboard(&bin)?;
        figures.push(measure(&router.url, router.pid(), sessions, Duration::ZERO).await?);
        drop(router);
    }
    figures.sort_by(|a, b| a.total_cmp(b));
    println!(
        "median {:.0} B/session ({:.2} KiB) over {runs} runs",
        figures[runs / 2],
        figures[runs / 2] / 1024.0
    );
    Ok(())
}

//! The load generator on its own, against any WAMP router (or the relay):
//! C callers each keeping K calls in flight against N echoing callees, for a
//! fixed window after a warm-up. Prints calls/s and latency p50/p90/p99/max
//! beside its own CPU share, as a table and then as one JSON line.
//!
//! `wamp_load --url ws://127.0.0.1:18080/ws --callers 4 --in-flight 16`

use std::time::Duration;

use clap::{Parser, ValueEnum};
use switchboard_bench::load::{self, Load, Procedure, Target};
use switchboard_client::Codec;

#[derive(Clone, Copy, ValueEnum)]
enum Serializer {
    Json,
    Msgpack,
    Cbor,
}

#[derive(Parser)]
#[command(
    about = "WAMP RPC load generator: C callers x K calls in flight against N echoing callees"
)]
struct Args {
    /// The router's WebSocket URL (or the relay's, with --relay).
    #[arg(long, default_value = "ws://127.0.0.1:18080/ws")]
    url: String,
    /// The callees' router URL, if not --url (another node of a cluster).
    #[arg(long)]
    callee_url: Option<String>,
    /// The realm every session joins.
    #[arg(long, default_value = switchboard_bench::load::REALM)]
    realm: String,
    /// Caller sessions (C).
    #[arg(long, default_value_t = 1)]
    callers: usize,
    /// Calls each caller keeps in flight (K).
    #[arg(long, default_value_t = 1)]
    in_flight: usize,
    /// Callee sessions (N); more than one share a roundrobin registration.
    #[arg(long, default_value_t = 1)]
    callees: usize,
    /// Register with invoke=roundrobin even with one callee.
    #[arg(long)]
    shared: bool,
    /// Payload bytes per call (P).
    #[arg(long, default_value_t = 32)]
    payload: usize,
    /// The serializer.
    #[arg(long, value_enum, default_value = "json")]
    codec: Serializer,
    /// Warm-up seconds before the measured window.
    #[arg(long, default_value_t = 1.0)]
    warmup_s: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 3.0)]
    duration_s: f64,
    /// The procedure registered (default: a fresh com.bench.echo.run<N>).
    #[arg(long)]
    procedure: Option<String>,
    /// REGISTER.Options.match for it (prefix, wildcard).
    #[arg(long = "match")]
    match_policy: Option<String>,
    /// The URI called, if not the procedure registered (to hit a pattern).
    #[arg(long)]
    call: Option<String>,
    /// Drive the raw relay (`ws_relay`) with its trivial framing instead of WAMP.
    #[arg(long)]
    relay: bool,
    /// The router's process id, to report its CPU share too.
    #[arg(long)]
    router_pid: Option<u32>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let load = Load {
        callers: args.callers,
        in_flight: args.in_flight,
        callees: args.callees,
        payload_bytes: args.payload,
        codec: match args.codec {
            Serializer::Json => Codec::Json,
            Serializer::Msgpack => Codec::Msgpack,
            Serializer::Cbor => Codec::Cbor,
        },
        warmup: Duration::from_secs_f64(args.warmup_s),
        duration: Duration::from_secs_f64(args.duration_s),
    };
    let target = if args.relay {
        Target::Relay { url: args.url }
    } else {
        let mut procedure = Procedure::fresh_exact();
        if let Some(uri) = args.procedure {
            procedure.register = uri.clone();
            procedure.call = uri;
        }
        if let Some(call) = args.call {
            procedure.call = call;
        }
        procedure.match_policy = args.match_policy;
        procedure.shared = args.shared;
        Target::Wamp {
            realm: args.realm,
            callee_url: args.callee_url.unwrap_or_else(|| args.url.clone()),
            caller_url: args.url,
            procedure,
        }
    };
    let report = load::run(&load, &target, args.router_pid).await?;
    print!("{}", report.table());
    println!("{}", report.to_json());
    if report.errors > 0 {
        anyhow::bail!("{} calls failed", report.errors);
    }
    Ok(())
}

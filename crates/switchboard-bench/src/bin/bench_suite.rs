//! The whole benchmark suite (`scripts/bench` builds the programs and installs
//! Crossbar.io, then runs this): scenarios (a) to (j) on Switchboard, Crossbar.io
//! and the raw relay, a sweep of latency against load, a table with ratios and
//! targets on stdout, and everything as JSON in `--out`.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use switchboard_bench::procfs::raise_file_limit;
use switchboard_bench::scenarios::{executable, Programs, Settings, Suite};

#[derive(Parser)]
#[command(about = "Switchboard vs Crossbar.io vs a raw relay: scenarios (a) to (j)")]
struct Args {
    /// The Switchboard binary.
    #[arg(long, default_value = "target/release/switchboard")]
    switchboard: PathBuf,
    /// The relay binary.
    #[arg(long, default_value = "target/release/ws_relay")]
    relay: PathBuf,
    /// Crossbar.io's `crossbar` executable (its column is skipped without it).
    #[arg(long)]
    crossbar: Option<PathBuf>,
    /// Crossbar.io's version, recorded in the JSON.
    #[arg(long, default_value = "")]
    crossbar_version: String,
    /// Where the JSON results go.
    #[arg(long, default_value = "bench/results/latest.json")]
    out: PathBuf,
    /// Where routers keep their files.
    #[arg(long, default_value = "target/bench")]
    work_dir: PathBuf,
    /// Seconds measured per run.
    #[arg(long, env = "BENCH_DURATION_S", default_value_t = 3.0)]
    duration_s: f64,
    /// Seconds of warm-up per run.
    #[arg(long, env = "BENCH_WARMUP_S", default_value_t = 1.0)]
    warmup_s: f64,
    /// Seconds measured per point of the sweep.
    #[arg(long, env = "BENCH_SWEEP_DURATION_S", default_value_t = 2.0)]
    sweep_duration_s: f64,
    /// Seconds of warm-up per point of the sweep.
    #[arg(long, env = "BENCH_SWEEP_WARMUP_S", default_value_t = 0.5)]
    sweep_warmup_s: f64,
    /// Exact registrations present in (f).
    #[arg(long, env = "BENCH_REGISTRATIONS", default_value_t = 100_000)]
    registrations: usize,
    /// Idle sessions opened in (g).
    #[arg(long, env = "BENCH_IDLE_SESSIONS", default_value_t = 10_000)]
    idle_sessions: usize,
    /// Sequential REGISTERs timed per cluster node in (i).
    #[arg(long, env = "BENCH_REGISTER_SAMPLES", default_value_t = 200)]
    register_samples: usize,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    for program in [&args.switchboard, &args.relay] {
        anyhow::ensure!(
            executable(program),
            "{} is not an executable",
            program.display()
        );
    }
    let crossbar = args.crossbar.clone().filter(|c| executable(c));
    let file_limit = raise_file_limit();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load_at_start = loadavg();
    println!(
        "{cores} cores, load average {load_at_start}, open files limit {file_limit}; \
         {} s warm-up + {} s measured per run",
        args.warmup_s, args.duration_s
    );
    let settings = Settings {
        warmup: Duration::from_secs_f64(args.warmup_s),
        duration: Duration::from_secs_f64(args.duration_s),
        sweep_warmup: Duration::from_secs_f64(args.sweep_warmup_s),
        sweep_duration: Duration::from_secs_f64(args.sweep_duration_s),
        registrations: args.registrations,
        idle_sessions: args.idle_sessions,
        register_samples: args.register_samples,
        work_dir: args.work_dir.clone(),
    };
    let programs = Programs {
        switchboard: args.switchboard.clone(),
        crossbar,
        relay: args.relay.clone(),
    };
    let results = Suite::new(settings.clone(), programs).run().await;

    println!();
    print!("{}", results.table());
    let mut output = results.to_json();
    output["run"] = json!({
        "finished_unix_s": SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs(),
        "suite_wall_time_s": started.elapsed().as_secs_f64(),
        "cores": cores,
        "load_average_at_start": load_at_start,
        "load_average_at_end": loadavg(),
        "crossbar_version": args.crossbar_version,
        "warmup_s": args.warmup_s,
        "duration_s": args.duration_s,
        "sweep_warmup_s": args.sweep_warmup_s,
        "sweep_duration_s": args.sweep_duration_s,
        "registrations": args.registrations,
        "idle_sessions": args.idle_sessions,
        "register_samples": args.register_samples,
    });
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&output)? + "\n")
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "\nload average {load_at_start} at the start, {} at the end; suite {:.0} s; results in {}",
        loadavg(),
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}

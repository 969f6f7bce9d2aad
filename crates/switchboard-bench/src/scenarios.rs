//! The suite `scripts/bench` runs: scenarios (a) to (j) on every system each
//! applies to, and a sweep of latency against offered load, one system after
//! another on the same machine in the same run.
//!
//! | id | what | systems |
//! |---|---|---|
//! | a | pure latency: 1 caller, 1 call in flight, 32 B | all |
//! | b | throughput: 4 callers x 16 in flight, 1 callee | all |
//! | c | (b) with 4 callees sharing the registration (roundrobin) | all |
//! | d | (b) in MessagePack | all |
//! | e | (b) with 64 KiB payloads | all |
//! | f | (b) on a prefix registration among 100,000 exact ones | routers |
//! | g | router memory per idle session, 10,000 sessions | routers |
//! | h | cluster: caller and callee on different nodes vs one node | Switchboard |
//! | i | REGISTER commit latency on a three-node cluster | Switchboard |

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::stream::{self, StreamExt};
use switchboard_client::{Client, Codec};

use crate::load::{self, Load, Procedure, Target, REALM};
use crate::procfs::resident_bytes;
use crate::registration::{register_latencies, register_many, register_rate, summary};
use crate::report::LoadReport;
use crate::results::{load_figures, Figure, Results, ScenarioResult, SweepPoint, System, Unit};
use crate::systems::{
    is_leader, start_cluster, start_crossbar, start_relay, start_switchboard,
    start_switchboard_with_two_realms, RouterProcess, SECOND_REALM,
};

/// Sizes and durations of the suite.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Warm-up before each measured window.
    pub warmup: Duration,
    /// Each measured window.
    pub duration: Duration,
    /// Warm-up before each point of the sweep.
    pub sweep_warmup: Duration,
    /// Each point's measured window.
    pub sweep_duration: Duration,
    /// Exact registrations present in (f).
    pub registrations: usize,
    /// Idle sessions opened in (g).
    pub idle_sessions: usize,
    /// Sequential REGISTERs timed per cluster node in (i).
    pub register_samples: usize,
    /// Where routers keep their files (Crossbar's node directories, cluster data).
    pub work_dir: PathBuf,
}

/// Calls in flight per caller at each point of the sweep (4 callers, 1 callee).
pub const SWEEP_IN_FLIGHT: [usize; 6] = [1, 2, 4, 8, 16, 32];

/// The programs under test.
pub struct Programs {
    /// The Switchboard binary.
    pub switchboard: PathBuf,
    /// Crossbar.io's `crossbar` executable, if it is installed.
    pub crossbar: Option<PathBuf>,
    /// The relay binary.
    pub relay: PathBuf,
}

const LOAD_SCENARIOS: [char; 5] = ['a', 'b', 'c', 'd', 'e'];

/// The load of scenario `id` ((f) applies (b)'s to a prefix registration).
fn load_of(id: char, settings: &Settings) -> Load {
    let throughput = Load {
        callers: 4,
        in_flight: 16,
        callees: 1,
        payload_bytes: 32,
        codec: Codec::Json,
        warmup: settings.warmup,
        duration: settings.duration,
    };
    match id {
        'a' | 'h' => Load {
            callers: 1,
            in_flight: 1,
            ..throughput
        },
        'c' => Load {
            callees: 4,
            ..throughput
        },
        'd' => Load {
            codec: Codec::Msgpack,
            ..throughput
        },
        'e' => Load {
            payload_bytes: 64 << 10,
            ..throughput
        },
        _ => throughput,
    }
}

fn scenario_list(settings: &Settings) -> Vec<ScenarioResult> {
    use System::*;
    let load = |id| load_of(id, settings).describe();
    let all = vec![Switchboard, Crossbar, Relay];
    let routers = vec![Switchboard, Crossbar];
    let ours = vec![Switchboard];
    [
        ('a', format!("latency: {}", load('a')), all.clone()),
        ('b', format!("throughput: {}", load('b')), all.clone()),
        (
            'c',
            format!("shared registration, roundrobin: {}", load('c')),
            all.clone(),
        ),
        ('d', format!("MessagePack: {}", load('d')), all.clone()),
        ('e', format!("64 KiB payloads: {}", load('e')), all),
        (
            'f',
            format!(
                "prefix match among {} exact registrations: {}",
                crate::report::thousands(settings.registrations as u64),
                load('f')
            ),
            routers.clone(),
        ),
        (
            'g',
            format!(
                "{} idle sessions: router memory per session",
                crate::report::thousands(settings.idle_sessions as u64)
            ),
            routers,
        ),
        (
            'h',
            format!(
                "3-node cluster, caller and callee on different nodes vs one node: {}",
                load('h')
            ),
            ours.clone(),
        ),
        (
            'i',
            format!(
                "REGISTER commit latency, 3-node cluster, {} sequential per node",
                settings.register_samples
            ),
            ours.clone(),
        ),
        (
            'j',
            format!(
                "REGISTER throughput through a follower, 3-node cluster: {} pipelined \
                 from one session, then one each from {} sessions",
                crate::report::thousands(PIPELINED_REGISTERS as u64),
                CONCURRENT_REGISTER_SESSIONS
            ),
            ours.clone(),
        ),
        (
            'k',
            format!(
                "two realms on one node, each loaded like (b), against one realm: {}",
                load('k')
            ),
            ours,
        ),
    ]
    .into_iter()
    .map(|(id, title, applies_to)| ScenarioResult {
        id,
        title,
        applies_to,
        outcomes: Default::default(),
    })
    .collect()
}

/// Prints one line as a run finishes, so a long suite shows progress.
fn progress(system: System, what: &str, outcome: &anyhow::Result<Vec<Figure>>) {
    let summary = match outcome {
        Ok(figures) => figures
            .iter()
            .filter(|f| !f.key.ends_with("p90_us") && !f.key.ends_with("max_us"))
            .map(|f| format!("{} {}", f.label, f.shown()))
            .collect::<Vec<_>>()
            .join(", "),
        Err(e) => format!("FAILED: {e:#}"),
    };
    println!("  {:<12} {what:<6} {summary}", system.name());
}

/// The suite in progress.
pub struct Suite {
    settings: Settings,
    programs: Programs,
    results: Results,
    crossbar_starts: usize,
}

impl Suite {
    /// A suite that has measured nothing yet.
    pub fn new(settings: Settings, programs: Programs) -> Self {
        let results = Results {
            scenarios: scenario_list(&settings),
            sweep: Vec::new(),
        };
        Self {
            settings,
            programs,
            results,
            crossbar_starts: 0,
        }
    }

    /// Runs everything and returns the figures. A failure is recorded against
    /// its scenario and system; the rest goes on.
    ///
    /// The three systems run side by side (an idle router costs nothing) and each
    /// load runs on them back to back, so a change in the machine's background
    /// load touches all three alike and the ratios stay fair.
    pub async fn run(mut self) -> Results {
        let mut systems = Vec::new();
        for system in System::ALL {
            if system == System::Crossbar && self.programs.crossbar.is_none() {
                println!("crossbar: not installed, skipped");
                continue;
            }
            match self.start(system).await {
                Ok(router) => systems.push((system, router)),
                Err(e) => {
                    let why = format!("{e:#}");
                    for id in ['a', 'b', 'c', 'd', 'e', 'f'] {
                        self.record(id, system, Err(anyhow::anyhow!("{why}")));
                    }
                }
            }
        }
        for id in LOAD_SCENARIOS {
            for (system, router) in &systems {
                let load = load_of(id, &self.settings);
                let outcome = load::run(
                    &load,
                    &Self::target(*system, &router.url),
                    Some(router.pid()),
                )
                .await
                .map(|report| load_figures("", &report));
                self.record(id, *system, outcome);
            }
        }
        for in_flight in SWEEP_IN_FLIGHT {
            for (system, router) in &systems {
                self.sweep_point(*system, router, in_flight).await;
            }
        }
        for (system, router) in &systems {
            if *system != System::Relay {
                let outcome = self.prefix_match(router).await;
                self.record('f', *system, outcome);
            }
        }
        // Fresh routers for (g), and nothing else running for the cluster.
        drop(systems);
        for system in [System::Switchboard, System::Crossbar] {
            if system == System::Switchboard || self.programs.crossbar.is_some() {
                let outcome = self.idle_sessions(system).await;
                self.record('g', system, outcome);
            }
        }
        let outcome = self.two_realms().await;
        self.record('k', System::Switchboard, outcome);
        self.cluster().await;
        self.results
    }

    /// (k): (b)'s load on one realm of a router, then on each of two realms
    /// at once. Each realm has its own thread, so the two together should
    /// approach twice one, as far as the machine's cores allow.
    async fn two_realms(&self) -> anyhow::Result<Vec<Figure>> {
        let router =
            start_switchboard_with_two_realms(&self.programs.switchboard, &self.settings.work_dir)?;
        let load = load_of('k', &self.settings);
        let one = load::run(
            &load,
            &Target::wamp_in(&router.url, REALM),
            Some(router.pid()),
        )
        .await?;
        let targets = [REALM, SECOND_REALM].map(|realm| Target::wamp_in(&router.url, realm));
        let (first, second) = tokio::join!(
            load::run(&load, &targets[0], Some(router.pid())),
            load::run(&load, &targets[1], None),
        );
        let (first, second) = (first?, second?);
        let both = first.calls_per_second() + second.calls_per_second();
        let mut figures = load_figures("one_realm", &one);
        figures.extend([
            Figure::new(
                "two_realms_calls_per_s",
                "two realms calls/s",
                both,
                Unit::PerSecond,
            ),
            Figure::new(
                "realm_1_calls_per_s",
                "realm 1 of two calls/s",
                first.calls_per_second(),
                Unit::PerSecond,
            ),
            Figure::new(
                "realm_2_calls_per_s",
                "realm 2 of two calls/s",
                second.calls_per_second(),
                Unit::PerSecond,
            ),
            // The generator drives both realms from one process: one share.
            Figure::new(
                "two_realms_generator_cpu_pct",
                "two realms load generator CPU",
                first.generator_cpu,
                Unit::Percent,
            ),
        ]);
        if let Some(router) = first.router_cpu {
            figures.push(Figure::new(
                "two_realms_router_cpu_pct",
                "two realms router CPU",
                router,
                Unit::Percent,
            ));
        }
        Ok(figures)
    }

    fn record(&mut self, id: char, system: System, outcome: anyhow::Result<Vec<Figure>>) {
        let applies = self
            .results
            .scenario(id)
            .map(|s| s.applies_to.contains(&system));
        if applies != Some(true) {
            return;
        }
        progress(system, &format!("({id})"), &outcome);
        self.results.record(id, system, outcome);
    }

    async fn start(&mut self, system: System) -> anyhow::Result<RouterProcess> {
        match system {
            System::Switchboard => start_switchboard(&self.programs.switchboard),
            System::Relay => start_relay(&self.programs.relay),
            System::Crossbar => {
                let crossbar = self.programs.crossbar.clone().unwrap_or_default();
                self.crossbar_starts += 1;
                let dir = self
                    .settings
                    .work_dir
                    .join(format!("crossbar-{}", self.crossbar_starts));
                start_crossbar(&crossbar, &dir).await
            }
        }
    }

    fn target(system: System, url: &str) -> Target {
        match system {
            System::Relay => Target::Relay {
                url: url.to_owned(),
            },
            _ => Target::wamp(url),
        }
    }

    /// One point of the sweep: (b)'s load with `in_flight` calls per caller.
    async fn sweep_point(&mut self, system: System, router: &RouterProcess, in_flight: usize) {
        let load = Load {
            in_flight,
            warmup: self.settings.sweep_warmup,
            duration: self.settings.sweep_duration,
            ..load_of('b', &self.settings)
        };
        let target = Self::target(system, &router.url);
        let what = format!("K={in_flight}");
        match load::run(&load, &target, Some(router.pid())).await {
            Ok(report) => {
                progress(system, &what, &Ok(load_figures("", &report)));
                self.results.sweep.push(SweepPoint {
                    system,
                    in_flight,
                    report,
                });
            }
            Err(e) => progress(system, &what, &Err(e)),
        }
    }

    /// (f): calls that only a prefix registration matches, with many exact
    /// registrations present (made pipelined from four sessions).
    async fn prefix_match(&self, router: &RouterProcess) -> anyhow::Result<Vec<Figure>> {
        let count = self.settings.registrations;
        let registry = register_many(&router.url, "com.bench.prefix.exact", count, 4).await?;
        let target = Target::Wamp {
            realm: REALM.into(),
            caller_url: router.url.clone(),
            callee_url: router.url.clone(),
            procedure: Procedure {
                register: "com.bench.prefix".into(),
                match_policy: Some("prefix".into()),
                call: "com.bench.prefix.target".into(),
                shared: false,
            },
        };
        let report = load::run(&load_of('f', &self.settings), &target, Some(router.pid())).await?;
        let mut figures = load_figures("", &report);
        figures.push(Figure::new(
            "registrations_per_s",
            "REGISTERs/s while filling",
            count as f64 / registry.took.as_secs_f64(),
            Unit::PerSecond,
        ));
        drop(registry);
        Ok(figures)
    }

    /// (g): a fresh router's resident memory before and after opening many idle
    /// sessions (JSON, 64 handshakes at a time), per session.
    async fn idle_sessions(&mut self, system: System) -> anyhow::Result<Vec<Figure>> {
        let router = self.start(system).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = resident_bytes(router.pid());
        let started = Instant::now();
        let sessions: Vec<_> = stream::iter(0..self.settings.idle_sessions)
            .map(|_| Client::connect(&router.url, REALM, Codec::Json))
            .buffer_unordered(64)
            .collect()
            .await;
        let took = started.elapsed();
        let opened = sessions.iter().filter(|s| s.is_ok()).count();
        let first_error = sessions
            .iter()
            .find_map(|s| s.as_ref().err().map(|e| e.to_string()));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = resident_bytes(router.pid());
        drop(sessions);
        let figures = vec![
            Figure::new(
                "sessions_opened",
                "sessions opened",
                opened as f64,
                Unit::Count,
            ),
            Figure::new(
                "sessions_failed",
                "sessions failed",
                (self.settings.idle_sessions - opened) as f64,
                Unit::Count,
            ),
            Figure::new(
                "sessions_per_s",
                "sessions opened/s",
                opened as f64 / took.as_secs_f64(),
                Unit::PerSecond,
            ),
            Figure::new(
                "rss_before",
                "router RSS before",
                before as f64,
                Unit::Bytes,
            ),
            Figure::new("rss_after", "router RSS after", after as f64, Unit::Bytes),
            Figure::new(
                "bytes_per_session",
                "memory per session",
                (after as f64 - before as f64) / opened.max(1) as f64,
                Unit::Bytes,
            ),
        ];
        if let Some(error) = first_error {
            println!("  {} (g): first session error: {error}", system.name());
        }
        Ok(figures)
    }

    /// (h) and (i) on one three-node cluster.
    async fn cluster(&mut self) {
        let dir = self.settings.work_dir.join("cluster");
        let _ = std::fs::remove_dir_all(&dir);
        let nodes = match start_cluster(&self.programs.switchboard, &dir) {
            Ok(nodes) => nodes,
            Err(e) => {
                let why = format!("{e:#}");
                self.record('h', System::Switchboard, Err(anyhow::anyhow!("{why}")));
                self.record('i', System::Switchboard, Err(anyhow::anyhow!("{why}")));
                self.record('j', System::Switchboard, Err(anyhow::anyhow!("{why}")));
                return;
            }
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let outcome = self.forwarding(&nodes).await;
        self.record('h', System::Switchboard, outcome);
        let outcome = self.register_commit(&nodes).await;
        self.record('i', System::Switchboard, outcome);
        let outcome = self.register_throughput(&nodes).await;
        self.record('j', System::Switchboard, outcome);
        drop(nodes);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// (h): the same pair of sessions with the callee on node 1, and the caller
    /// first on node 1 too, then on node 2 (every call crosses a peer link twice).
    ///
    /// The two run in alternating rounds whose latencies are pooled, so a
    /// noisy spell of the machine (2 shared cores run three nodes and the load
    /// generator) weighs on both sides alike instead of on whichever ran then.
    async fn forwarding(&self, nodes: &[RouterProcess]) -> anyhow::Result<Vec<Figure>> {
        const ROUNDS: u32 = 3;
        let full = load_of('h', &self.settings);
        let load = Load {
            duration: full.duration / ROUNDS,
            ..full
        };
        let mut pooled: [Option<LoadReport>; 2] = [None, None];
        for _ in 0..ROUNDS {
            for (caller_node, pool) in pooled.iter_mut().enumerate() {
                let target = Target::Wamp {
                    realm: REALM.into(),
                    caller_url: nodes[caller_node].url.clone(),
                    callee_url: nodes[0].url.clone(),
                    procedure: Procedure::fresh_exact(),
                };
                let report = load::run(&load, &target, None).await?;
                match pool {
                    Some(pooled) => pooled.absorb(report),
                    None => *pool = Some(report),
                }
            }
        }
        let mut figures = Vec::new();
        for (name, report) in ["local", "forwarded"].into_iter().zip(pooled) {
            if let Some(report) = report {
                figures.extend(load_figures(name, &report));
            }
        }
        Ok(figures)
    }

    /// (i): sequential REGISTERs from a session on each node, until REGISTERED
    /// (when the Raft entry has committed).
    async fn register_commit(&self, nodes: &[RouterProcess]) -> anyhow::Result<Vec<Figure>> {
        let mut figures = Vec::new();
        let mut worst_p99 = Duration::ZERO;
        for (i, node) in nodes.iter().enumerate() {
            let role = if is_leader(&node.url) {
                "leader"
            } else {
                "follower"
            };
            let prefix = format!("com.bench.commit.node{i}.proc");
            let mut samples =
                register_latencies(&node.url, &prefix, self.settings.register_samples).await?;
            let (p50, p99, max) = summary(&mut samples);
            worst_p99 = worst_p99.max(p99);
            let us = |d: Duration| d.as_secs_f64() * 1e6;
            let node_label = format!("node {} ({role})", i + 1);
            figures.push(Figure::new(
                &format!("node{}_p50_us", i + 1),
                &format!("{node_label} p50"),
                us(p50),
                Unit::Micros,
            ));
            figures.push(Figure::new(
                &format!("node{}_p99_us", i + 1),
                &format!("{node_label} p99"),
                us(p99),
                Unit::Micros,
            ));
            figures.push(Figure::new(
                &format!("node{}_max_us", i + 1),
                &format!("{node_label} max"),
                us(max),
                Unit::Micros,
            ));
        }
        figures.push(Figure::new(
            "worst_p99_us",
            "worst node p99",
            worst_p99.as_secs_f64() * 1e6,
            Unit::Micros,
        ));
        Ok(figures)
    }

    /// (j): REGISTERs through a follower, as a service with many procedures
    /// (pipelined from one session) or a fleet restarting together (one from each
    /// of many sessions) makes them.
    async fn register_throughput(&self, nodes: &[RouterProcess]) -> anyhow::Result<Vec<Figure>> {
        let follower = nodes
            .iter()
            .find(|node| !is_leader(&node.url))
            .context("no follower in the cluster")?;
        let pipelined = register_rate(
            &follower.url,
            "com.bench.rate.pipelined.proc",
            PIPELINED_REGISTERS,
            1,
        )
        .await?;
        let concurrent = register_rate(
            &follower.url,
            "com.bench.rate.concurrent.proc",
            CONCURRENT_REGISTER_SESSIONS,
            CONCURRENT_REGISTER_SESSIONS,
        )
        .await?;
        Ok(vec![
            Figure::new(
                "pipelined_per_s",
                "one session, pipelined",
                pipelined,
                Unit::PerSecond,
            ),
            Figure::new(
                "concurrent_per_s",
                "one from each session",
                concurrent,
                Unit::PerSecond,
            ),
        ])
    }
}

/// REGISTERs one session pipelines in (j).
const PIPELINED_REGISTERS: usize = 2_000;

/// Sessions that each send one REGISTER at once in (j).
const CONCURRENT_REGISTER_SESSIONS: usize = 200;

/// Whether `path` is an executable file.
pub fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

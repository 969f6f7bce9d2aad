//! The load generator: C caller sessions each keeping K calls in flight against
//! N echoing callees, for a fixed window after a warm-up, timing every call.
//!
//! It speaks plain WAMP through `switchboard-client`, so it can drive any router,
//! or the relay's trivial framing (see [`crate::relay`]) so that the relay gets
//! exactly the same load. Calls are closed-loop: each of the C x K lanes sends its
//! next call when the previous one returns, so latency includes the queueing the
//! router causes at that concurrency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use hdrhistogram::Histogram;
use switchboard_client::{Arguments, Client, Codec, Dict, Payload, Value};
use tokio::time::Instant;

use crate::echo_callee::EchoCallee;
use crate::procfs::{CpuShare, Scope};
use crate::relay::{RelayCallee, RelayCaller};
use crate::report::LoadReport;

/// The realm every benchmark joins.
pub const REALM: &str = "com.example.realm";

/// How long lanes may still run past the window before they count as stalled.
const GRACE: Duration = Duration::from_secs(10);

/// The shape of the load.
#[derive(Debug, Clone)]
pub struct Load {
    /// Caller sessions.
    pub callers: usize,
    /// Calls each caller keeps in flight.
    pub in_flight: usize,
    /// Callee sessions; more than one share the registration (roundrobin).
    pub callees: usize,
    /// Bytes of payload per call (one string argument, echoed back).
    pub payload_bytes: usize,
    /// The WAMP serializer (for the relay: JSON means text frames).
    pub codec: Codec,
    /// Calls before the measured window, to warm caches and connections up.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
}

impl Load {
    /// A description such as `4 callers x 16 in flight, 1 callee, 32 B json`.
    pub fn describe(&self) -> String {
        format!(
            "{} caller{} x {} in flight, {} callee{}, {} B {}",
            self.callers,
            plural(self.callers),
            self.in_flight,
            self.callees,
            plural(self.callees),
            self.payload_bytes,
            self.codec.name()
        )
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// What the callees register and what the callers call.
#[derive(Debug, Clone)]
pub struct Procedure {
    /// The URI (or pattern) the callees register.
    pub register: String,
    /// REGISTER.Options.match (`None`: exact).
    pub match_policy: Option<String>,
    /// The URI the callers call.
    pub call: String,
    /// REGISTER.Options.invoke even with one callee (several always share roundrobin).
    pub shared: bool,
}

impl Procedure {
    /// An exact registration under a URI no earlier run used: a cluster removes a
    /// finished run's registration asynchronously, and a router may be slow to.
    pub fn fresh_exact() -> Self {
        static RUN: AtomicU64 = AtomicU64::new(0);
        let uri = format!("com.bench.echo.run{}", RUN.fetch_add(1, Ordering::Relaxed));
        Self {
            register: uri.clone(),
            match_policy: None,
            call: uri,
            shared: false,
        }
    }
}

/// Where the load goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// A WAMP router (callees and callers may use different nodes of a cluster).
    Wamp {
        /// The callers' router URL.
        caller_url: String,
        /// The callees' router URL.
        callee_url: String,
        /// What is registered and called.
        procedure: Procedure,
        /// The realm every session joins.
        realm: String,
    },
    /// The raw relay.
    Relay {
        /// Its URL.
        url: String,
    },
}

impl Target {
    /// Callers and callees on one WAMP router, on a fresh exact procedure.
    pub fn wamp(url: &str) -> Self {
        Self::wamp_in(url, REALM)
    }

    /// The same in another realm of the router.
    pub fn wamp_in(url: &str, realm: &str) -> Self {
        Target::Wamp {
            caller_url: url.to_owned(),
            callee_url: url.to_owned(),
            procedure: Procedure::fresh_exact(),
            realm: realm.to_owned(),
        }
    }
}

/// One caller session, and what it sends on each call.
enum Caller {
    Wamp {
        client: Client,
        procedure: String,
        arguments: Arguments,
    },
    Relay {
        caller: RelayCaller,
        payload: String,
    },
}

impl Caller {
    async fn call(&self) -> anyhow::Result<()> {
        match self {
            Caller::Wamp {
                client,
                procedure,
                arguments,
            } => {
                client.call(procedure, arguments.clone()).await?;
            }
            Caller::Relay { caller, payload } => caller.call(payload).await?,
        }
        Ok(())
    }

    /// One call whose echo is checked (WAMP only), before any timing.
    async fn probe(&self) -> anyhow::Result<()> {
        let Caller::Wamp {
            client,
            procedure,
            arguments,
        } = self
        else {
            return self.call().await;
        };
        let echo = client.call(procedure, arguments.clone()).await?;
        if echo.args_values()? != arguments.args_values()? {
            bail!("the callee's echo differs from the call's arguments");
        }
        Ok(())
    }
}

/// A session kept open for the length of a run.
enum Callee {
    Wamp(#[allow(dead_code)] Client),
    Echo(#[allow(dead_code)] EchoCallee),
    Relay(#[allow(dead_code)] RelayCallee),
}

/// `["xxx…"]` in `codec`'s bytes: encoded once, so the generator's cost per call
/// does not grow with the payload.
fn encoded_payload(codec: Codec, bytes: usize) -> anyhow::Result<Arguments> {
    let args = Value::List(vec![Value::String("x".repeat(bytes))]);
    Ok(Arguments {
        args: Some(Payload::Encoded {
            codec,
            bytes: Bytes::from(codec.encode_value(&args)?),
        }),
        kwargs: None,
    })
}

async fn connect(load: &Load, target: &Target) -> anyhow::Result<(Vec<Callee>, Vec<Caller>)> {
    let mut callees = Vec::new();
    let mut callers = Vec::new();
    match target {
        Target::Wamp {
            caller_url,
            callee_url,
            procedure,
            realm,
        } => {
            let mut options = Dict::new();
            if let Some(policy) = &procedure.match_policy {
                options.insert("match".into(), Value::from(policy.as_str()));
            }
            if procedure.shared || load.callees > 1 {
                options.insert("invoke".into(), Value::from("roundrobin"));
            }
            for _ in 0..load.callees {
                // Over RawSocket the client's callee; over WebSocket the lean
                // one, which costs the generator what the relay's callee does.
                if callee_url.starts_with("rs://") {
                    let client = Client::connect(callee_url, realm, load.codec).await?;
                    client
                        .register(&procedure.register, options.clone(), |invocation| async {
                            Ok(invocation.arguments)
                        })
                        .await
                        .with_context(|| format!("cannot register {}", procedure.register))?;
                    callees.push(Callee::Wamp(client));
                } else {
                    let callee = EchoCallee::connect(
                        callee_url,
                        realm,
                        load.codec,
                        &procedure.register,
                        options.clone(),
                    );
                    callees.push(Callee::Echo(callee.await?));
                }
            }
            let arguments = encoded_payload(load.codec, load.payload_bytes)?;
            for _ in 0..load.callers {
                callers.push(Caller::Wamp {
                    client: Client::connect(caller_url, realm, load.codec).await?,
                    procedure: procedure.call.clone(),
                    arguments: arguments.clone(),
                });
            }
        }
        Target::Relay { url } => {
            for _ in 0..load.callees {
                callees.push(Callee::Relay(RelayCallee::connect(url).await?));
            }
            for _ in 0..load.callers {
                callers.push(Caller::Relay {
                    caller: RelayCaller::connect(url, load.codec.is_text()).await?,
                    payload: "x".repeat(load.payload_bytes),
                });
            }
        }
    }
    Ok((callees, callers))
}

/// Checks one call's echo before any timing, retrying for a while: in a cluster
/// a registration reaches the other nodes a moment after REGISTERED.
async fn probe(caller: &Caller) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match caller.probe().await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e.context("the first call failed")),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// What one lane saw in the window.
struct Tally {
    latencies: Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
}

fn new_histogram() -> Histogram<u64> {
    // Nanoseconds, up to a minute, three significant digits.
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// Calls back to back until the window ends; a call counts if it returns inside
/// the window. Stops at the first error (a run with errors is not a measurement).
async fn lane(caller: Arc<Caller>, window_start: Instant, window_end: Instant) -> Tally {
    let mut tally = Tally {
        latencies: new_histogram(),
        errors: 0,
        first_error: None,
    };
    loop {
        let sent = Instant::now();
        let outcome = caller.call().await;
        let returned = Instant::now();
        if let Err(error) = outcome {
            tally.errors += 1;
            tally.first_error = Some(format!("{error:#}"));
            return tally;
        }
        if returned >= window_end {
            return tally;
        }
        if returned >= window_start {
            let nanos = (returned - sent).as_nanos().max(1) as u64;
            tally.latencies.saturating_record(nanos);
        }
    }
}

/// Applies `load` to `target` and measures it; `router` is the router's process
/// id, whose CPU share (with its children's) is reported beside ours.
pub async fn run(load: &Load, target: &Target, router: Option<u32>) -> anyhow::Result<LoadReport> {
    if load.callers == 0 || load.in_flight == 0 || load.callees == 0 {
        bail!("callers, in-flight calls and callees must each be at least 1");
    }
    let (callees, callers) = connect(load, target).await?;
    for caller in &callers {
        probe(caller).await?;
    }

    let window_start = Instant::now() + load.warmup;
    let window_end = window_start + load.duration;
    let lanes: Vec<_> = callers
        .into_iter()
        .map(Arc::new)
        .flat_map(|caller| {
            (0..load.in_flight)
                .map(move |_| tokio::spawn(lane(caller.clone(), window_start, window_end)))
        })
        .collect();

    tokio::time::sleep_until(window_start).await;
    let generator_cpu = CpuShare::start(Scope::Process(std::process::id()));
    let router_cpu = router.map(|pid| CpuShare::start(Scope::Tree(pid)));
    tokio::time::sleep_until(window_end).await;
    let generator_cpu = generator_cpu.percent();
    let router_cpu = router_cpu.map(|share| share.percent());

    let mut latencies = new_histogram();
    let mut errors = 0;
    let mut first_error = None;
    for lane in lanes {
        let abort = lane.abort_handle();
        match tokio::time::timeout_at(window_end + GRACE, lane).await {
            Ok(Ok(tally)) => {
                latencies.add(&tally.latencies).expect("same bounds");
                errors += tally.errors;
                first_error = first_error.or(tally.first_error);
            }
            Ok(Err(panic)) => bail!("a lane panicked: {panic}"),
            Err(_) => {
                abort.abort();
                errors += 1;
                first_error = first_error.or(Some("a call got no answer".into()));
            }
        }
    }
    drop(callees);
    Ok(LoadReport {
        description: load.describe(),
        window: load.duration,
        latencies,
        errors,
        first_error,
        generator_cpu,
        router_cpu,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_short_run_against_the_relay_times_every_call() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        tokio::spawn(crate::relay::serve(listener));
        let load = Load {
            callers: 2,
            in_flight: 3,
            callees: 2,
            payload_bytes: 100,
            codec: Codec::Msgpack,
            warmup: Duration::from_millis(50),
            duration: Duration::from_millis(200),
        };
        let report = run(&load, &Target::Relay { url }, None).await.unwrap();
        assert_eq!(report.errors, 0, "{:?}", report.first_error);
        assert!(report.calls() > 10, "{} calls", report.calls());
        assert!(report.latency(0.5) <= report.max_latency());
        assert!(report.generator_cpu > 0.0);
        assert_eq!(
            load.describe(),
            "2 callers x 3 in flight, 2 callees, 100 B msgpack"
        );
    }

    /// Against a router in-process: the lean callee registers, echoes every
    /// invocation (the probe compares the echo with the call's arguments)
    /// and shares the registration when there are two.
    #[actix_web::test]
    async fn a_short_run_against_a_router_is_echoed_by_the_lean_callees() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let config = switchboard_server::ServerConfig::default();
        let server = switchboard_server::start(config, listener).await.unwrap();
        let url = format!("ws://{}/ws", server.local_addr());
        let handle = server.handle();
        actix_web::rt::spawn(server.run());
        for (codec, callees) in [(Codec::Json, 1), (Codec::Msgpack, 2), (Codec::Cbor, 1)] {
            let load = Load {
                callers: 2,
                in_flight: 3,
                callees,
                payload_bytes: 100,
                codec,
                warmup: Duration::from_millis(50),
                duration: Duration::from_millis(200),
            };
            let report = run(&load, &Target::wamp(&url), None).await.unwrap();
            assert_eq!(report.errors, 0, "{:?}", report.first_error);
            assert!(report.calls() > 10, "{} calls", report.calls());
        }
        handle.shutdown(Duration::from_millis(500)).await;
    }

    #[test]
    fn payloads_are_encoded_once_in_the_session_codec() {
        for codec in [Codec::Json, Codec::Msgpack] {
            let arguments = encoded_payload(codec, 5).unwrap();
            assert!(
                matches!(arguments.args, Some(Payload::Encoded { codec: c, .. }) if c == codec)
            );
            assert_eq!(
                arguments.args_values().unwrap(),
                vec![Value::String("xxxxx".into())]
            );
        }
    }
}

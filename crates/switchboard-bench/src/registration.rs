//! Registrations as a workload: many at once (to fill a router's registry before
//! measuring calls against it), or one at a time (to time each REGISTER).

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt, TryStreamExt};
use switchboard_client::{Arguments, Client, Codec, Dict};

use crate::load::REALM;

/// REGISTERs each session keeps in flight while filling a registry.
const PIPELINE: usize = 256;

/// Sessions holding many registrations, which last as long as this does.
pub struct Registry {
    #[allow(dead_code)]
    sessions: Vec<Client>,
    /// How long registering them all took.
    pub took: Duration,
}

/// Registers `count` exact procedures `{prefix}{i}` on the router at `url`, from
/// `sessions` sessions with [`PIPELINE`] REGISTERs in flight on each.
pub async fn register_many(
    url: &str,
    prefix: &str,
    count: usize,
    sessions: usize,
) -> anyhow::Result<Registry> {
    let mut clients = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        clients.push(Client::connect(url, REALM, Codec::Msgpack).await?);
    }
    let started = Instant::now();
    let work = clients.iter().enumerate().map(|(s, client)| {
        stream::iter((s..count).step_by(sessions))
            .map(move |i| async move {
                client
                    .register(&format!("{prefix}{i}"), Dict::new(), |_| async {
                        Ok(Arguments::none())
                    })
                    .await
            })
            .buffer_unordered(PIPELINE)
            .try_collect::<Vec<_>>()
    });
    futures_util::future::try_join_all(work).await?;
    Ok(Registry {
        sessions: clients,
        took: started.elapsed(),
    })
}

/// The time from REGISTER to REGISTERED for `count` registrations made one
/// after another on the router at `url` (under `prefix`, which must be unused).
pub async fn register_latencies(
    url: &str,
    prefix: &str,
    count: usize,
) -> anyhow::Result<Vec<Duration>> {
    let client = Client::connect(url, REALM, Codec::Msgpack).await?;
    let mut samples = Vec::with_capacity(count);
    for i in 0..count {
        let uri = format!("{prefix}{i}");
        let started = Instant::now();
        client
            .register(&uri, Dict::new(), |_| async { Ok(Arguments::none()) })
            .await?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}

/// REGISTERs per second (until every REGISTERED) for `count` exact procedures
/// `{prefix}{i}` from `sessions` sessions that are connected before the clock
/// starts: with one session, [`PIPELINE`] are in flight at a time; with as many
/// sessions as procedures, each sends one.
pub async fn register_rate(
    url: &str,
    prefix: &str,
    count: usize,
    sessions: usize,
) -> anyhow::Result<f64> {
    let registry = register_many(url, prefix, count, sessions).await?;
    Ok(count as f64 / registry.took.as_secs_f64())
}

/// Median, 99th percentile and maximum of `samples`.
pub fn summary(samples: &mut [Duration]) -> (Duration, Duration, Duration) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99), samples[samples.len() - 1])
}

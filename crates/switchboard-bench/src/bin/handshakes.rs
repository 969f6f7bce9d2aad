//! What opening a session costs, per authentication method: sessions per
//! second through one router, each a new WebSocket with the whole handshake
//! (HELLO, CHALLENGE, AUTHENTICATE, WELCOME) and a GOODBYE.
//!
//! Usage: `handshakes <switchboard binary> [seconds per method] [connections]`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ed25519_dalek::{Signer, SigningKey};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use switchboard_bench::procfs::{cpu_time, Scope};
use switchboard_bench::systems::{ready, spawn};
use switchboard_core::auth::{derive_key, hash_ticket, CraKey};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const REALM: &str = "bench.secure";
const SEED: [u8; 32] = [42; 32];
const TICKET: &str = "bench-ticket-secret";
const PASSWORD: &str = "bench-password";
const ITERATIONS: u32 = 1000;

/// One way to open a session.
#[derive(Clone, Copy)]
enum Method {
    Anonymous,
    Ticket,
    HashedTicket,
    WampCra,
    Cryptosign,
}

impl Method {
    fn label(self) -> &'static str {
        match self {
            Method::Anonymous => "anonymous",
            Method::Ticket => "ticket (clear)",
            Method::HashedTicket => "ticket (argon2id hash)",
            Method::WampCra => "wampcra (salted, 1000 iterations)",
            Method::Cryptosign => "cryptosign (Ed25519)",
        }
    }

    fn hello(self) -> Value {
        let roles = json!({"caller": {}});
        let (methods, authid, extra) = match self {
            Method::Anonymous => return json!([1, REALM, {"roles": roles}]),
            Method::Ticket => ("ticket", "clear", json!({})),
            Method::HashedTicket => ("ticket", "hashed", json!({})),
            Method::WampCra => ("wampcra", "cra", json!({})),
            Method::Cryptosign => {
                let key = SigningKey::from_bytes(&SEED);
                let pubkey = hex::encode(key.verifying_key().as_bytes());
                ("cryptosign", "signer", json!({"pubkey": pubkey}))
            }
        };
        json!([1, REALM, {"roles": roles, "authmethods": [methods], "authid": authid, "authextra": extra}])
    }

    /// The AUTHENTICATE signature for a CHALLENGE's extra.
    fn sign(self, extra: &Value) -> anyhow::Result<String> {
        Ok(match self {
            Method::Anonymous => bail!("anonymous got a CHALLENGE"),
            Method::Ticket | Method::HashedTicket => TICKET.to_owned(),
            Method::WampCra => {
                let salt = extra["salt"].as_str().context("no salt")?;
                let challenge = extra["challenge"].as_str().context("no challenge")?;
                let key = derive_key(PASSWORD, salt, ITERATIONS, 32);
                CraKey::unsalted(&key).sign(challenge)
            }
            Method::Cryptosign => {
                let challenge = hex::decode(extra["challenge"].as_str().context("no challenge")?)?;
                let signature = SigningKey::from_bytes(&SEED).sign(&challenge);
                format!(
                    "{}{}",
                    hex::encode(signature.to_bytes()),
                    hex::encode(&challenge)
                )
            }
        })
    }
}

fn config(dir: &std::path::Path) -> anyhow::Result<PathBuf> {
    let hashed = hash_ticket(TICKET, &mut rand_core());
    let pubkey = hex::encode(SigningKey::from_bytes(&SEED).verifying_key().as_bytes());
    let text = format!(
        r#"[[realm]]
name = "{REALM}"
authmethods = ["anonymous", "ticket", "wampcra", "cryptosign"]
anonymous_role = "bench"

[[realm.principal]]
authid = "clear"
role = "bench"
ticket = "{TICKET}"

[[realm.principal]]
authid = "hashed"
role = "bench"
ticket = "{hashed}"

[[realm.principal]]
authid = "cra"
role = "bench"
secret = "{PASSWORD}"
salt = "bench-salt"
iterations = {ITERATIONS}
keylen = 32

[[realm.principal]]
authid = "signer"
role = "bench"
authorized_keys = ["{pubkey}"]

[[realm.role]]
name = "bench"
permissions = [{{ uri = "", match = "prefix", allow = ["call"] }}]
"#
    );
    let path = dir.join("handshakes.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

fn rand_core() -> rand::rngs::OsRng {
    rand::rngs::OsRng
}

/// Opens one session with `method` and closes it; the time to WELCOME.
async fn one_session(url: &str, method: Method) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "wamp.2.json".parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
    ws.send(Message::text(method.hello().to_string())).await?;
    let welcomed = loop {
        let Some(frame) = ws.next().await else {
            bail!("closed during the handshake");
        };
        let Message::Text(text) = frame? else {
            continue;
        };
        let message: Value = serde_json::from_str(&text)?;
        match message[0].as_u64() {
            Some(4) => {
                let signature = method.sign(&message[2])?;
                ws.send(Message::text(json!([5, signature, {}]).to_string()))
                    .await?;
            }
            Some(2) => break started.elapsed(),
            _ => bail!("refused: {text}"),
        }
    };
    ws.send(Message::text(
        json!([6, {}, "wamp.close.goodbye_and_out"]).to_string(),
    ))
    .await?;
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.next()).await;
    let _ = ws.close(None).await;
    Ok(welcomed)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let bin = PathBuf::from(
        args.next()
            .context("usage: handshakes <switchboard binary> [seconds per method] [connections]")?,
    );
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let connections: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(8);
    let dir = std::env::temp_dir().join(format!("switchboard-handshakes-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = config(&dir)?;
    let router = ready(spawn(
        &bin,
        &["--config".into(), config.display().to_string()],
    )?)?;
    println!(
        "sessions opened and closed, {connections} connections in parallel, {seconds} s per method"
    );
    println!(
        "{:<36} {:>11} {:>10} {:>10} {:>16}",
        "method", "sessions/s", "p50", "p99", "router CPU/sess"
    );
    for method in [
        Method::Anonymous,
        Method::Ticket,
        Method::HashedTicket,
        Method::WampCra,
        Method::Cryptosign,
    ] {
        // Warm up (and check the method works at all).
        one_session(&router.url, method)
            .await
            .with_context(|| format!("{} does not work", method.label()))?;
        let cpu_before = cpu_time(Scope::Tree(router.pid()));
        let started = Instant::now();
        let deadline = started + Duration::from_secs(seconds);
        let tasks: Vec<_> = (0..connections)
            .map(|_| {
                let url = router.url.clone();
                tokio::spawn(async move {
                    let mut times = Vec::new();
                    while Instant::now() < deadline {
                        times.push(one_session(&url, method).await?);
                    }
                    anyhow::Ok(times)
                })
            })
            .collect();
        let mut times = Vec::new();
        for task in tasks {
            times.extend(task.await??);
        }
        let elapsed = started.elapsed();
        let cpu = cpu_time(Scope::Tree(router.pid())).saturating_sub(cpu_before);
        times.sort_unstable();
        let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        println!(
            "{:<36} {:>11.0} {:>10.2?} {:>10.2?} {:>16.1?}",
            method.label(),
            times.len() as f64 / elapsed.as_secs_f64(),
            at(0.5),
            at(0.99),
            cpu / times.len() as u32,
        );
    }
    drop(router);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

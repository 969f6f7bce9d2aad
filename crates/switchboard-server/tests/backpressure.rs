//! Sessions that stop reading their socket, in-process: what waits for them is
//! bounded, EVENTs to them are dropped, INVOCATIONs to them fail at once, and
//! they are closed when they stall; connections that never say HELLO, or come
//! beyond the connection limit, are turned away. Healthy sessions see none of it.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use switchboard_client::{Arguments, Client, Codec, Dict, Value};
use switchboard_core::outbound::OutboundLimits;
use switchboard_core::RealmConfig;
use switchboard_server::{start, ServerConfig, ShutdownHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

const REALM: &str = "com.example.realm";

fn limits() -> OutboundLimits {
    OutboundLimits {
        soft: 64 * 1024,
        hard: 1024 * 1024,
        stall: Duration::from_millis(1500),
    }
}

async fn serve(config: ServerConfig) -> (String, SocketAddr, ShutdownHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = start(config, listener).await.unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    actix_web::rt::spawn(server.run());
    (format!("ws://{addr}/ws"), addr, handle)
}

fn with_limits() -> ServerConfig {
    ServerConfig {
        realms: vec![RealmConfig {
            outbound: limits(),
            ..RealmConfig::anonymous(REALM)
        }],
        ..ServerConfig::default()
    }
}

/// A raw JSON session on a socket with a tiny receive buffer: it sends HELLO
/// and `requests` (reading one reply to each), then the test stops reading it.
async fn stalling_client(
    addr: SocketAddr,
    requests: &[&str],
) -> WebSocketStream<tokio::net::TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    socket.set_nonblocking(true).unwrap();
    let tcp = tokio::net::TcpStream::from_std(socket.into()).unwrap();
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "wamp.2.json".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(request, tcp).await.unwrap();
    let hello = format!(r#"[1, "{REALM}", {{"roles": {{"subscriber": {{}}, "callee": {{}}}}}}]"#);
    for text in std::iter::once(hello.as_str()).chain(requests.iter().copied()) {
        ws.send(WsMessage::Text(text.into())).await.unwrap();
        ws.next().await.unwrap().unwrap();
    }
    ws
}

/// The value of the first `/metrics` line that starts with `prefix`.
async fn metric(addr: SocketAddr, prefix: &str) -> f64 {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    tcp.read_to_string(&mut text).await.unwrap();
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn eventually(what: &str, within: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn payload(bytes: usize) -> Arguments {
    Arguments::list(vec![Value::from("x".repeat(bytes))])
}

#[actix_web::test]
async fn a_subscriber_that_stops_reading_loses_events_and_is_closed_while_others_get_every_one() {
    let (url, addr, handle) = serve(with_limits()).await;
    let stalled = stalling_client(addr, &[r#"[32, 1, {}, "com.example.flood"]"#]).await;
    let healthy = Client::connect(&url, REALM, Codec::Json).await.unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    // The healthy subscriber keeps up: at most 8 events (32 KiB, half its soft
    // limit) are ever on their way to it, however slowly a loaded machine
    // schedules its reader. The stalled one gets all of them and reads none.
    let window = Arc::new(tokio::sync::Semaphore::new(8));
    let opened = window.clone();
    healthy
        .subscribe("com.example.flood", Dict::new(), move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
            opened.add_permits(1);
        })
        .await
        .unwrap();
    let publisher = Client::connect(&url, REALM, Codec::Json).await.unwrap();
    // 16 MiB: more than the kernel's socket buffers can hide (a 4 MiB send
    // buffer at most here), so most of it has to wait in the router.
    const EVENTS: usize = 4000;
    let acknowledge = Dict::from([("acknowledge".to_owned(), Value::Bool(true))]);
    for _ in 0..EVENTS {
        tokio::time::timeout(Duration::from_secs(20), window.acquire())
            .await
            .expect("the healthy subscriber keeps receiving")
            .unwrap()
            .forget();
        publisher
            .publish("com.example.flood", acknowledge.clone(), payload(4096))
            .await
            .unwrap();
    }
    eventually(
        "the healthy subscriber's events",
        Duration::from_secs(20),
        async || received.load(Ordering::Relaxed) == EVENTS,
    )
    .await;
    assert!(metric(addr, "switchboard_events_dropped_total").await > 0.0);
    eventually(
        "the stalled subscriber's closing",
        Duration::from_secs(5),
        async || {
            metric(
                addr,
                "switchboard_slow_sessions_closed_total{reason=\"stalled\"}",
            )
            .await
                >= 1.0
        },
    )
    .await;
    let count = publisher
        .call("wamp.session.count", Arguments::none())
        .await
        .unwrap();
    assert_eq!(
        count.args_values().unwrap(),
        vec![Value::from(2u64)],
        "the stalled session is gone; the healthy two remain"
    );
    drop(stalled);
    handle.shutdown(Duration::from_millis(500)).await;
}

#[actix_web::test]
async fn calls_to_a_callee_that_stops_reading_fail_at_once_with_no_available_callee() {
    let (url, addr, handle) = serve(with_limits()).await;
    let stalled = stalling_client(addr, &[r#"[64, 1, {}, "com.example.stuck"]"#]).await;
    let caller = Arc::new(Client::connect(&url, REALM, Codec::Json).await.unwrap());
    let started = Instant::now();
    // 8 MiB of invocations: more than the kernel's socket buffers can hide.
    let calls: Vec<_> = (0..128)
        .map(|_| {
            let caller = caller.clone();
            tokio::spawn(async move { caller.call("com.example.stuck", payload(64 * 1024)).await })
        })
        .collect();
    let mut unavailable = 0;
    for call in calls {
        let outcome = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("every call is answered, none hangs")
            .unwrap();
        if let Err(error) = outcome {
            // The router declines for the stalled callee; with nobody else
            // registered, re-routing ends there.
            if error.wamp_uri() == Some("wamp.error.no_available_callee") {
                unavailable += 1;
            }
        }
    }
    assert!(
        unavailable > 0,
        "no call was refused for the stalled callee"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "calls waited {:?}",
        started.elapsed()
    );
    assert!(metric(addr, "switchboard_invocations_refused_total").await >= 1.0);
    drop(stalled);
    handle.shutdown(Duration::from_millis(500)).await;
}

#[actix_web::test]
async fn a_connection_that_never_says_hello_is_aborted_after_the_hello_timeout() {
    let config = ServerConfig {
        hello_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let (url, _, handle) = serve(config).await;
    let mut request = url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "wamp.2.json".parse().unwrap());
    let (mut silent, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(3), silent.next())
        .await
        .expect("the router acted within 3 s");
    let Some(Ok(WsMessage::Text(text))) = first else {
        panic!("expected ABORT, got {first:?}");
    };
    assert!(
        text.starts_with("[3,") && text.contains("wamp.error.timeout"),
        "{text}"
    );
    handle.shutdown(Duration::from_millis(500)).await;
}

#[actix_web::test]
async fn upgrades_beyond_max_connections_get_503() {
    let config = ServerConfig {
        max_connections: Some(2),
        ..ServerConfig::default()
    };
    let (url, _, handle) = serve(config).await;
    let _one = Client::connect(&url, REALM, Codec::Json).await.unwrap();
    let _two = Client::connect(&url, REALM, Codec::Json).await.unwrap();
    let mut request = url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "wamp.2.json".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503)
        }
        other => panic!("expected HTTP 503, got {:?}", other.map(|_| ())),
    }
    handle.shutdown(Duration::from_millis(500)).await;
}

#[actix_web::test]
async fn a_caller_that_stops_reading_its_results_is_closed_at_the_hard_limit() {
    let (url, addr, handle) = serve(with_limits()).await;
    let callee = Client::connect(&url, REALM, Codec::Json).await.unwrap();
    callee
        .register("com.example.big", Dict::new(), |_| async {
            Ok(payload(64 * 1024))
        })
        .await
        .unwrap();
    let mut caller = stalling_client(addr, &[]).await;
    // 128 calls whose 64 KiB results (8 MiB) the caller never reads.
    for request in 1..=128 {
        caller
            .send(WsMessage::Text(format!(
                r#"[48, {request}, {{}}, "com.example.big"]"#
            )))
            .await
            .unwrap();
    }
    eventually(
        "the stalled caller's closing",
        Duration::from_secs(10),
        async || {
            metric(
                addr,
                "switchboard_slow_sessions_closed_total{reason=\"overflow\"}",
            )
            .await
                >= 1.0
        },
    )
    .await;
    let count = callee
        .call("wamp.session.count", Arguments::none())
        .await
        .unwrap();
    assert_eq!(count.args_values().unwrap(), vec![Value::from(1u64)]);
    drop(caller);
    handle.shutdown(Duration::from_millis(500)).await;
}

//! The server in-process over RawSocket, spoken by hand: the handshake and its
//! refusals, HELLO/WELCOME over TCP and a Unix socket, PING/PONG both ways,
//! and the length limits in each direction.

use std::path::PathBuf;
use std::time::Duration;

use switchboard_server::{start, RawSocketConfig, ServerConfig, ShutdownHandle};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

const HELLO: &str =
    r#"[1, "com.example.realm", {"roles": {"caller": {}, "callee": {}, "subscriber": {}}}]"#;
const MESSAGE: u8 = 0;
const PING: u8 = 1;
const PONG: u8 = 2;

struct Router {
    tcp: std::net::SocketAddr,
    unix: PathBuf,
    handle: ShutdownHandle,
}

fn socket_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "switchboard-rawsocket-{}-{name}.sock",
        std::process::id()
    ))
}

async fn serve(name: &str, config: ServerConfig) -> Router {
    let unix = socket_path(name);
    let config = ServerConfig {
        rawsocket: RawSocketConfig {
            tcp: Some(("127.0.0.1".to_owned(), 0)),
            unix: Some(unix.clone()),
        },
        ..config
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = start(config, listener).await.unwrap();
    let tcp = server.rawsocket_addr().expect("RawSocket TCP is served");
    assert_eq!(server.rawsocket_path(), Some(unix.as_path()));
    let handle = server.handle();
    actix_web::rt::spawn(server.run());
    Router { tcp, unix, handle }
}

/// Sends the 4-octet request, returns the router's 4 octets.
async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, second: u8) -> [u8; 4] {
    stream.write_all(&[0x7f, second, 0, 0]).await.unwrap();
    let mut answer = [0; 4];
    stream.read_exact(&mut answer).await.unwrap();
    answer
}

async fn send<S: AsyncWrite + Unpin>(stream: &mut S, kind: u8, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    stream
        .write_all(&[kind, len[1], len[2], len[3]])
        .await
        .unwrap();
    stream.write_all(payload).await.unwrap();
}

/// The next frame, or `None` at the end of the stream.
async fn receive<S: AsyncRead + Unpin>(stream: &mut S) -> Option<(u8, Vec<u8>)> {
    let read = async {
        let mut prefix = [0; 4];
        stream.read_exact(&mut prefix).await.ok()?;
        let len = u32::from_be_bytes([0, prefix[1], prefix[2], prefix[3]]) as usize;
        let mut payload = vec![0; len];
        stream.read_exact(&mut payload).await.ok()?;
        Some((prefix[0], payload))
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("a frame or the end of the stream within 5 s")
}

/// The next WAMP message as JSON, skipping the router's keepalive pings.
async fn message<S: AsyncRead + Unpin>(stream: &mut S) -> serde_json::Value {
    loop {
        let (kind, payload) = receive(stream).await.expect("a message");
        if kind == MESSAGE {
            return serde_json::from_slice(&payload).unwrap();
        }
    }
}

async fn closed<S: AsyncRead + Unpin>(stream: &mut S) -> bool {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest));
    matches!(read.await, Ok(Ok(_)))
}

/// HELLO, WELCOME, then a PING answered by its PONG.
async fn join_and_ping<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) {
    assert_eq!(handshake(stream, 0xf1).await, [0x7f, 0xf1, 0, 0]);
    send(stream, MESSAGE, HELLO.as_bytes()).await;
    let welcome = message(stream).await;
    assert_eq!(welcome[0], 2, "WELCOME: {welcome}");
    send(stream, PING, b"are you there").await;
    let (kind, payload) = receive(stream).await.unwrap();
    assert_eq!((kind, payload.as_slice()), (PONG, &b"are you there"[..]));
}

#[actix_web::test]
async fn a_session_over_tcp_and_over_a_unix_socket_joins_and_pongs() {
    let router = serve("join", ServerConfig::default()).await;
    let mut tcp = TcpStream::connect(router.tcp).await.unwrap();
    join_and_ping(&mut tcp).await;
    let mut unix = UnixStream::connect(&router.unix).await.unwrap();
    join_and_ping(&mut unix).await;
    // GOODBYE, and the router answers it.
    send(&mut unix, MESSAGE, br#"[6, {}, "wamp.close.close_realm"]"#).await;
    assert_eq!(message(&mut unix).await[0], 6);
    router.handle.shutdown(Duration::from_millis(500)).await;
    assert!(
        !router.unix.exists(),
        "the socket file is removed at shutdown"
    );
}

#[actix_web::test]
async fn handshakes_the_router_cannot_serve_get_the_specs_error_codes() {
    let config = ServerConfig {
        hello_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let router = serve("refusals", config).await;
    let mut unsupported = TcpStream::connect(router.tcp).await.unwrap();
    assert_eq!(handshake(&mut unsupported, 0xf5).await, [0x7f, 0x10, 0, 0]);
    assert!(closed(&mut unsupported).await);

    let mut reserved = TcpStream::connect(router.tcp).await.unwrap();
    reserved.write_all(&[0x7f, 0xf1, 0, 1]).await.unwrap();
    let mut answer = [0; 4];
    reserved.read_exact(&mut answer).await.unwrap();
    assert_eq!(answer, [0x7f, 0x30, 0, 0]);
    assert!(closed(&mut reserved).await);

    let mut http = TcpStream::connect(router.tcp).await.unwrap();
    http.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut rest = Vec::new();
    // Closed with the request unread: a reset, or an end with nothing sent.
    let read = http.read_to_end(&mut rest).await;
    assert!(
        rest.is_empty()
            && read.map_or_else(
                |e| e.kind() == std::io::ErrorKind::ConnectionReset,
                |n| n == 0
            ),
        "not a RawSocket client: closed unanswered"
    );

    let mut silent = UnixStream::connect(&router.unix).await.unwrap();
    assert!(closed(&mut silent).await, "dropped after the hello timeout");
    router.handle.shutdown(Duration::from_millis(500)).await;
}

#[actix_web::test]
async fn beyond_the_connection_limit_the_handshake_says_so() {
    let config = ServerConfig {
        max_connections: Some(1),
        ..ServerConfig::default()
    };
    let router = serve("limit", config).await;
    let mut first = TcpStream::connect(router.tcp).await.unwrap();
    join_and_ping(&mut first).await;
    let mut second = UnixStream::connect(&router.unix).await.unwrap();
    assert_eq!(handshake(&mut second, 0xf1).await, [0x7f, 0x40, 0, 0]);
    router.handle.shutdown(Duration::from_millis(500)).await;
}

#[actix_web::test]
async fn a_draining_router_refuses_new_sessions_and_says_goodbye_to_its_own() {
    let router = serve("drain", ServerConfig::default()).await;
    let mut joined = UnixStream::connect(&router.unix).await.unwrap();
    join_and_ping(&mut joined).await;
    let handle = router.handle.clone();
    let stopping =
        actix_web::rt::spawn(async move { handle.shutdown(Duration::from_millis(500)).await });
    // The drain waits a quiet spell before GOODBYE; new handshakes meanwhile are refused.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut late = TcpStream::connect(router.tcp).await.unwrap();
    assert_eq!(handshake(&mut late, 0xf1).await, [0x7f, 0x40, 0, 0]);
    let goodbye = message(&mut joined).await;
    assert_eq!(goodbye[0], 6, "GOODBYE: {goodbye}");
    assert_eq!(goodbye[2], "wamp.close.system_shutdown");
    send(
        &mut joined,
        MESSAGE,
        br#"[6, {}, "wamp.close.goodbye_and_out"]"#,
    )
    .await;
    assert!(closed(&mut joined).await);
    stopping.await.unwrap();
}

#[actix_web::test]
async fn a_frame_longer_than_the_routers_limit_aborts_the_session() {
    let config = ServerConfig {
        max_message_size: 100_000,
        ..ServerConfig::default()
    };
    let router = serve("oversize", config).await;
    let mut tcp = TcpStream::connect(router.tcp).await.unwrap();
    // 100,000 is not a power of two: the router announces 2^16 and holds to it.
    assert_eq!(handshake(&mut tcp, 0xf1).await, [0x7f, 0x71, 0, 0]);
    send(&mut tcp, MESSAGE, HELLO.as_bytes()).await;
    assert_eq!(message(&mut tcp).await[0], 2);
    tcp.write_all(&[0, 0x01, 0x00, 0x01]).await.unwrap();
    let abort = message(&mut tcp).await;
    assert_eq!(abort[0], 3, "ABORT: {abort}");
    assert_eq!(abort[2], "wamp.error.payload_size_exceeded");
    assert!(closed(&mut tcp).await);
    router.handle.shutdown(Duration::from_millis(500)).await;
}

#[actix_web::test]
async fn what_a_client_cannot_take_is_not_sent_and_its_caller_is_told() {
    let router = serve("client-limit", ServerConfig::default()).await;
    // The callee takes at most 2 KiB.
    let mut callee = TcpStream::connect(router.tcp).await.unwrap();
    assert_eq!(handshake(&mut callee, 0x21).await, [0x7f, 0xf1, 0, 0]);
    send(&mut callee, MESSAGE, HELLO.as_bytes()).await;
    assert_eq!(message(&mut callee).await[0], 2);
    send(&mut callee, MESSAGE, br#"[64, 1, {}, "com.example.echo"]"#).await;
    assert_eq!(message(&mut callee).await[0], 65);

    let mut caller = UnixStream::connect(&router.unix).await.unwrap();
    assert_eq!(handshake(&mut caller, 0xf1).await, [0x7f, 0xf1, 0, 0]);
    send(&mut caller, MESSAGE, HELLO.as_bytes()).await;
    assert_eq!(message(&mut caller).await[0], 2);
    let big = "x".repeat(3000);
    let call = format!(r#"[48, 7, {{}}, "com.example.echo", ["{big}"]]"#);
    send(&mut caller, MESSAGE, call.as_bytes()).await;
    let error = message(&mut caller).await;
    assert_eq!(error[0], 8, "ERROR: {error}");
    assert_eq!(error[2], 7);
    assert_eq!(error[4], "wamp.error.payload_size_exceeded");

    // A small call still reaches it, and its large result reaches a caller
    // that takes 16 MiB.
    send(&mut callee, MESSAGE, br#"[64, 2, {}, "com.example.big"]"#).await;
    assert_eq!(message(&mut callee).await[0], 65);
    send(
        &mut caller,
        MESSAGE,
        br#"[48, 8, {}, "com.example.big", []]"#,
    )
    .await;
    let invocation = message(&mut callee).await;
    assert_eq!(invocation[0], 68, "INVOCATION: {invocation}");
    let result = format!(r#"[70, {}, {{}}, ["{big}"]]"#, invocation[1]);
    send(&mut callee, MESSAGE, result.as_bytes()).await;
    let result = message(&mut caller).await;
    assert_eq!(result[0], 50, "a caller taking 16 MiB gets it: {result}");
    router.handle.shutdown(Duration::from_millis(500)).await;
}

#[actix_web::test]
async fn a_client_too_small_for_the_welcome_is_told_why_if_it_can_be() {
    let router = serve("tiny", ServerConfig::default()).await;
    let mut tiny = TcpStream::connect(router.tcp).await.unwrap();
    assert_eq!(handshake(&mut tiny, 0x01).await, [0x7f, 0xf1, 0, 0]);
    send(&mut tiny, MESSAGE, HELLO.as_bytes()).await;
    let abort = message(&mut tiny).await;
    assert_eq!(
        abort[0], 3,
        "ABORT, not a WELCOME of over 512 bytes: {abort}"
    );
    assert_eq!(abort[2], "wamp.error.payload_size_exceeded");
    assert!(closed(&mut tiny).await);
    router.handle.shutdown(Duration::from_millis(500)).await;
}

#[actix_web::test]
async fn a_client_that_pinged_is_pinged_and_dropped_when_it_falls_silent() {
    let config = ServerConfig {
        ping_interval: Duration::from_millis(50),
        ping_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let router = serve("keepalive", config).await;
    let mut tcp = TcpStream::connect(router.tcp).await.unwrap();
    assert_eq!(handshake(&mut tcp, 0xf2).await, [0x7f, 0xf2, 0, 0]);
    send(&mut tcp, PING, b"hello").await;
    let (kind, payload) = receive(&mut tcp).await.unwrap();
    assert_eq!((kind, payload.as_slice()), (PONG, &b"hello"[..]));
    let (kind, _) = receive(&mut tcp).await.unwrap();
    assert_eq!(kind, PING, "a peer that speaks PING is probed");
    assert!(closed(&mut tcp).await, "silent past the ping timeout");
    router.handle.shutdown(Duration::from_millis(500)).await;
}

/// Autobahn|Python's asyncio RawSocket client drops its connection on a PING,
/// so a peer that never sent one is not pinged, nor dropped for its silence.
#[actix_web::test]
async fn a_client_that_never_pinged_is_neither_pinged_nor_dropped_for_silence() {
    let config = ServerConfig {
        ping_interval: Duration::from_millis(50),
        ping_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let router = serve("quiet", config).await;
    let mut tcp = TcpStream::connect(router.tcp).await.unwrap();
    assert_eq!(handshake(&mut tcp, 0xf2).await, [0x7f, 0xf2, 0, 0]);
    let waited = tokio::time::timeout(Duration::from_millis(600), receive(&mut tcp)).await;
    assert!(
        waited.is_err(),
        "nothing arrives, not even a close: {waited:?}"
    );
    send(&mut tcp, PING, b"still here").await;
    let (kind, _) = receive(&mut tcp).await.unwrap();
    assert_eq!(kind, PONG);
    router.handle.shutdown(Duration::from_millis(500)).await;
}

#[actix_web::test]
async fn the_client_crate_joins_registers_and_calls_over_rawsocket_in_every_codec() {
    use switchboard_client::{Arguments, Client, Codec, Dict, Value};
    let router = serve("client", ServerConfig::default()).await;
    let rs = format!("rs://{}", router.tcp);
    let callee = Client::connect(&rs, "com.example.realm", Codec::Msgpack)
        .await
        .expect("joins over RawSocket");
    callee
        .register("com.example.echo", Dict::new(), |invocation| async move {
            Ok(invocation.arguments)
        })
        .await
        .expect("registers");
    for codec in [Codec::Json, Codec::Cbor] {
        let caller = Client::connect(&rs, "com.example.realm", codec)
            .await
            .expect("joins over RawSocket");
        let result = caller
            .call("com.example.echo", Arguments::list(vec![Value::from("hi")]))
            .await
            .expect("answered");
        assert_eq!(
            result.args_values().unwrap(),
            vec![Value::from("hi")],
            "{codec:?}"
        );
    }
    router.handle.shutdown(Duration::from_millis(500)).await;
}

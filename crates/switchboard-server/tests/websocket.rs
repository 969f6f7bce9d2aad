//! The WebSocket transport in-process, partly spoken by hand: what a client
//! sends right behind its upgrade request is not lost, a node with several
//! realms places each session by the realm its HELLO names (however the
//! HELLO is split), sessions of two realms are served side by side on both
//! transports, and the HTTP side still answers what is not an upgrade.

use std::net::SocketAddr;
use std::time::Duration;

use switchboard_client::{Arguments, Client, Codec, Dict, Value};
use switchboard_core::RealmConfig;
use switchboard_server::{start, RawSocketConfig, ServerConfig, ShutdownHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const FIRST: &str = "com.example.realm";
const SECOND: &str = "com.example.other";

struct Router {
    addr: SocketAddr,
    rawsocket: SocketAddr,
    handle: ShutdownHandle,
}

async fn serve(realms: &[&str]) -> Router {
    let config = ServerConfig {
        realms: realms.iter().map(|r| RealmConfig::anonymous(*r)).collect(),
        rawsocket: RawSocketConfig {
            tcp: Some(("127.0.0.1".to_owned(), 0)),
            unix: None,
        },
        ..ServerConfig::default()
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = start(config, listener).await.unwrap();
    let router = Router {
        addr: server.local_addr(),
        rawsocket: server.rawsocket_addr().unwrap(),
        handle: server.handle(),
    };
    actix_web::rt::spawn(server.run());
    router
}

fn upgrade_request(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: wamp.2.json\r\n\r\n"
    )
}

/// A masked client frame (RFC 6455 5.3): `opcode` 1 is text.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// Reads the HTTP response head; returns its status line.
async fn response_head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let read = tcp.read(&mut byte).await.unwrap();
        assert_eq!(read, 1, "connection closed in the response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    head.lines().next().unwrap().to_owned()
}

/// Reads one unmasked server frame: its opcode and payload.
async fn server_frame(tcp: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut start = [0u8; 2];
    tcp.read_exact(&mut start).await.unwrap();
    let len = match start[1] & 0x7f {
        126 => {
            let mut len = [0u8; 2];
            tcp.read_exact(&mut len).await.unwrap();
            usize::from(u16::from_be_bytes(len))
        }
        127 => panic!("no test message is that long"),
        len => usize::from(len),
    };
    let mut payload = vec![0; len];
    tcp.read_exact(&mut payload).await.unwrap();
    (start[0] & 0x0f, payload)
}

fn hello(realm: &str) -> String {
    format!(r#"[1, "{realm}", {{"roles": {{"caller": {{}}}}}}]"#)
}

async fn expect_welcome(tcp: &mut TcpStream) {
    let (opcode, payload) = tokio::time::timeout(Duration::from_secs(5), server_frame(tcp))
        .await
        .expect("an answer to HELLO");
    let text = String::from_utf8(payload).unwrap();
    assert_eq!(opcode, 1, "{text}");
    assert!(text.starts_with("[2,"), "expected WELCOME, got {text}");
}

#[actix_web::test]
async fn a_hello_sent_with_the_upgrade_request_is_welcomed() {
    for realms in [&[FIRST][..], &[FIRST, SECOND][..]] {
        let router = serve(realms).await;
        let mut tcp = TcpStream::connect(router.addr).await.unwrap();
        let mut bytes = upgrade_request("/ws").into_bytes();
        bytes.extend(client_frame(1, hello(realms[realms.len() - 1]).as_bytes()));
        tcp.write_all(&bytes).await.unwrap();
        assert!(response_head(&mut tcp).await.contains(" 101 "));
        expect_welcome(&mut tcp).await;
        router.handle.shutdown(Duration::from_millis(500)).await;
    }
}

#[actix_web::test]
async fn a_hello_split_across_segments_places_its_session_on_a_two_realm_node() {
    let router = serve(&[FIRST, SECOND]).await;
    let mut tcp = TcpStream::connect(router.addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    tcp.write_all(upgrade_request("/ws").as_bytes())
        .await
        .unwrap();
    assert!(response_head(&mut tcp).await.contains(" 101 "));
    let frame = client_frame(1, hello(SECOND).as_bytes());
    for piece in frame.chunks(7) {
        tcp.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    expect_welcome(&mut tcp).await;
    router.handle.shutdown(Duration::from_millis(500)).await;
}

#[actix_web::test]
async fn a_text_message_that_is_not_utf8_is_aborted() {
    let router = serve(&[FIRST]).await;
    let mut tcp = TcpStream::connect(router.addr).await.unwrap();
    tcp.write_all(upgrade_request("/ws").as_bytes())
        .await
        .unwrap();
    assert!(response_head(&mut tcp).await.contains(" 101 "));
    tcp.write_all(&client_frame(1, b"[1, \"\xff\xfe\", {}]"))
        .await
        .unwrap();
    let (opcode, payload) = server_frame(&mut tcp).await;
    let text = String::from_utf8(payload).unwrap();
    assert_eq!(opcode, 1);
    assert!(
        text.starts_with("[3,") && text.contains("wamp.error.protocol_violation"),
        "{text}"
    );
    let (opcode, _) = server_frame(&mut tcp).await;
    assert_eq!(opcode, 8, "a close frame follows the ABORT");
    router.handle.shutdown(Duration::from_millis(500)).await;
}

#[actix_web::test]
async fn a_close_from_the_client_is_answered_and_the_connection_ends() {
    let router = serve(&[FIRST]).await;
    let mut tcp = TcpStream::connect(router.addr).await.unwrap();
    let mut bytes = upgrade_request("/ws").into_bytes();
    bytes.extend(client_frame(1, hello(FIRST).as_bytes()));
    tcp.write_all(&bytes).await.unwrap();
    assert!(response_head(&mut tcp).await.contains(" 101 "));
    expect_welcome(&mut tcp).await;
    tcp.write_all(&client_frame(8, &1000u16.to_be_bytes()))
        .await
        .unwrap();
    let (opcode, _) = server_frame(&mut tcp).await;
    assert_eq!(opcode, 8, "the close is answered");
    let mut rest = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut rest))
        .await
        .expect("the router closes the connection");
    assert_eq!(read.unwrap(), 0);
    router.handle.shutdown(Duration::from_millis(500)).await;
}

#[actix_web::test]
async fn what_is_not_an_upgrade_to_the_endpoint_gets_an_http_answer() {
    let router = serve(&[FIRST]).await;
    let status = |request: String| async move {
        let mut tcp = TcpStream::connect(router.addr).await.unwrap();
        tcp.write_all(request.as_bytes()).await.unwrap();
        response_head(&mut tcp).await
    };
    let plain_get = "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n".to_owned();
    assert!(status(plain_get).await.contains(" 400 "));
    assert!(status(upgrade_request("/metrics")).await.contains(" 404 "));
    let health = "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n".to_owned();
    assert!(status(health).await.contains(" 200 "));
    router.handle.shutdown(Duration::from_millis(500)).await;
}

/// A callee and a caller in each of two realms, over WebSocket and RawSocket:
/// every call is answered by its own realm's callee.
#[actix_web::test]
async fn calls_in_two_realms_are_served_side_by_side_on_both_transports() {
    let router = serve(&[FIRST, SECOND]).await;
    let ws = format!("ws://{}/ws", router.addr);
    let rs = format!("rs://{}", router.rawsocket);
    let mut callers = Vec::new();
    let mut callees = Vec::new();
    for (realm, callee_url, caller_url) in [(FIRST, &ws, &rs), (SECOND, &rs, &ws)] {
        let callee = Client::connect(callee_url, realm, Codec::Msgpack)
            .await
            .unwrap();
        let answer = Value::from(realm);
        callee
            .register("com.example.which", Dict::new(), move |_| {
                let answer = answer.clone();
                async move { Ok(Arguments::list(vec![answer])) }
            })
            .await
            .unwrap();
        callees.push(callee);
        let caller = Client::connect(caller_url, realm, Codec::Json)
            .await
            .unwrap();
        callers.push((realm, caller));
    }
    for round in 0..20 {
        for (realm, caller) in &callers {
            let result = caller
                .call("com.example.which", Arguments::none())
                .await
                .unwrap();
            let args = result.args_values().unwrap_or_default();
            assert_eq!(args, vec![Value::from(*realm)], "round {round}");
        }
    }
    router.handle.shutdown(Duration::from_millis(500)).await;
}

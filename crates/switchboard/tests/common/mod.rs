//! Starts the real `switchboard` binary on an ephemeral port for a test.

#![allow(dead_code)]

pub mod cluster;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use switchboard_client::{Client, Codec};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message as WsMessage;

pub const REALM: &str = "com.example.realm";

/// An options (or details) dict from pairs.
pub fn options(pairs: &[(&str, switchboard_client::Value)]) -> switchboard_client::Dict {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// The first positional argument (or null).
pub fn first(arguments: &switchboard_client::Arguments) -> switchboard_client::Value {
    let args = arguments.args_values().expect("decodable arguments");
    args.into_iter()
        .next()
        .unwrap_or(switchboard_client::Value::Null)
}

/// A router process, killed when dropped.
pub struct Router {
    child: Child,
    stdout: Option<BufReader<std::process::ChildStdout>>,
    pub url: String,
}

impl Router {
    /// Starts the binary with `--host 127.0.0.1 --port 0` plus `args`, and waits
    /// for the line that says where it listens.
    pub fn start(args: &[&str]) -> Router {
        let mut router = Router::spawn(args);
        router.wait_ready();
        router
    }

    /// Starts the binary without waiting for it to be ready (a cluster node is
    /// ready only once a majority of its members runs).
    pub fn spawn(args: &[&str]) -> Router {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("SWITCHBOARD_TEST_LOG")
                    .unwrap_or_else(|_| "warn,openraft=off".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the switchboard binary starts");
        let stdout = child.stdout.take().map(BufReader::new);
        Router {
            child,
            stdout,
            url: String::new(),
        }
    }

    /// Waits for the line that says where the router listens.
    pub fn wait_ready(&mut self) {
        let mut line = String::new();
        if let Some(stdout) = self.stdout.as_mut() {
            stdout
                .read_line(&mut line)
                .expect("read the listening line");
        }
        self.url = line
            .trim()
            .strip_prefix("switchboard listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
    }

    /// SIGKILL: the process dies at once, saying nothing to anyone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `GET path` on the router's HTTP side (same port as its WebSocket); the body.
    pub fn http_get(&self, path: &str) -> String {
        self.http("GET", path, "")
    }

    /// A plain HTTP/1.1 request; returns the response body.
    pub fn http(&self, method: &str, path: &str, body: &str) -> String {
        self.http_request(method, path, body, &[]).1
    }

    /// A plain HTTP/1.1 request with extra headers; returns the status code and the body.
    pub fn http_request(
        &self,
        method: &str,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        use std::io::{Read, Write};
        let authority = self
            .url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut stream = std::net::TcpStream::connect(&authority).expect("connect for HTTP");
        stream.set_read_timeout(Some(Duration::from_secs(90))).ok();
        let extra: String = headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let body = response
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        (status, body)
    }

    pub async fn client(&self, codec: Codec) -> Client {
        Client::connect(&self.url, REALM, codec)
            .await
            .expect("client joins")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Freezes the process (SIGSTOP), as `docker pause` does: its sockets stay
    /// open and its kernel still accepts connections, but it says nothing.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused process (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status();
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit.
    pub fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        self.signal("-TERM");
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw WebSocket to the router, for sending frames no well-behaved client would.
pub struct Raw {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Raw {
    pub async fn connect(url: &str, subprotocol: &'static str) -> Raw {
        let mut request = url.into_client_request().expect("valid url");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(subprotocol),
        );
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("raw connect");
        Raw { socket }
    }

    /// Connects and joins `realm` with a JSON HELLO; returns after WELCOME.
    pub async fn joined_json(url: &str) -> Raw {
        let mut raw = Raw::connect(url, "wamp.2.json").await;
        raw.send_text(&format!(
            r#"[1, "{REALM}", {{"roles": {{"caller": {{}}, "callee": {{}}}}}}]"#
        ))
        .await;
        let welcome = raw.recv_json().await.expect("WELCOME");
        assert_eq!(welcome[0], 2, "expected WELCOME, got {welcome}");
        raw
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket
            .send(WsMessage::Text(text.to_owned()))
            .await
            .expect("send");
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.socket
            .send(WsMessage::Binary(bytes))
            .await
            .expect("send");
    }

    /// The next WAMP message as JSON (decoding MessagePack frames too), or None
    /// if the connection closed. Waits at most 5 s.
    pub async fn recv_json(&mut self) -> Option<serde_json::Value> {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), self.socket.next())
                .await
                .expect("router answered within 5 s");
            match frame {
                Some(Ok(WsMessage::Text(text))) => {
                    return Some(serde_json::from_str(&text).expect("JSON frame"))
                }
                Some(Ok(WsMessage::Binary(bytes))) => {
                    let msg = switchboard_proto::decode(Codec::Msgpack, bytes.into())
                        .expect("msgpack frame");
                    let json = switchboard_proto::encode(Codec::Json, &msg).expect("re-encode");
                    return Some(serde_json::from_slice(&json).expect("JSON"));
                }
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Waits (at most 5 s) until the router closes the connection.
    pub async fn expect_closed(&mut self) {
        while self.recv_json().await.is_some() {}
    }
}

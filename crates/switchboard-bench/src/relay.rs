//! The raw relay: the floor under any router's cost. It forwards WebSocket frames
//! along the same path a WAMP call takes (caller -> relay -> callee -> relay ->
//! caller) with no WAMP in between, so the difference between a router and the
//! relay under the same load is what the router's protocol work costs.
//!
//! The framing is as trivial as routing allows. Callers connect to `/caller`,
//! callees to `/callee`.
//! - A caller sends `{call id:016x}{payload}`.
//! - The relay prefixes the frame with `{caller slot:08x}` and passes it to the
//!   next callee (round robin, like a shared registration).
//! - The callee echoes the frame unchanged.
//! - The relay strips the slot and passes the rest to that caller.
//!
//! Headers are hex text so the same frames can travel as WebSocket text (the
//! JSON case, UTF-8 checked on receipt like WAMP's JSON) or binary (MessagePack).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{Sink, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const CALL_ID_LEN: usize = 16;
const SLOT_LEN: usize = 8;

/// Writes every frame sent to `frames`, flushing only when none are waiting: a
/// burst of pipelined frames costs one write. (The WAMP client does the same.)
pub async fn write_frames<S>(mut sink: S, mut frames: mpsc::UnboundedReceiver<Frame>)
where
    S: Sink<Frame> + Unpin,
{
    while let Some(frame) = frames.recv().await {
        if sink.feed(frame).await.is_err() {
            return;
        }
        while let Ok(frame) = frames.try_recv() {
            if sink.feed(frame).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}

/// `prefix` followed by `frame`'s content, in a frame of the same kind.
fn prefixed(prefix: &str, frame: Frame) -> Option<Frame> {
    Some(match frame {
        Frame::Text(text) => Frame::Text(prefix.to_owned() + &text),
        Frame::Binary(bytes) => {
            let mut out = Vec::with_capacity(prefix.len() + bytes.len());
            out.extend_from_slice(prefix.as_bytes());
            out.extend_from_slice(&bytes);
            Frame::Binary(out)
        }
        _ => return None,
    })
}

/// Splits a hex header of `len` characters off the front of `frame`.
fn split_header(len: usize, frame: Frame) -> Option<(u64, Frame)> {
    let header = |bytes: &[u8]| {
        let hex = std::str::from_utf8(bytes.get(..len)?).ok()?;
        u64::from_str_radix(hex, 16).ok()
    };
    match frame {
        Frame::Text(mut text) => {
            let value = header(text.as_bytes())?;
            text.drain(..len);
            Some((value, Frame::Text(text)))
        }
        Frame::Binary(mut bytes) => {
            let value = header(&bytes)?;
            bytes.drain(..len);
            Some((value, Frame::Binary(bytes)))
        }
        _ => None,
    }
}

/// Who is connected to the relay.
#[derive(Default)]
struct Hub {
    callees: Vec<(u64, mpsc::UnboundedSender<Frame>)>,
    next_callee: usize,
    callers: HashMap<u64, mpsc::UnboundedSender<Frame>>,
    next_connection: u64,
}

/// Serves relay connections on `listener` until it fails.
pub async fn serve(listener: TcpListener) -> anyhow::Result<()> {
    let hub = Arc::new(Mutex::new(Hub::default()));
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let hub = hub.clone();
        tokio::spawn(async move {
            let _ = connection(hub, stream).await;
        });
    }
}

// The handshake callback's large error type is tungstenite's, not ours.
#[allow(clippy::result_large_err)]
async fn connection(hub: Arc<Mutex<Hub>>, stream: TcpStream) -> anyhow::Result<()> {
    let mut path = String::new();
    let socket = tokio_tungstenite::accept_hdr_async(stream, |request: &Request, response| {
        path = request.uri().path().to_owned();
        Ok::<Response, _>(response)
    })
    .await?;
    let (sink, mut stream) = socket.split();
    let (outbound, frames) = mpsc::unbounded_channel();
    tokio::spawn(write_frames(sink, frames));

    let id = {
        let mut hub = hub.lock().expect("hub");
        hub.next_connection += 1;
        let id = hub.next_connection;
        match path.as_str() {
            "/caller" => {
                hub.callers.insert(id, outbound.clone());
            }
            "/callee" => hub.callees.push((id, outbound.clone())),
            _ => bail!("unknown role {path}"),
        }
        id
    };
    let slot = format!("{id:0SLOT_LEN$x}");
    while let Some(Ok(frame)) = stream.next().await {
        let mut hub = hub.lock().expect("hub");
        if path == "/caller" {
            if hub.callees.is_empty() {
                continue;
            }
            let next = hub.next_callee % hub.callees.len();
            hub.next_callee = next + 1;
            if let Some(frame) = prefixed(&slot, frame) {
                let _ = hub.callees[next].1.send(frame);
            }
        } else if let Some((caller, frame)) = split_header(SLOT_LEN, frame) {
            if let Some(caller) = hub.callers.get(&caller) {
                let _ = caller.send(frame);
            }
        }
    }
    let mut hub = hub.lock().expect("hub");
    hub.callers.remove(&id);
    hub.callees.retain(|(callee, _)| *callee != id);
    Ok(())
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn open(
    url: &str,
    role: &str,
) -> anyhow::Result<(SplitSink<Socket, Frame>, SplitStream<Socket>)> {
    let url = format!("{}/{role}", url.trim_end_matches('/'));
    let (socket, _) = tokio_tungstenite::connect_async_with_config(&url, None, true)
        .await
        .with_context(|| format!("cannot connect to the relay at {url}"))?;
    Ok(socket.split())
}

/// A caller of the relay: many calls may be in flight at once.
pub struct RelayCaller {
    outbound: mpsc::UnboundedSender<Frame>,
    waiting: Arc<Mutex<HashMap<u64, oneshot::Sender<Frame>>>>,
    next_call: AtomicU64,
    text: bool,
    reader: JoinHandle<()>,
}

impl Drop for RelayCaller {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl RelayCaller {
    /// Connects to the relay at `url`; `text` sends text frames (else binary).
    pub async fn connect(url: &str, text: bool) -> anyhow::Result<Self> {
        let (sink, mut stream) = open(url, "caller").await?;
        let (outbound, frames) = mpsc::unbounded_channel();
        tokio::spawn(write_frames(sink, frames));
        let waiting: Arc<Mutex<HashMap<u64, oneshot::Sender<Frame>>>> = Arc::default();
        let replies = waiting.clone();
        let reader = tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                if let Some((call, payload)) = split_header(CALL_ID_LEN, frame) {
                    if let Some(waiter) = replies.lock().expect("waiting").remove(&call) {
                        let _ = waiter.send(payload);
                    }
                }
            }
            // The connection is gone: every waiting call learns it.
            replies.lock().expect("waiting").clear();
        });
        Ok(Self {
            outbound,
            waiting,
            next_call: AtomicU64::new(1),
            text,
            reader,
        })
    }

    /// Sends `payload` through the relay to a callee and waits for the echo.
    pub async fn call(&self, payload: &str) -> anyhow::Result<()> {
        let call = self.next_call.fetch_add(1, Ordering::Relaxed);
        let header = format!("{call:0CALL_ID_LEN$x}");
        let frame = if self.text {
            Frame::Text(header + payload)
        } else {
            Frame::Binary([header.as_bytes(), payload.as_bytes()].concat())
        };
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().expect("waiting").insert(call, tx);
        self.outbound
            .send(frame)
            .context("relay connection closed")?;
        let echo = rx.await.context("relay connection closed")?;
        let len = match echo {
            Frame::Text(text) => text.len(),
            Frame::Binary(bytes) => bytes.len(),
            _ => 0,
        };
        if len != payload.len() {
            bail!("echo of {} bytes for {} sent", len, payload.len());
        }
        Ok(())
    }
}

/// A callee of the relay: echoes every frame back, until dropped.
pub struct RelayCallee {
    echo: JoinHandle<()>,
}

impl Drop for RelayCallee {
    fn drop(&mut self) {
        self.echo.abort();
    }
}

impl RelayCallee {
    /// Connects to the relay at `url` and starts echoing.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let (sink, mut stream) = open(url, "callee").await?;
        let (outbound, frames) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_frames(sink, frames));
        let echo = tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                if matches!(frame, Frame::Text(_) | Frame::Binary(_))
                    && outbound.send(frame).is_err()
                {
                    break;
                }
            }
            drop(outbound);
            let _ = writer.await;
        });
        Ok(Self { echo })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_goes_through_a_callee_and_back() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        tokio::spawn(serve(listener));
        let _callees = [
            RelayCallee::connect(&url).await.unwrap(),
            RelayCallee::connect(&url).await.unwrap(),
        ];
        for text in [true, false] {
            let caller = RelayCaller::connect(&url, text).await.unwrap();
            let calls: Vec<_> = (0..10).map(|i| "x".repeat(i * 100)).collect();
            let replies =
                futures_util::future::join_all(calls.iter().map(|p| caller.call(p))).await;
            assert!(replies.iter().all(Result::is_ok), "{replies:?}");
        }
    }

    #[test]
    fn headers_round_trip_in_text_and_binary_frames() {
        for frame in [Frame::Text("abc".into()), Frame::Binary(b"abc".to_vec())] {
            let framed = prefixed("0000002a", frame.clone()).unwrap();
            assert_eq!(split_header(SLOT_LEN, framed), Some((42, frame)));
        }
    }
}

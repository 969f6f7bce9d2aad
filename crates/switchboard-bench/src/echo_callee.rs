//! The load generator's callee: a WAMP session that registers one procedure
//! and answers every INVOCATION with a YIELD of the same arguments, inline in
//! its reader, as the relay's callee echoes frames.
//!
//! `switchboard-client` runs each invocation as a task of its own, so handlers
//! can be slow and many; that costs the generator more per call than the
//! router spends (measured: about 20 us of generator CPU per call against a
//! router, 11 us against the relay), and on a machine the two share it would
//! be the generator's cost that bounds the router's figure. This callee does
//! what the relay's does and no more: decode, re-encode the arguments as
//! they came (still encoded), write in batches.

use anyhow::{bail, Context};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use switchboard_client::{Codec, Dict, Message, Value};
use switchboard_proto::{decode, encode, Hello, Register, Yield};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::relay::write_frames;

/// A registered echoing callee, until dropped.
pub struct EchoCallee {
    echo: JoinHandle<()>,
}

impl Drop for EchoCallee {
    fn drop(&mut self) {
        self.echo.abort();
    }
}

fn frame(codec: Codec, message: &Message) -> anyhow::Result<Frame> {
    let bytes = encode(codec, message)?;
    Ok(if codec.is_text() {
        Frame::Text(String::from_utf8(bytes)?)
    } else {
        Frame::Binary(bytes)
    })
}

fn message(codec: Codec, frame: Frame) -> Option<Message> {
    let bytes = match frame {
        Frame::Text(text) => Bytes::from(text.into_bytes()),
        Frame::Binary(bytes) => Bytes::from(bytes),
        _ => return None,
    };
    decode(codec, bytes).ok()
}

impl EchoCallee {
    /// Joins `realm` at the WebSocket `url` and registers `procedure` with
    /// REGISTER.Options `options`; echoes from then on.
    pub async fn connect(
        url: &str,
        realm: &str,
        codec: Codec,
        procedure: &str,
        options: Dict,
    ) -> anyhow::Result<Self> {
        let mut request = url.into_client_request()?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", codec.subprotocol().parse()?);
        let (socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
            .await
            .with_context(|| format!("cannot connect to {url}"))?;
        let (mut sink, mut stream) = socket.split();
        let mut roles = Dict::new();
        roles.insert("callee".into(), Value::Dict(Dict::new()));
        let mut details = Dict::new();
        details.insert("roles".into(), Value::Dict(roles));
        let hello = Message::Hello(Hello {
            realm: realm.to_owned(),
            details,
        });
        let register = Message::Register(Register {
            request: 1,
            options,
            procedure: procedure.to_owned(),
        });
        sink.send(frame(codec, &hello)?).await?;
        loop {
            let received = stream.next().await.context("closed before WELCOME")??;
            match message(codec, received) {
                Some(Message::Welcome(_)) => break,
                Some(Message::Abort(abort)) => bail!("aborted: {}", abort.reason),
                _ => {}
            }
        }
        sink.send(frame(codec, &register)?).await?;
        loop {
            let received = stream.next().await.context("closed before REGISTERED")??;
            match message(codec, received) {
                Some(Message::Registered(_)) => break,
                Some(Message::Error(error)) => {
                    bail!("cannot register {procedure}: {}", error.error)
                }
                _ => {}
            }
        }
        let (outbound, frames) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_frames(sink, frames));
        let echo = tokio::spawn(async move {
            while let Some(Ok(received)) = stream.next().await {
                let Some(Message::Invocation(invocation)) = message(codec, received) else {
                    continue;
                };
                let reply = Message::Yield(Yield {
                    request: invocation.request,
                    options: Dict::new(),
                    arguments: invocation.arguments,
                });
                let Ok(reply) = frame(codec, &reply) else {
                    break;
                };
                if outbound.send(reply).is_err() {
                    break;
                }
            }
            drop(outbound);
            let _ = writer.await;
        });
        Ok(Self { echo })
    }
}

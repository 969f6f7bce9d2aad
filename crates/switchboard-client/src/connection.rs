//! Opening a session: the transport (WebSocket or RawSocket), the HELLO/WELCOME handshake, and the two
//! tasks (reader and writer) that serve the session afterwards.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use std::pin::Pin;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use switchboard_proto::{decode, encode, Codec, Dict, Goodbye, Hello, Message, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::dispatch::{dispatch, Shared};
use crate::error::ClientError;

/// A joined WAMP session. Dropping it closes the WebSocket without GOODBYE.
pub struct Client {
    pub(crate) shared: Arc<Shared>,
    /// Dropping this ends the writer task, which closes the WebSocket.
    _close: oneshot::Sender<()>,
    session_id: u64,
    welcome: Dict,
}

/// The features this client implements, per role, for HELLO.
const FEATURES: &[(&str, &[&str])] = &[
    (
        "caller",
        &[
            "call_canceling",
            "call_timeout",
            "caller_identification",
            "progressive_call_results",
            "progressive_call_invocations",
        ],
    ),
    (
        "callee",
        &[
            "call_canceling",
            "call_timeout",
            "caller_identification",
            "progressive_call_results",
            "progressive_call_invocations",
            "pattern_based_registration",
            "shared_registration",
        ],
    ),
    (
        "publisher",
        &["publisher_exclusion", "publisher_identification"],
    ),
    (
        "subscriber",
        &["pattern_based_subscription", "publisher_identification"],
    ),
];

fn hello_details() -> Dict {
    let roles: Dict = FEATURES
        .iter()
        .map(|(role, features)| {
            let features: Dict = features
                .iter()
                .map(|f| (f.to_string(), Value::Bool(true)))
                .collect();
            let mut r = Dict::new();
            r.insert("features".into(), Value::Dict(features));
            (role.to_string(), Value::Dict(r))
        })
        .collect();
    let mut details = Dict::new();
    details.insert("roles".into(), Value::Dict(roles));
    details
}

/// The encoded messages a transport carries, both ways.
type FrameSink = Pin<Box<dyn Sink<Vec<u8>, Error = ClientError> + Send>>;
type FrameStream = Pin<Box<dyn Stream<Item = Result<Vec<u8>, ClientError>> + Send>>;

/// Opens the transport `url` names: a WebSocket (`ws://`), or RawSocket over
/// TCP (`rs://host:port`).
async fn open(url: &str, codec: Codec) -> Result<(FrameSink, FrameStream), ClientError> {
    if let Some(addr) = url.strip_prefix("rs://") {
        let (sink, stream) = crate::rawsocket::open(addr.trim_end_matches('/'), codec)
            .await?
            .split();
        return Ok((Box::pin(sink), Box::pin(stream)));
    }
    let mut request = url.into_client_request()?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(codec.subprotocol()),
    );
    // No Nagle: a request must not wait for the ACK of the one before it.
    let (socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true).await?;
    let (sink, stream) = socket.split();
    // Text frames for a text codec, else binary.
    let sink = sink
        .sink_map_err(ClientError::from)
        .with(move |bytes: Vec<u8>| {
            std::future::ready(Ok(match (codec.is_text(), String::from_utf8(bytes)) {
                (true, Ok(text)) => WsMessage::Text(text),
                (_, Ok(text)) => WsMessage::Binary(text.into_bytes()),
                (_, Err(e)) => WsMessage::Binary(e.into_bytes()),
            }))
        });
    let stream = stream.filter_map(|frame| {
        std::future::ready(match frame {
            Ok(WsMessage::Text(text)) => Some(Ok(text.into_bytes())),
            Ok(WsMessage::Binary(bytes)) => Some(Ok(bytes)),
            Ok(_) => None,
            Err(error) => Some(Err(ClientError::from(error))),
        })
    });
    Ok((Box::pin(sink), Box::pin(stream)))
}

/// `message` encoded (`None`, logged, if it cannot be).
fn frame(codec: Codec, message: &Message) -> Option<Vec<u8>> {
    match encode(codec, message) {
        Ok(bytes) => Some(bytes),
        Err(_) => {
            tracing::error!(message = message.name(), "cannot encode");
            None
        }
    }
}

fn frame_message(codec: Codec, bytes: Vec<u8>) -> Option<Message> {
    match decode(codec, bytes.into()) {
        Ok(message) => Some(message),
        Err(error) => {
            tracing::warn!(%error, "undecodable frame from the router");
            None
        }
    }
}

impl Client {
    /// Connects to `url` (`ws://...`, or `rs://host:port` for RawSocket)
    /// speaking `codec`, and joins `realm` anonymously.
    pub async fn connect(url: &str, realm: &str, codec: Codec) -> Result<Client, ClientError> {
        let (mut sink, mut stream) = open(url, codec).await?;

        let (outbound, mut outbound_rx) = mpsc::unbounded_channel::<Message>();
        let (close, mut close_rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            loop {
                // Biased: everything queued (a GOODBYE, say) is written before closing.
                let message = tokio::select! {
                    biased;
                    next = outbound_rx.recv() => match next {
                        Some(message) => message,
                        None => break,
                    },
                    _ = &mut close_rx => break,
                };
                // Everything already queued goes out in one flush: pipelined
                // requests cost one write, not one each.
                let mut next = Some(message);
                let mut written = Ok(());
                while let Some(message) = next.take() {
                    if let Some(frame) = frame(codec, &message) {
                        written = sink.feed(frame).await;
                        if written.is_err() {
                            break;
                        }
                    }
                    next = outbound_rx.try_recv().ok();
                }
                if written.is_err() || sink.flush().await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });

        let shared = Arc::new(Shared {
            waiting: Mutex::new(HashMap::new()),
            handlers: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            subscribers: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(1),
            outbound,
            leaving: AtomicBool::new(false),
            lost: AtomicBool::new(false),
        });

        let hello = Hello {
            realm: realm.to_owned(),
            details: hello_details(),
        };
        shared.send(Message::Hello(hello))?;
        let welcome = loop {
            let Some(frame) = stream.next().await else {
                return Err(ClientError::Closed);
            };
            match frame_message(codec, frame?) {
                Some(Message::Welcome(w)) => break w,
                Some(Message::Abort(a)) => {
                    return Err(ClientError::Aborted {
                        reason: a.reason,
                        details: a.details,
                    })
                }
                Some(_) => return Err(ClientError::Unexpected("expected WELCOME or ABORT")),
                None => continue,
            }
        };

        let reader_shared = shared.clone();
        tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                let Some(message) = frame_message(codec, frame) else {
                    continue;
                };
                if !dispatch(&reader_shared, message) {
                    break;
                }
            }
            reader_shared.connection_lost();
        });

        Ok(Client {
            shared,
            _close: close,
            session_id: welcome.session,
            welcome: welcome.details,
        })
    }

    /// The session id the router assigned.
    pub fn session_id(&self) -> u64 {
        self.session_id
    }

    /// WELCOME.Details (the router's roles and features, authid, ...).
    pub fn welcome_details(&self) -> &Dict {
        &self.welcome
    }

    /// Sends GOODBYE; the router's reply closes the session.
    pub async fn leave(self) -> Result<(), ClientError> {
        let goodbye = Goodbye {
            details: Dict::new(),
            reason: "wamp.close.close_realm".to_owned(),
        };
        self.shared.leaving.store(true, Ordering::SeqCst);
        self.shared.send(Message::Goodbye(goodbye))
    }
}

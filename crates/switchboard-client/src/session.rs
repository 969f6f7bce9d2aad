//! The client session: a reader task, a writer task and a table of waiting requests.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use switchboard_proto::{
    code, decode, encode, Arguments, Call, Codec, Dict, Error as ErrorMessage, Goodbye, Hello,
    Message, Register, Unregister, Value, Yield,
};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::error::{ClientError, WampError};

/// One INVOCATION as a handler sees it.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// INVOCATION.Details (`procedure`, `caller`, ...).
    pub details: Dict,
    /// The caller's arguments.
    pub arguments: Arguments,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Arguments, WampError>> + Send>>;

/// A procedure's implementation: arguments in, result (or application error) out.
pub type Handler = Arc<dyn Fn(Invocation) -> BoxFuture + Send + Sync>;

/// State shared by the client handle and its reader task.
struct Shared {
    /// Request id -> whoever waits for its answer.
    waiting: Mutex<HashMap<u64, oneshot::Sender<Message>>>,
    /// Registration id -> its handler.
    handlers: Mutex<HashMap<u64, Handler>>,
    next_request: AtomicU64,
    outbound: mpsc::UnboundedSender<Message>,
    /// Set once we sent GOODBYE, so the router's GOODBYE is taken as the reply.
    leaving: AtomicBool,
}

impl Shared {
    fn request_id(&self) -> u64 {
        self.next_request.fetch_add(1, Ordering::Relaxed)
    }
}

/// A joined WAMP session.
pub struct Client {
    shared: Arc<Shared>,
    /// Dropping this ends the writer task, which closes the WebSocket.
    _close: oneshot::Sender<()>,
    session_id: u64,
    welcome: Dict,
}

impl Client {
    /// Opens a WebSocket to `url` speaking `codec`, and joins `realm` anonymously.
    pub async fn connect(url: &str, realm: &str, codec: Codec) -> Result<Client, ClientError> {
        let mut request = url.into_client_request()?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(codec.subprotocol()),
        );
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        let (mut sink, mut stream) = socket.split();

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
                let Ok(bytes) = encode(codec, &message) else {
                    tracing::error!(message = message.name(), "cannot encode");
                    continue;
                };
                let frame = match (codec.is_text(), String::from_utf8(bytes)) {
                    (true, Ok(text)) => WsMessage::Text(text),
                    (_, Ok(text)) => WsMessage::Binary(text.into_bytes()),
                    (_, Err(e)) => WsMessage::Binary(e.into_bytes()),
                };
                if sink.send(frame).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });

        let shared = Arc::new(Shared {
            waiting: Mutex::new(HashMap::new()),
            handlers: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(1),
            outbound,
            leaving: AtomicBool::new(false),
        });

        let hello = Hello {
            realm: realm.to_owned(),
            details: hello_details(),
        };
        let _ = shared.outbound.send(Message::Hello(hello));
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
            // Dropping every waiter tells each pending request the connection is gone.
            reader_shared.waiting.lock().map(|mut w| w.clear()).ok();
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

    /// Sends `message` and waits for the reply to its request id.
    async fn request(&self, request: u64, message: Message) -> Result<Message, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.shared
            .waiting
            .lock()
            .map_err(|_| ClientError::Closed)?
            .insert(request, tx);
        self.shared
            .outbound
            .send(message)
            .map_err(|_| ClientError::Closed)?;
        match rx.await.map_err(|_| ClientError::Closed)? {
            Message::Error(e) => Err(ClientError::Wamp(WampError {
                uri: e.error,
                details: e.details,
                arguments: e.arguments,
            })),
            Message::Abort(a) => Err(ClientError::Aborted {
                reason: a.reason,
                details: a.details,
            }),
            reply => Ok(reply),
        }
    }

    /// Registers `procedure` with `options`; `handler` answers each INVOCATION.
    /// Returns the registration id.
    pub async fn register<F, Fut>(
        &self,
        procedure: &str,
        options: Dict,
        handler: F,
    ) -> Result<u64, ClientError>
    where
        F: Fn(Invocation) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Arguments, WampError>> + Send + 'static,
    {
        let request = self.shared.request_id();
        let message = Message::Register(Register {
            request,
            options,
            procedure: procedure.to_owned(),
        });
        match self.request(request, message).await? {
            Message::Registered(r) => {
                let handler: Handler = Arc::new(move |inv| Box::pin(handler(inv)));
                if let Ok(mut handlers) = self.shared.handlers.lock() {
                    handlers.insert(r.registration, handler);
                }
                Ok(r.registration)
            }
            _ => Err(ClientError::Unexpected("expected REGISTERED")),
        }
    }

    /// Unregisters a registration made by this session.
    pub async fn unregister(&self, registration: u64) -> Result<(), ClientError> {
        let request = self.shared.request_id();
        let message = Message::Unregister(Unregister {
            request,
            registration,
        });
        match self.request(request, message).await? {
            Message::Unregistered(_) => {
                if let Ok(mut handlers) = self.shared.handlers.lock() {
                    handlers.remove(&registration);
                }
                Ok(())
            }
            _ => Err(ClientError::Unexpected("expected UNREGISTERED")),
        }
    }

    /// Calls `procedure` and waits for its final RESULT.
    pub async fn call(
        &self,
        procedure: &str,
        arguments: Arguments,
    ) -> Result<Arguments, ClientError> {
        self.call_with(procedure, Dict::new(), arguments).await
    }

    /// Calls `procedure` with CALL.Options `options`.
    pub async fn call_with(
        &self,
        procedure: &str,
        options: Dict,
        arguments: Arguments,
    ) -> Result<Arguments, ClientError> {
        let request = self.shared.request_id();
        let message = Message::Call(Call {
            request,
            options,
            procedure: procedure.to_owned(),
            arguments,
        });
        match self.request(request, message).await? {
            Message::Result(r) => Ok(r.arguments),
            _ => Err(ClientError::Unexpected("expected RESULT")),
        }
    }

    /// Sends GOODBYE; the router's reply closes the session.
    pub async fn leave(self) -> Result<(), ClientError> {
        let goodbye = Goodbye {
            details: Dict::new(),
            reason: "wamp.close.close_realm".to_owned(),
        };
        self.shared.leaving.store(true, Ordering::SeqCst);
        self.shared
            .outbound
            .send(Message::Goodbye(goodbye))
            .map_err(|_| ClientError::Closed)
    }
}

/// HELLO.Details: the roles this client plays.
fn hello_details() -> Dict {
    let mut roles = Dict::new();
    for role in ["caller", "callee"] {
        let mut r = Dict::new();
        r.insert("features".into(), Value::Dict(Dict::new()));
        roles.insert(role.into(), Value::Dict(r));
    }
    let mut details = Dict::new();
    details.insert("roles".into(), Value::Dict(roles));
    details
}

fn frame_message(codec: Codec, frame: WsMessage) -> Option<Message> {
    let bytes = match frame {
        WsMessage::Text(text) => text.into_bytes(),
        WsMessage::Binary(bytes) => bytes,
        _ => return None,
    };
    match decode(codec, bytes.into()) {
        Ok(message) => Some(message),
        Err(error) => {
            tracing::warn!(%error, "undecodable frame from the router");
            None
        }
    }
}

/// Routes one message from the router. Returns false when the session is over.
fn dispatch(shared: &Arc<Shared>, message: Message) -> bool {
    let reply_to = match &message {
        Message::Registered(m) => Some(m.request),
        Message::Unregistered(m) => Some(m.request),
        Message::Result(m) => Some(m.request),
        Message::Error(m) => Some(m.request),
        _ => None,
    };
    if let Some(request) = reply_to {
        let waiter = shared
            .waiting
            .lock()
            .ok()
            .and_then(|mut w| w.remove(&request));
        if let Some(waiter) = waiter {
            let _ = waiter.send(message);
        }
        return true;
    }
    match message {
        Message::Invocation(inv) => {
            let handler = shared
                .handlers
                .lock()
                .ok()
                .and_then(|h| h.get(&inv.registration).cloned());
            let outbound = shared.outbound.clone();
            tokio::spawn(async move {
                let outcome = match handler {
                    Some(handler) => {
                        handler(Invocation {
                            details: inv.details,
                            arguments: inv.arguments,
                        })
                        .await
                    }
                    None => Err(WampError::new(
                        "wamp.error.no_such_registration",
                        Arguments::none(),
                    )),
                };
                let reply = match outcome {
                    Ok(arguments) => Message::Yield(Yield {
                        request: inv.request,
                        options: Dict::new(),
                        arguments,
                    }),
                    Err(e) => Message::Error(ErrorMessage {
                        request_type: code::INVOCATION,
                        request: inv.request,
                        details: e.details,
                        error: e.uri,
                        arguments: e.arguments,
                    }),
                };
                let _ = outbound.send(reply);
            });
            true
        }
        Message::Goodbye(_) if shared.leaving.load(Ordering::SeqCst) => false,
        Message::Goodbye(_) => {
            let reply = Goodbye {
                details: Dict::new(),
                reason: "wamp.close.goodbye_and_out".to_owned(),
            };
            let _ = shared.outbound.send(Message::Goodbye(reply));
            false
        }
        Message::Abort(_) => false,
        _ => true,
    }
}

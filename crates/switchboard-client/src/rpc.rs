//! Calling and serving procedures.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use switchboard_proto::{
    code, Arguments, Call, Cancel, Dict, Error as ErrorMessage, Invocation as InvocationMessage,
    Message, Register, Unregister, Value, Yield,
};
use tokio::sync::{mpsc, oneshot};

use crate::connection::Client;
use crate::dispatch::{Running, Shared, Waiter};
use crate::error::{ClientError, WampError};

type BoxFuture = Pin<Box<dyn Future<Output = Result<Arguments, WampError>> + Send>>;

/// A procedure's implementation: an invocation in, a result (or application error) out.
pub(crate) type Handler = Arc<dyn Fn(Invocation) -> BoxFuture + Send + Sync>;

/// One INVOCATION as a handler sees it.
pub struct Invocation {
    /// INVOCATION.Details (`procedure`, `caller`, `receive_progress`, ...).
    pub details: Dict,
    /// The caller's arguments (the first chunk, for a progressive invocation).
    pub arguments: Arguments,
    request: u64,
    outbound: mpsc::UnboundedSender<Message>,
    chunks: Option<mpsc::UnboundedReceiver<(Arguments, bool)>>,
}

impl Invocation {
    /// Whether the caller asked for progressive results.
    pub fn receive_progress(&self) -> bool {
        self.details
            .get("receive_progress")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// Sends one progressive result (a YIELD with `progress`), if the caller asked for them.
    pub fn progress(&self, arguments: Arguments) {
        if !self.receive_progress() {
            return;
        }
        let mut options = Dict::new();
        options.insert("progress".into(), Value::Bool(true));
        let _ = self.outbound.send(Message::Yield(Yield {
            request: self.request,
            options,
            arguments,
        }));
    }

    /// The next chunk of a progressive call invocation and whether it is the last;
    /// `None` once the last chunk has been taken (or for an ordinary call).
    pub async fn next_chunk(&mut self) -> Option<(Arguments, bool)> {
        let chunks = self.chunks.as_mut()?;
        let chunk = chunks.recv().await;
        if matches!(chunk, Some((_, true)) | None) {
            self.chunks = None;
        }
        chunk
    }
}

/// What a streaming call delivers.
#[derive(Debug, Clone, PartialEq)]
pub enum CallUpdate {
    /// A progressive result; more follow.
    Progress(Arguments),
    /// The final result.
    Final(Arguments),
}

/// A call in flight whose progressive results can be read as they come, and
/// which can be canceled or fed more chunks.
pub struct CallStream {
    request: u64,
    procedure: String,
    results: mpsc::UnboundedReceiver<Message>,
    shared: Arc<Shared>,
}

impl CallStream {
    /// The CALL's request id.
    pub fn request_id(&self) -> u64 {
        self.request
    }

    /// The next result; `None` after the final one (or if the connection is gone).
    pub async fn next(&mut self) -> Option<Result<CallUpdate, ClientError>> {
        Some(match self.results.recv().await? {
            Message::Result(r)
                if r.details.get("progress").and_then(Value::as_bool) == Some(true) =>
            {
                Ok(CallUpdate::Progress(r.arguments))
            }
            Message::Result(r) => Ok(CallUpdate::Final(r.arguments)),
            Message::Error(e) => Err(ClientError::Wamp(Box::new(WampError {
                uri: e.error,
                details: e.details,
                arguments: e.arguments,
            }))),
            _ => Err(ClientError::Unexpected("expected RESULT or ERROR")),
        })
    }

    /// Waits for the final result, skipping progressive ones.
    pub async fn finish(mut self) -> Result<Arguments, ClientError> {
        loop {
            match self.next().await {
                Some(Ok(CallUpdate::Final(arguments))) => return Ok(arguments),
                Some(Ok(CallUpdate::Progress(_))) => continue,
                Some(Err(e)) => return Err(e),
                None => return Err(ClientError::Closed),
            }
        }
    }

    /// Sends CANCEL with `mode` (`skip`, `kill`, `killnowait`; `None` lets the router pick).
    pub fn cancel(&self, mode: Option<&str>) -> Result<(), ClientError> {
        let mut options = Dict::new();
        if let Some(mode) = mode {
            options.insert("mode".into(), Value::from(mode));
        }
        self.shared.send(Message::Cancel(Cancel {
            request: self.request,
            options,
        }))
    }

    /// Sends one more chunk of a progressive call invocation (started with
    /// `progress: true` in the options); `last` ends the stream.
    pub fn send_chunk(&self, arguments: Arguments, last: bool) -> Result<(), ClientError> {
        let mut options = Dict::new();
        if !last {
            options.insert("progress".into(), Value::Bool(true));
        }
        self.shared.send(Message::Call(Call {
            request: self.request,
            options,
            procedure: self.procedure.clone(),
            arguments,
        }))
    }
}

fn wamp_error(message: Message) -> Result<Message, ClientError> {
    match message {
        Message::Error(e) => Err(ClientError::Wamp(Box::new(WampError {
            uri: e.error,
            details: e.details,
            arguments: e.arguments,
        }))),
        Message::Abort(a) => Err(ClientError::Aborted {
            reason: a.reason,
            details: a.details,
        }),
        reply => Ok(reply),
    }
}

impl Client {
    /// Sends `message` and waits for the one reply to its request id.
    pub(crate) async fn request(
        &self,
        request: u64,
        message: Message,
    ) -> Result<Message, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.shared.start(request, message, Waiter::Reply(tx))?;
        wamp_error(rx.await.map_err(|_| ClientError::Closed)?)
    }

    /// Registers `procedure` with REGISTER.Options `options` (`match`, `invoke`,
    /// ...); `handler` answers each INVOCATION. Returns the registration id.
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

    /// Calls `procedure` with CALL.Options `options` and waits for the final RESULT.
    pub async fn call_with(
        &self,
        procedure: &str,
        options: Dict,
        arguments: Arguments,
    ) -> Result<Arguments, ClientError> {
        self.start_call(procedure, options, arguments)?
            .finish()
            .await
    }

    /// Sends a CALL and returns at once; read progressive and final results, cancel,
    /// or send more chunks through the returned stream.
    pub fn start_call(
        &self,
        procedure: &str,
        options: Dict,
        arguments: Arguments,
    ) -> Result<CallStream, ClientError> {
        let request = self.shared.request_id();
        let (tx, rx) = mpsc::unbounded_channel();
        let message = Message::Call(Call {
            request,
            options,
            procedure: procedure.to_owned(),
            arguments,
        });
        self.shared.start(request, message, Waiter::Stream(tx))?;
        Ok(CallStream {
            request,
            procedure: procedure.to_owned(),
            results: rx,
            shared: self.shared.clone(),
        })
    }
}

/// Runs the handler for an INVOCATION in its own task (or feeds a chunk to the
/// task already handling that invocation), and sends its YIELD or ERROR.
pub(crate) fn run_invocation(shared: &Shared, invocation: InvocationMessage) {
    let more_coming = invocation
        .details
        .get("progress")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if let Ok(mut running) = shared.running.lock() {
        if let Some(run) = running.get_mut(&invocation.request) {
            if let Some(chunks) = &run.chunks {
                let _ = chunks.send((invocation.arguments, !more_coming));
            }
            if !more_coming {
                run.chunks = None;
            }
            return;
        }
    }
    let handler = shared
        .handlers
        .lock()
        .ok()
        .and_then(|h| h.get(&invocation.registration).cloned());
    let outbound = shared.outbound.clone();
    let (chunk_tx, chunk_rx) = if more_coming {
        let (tx, rx) = mpsc::unbounded_channel();
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let request = invocation.request;
    let call = Invocation {
        details: invocation.details,
        arguments: invocation.arguments,
        request,
        outbound: outbound.clone(),
        chunks: chunk_rx,
    };
    let task = tokio::spawn(async move {
        let outcome = match handler {
            Some(handler) => handler(call).await,
            None => Err(WampError::new(
                "wamp.error.no_such_registration",
                Arguments::none(),
            )),
        };
        let reply = match outcome {
            Ok(arguments) => Message::Yield(Yield {
                request,
                options: Dict::new(),
                arguments,
            }),
            Err(e) => Message::Error(ErrorMessage {
                request_type: code::INVOCATION,
                request,
                details: e.details,
                error: e.uri,
                arguments: e.arguments,
            }),
        };
        let _ = outbound.send(reply);
    });
    if let Ok(mut running) = shared.running.lock() {
        running.retain(|_, r| r.abort.as_ref().is_some_and(|a| !a.is_finished()));
        running.insert(
            request,
            Running {
                abort: Some(task.abort_handle()),
                chunks: chunk_tx,
            },
        );
    }
}

//! What the reader task does with each message from the router.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use switchboard_proto::{code, Dict, Error as ErrorMessage, Goodbye, Message, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use crate::error::ClientError;
use crate::pubsub::{Event, EventHandler};
use crate::rpc::{run_invocation, Handler};

/// Who waits for the answer to a request.
pub(crate) enum Waiter {
    /// One reply ends the request.
    Reply(oneshot::Sender<Message>),
    /// A call that may get progressive RESULTs before its final one.
    Stream(mpsc::UnboundedSender<Message>),
}

/// An invocation being handled: how to stop it, and where its next chunks go.
pub(crate) struct Running {
    pub(crate) abort: Option<AbortHandle>,
    pub(crate) chunks: Option<mpsc::UnboundedSender<(switchboard_proto::Arguments, bool)>>,
}

/// State shared by the client handle and its reader task.
pub(crate) struct Shared {
    /// Request id -> whoever waits for its answer.
    pub(crate) waiting: Mutex<HashMap<u64, Waiter>>,
    /// Registration id -> its handler.
    pub(crate) handlers: Mutex<HashMap<u64, Handler>>,
    /// Invocation id -> the task handling it.
    pub(crate) running: Mutex<HashMap<u64, Running>>,
    /// Subscription id -> its event handler.
    pub(crate) subscribers: Mutex<HashMap<u64, EventHandler>>,
    pub(crate) next_request: AtomicU64,
    pub(crate) outbound: mpsc::UnboundedSender<Message>,
    /// Set once we sent GOODBYE, so the router's GOODBYE is taken as the reply.
    pub(crate) leaving: AtomicBool,
    /// Set when the reader stops: no reply will ever come again.
    pub(crate) lost: AtomicBool,
}

impl Shared {
    pub(crate) fn request_id(&self) -> u64 {
        self.next_request.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn send(&self, message: Message) -> Result<(), ClientError> {
        self.outbound.send(message).map_err(|_| ClientError::Closed)
    }

    /// Registers `waiter` for `request` and sends `message`.
    pub(crate) fn start(
        &self,
        request: u64,
        message: Message,
        waiter: Waiter,
    ) -> Result<(), ClientError> {
        {
            let mut waiting = self.waiting.lock().map_err(|_| ClientError::Closed)?;
            // Checked under the lock `connection_lost` takes: a request made after
            // the session ended (by the router's GOODBYE, say) fails now instead
            // of waiting for an answer that cannot come.
            if self.lost.load(Ordering::SeqCst) {
                return Err(ClientError::Closed);
            }
            waiting.insert(request, waiter);
        }
        self.send(message)
    }

    /// The connection is gone: every waiter learns it (its channel closes).
    pub(crate) fn connection_lost(&self) {
        if let Ok(mut waiting) = self.waiting.lock() {
            self.lost.store(true, Ordering::SeqCst);
            waiting.clear();
        }
        if let Ok(mut running) = self.running.lock() {
            for (_, run) in running.drain() {
                if let Some(abort) = run.abort {
                    abort.abort();
                }
            }
        }
    }
}

/// Routes one message from the router. Returns false when the session is over.
pub(crate) fn dispatch(shared: &Shared, message: Message) -> bool {
    match message {
        Message::Registered(ref m) => reply(shared, m.request, message, false),
        Message::Unregistered(ref m) => reply(shared, m.request, message, false),
        Message::Subscribed(ref m) => reply(shared, m.request, message, false),
        Message::Unsubscribed(ref m) => reply(shared, m.request, message, false),
        Message::Published(ref m) => reply(shared, m.request, message, false),
        Message::Error(ref m) => reply(shared, m.request, message, false),
        Message::Result(ref m) => {
            let progress = m
                .details
                .get("progress")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            reply(shared, m.request, message, progress)
        }
        Message::Invocation(invocation) => run_invocation(shared, invocation),
        Message::Interrupt(interrupt) => {
            let run = shared
                .running
                .lock()
                .ok()
                .and_then(|mut r| r.remove(&interrupt.request));
            if let Some(abort) = run.and_then(|r| r.abort) {
                abort.abort();
            }
            // After `kill` the router waits for our answer; after `killnowait` it
            // discards any, so there is nothing to say.
            if interrupt.options.get("mode").and_then(Value::as_str) == Some("kill") {
                let error = ErrorMessage {
                    request_type: code::INVOCATION,
                    request: interrupt.request,
                    details: Dict::new(),
                    error: "wamp.error.canceled".into(),
                    arguments: Default::default(),
                };
                let _ = shared.send(Message::Error(error));
            }
        }
        Message::Event(event) => {
            let handler = shared
                .subscribers
                .lock()
                .ok()
                .and_then(|s| s.get(&event.subscription).cloned());
            if let Some(handler) = handler {
                handler(Event {
                    subscription: event.subscription,
                    publication: event.publication,
                    details: event.details,
                    arguments: event.arguments,
                });
            }
        }
        Message::Goodbye(_) if shared.leaving.load(Ordering::SeqCst) => return false,
        Message::Goodbye(_) => {
            let reply = Goodbye {
                details: Dict::new(),
                reason: "wamp.close.goodbye_and_out".to_owned(),
            };
            let _ = shared.send(Message::Goodbye(reply));
            return false;
        }
        Message::Abort(_) => return false,
        _ => {}
    }
    true
}

/// Hands `message` to whoever waits on `request`; a progressive RESULT keeps
/// the waiter in place for what follows.
fn reply(shared: &Shared, request: u64, message: Message, progress: bool) {
    let Ok(mut waiting) = shared.waiting.lock() else {
        return;
    };
    match waiting.get(&request) {
        Some(Waiter::Stream(tx)) if progress => {
            let _ = tx.send(message);
        }
        Some(_) => match waiting.remove(&request) {
            Some(Waiter::Reply(tx)) => {
                let _ = tx.send(message);
            }
            Some(Waiter::Stream(tx)) => {
                let _ = tx.send(message);
            }
            None => {}
        },
        None => {}
    }
}

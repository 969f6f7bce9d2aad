//! A small async WAMP client: join a realm, register and call procedures
//! (with progressive results, progressive invocations and canceling), publish
//! and subscribe.
//!
//! Built on `switchboard-proto` and tokio-tungstenite, over WebSocket (`ws://`)
//! or RawSocket over TCP (`rs://host:port`). One background task reads
//! frames and routes each reply to the request waiting for it (by request id),
//! each INVOCATION to its handler and each EVENT to its subscriber; another
//! writes frames in order. Our tests and benchmarks use it; it speaks plain WAMP,
//! so it works against any router.

mod connection;
mod dispatch;
mod error;
mod pubsub;
mod rawsocket;
mod rpc;

pub use connection::Client;
pub use error::{ClientError, WampError};
pub use pubsub::Event;
pub use rpc::{CallStream, CallUpdate, Invocation};
pub use switchboard_proto::{Arguments, Codec, Dict, Message, Payload, Value};

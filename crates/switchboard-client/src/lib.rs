//! A small async WAMP client: join a realm, register procedures, call them.
//!
//! Built on `switchboard-proto` and tokio-tungstenite. One background task reads
//! frames and routes each reply to the request waiting for it (by request id) or
//! each INVOCATION to its handler; another writes frames in order. Our tests and
//! benchmarks use it; it speaks plain WAMP, so it works against any router.

mod error;
mod session;

pub use error::{ClientError, WampError};
pub use session::{Client, Handler, Invocation};
pub use switchboard_proto::{Arguments, Codec, Dict, Message, Value};

//! The router's decisions, as plain state machines with no sockets, threads or clocks.
//!
//! A [`Realm`] is driven from outside, like `quinn-proto`'s `Connection`: its owner
//! feeds it inputs (`handle_*`), then drains its outputs (`poll_*`). A
//! [`SessionGate`] sits in front of each connection and decides what a frame means
//! for the session's lifecycle (HELLO, GOODBYE, ABORT, out-of-order messages)
//! before anything reaches a realm. The actix layer in `switchboard-server` only
//! carries messages between the two.
#![warn(missing_docs, unreachable_pub)]

pub mod auth;
pub mod broker;
mod clock;
pub mod cluster;
pub mod config;
pub mod dealer;
mod features;
pub mod matching;
mod meta;
pub mod outbound;
pub mod permissions;
pub mod ppt;
pub mod realm;
pub mod replies;
pub mod session_gate;

pub use clock::ClockAnchor;
pub use config::RealmConfig;
pub use features::{PayloadMode, PayloadModes, PayloadRole, PeerFeatures};
pub use realm::{Outgoing, Realm, SessionId};
pub use session_gate::{GateAction, SessionGate};

#[cfg(test)]
mod tests;

//! Scenario tests: a realm driven message by message with fake sessions and a
//! virtual clock, like `quinn-proto`'s `Pair`. No sockets, no sleeping.

mod blackwhite_listing;
mod broker;
mod caller_identification;
mod canceling;
mod cluster;
mod cluster_harness;
mod dealer;
mod handshakes;
mod harness;
mod history;
mod meta;
mod patterns;
mod pauses;
mod permissions;
mod ppt;
mod progressive;
mod realm;
mod retention;
mod session_kill;
mod shared;
mod subscription_meta;
mod testaments;
mod timeouts;
mod wamp;

//! Benchmarks of Switchboard from the outside: real router processes driven over
//! loopback WebSockets, next to Crossbar.io and a raw relay under the same load.
//!
//! - [`load`]: the router-agnostic load generator (C callers x K calls in flight),
//!   with [`echo_callee`] as its WebSocket callee.
//! - [`relay`]: the raw WebSocket relay, the floor under any router's cost.
//! - [`systems`]: starting Switchboard (one node or a cluster), Crossbar.io, the relay.
//! - [`registration`]: filling a registry, and timing REGISTER.
//! - [`scenarios`]: the suite `scripts/bench` runs.
//! - [`results`]: its figures, ratios, targets, table and JSON.
//! - [`report`] and [`procfs`]: figures, and the CPU and memory the kernel accounts.

pub mod echo_callee;
pub mod load;
pub mod procfs;
pub mod registration;
pub mod relay;
pub mod report;
pub mod results;
pub mod scenarios;
pub mod systems;

//! The raw WebSocket relay (see `switchboard_bench::relay`): forwards frames
//! caller -> relay -> callee -> relay -> caller with no WAMP, as the floor under
//! a router's cost. Usage: `ws_relay [port]` (default: any free port); prints
//! `relay listening on ws://127.0.0.1:PORT` once it accepts connections.

use anyhow::Context;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .map(|p| p.parse().context("usage: ws_relay [port]"))
        .transpose()?
        .unwrap_or(0);
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("relay listening on ws://{}", listener.local_addr()?);
    switchboard_bench::relay::serve(listener).await
}

//! `switchboard`: the WAMP router binary. Parses settings, sets up logging, and
//! hands a bound listener to `switchboard_server::serve`.

mod certs;
mod cli;
mod cluster_settings;
mod logging;
mod probe;
mod realm_settings;
mod settings;
mod tls_settings;

use std::io::Write;
use std::net::TcpListener;

use anyhow::Context;
use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    match &cli.command {
        Some(cli::Command::Probe { url }) => return probe::run(url),
        Some(cli::Command::Certs {
            out,
            nodes,
            hosts,
            force,
            if_missing,
        }) => {
            if *if_missing && out.join("ca.pem").exists() {
                println!("{} already holds a CA; left as it is", out.display());
                return Ok(());
            }
            return certs::generate(out, nodes, hosts, *force);
        }
        Some(cli::Command::HashTicket) => return hash_ticket(),
        None => {}
    }
    let settings = settings::Settings::load(&cli, std::env::vars())?;
    logging::init(&settings.log)?;

    let config = settings.server_config()?;
    let scheme = if config.tls.is_some() { "wss" } else { "ws" };
    let listener = TcpListener::bind((settings.host.as_str(), settings.port))
        .with_context(|| format!("cannot listen on {}:{}", settings.host, settings.port))?;
    let addr = listener.local_addr()?;
    let path = settings.path.clone();
    let realms: Vec<String> = settings
        .realm_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    // The lines on stdout (the WebSocket one, after one per RawSocket listener),
    // once clients can be served (in a cluster, once this node has joined):
    // scripts and tests read the real ports from them.
    let ready = move |server: &switchboard_server::RunningServer| {
        // RawSocket lines come first: a script that waits for the WebSocket
        // line has them by then.
        if let Some(raw) = server.rawsocket_addr() {
            println!("switchboard rawsocket listening on tcp://{raw}");
            tracing::info!(addr = %raw, "RawSocket over TCP");
        }
        if let Some(raw) = server.rawsocket_path() {
            println!("switchboard rawsocket listening on unix:{}", raw.display());
            tracing::info!(path = %raw.display(), "RawSocket over a Unix socket");
        }
        println!("switchboard listening on {scheme}://{addr}{path}");
        let _ = std::io::stdout().flush();
        tracing::info!(%addr, %path, ?realms, "router ready");
    };
    switchboard_server::serve(config, listener, shutdown_signal(), ready)
        .context("server failed")?;
    tracing::info!("router stopped");
    Ok(())
}

/// `switchboard hash-ticket`: one line of stdin in, a PHC string out.
fn hash_ticket() -> anyhow::Result<()> {
    let mut ticket = String::new();
    std::io::stdin()
        .read_line(&mut ticket)
        .context("cannot read the ticket from stdin")?;
    let ticket = ticket.trim_end_matches(['\n', '\r']);
    if ticket.is_empty() {
        anyhow::bail!("no ticket on stdin");
    }
    let hash = switchboard_core::auth::hash_ticket(ticket, &mut rand::rngs::OsRng);
    println!("{hash}");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot watch SIGTERM; only Ctrl-C stops the router");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

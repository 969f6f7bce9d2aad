//! `tracing` to stderr, filtered by `RUST_LOG` (or the configured filter), as text or JSON.

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::settings::{LogFormat, LogSettings};

pub(crate) fn init(settings: &LogSettings) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(from_env) if !from_env.is_empty() => EnvFilter::try_new(from_env).context("RUST_LOG")?,
        _ => EnvFilter::try_new(&settings.filter).context("log.filter")?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match settings.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

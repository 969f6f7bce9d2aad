//! `switchboard probe URL`: a minimal HTTP GET for container healthchecks, so the
//! image needs no shell or curl.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, Context};

/// GETs `url` (plain `http://host:port/path`); Ok only for a 200 answer.
pub(crate) fn run(url: &str) -> anyhow::Result<()> {
    let rest = url
        .strip_prefix("http://")
        .context("probe: the URL must start with http://")?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let mut stream = TcpStream::connect(authority)
        .with_context(|| format!("probe: cannot connect to {authority}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        bail!("probe: {url} answered {status:?}");
    }
    Ok(())
}

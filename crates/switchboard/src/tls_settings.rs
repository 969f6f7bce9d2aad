//! TLS material from PEM files: the client listener's certificate, and the
//! cluster CA with this node's certificate for mutual TLS on peer links.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use switchboard_cluster::PeerTls;

/// A certificate chain and its key, as configured (`[server.tls]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ListenerTls {
    pub(crate) cert: Option<PathBuf>,
    pub(crate) key: Option<PathBuf>,
}

/// The cluster CA and this node's certificate (`[cluster.tls]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct PeerTlsFiles {
    pub(crate) ca: Option<PathBuf>,
    pub(crate) cert: Option<PathBuf>,
    pub(crate) key: Option<PathBuf>,
}

impl ListenerTls {
    /// `None` when no TLS is configured; an error names the key that is missing
    /// or the file that does not load.
    pub(crate) fn load(&self) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
        let (cert, key) = match (&self.cert, &self.key) {
            (None, None) => return Ok(None),
            (Some(cert), Some(key)) => (cert, key),
            (Some(_), None) => bail!("server.tls.key: needed with server.tls.cert"),
            (None, Some(_)) => bail!("server.tls.cert: needed with server.tls.key"),
        };
        let chain = certificates(cert).context("server.tls.cert")?;
        let key = private_key(key).context("server.tls.key")?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| anyhow!("server.tls: the certificate and key do not go together: {e}"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(Arc::new(config)))
    }
}

impl PeerTlsFiles {
    /// `None` when no peer TLS is configured; all three files or none.
    pub(crate) fn load(&self) -> anyhow::Result<Option<PeerTls>> {
        let (ca, cert, key) = match (&self.ca, &self.cert, &self.key) {
            (None, None, None) => return Ok(None),
            (Some(ca), Some(cert), Some(key)) => (ca, cert, key),
            _ => bail!("cluster.tls: set all of ca, cert and key, or none"),
        };
        let ca = certificates(ca).context("cluster.tls.ca")?;
        let chain = certificates(cert).context("cluster.tls.cert")?;
        let key = private_key(key).context("cluster.tls.key")?;
        Ok(Some(
            PeerTls::new(ca, chain, key).map_err(|e| anyhow!("cluster.tls: {e}"))?,
        ))
    }
}

fn certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut text.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not PEM", path.display()))?;
    if certs.is_empty() {
        bail!("{} holds no certificate", path.display());
    }
    Ok(certs)
}

fn private_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    rustls_pemfile::private_key(&mut text.as_slice())
        .with_context(|| format!("{} is not PEM", path.display()))?
        .ok_or_else(|| anyhow!("{} holds no private key", path.display()))
}

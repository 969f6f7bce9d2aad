//! Mutual TLS on peer links: both ends present a certificate signed by the
//! cluster's CA, and each certificate names the node that holds it
//! (`switchboard-node-<id>`), so a node can only ever speak as itself.
//!
//! The dialler checks the acceptor's name through rustls' own server-name
//! check; the acceptor, which learns who is calling only from the first frame,
//! checks that frame's node id against the client certificate's names.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::{client, server, TlsAcceptor, TlsConnector};

use crate::link_writer::WriteHalf;
use crate::types::NodeId;

/// The name a node's certificate must carry.
pub fn node_name(node: NodeId) -> String {
    format!("switchboard-node-{node}")
}

/// Why the peer TLS setup is unusable.
#[derive(Debug, thiserror::Error)]
pub enum PeerTlsError {
    /// The CA certificates.
    #[error("the cluster CA: {0}")]
    Ca(String),
    /// This node's certificate chain or key.
    #[error("this node's certificate or key: {0}")]
    Identity(String),
}

/// This node's TLS identity and the cluster CA.
#[derive(Clone)]
pub struct PeerTls {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerTls(..)")
    }
}

impl PeerTls {
    /// From the CA certificates and this node's chain and key (DER).
    pub fn new(
        ca: Vec<CertificateDer<'static>>,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, PeerTlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for cert in ca {
            roots
                .add(cert)
                .map_err(|e| PeerTlsError::Ca(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(PeerTlsError::Ca("no certificate".into()));
        }
        let roots = Arc::new(roots);
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| PeerTlsError::Ca(e.to_string()))?;
        let identity = |e: rustls::Error| PeerTlsError::Identity(e.to_string());
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(identity)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(identity)?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(identity)?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(identity)?;
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
        })
    }

    /// The TLS handshake of an accepted connection: the client must present a
    /// certificate of the cluster CA. Returns the stream and that certificate.
    pub(crate) async fn accept(
        &self,
        tcp: TcpStream,
    ) -> std::io::Result<(server::TlsStream<TcpStream>, CertificateDer<'static>)> {
        let stream = self.acceptor.accept(tcp).await?;
        let cert = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|c| c.clone().into_owned())
            .ok_or_else(|| std::io::Error::other("the peer presented no certificate"))?;
        Ok((stream, cert))
    }

    /// The TLS handshake of a dialled connection to `node`, whose certificate
    /// must name it.
    pub(crate) async fn connect(
        &self,
        node: NodeId,
        tcp: TcpStream,
    ) -> std::io::Result<client::TlsStream<TcpStream>> {
        let name = ServerName::try_from(node_name(node)).map_err(std::io::Error::other)?;
        self.connector.connect(name, tcp).await
    }
}

/// Whether `cert` (already verified against the CA) names node `node`.
pub(crate) fn certifies(cert: &CertificateDer<'_>, node: NodeId) -> bool {
    let Ok(name) = ServerName::try_from(node_name(node)) else {
        return false;
    };
    webpki::EndEntityCert::try_from(cert)
        .is_ok_and(|cert| cert.verify_is_valid_for_subject_name(&name).is_ok())
}

/// A byte stream a link can run on: plain TCP or either end of TLS.
pub(crate) trait LinkStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Its reading and writing halves (see `link_writer.rs` for why plain TCP
    /// differs).
    fn into_halves(self) -> (Box<dyn AsyncRead + Send + Unpin>, WriteHalf);
}

impl LinkStream for TcpStream {
    fn into_halves(self) -> (Box<dyn AsyncRead + Send + Unpin>, WriteHalf) {
        let (read, write) = self.into_split();
        (Box::new(read), WriteHalf::Tcp(std::sync::Arc::new(write)))
    }
}

impl LinkStream for server::TlsStream<TcpStream> {
    fn into_halves(self) -> (Box<dyn AsyncRead + Send + Unpin>, WriteHalf) {
        let (read, write) = tokio::io::split(self);
        (Box::new(read), WriteHalf::Stream(Box::new(write)))
    }
}

impl LinkStream for client::TlsStream<TcpStream> {
    fn into_halves(self) -> (Box<dyn AsyncRead + Send + Unpin>, WriteHalf) {
        let (read, write) = tokio::io::split(self);
        (Box::new(read), WriteHalf::Stream(Box::new(write)))
    }
}

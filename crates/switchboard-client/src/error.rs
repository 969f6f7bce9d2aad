//! What can go wrong for a client.

use switchboard_proto::{Arguments, Dict};

/// An ERROR the router (or a callee) answered with.
#[derive(Debug, Clone, PartialEq)]
pub struct WampError {
    /// The error URI, e.g. `wamp.error.no_such_procedure`.
    pub uri: String,
    /// ERROR.Details.
    pub details: Dict,
    /// ERROR's `args` and `kwargs`.
    pub arguments: Arguments,
}

impl WampError {
    /// An application error with positional arguments, for a callee to return.
    pub fn new(uri: impl Into<String>, arguments: Arguments) -> Self {
        Self {
            uri: uri.into(),
            details: Dict::new(),
            arguments,
        }
    }
}

impl std::fmt::Display for WampError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.uri)?;
        if let Ok(args) = self.arguments.args_values() {
            if let Some(first) = args.first().and_then(|a| a.as_str()) {
                write!(f, ": {first}")?;
            }
        }
        Ok(())
    }
}

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The WebSocket could not be opened.
    #[error("cannot connect: {0}")]
    Connect(Box<tokio_tungstenite::tungstenite::Error>),
    /// The router ended the session with ABORT.
    #[error("session aborted: {reason}")]
    Aborted {
        /// The ABORT's reason URI.
        reason: String,
        /// The ABORT's details.
        details: Dict,
    },
    /// The router answered the request with ERROR.
    #[error("{0}")]
    Wamp(Box<WampError>),
    /// The router sent something the protocol does not allow here.
    #[error("unexpected message from the router: {0}")]
    Unexpected(&'static str),
    /// The connection closed before the answer came.
    #[error("connection closed")]
    Closed,
    /// A RawSocket connection failed.
    #[error("RawSocket: {0}")]
    Io(std::io::Error),
    /// The router refused the RawSocket handshake.
    #[error("RawSocket handshake: {0}")]
    Handshake(String),
}

impl From<tokio_tungstenite::tungstenite::Error> for ClientError {
    fn from(error: tokio_tungstenite::tungstenite::Error) -> Self {
        ClientError::Connect(Box::new(error))
    }
}

impl ClientError {
    /// The WAMP error URI, if the router answered with ERROR.
    pub fn wamp_uri(&self) -> Option<&str> {
        match self {
            ClientError::Wamp(e) => Some(&e.uri),
            _ => None,
        }
    }
}

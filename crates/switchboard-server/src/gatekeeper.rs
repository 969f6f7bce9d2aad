//! What every connection's handshake shares: the dynamic authenticators, the
//! threads that check password hashes, the throttle on repeated failures, and
//! the metrics and log lines of each outcome.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::Addr;
use switchboard_core::auth::{FailureThrottle, PasswordCheck};
use switchboard_core::session_gate::AuthFailure;

use crate::authenticator::AuthenticatorClient;
use crate::metrics::Metrics;

/// Shared by all connections of one server.
pub(crate) struct Gatekeeper {
    throttle: Mutex<FailureThrottle>,
    pub(crate) metrics: Arc<Metrics>,
    /// The router's session in each realm where an authenticator is registered.
    authenticators: HashMap<String, Addr<AuthenticatorClient>>,
    /// How many password hashes may be checked at once: each takes a core
    /// for tens of milliseconds, so a flood of logins must queue here rather
    /// than take every core from the realms.
    password_checks: Arc<tokio::sync::Semaphore>,
}

impl Gatekeeper {
    /// `checkers`: how many password hashes may be checked at once.
    pub(crate) fn new(
        metrics: Arc<Metrics>,
        authenticators: HashMap<String, Addr<AuthenticatorClient>>,
        checkers: usize,
    ) -> Self {
        Self {
            throttle: Mutex::new(FailureThrottle::default()),
            metrics,
            authenticators,
            password_checks: Arc::new(tokio::sync::Semaphore::new(checkers.max(1))),
        }
    }

    /// Runs `check` on a blocking thread, never the caller's (a realm's), once
    /// one of the limited places is free: whether the ticket matched.
    pub(crate) async fn check_password(&self, check: PasswordCheck) -> bool {
        let Ok(_place) = self.password_checks.clone().acquire_owned().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || check.run())
            .await
            .unwrap_or(false)
    }

    /// The router's session in `realm`, to call its authenticator through.
    pub(crate) fn authenticator(&self, realm: &str) -> Option<&Addr<AuthenticatorClient>> {
        self.authenticators.get(realm)
    }

    /// A handshake admitted a session.
    pub(crate) fn admitted(&self, method: &str, peer: Option<SocketAddr>) {
        self.metrics.authenticated(method);
        if let (Some(peer), Ok(mut throttle)) = (peer, self.throttle.lock()) {
            throttle.succeeded(peer.ip());
        }
    }

    /// A handshake failed: logs and counts it, and says how long to hold the ABORT.
    pub(crate) fn refused(&self, failure: &AuthFailure, peer: Option<SocketAddr>) -> Duration {
        tracing::warn!(
            method = failure.method,
            authid = failure.authid.as_deref().unwrap_or("-"),
            reason = %failure.reason,
            peer = %peer.map_or_else(|| "-".to_owned(), |p| p.to_string()),
            "authentication failed"
        );
        self.metrics.auth_failed(failure.method, &failure.reason);
        match (peer, self.throttle.lock()) {
            (Some(peer), Ok(mut throttle)) => throttle.failed(peer.ip(), Instant::now()),
            _ => Duration::ZERO,
        }
    }
}

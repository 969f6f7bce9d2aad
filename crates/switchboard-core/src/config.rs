//! What a realm allows, as configured by the operator.

use std::sync::Arc;
use std::time::Duration;

use switchboard_proto::uri::UriCheck;

use crate::auth::RealmSecurity;
use crate::outbound::OutboundLimits;

/// One realm's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RealmConfig {
    /// The realm's URI, as clients name it in HELLO.
    pub name: String,
    /// Who may join, how they prove it, and what each role may do. Shared: the
    /// connections' handshakes read it too.
    pub security: Arc<RealmSecurity>,
    /// Which URI alphabet REGISTER, CALL, SUBSCRIBE and PUBLISH must use.
    pub uri_check: UriCheck,
    /// Timeout for calls that set none (`None`: calls without `timeout` never time out,
    /// as the spec says).
    pub default_call_timeout: Option<Duration>,
    /// Upper bound on any call's timeout, including calls that set none.
    pub max_call_timeout: Option<Duration>,
    /// Disclose every caller to callees (`caller`, `caller_authid`, `caller_authrole`),
    /// whether or not the caller asked with `disclose_me`.
    pub disclose_caller: bool,
    /// Disclose every publisher to subscribers (`publisher`, `publisher_authid`,
    /// `publisher_authrole`), whether or not it asked with `disclose_me`. Off
    /// by default: an event goes to many, and Crossbar.io does not disclose
    /// either unless asked.
    pub disclose_publisher: bool,
    /// How much may wait for one of the realm's sessions that does not read.
    pub outbound: OutboundLimits,
    /// The topic patterns whose events are kept for `wamp.subscription.get_events`.
    pub history: Vec<crate::broker::HistoryRule>,
}

impl RealmConfig {
    /// A realm that admits anonymous sessions, checks URIs loosely and discloses
    /// callers: what the seed example (`com.example.realm`, authmethod
    /// `anonymous`) expects. Caller disclosure is on because Autobahn|Python
    /// cannot send `disclose_me`, so without it a Python callee could never learn
    /// who called (Bondy discloses by default for the same reason).
    pub fn anonymous(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            security: Arc::new(RealmSecurity::open()),
            uri_check: UriCheck::Loose,
            default_call_timeout: None,
            max_call_timeout: None,
            disclose_caller: true,
            disclose_publisher: false,
            outbound: OutboundLimits::default(),
            history: Vec::new(),
        }
    }

    /// The timeout the dealer applies to a call that asked for `requested` ms.
    /// Absent: the realm's default. Zero: none, as the spec says. Either way the
    /// realm's maximum, if set, caps it.
    pub fn call_timeout(&self, requested: Option<u64>) -> Option<Duration> {
        let timeout = match requested {
            None => self.default_call_timeout,
            Some(0) => None,
            Some(ms) => Some(Duration::from_millis(ms)),
        };
        match (timeout, self.max_call_timeout) {
            (Some(t), Some(max)) => Some(t.min(max)),
            (None, max) => max,
            (t, None) => t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_or_absent_means_no_timeout_unless_the_realm_sets_one() {
        let mut c = RealmConfig::anonymous("r");
        assert_eq!(c.call_timeout(None), None);
        assert_eq!(c.call_timeout(Some(0)), None);
        assert_eq!(c.call_timeout(Some(250)), Some(Duration::from_millis(250)));
        c.default_call_timeout = Some(Duration::from_secs(30));
        assert_eq!(c.call_timeout(None), Some(Duration::from_secs(30)));
        assert_eq!(
            c.call_timeout(Some(0)),
            None,
            "an explicit 0 opts out of the default"
        );
        c.max_call_timeout = Some(Duration::from_secs(10));
        assert_eq!(c.call_timeout(Some(60_000)), Some(Duration::from_secs(10)));
        assert_eq!(c.call_timeout(None), Some(Duration::from_secs(10)));
    }
}

//! Prometheus metrics: sessions, calls by outcome, call latency, calls forwarded
//! to other nodes, and Raft's term, leader and log positions (read at scrape time).
//!
//! Calls are measured where they pass through the realm actor: from the CALL
//! arriving to the final RESULT or ERROR leaving, keyed by (caller, request id).

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use switchboard_cluster::ClusterNode;
use switchboard_proto::error_uri::{CANCELED, NO_SUCH_PROCEDURE, TIMEOUT};

/// One server's metrics.
pub(crate) struct Metrics {
    registry: Registry,
    /// Sessions joined to a realm on this node.
    pub(crate) sessions: IntGauge,
    calls: IntCounterVec,
    call_seconds: Histogram,
    /// INVOCATIONs sent to a callee on another node.
    pub(crate) forwarded_calls: IntCounter,
    /// Registry proposals that did not commit, by cause.
    proposal_failures: IntCounterVec,
    /// Handshakes that ended in WELCOME, by method.
    authentications: IntCounterVec,
    /// Handshakes that ended in ABORT, by method and reason.
    auth_failures: IntCounterVec,
    /// EVENTs dropped for sessions over their soft outbound limit.
    events_dropped: IntCounter,
    /// INVOCATIONs refused for callees over their soft outbound limit.
    invocations_refused: IntCounter,
    /// Sessions closed for not reading, by reason (overflow, stalled).
    slow_sessions_closed: IntCounterVec,
    /// When a dropped event was last logged (one line per interval at most).
    drop_logged: std::sync::Mutex<Option<std::time::Instant>>,
    /// Frames the link to a peer refused because too much waited for it.
    peer_frames_refused: IntCounterVec,
    raft_term: IntGauge,
    raft_leader: IntGauge,
    raft_last_log_index: IntGauge,
    raft_applied_index: IntGauge,
}

/// Registers `metric` (a clone shares its value) and returns it.
fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: M,
) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("registered once");
    metric
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    registered(
        registry,
        IntGauge::new(name, help).expect("a valid metric name"),
    )
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    registered(
        registry,
        IntCounter::new(name, help).expect("a valid metric name"),
    )
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    registered(
        registry,
        IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric"),
    )
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let registry = Registry::new();
        let calls = counter_vec(
            &registry,
            "switchboard_calls_total",
            "Calls answered, by outcome",
            &["outcome"],
        );
        let buckets = vec![
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            2.5, 5.0, 10.0,
        ];
        let call_seconds = registered(
            &registry,
            Histogram::with_opts(
                HistogramOpts::new(
                    "switchboard_call_duration_seconds",
                    "From CALL to its final RESULT or ERROR",
                )
                .buckets(buckets),
            )
            .expect("a valid metric"),
        );
        let forwarded_calls = counter(
            &registry,
            "switchboard_forwarded_calls_total",
            "Invocations sent to another node",
        );
        let proposal_failures = counter_vec(
            &registry,
            "switchboard_proposal_failures_total",
            "Registry proposals that did not commit: not_sent (no leader known), \
                 unknown (may still commit; proposed again)",
            &["cause"],
        );
        let authentications = counter_vec(
            &registry,
            "switchboard_authentications_total",
            "Sessions admitted, by authmethod",
            &["method"],
        );
        let auth_failures = counter_vec(
            &registry,
            "switchboard_auth_failures_total",
            "Handshakes refused, by authmethod and reason (denied, no_such_principal, \
                 no_matching_auth_method, no_such_role, failed, protocol_violation, timeout, \
                 authenticator: an error the dynamic authenticator raised)",
            &["method", "reason"],
        );
        let events_dropped = counter(
            &registry,
            "switchboard_events_dropped_total",
            "EVENTs not sent to a session whose outbound queue was over its soft limit",
        );
        let invocations_refused = counter(
            &registry,
            "switchboard_invocations_refused_total",
            "INVOCATIONs not sent to a callee whose outbound queue was over its soft limit \
             (the call failed with wamp.error.unavailable)",
        );
        let slow_sessions_closed = counter_vec(
            &registry,
            "switchboard_slow_sessions_closed_total",
            "Sessions closed for not reading their socket: overflow (hard limit) or stalled",
            &["reason"],
        );
        let peer_frames_refused = counter_vec(
            &registry,
            "switchboard_peer_frames_refused_total",
            "Messages for another node refused because too much already waited for it \
                 (an INVOCATION among them fails its call with wamp.error.network_failure)",
            &["node"],
        );
        Self {
            sessions: gauge(
                &registry,
                "switchboard_sessions",
                "Sessions joined on this node",
            ),
            raft_term: gauge(
                &registry,
                "switchboard_raft_term",
                "Current Raft term (0 on a single node)",
            ),
            raft_leader: gauge(
                &registry,
                "switchboard_raft_leader",
                "Leader's node id, -1 if none or single node",
            ),
            raft_last_log_index: gauge(
                &registry,
                "switchboard_raft_last_log_index",
                "Last log index on this node",
            ),
            raft_applied_index: gauge(
                &registry,
                "switchboard_raft_applied_index",
                "Last log index applied here",
            ),
            registry,
            calls,
            call_seconds,
            forwarded_calls,
            proposal_failures,
            authentications,
            auth_failures,
            events_dropped,
            invocations_refused,
            slow_sessions_closed,
            drop_logged: std::sync::Mutex::new(None),
            peer_frames_refused,
        }
    }

    /// An EVENT for `session` was dropped; logged at most every 10 s.
    pub(crate) fn event_dropped(&self, session: u64) {
        self.events_dropped.inc();
        let now = std::time::Instant::now();
        if let Ok(mut last) = self.drop_logged.lock() {
            if last.is_none_or(|t| now.duration_since(t) >= std::time::Duration::from_secs(10)) {
                *last = Some(now);
                tracing::warn!(
                    session,
                    dropped_so_far = self.events_dropped.get(),
                    "dropping events for a session that does not keep up (its outbound queue is over the soft limit)"
                );
            }
        }
    }

    /// The link to `node` refused a message.
    pub(crate) fn peer_frame_refused(&self, node: u64) {
        self.peer_frames_refused
            .with_label_values(&[&node.to_string()])
            .inc();
    }

    /// An INVOCATION was refused for an overloaded callee.
    pub(crate) fn invocation_refused(&self) {
        self.invocations_refused.inc();
    }

    /// A session was closed for not reading.
    pub(crate) fn slow_session_closed(&self, reason: &str) {
        self.slow_sessions_closed.with_label_values(&[reason]).inc();
    }

    /// A handshake admitted a session.
    pub(crate) fn authenticated(&self, method: &str) {
        self.authentications.with_label_values(&[method]).inc();
    }

    /// A handshake was refused with ABORT `reason`. The label is one of a fixed
    /// set, so a dynamic authenticator's own URIs cannot grow the series.
    pub(crate) fn auth_failed(&self, method: &str, reason: &str) {
        use switchboard_proto::error_uri as uri;
        let reason = match reason {
            uri::AUTHENTICATION_DENIED => "denied",
            uri::NO_SUCH_PRINCIPAL => "no_such_principal",
            uri::NO_MATCHING_AUTH_METHOD => "no_matching_auth_method",
            uri::NO_SUCH_ROLE => "no_such_role",
            uri::AUTHENTICATION_FAILED if method == "timeout" => "timeout",
            uri::AUTHENTICATION_FAILED => "failed",
            uri::PROTOCOL_VIOLATION => "protocol_violation",
            _ => "authenticator",
        };
        self.auth_failures
            .with_label_values(&[method, reason])
            .inc();
    }

    /// A registry proposal did not commit; `sent` says whether it may be in a log.
    pub(crate) fn proposal_failed(&self, sent: bool) {
        let cause = if sent { "unknown" } else { "not_sent" };
        self.proposal_failures.with_label_values(&[cause]).inc();
    }

    /// A call ended after `seconds`, answered with RESULT (`error` None) or an ERROR URI.
    pub(crate) fn call_answered(&self, seconds: f64, error: Option<&str>) {
        let outcome = match error {
            None => "result",
            Some(TIMEOUT) => "timeout",
            Some(CANCELED) => "canceled",
            Some(NO_SUCH_PROCEDURE) => "no_such_procedure",
            Some(uri) if uri.starts_with("wamp.") => "router_error",
            Some(_) => "application_error",
        };
        self.calls.with_label_values(&[outcome]).inc();
        self.call_seconds.observe(seconds);
    }

    /// The text exposition, with the Raft gauges read now.
    pub(crate) fn render(&self, cluster: Option<&ClusterNode>) -> String {
        match cluster.map(ClusterNode::status) {
            Some(status) => {
                self.raft_term.set(status.term as i64);
                self.raft_leader.set(status.leader.map_or(-1, |l| l as i64));
                self.raft_last_log_index
                    .set(status.last_log_index.unwrap_or(0) as i64);
                self.raft_applied_index
                    .set(status.last_applied.unwrap_or(0) as i64);
            }
            None => self.raft_leader.set(-1),
        }
        let mut out = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

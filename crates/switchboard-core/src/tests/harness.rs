use std::time::{Duration, Instant, SystemTime};

use switchboard_proto::{Dict, Hello, Message, Value};

use crate::realm::{Outgoing, Realm, SessionId};
use crate::{ClockAnchor, RealmConfig};

/// A realm plus a virtual clock and the messages it sent, per session.
pub(super) struct Harness {
    pub(super) realm: Realm,
    pub(super) now: Instant,
    sent: Vec<Outgoing>,
}

impl Harness {
    pub(super) fn new() -> Self {
        Self::with_config(RealmConfig::anonymous("com.example.realm"))
    }

    pub(super) fn with_config(config: RealmConfig) -> Self {
        let now = Instant::now();
        let clock = ClockAnchor {
            instant: now,
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
        };
        Self {
            realm: Realm::new(config, clock),
            now,
            sent: Vec::new(),
        }
    }

    /// Moves the virtual clock and fires whatever timed out.
    pub(super) fn advance(&mut self, by: Duration) {
        self.now += by;
        if self.realm.poll_timeout().is_some_and(|t| t <= self.now) {
            self.realm.handle_timeout(self.now);
        }
        self.drain();
    }

    /// Joins a session whose HELLO announced `callee_features`; returns its id.
    pub(super) fn join_with(&mut self, callee_features: &[&str]) -> SessionId {
        self.join_roles(callee_features, &[])
    }

    /// Joins a session announcing these callee and caller features.
    pub(super) fn join_roles(&mut self, callee_features: &[&str], caller_features: &[&str]) -> SessionId {
        let features = |names: &[&str]| -> Value {
            let features: Dict = names.iter().map(|f| (f.to_string(), Value::Bool(true))).collect();
            let mut role = Dict::new();
            role.insert("features".into(), Value::Dict(features));
            Value::Dict(role)
        };
        let mut roles = Dict::new();
        roles.insert("callee".into(), features(callee_features));
        roles.insert("caller".into(), features(caller_features));
        let mut details = Dict::new();
        details.insert("roles".into(), Value::Dict(roles));
        let hello = Hello {
            realm: "com.example.realm".into(),
            details,
        };
        let id = self
            .realm
            .handle_join(self.now, &hello)
            .expect("anonymous join");
        let welcome = self.take(id);
        assert!(matches!(welcome.as_slice(), [Message::Welcome(w)] if w.session == id));
        id
    }

    pub(super) fn join(&mut self) -> SessionId {
        self.join_with(&[])
    }

    /// Feeds one message and collects everything the realm sent in response.
    pub(super) fn send(&mut self, from: SessionId, message: Message) {
        self.realm.handle_message(self.now, from, message);
        self.drain();
    }

    pub(super) fn leave(&mut self, session: SessionId) {
        self.realm.handle_leave(self.now, session);
        self.drain();
    }

    pub(super) fn drain(&mut self) {
        while let Some(out) = self.realm.poll_outgoing() {
            self.sent.push(out);
        }
    }

    /// Takes every message sent to `session` so far, in order.
    pub(super) fn take(&mut self, session: SessionId) -> Vec<Message> {
        self.drain();
        let (mine, rest) = std::mem::take(&mut self.sent)
            .into_iter()
            .partition(|o| o.to == session);
        self.sent = rest;
        mine.into_iter().map(|o| o.message).collect()
    }

    /// Takes everything sent to anyone so far.
    pub(super) fn take_all(&mut self) -> Vec<Outgoing> {
        self.drain();
        std::mem::take(&mut self.sent)
    }

    /// Takes the one message sent to `session`, failing if there is not exactly one.
    pub(super) fn take_one(&mut self, session: SessionId) -> Message {
        let mut messages = self.take(session);
        assert_eq!(
            messages.len(),
            1,
            "expected one message for {session}, got {messages:?}"
        );
        messages.remove(0)
    }

    /// Asserts nothing was sent to anyone.
    pub(super) fn assert_quiet(&mut self) {
        self.drain();
        assert!(self.sent.is_empty(), "unexpected messages: {:?}", self.sent);
    }
}

use std::time::{Duration, Instant, SystemTime};

use switchboard_proto::{
    code, Arguments, Call, Cancel, Dict, Error, Hello, Invocation, Message, Publish, Register,
    Subscribe, Unregister, Value, Yield,
};

use super::wamp::{invocation, opts};
use crate::auth::Identity;
use crate::realm::{Outgoing, Realm, SessionId};
use crate::{ClockAnchor, RealmConfig};

/// A HELLO announcing these callee and caller features.
pub(super) fn hello_with(callee_features: &[&str], caller_features: &[&str]) -> Hello {
    hello_roles(&[("callee", callee_features), ("caller", caller_features)])
}

/// A HELLO announcing these roles, each with these features.
pub(super) fn hello_roles(roles_features: &[(&str, &[&str])]) -> Hello {
    let features = |names: &[&str]| -> Value {
        let features: Dict = names
            .iter()
            .map(|f| (f.to_string(), Value::Bool(true)))
            .collect();
        let mut role = Dict::new();
        role.insert("features".into(), Value::Dict(features));
        Value::Dict(role)
    };
    let roles: Dict = roles_features
        .iter()
        .map(|(role, names)| (role.to_string(), features(names)))
        .collect();
    let mut details = Dict::new();
    details.insert("roles".into(), Value::Dict(roles));
    Hello {
        realm: "com.example.realm".into(),
        details,
    }
}

/// A fixed wall clock for the meta API's timestamps.
pub(super) fn test_clock(now: Instant) -> ClockAnchor {
    ClockAnchor {
        instant: now,
        wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
    }
}

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
        Self {
            realm: Realm::new(config, test_clock(now), 1),
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
    pub(super) fn join_roles(
        &mut self,
        callee_features: &[&str],
        caller_features: &[&str],
    ) -> SessionId {
        let hello = hello_with(callee_features, caller_features);
        self.admit(&hello, Identity::anonymous("anonymous"))
    }

    /// Joins a session with the identity a handshake decided.
    pub(super) fn join_as(&mut self, identity: Identity) -> SessionId {
        self.admit(&hello_with(&[], &[]), identity)
    }

    /// Joins an anonymous session with this HELLO.
    pub(super) fn join_hello(&mut self, hello: &Hello) -> SessionId {
        self.admit(hello, Identity::anonymous("anonymous"))
    }

    fn admit(&mut self, hello: &Hello, identity: Identity) -> SessionId {
        let id = self.realm.handle_join(self.now, hello, identity);
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

    // ----- WAMP shorthands: each sends one message and collects the replies -----

    /// Sends REGISTER and returns the one reply.
    pub(super) fn register(
        &mut self,
        callee: SessionId,
        request: u64,
        procedure: &str,
        options: Dict,
    ) -> Message {
        let register = Register {
            request,
            options,
            procedure: procedure.into(),
        };
        self.send(callee, Message::Register(register));
        self.take_one(callee)
    }

    /// Registers `procedure` with `options`; returns the registration id.
    pub(super) fn registered(&mut self, callee: SessionId, procedure: &str, options: Dict) -> u64 {
        match self.register(callee, 1, procedure, options) {
            Message::Registered(r) => r.registration,
            other => panic!("expected REGISTERED for {procedure:?}, got {other:?}"),
        }
    }

    /// Registers `procedure` with invoke policy `invoke`.
    pub(super) fn registered_shared(
        &mut self,
        callee: SessionId,
        procedure: &str,
        invoke: &str,
    ) -> u64 {
        self.registered(callee, procedure, opts(&[("invoke", invoke.into())]))
    }

    /// Sends UNREGISTER and returns the one reply.
    pub(super) fn unregister(
        &mut self,
        callee: SessionId,
        request: u64,
        registration: u64,
    ) -> Message {
        let unregister = Unregister {
            request,
            registration,
        };
        self.send(callee, Message::Unregister(unregister));
        self.take_one(callee)
    }

    /// Sends CALL (replies are left for the test to take).
    pub(super) fn call(
        &mut self,
        caller: SessionId,
        request: u64,
        procedure: &str,
        options: Dict,
        args: Vec<Value>,
    ) {
        let call = Call {
            request,
            options,
            procedure: procedure.into(),
            arguments: Arguments::list(args),
        };
        self.send(caller, Message::Call(call));
    }

    /// Sends a plain CALL and returns the INVOCATION `callee` got for it.
    pub(super) fn call_invoked(
        &mut self,
        caller: SessionId,
        request: u64,
        procedure: &str,
        callee: SessionId,
    ) -> Invocation {
        self.call(caller, request, procedure, Dict::new(), vec![]);
        invocation(self.take_one(callee))
    }

    /// Sends YIELD for `invocation` (replies are left for the test to take).
    pub(super) fn yield_(
        &mut self,
        callee: SessionId,
        invocation: u64,
        options: Dict,
        args: Vec<Value>,
    ) {
        let result = Yield {
            request: invocation,
            options,
            arguments: Arguments::list(args),
        };
        self.send(callee, Message::Yield(result));
    }

    /// Sends a progressive YIELD (`progress: true`).
    pub(super) fn yield_progress(&mut self, callee: SessionId, invocation: u64, args: Vec<Value>) {
        self.yield_(callee, invocation, opts(&[("progress", true.into())]), args);
    }

    /// Answers `invocation` with ERROR `uri`.
    pub(super) fn fail_invocation(&mut self, callee: SessionId, invocation: u64, uri: &str) {
        let failure = Error {
            request_type: code::INVOCATION,
            request: invocation,
            details: Dict::new(),
            error: uri.into(),
            arguments: Arguments::list(vec!["from the callee".into()]),
        };
        self.send(callee, Message::Error(failure));
    }

    /// Sends CANCEL for the caller's `request`, with `mode` if given.
    pub(super) fn cancel(&mut self, caller: SessionId, request: u64, mode: Option<&str>) {
        let options = match mode {
            Some(mode) => opts(&[("mode", mode.into())]),
            None => Dict::new(),
        };
        self.send(caller, Message::Cancel(Cancel { request, options }));
    }

    /// Sends SUBSCRIBE and returns the one reply.
    pub(super) fn subscribe(
        &mut self,
        session: SessionId,
        request: u64,
        topic: &str,
        options: Dict,
    ) -> Message {
        let subscribe = Subscribe {
            request,
            options,
            topic: topic.into(),
        };
        self.send(session, Message::Subscribe(subscribe));
        self.take_one(session)
    }

    /// Subscribes to `topic`; returns the subscription id.
    pub(super) fn subscribed(&mut self, session: SessionId, topic: &str, options: Dict) -> u64 {
        match self.subscribe(session, 1, topic, options) {
            Message::Subscribed(s) => s.subscription,
            other => panic!("expected SUBSCRIBED for {topic:?}, got {other:?}"),
        }
    }

    /// Sends PUBLISH (replies and events are left for the test to take).
    pub(super) fn publish(
        &mut self,
        publisher: SessionId,
        request: u64,
        topic: &str,
        options: Dict,
        arguments: Arguments,
    ) {
        let publish = Publish {
            request,
            options,
            topic: topic.into(),
            arguments,
        };
        self.send(publisher, Message::Publish(publish));
    }

    /// Calls a router (meta) procedure and returns the caller's one reply.
    pub(super) fn meta_call(
        &mut self,
        caller: SessionId,
        procedure: &str,
        args: Vec<Value>,
    ) -> Message {
        self.call(caller, 1, procedure, Dict::new(), args);
        self.take_one(caller)
    }

    /// Calls a router procedure with keyword arguments; the caller's one reply.
    pub(super) fn meta_call_kw(
        &mut self,
        caller: SessionId,
        procedure: &str,
        args: Vec<Value>,
        kwargs: Dict,
    ) -> Message {
        let call = Call {
            request: 1,
            options: Dict::new(),
            procedure: procedure.into(),
            arguments: Arguments::with_kwargs(args, kwargs),
        };
        self.send(caller, Message::Call(call));
        self.take_one(caller)
    }
}

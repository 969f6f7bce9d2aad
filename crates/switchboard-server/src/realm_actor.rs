//! The actor that owns one `Realm` and delivers what it outputs.

use std::collections::HashMap;
use std::time::Instant;

use actix::{
    Actor, AsyncContext, Context, Handler, Message as ActixMessage, Recipient, SpawnHandle,
};
use switchboard_core::{ClockAnchor, Realm, RealmConfig, SessionId};
use switchboard_proto::{Hello, Message};

/// A message for a session's transport to write.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub(crate) struct Deliver(pub(crate) Message);

/// A transport asks to open a session with this HELLO; WELCOME or ABORT comes
/// back through `session` as a [`Deliver`], in order with everything after it.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub(crate) struct Join {
    pub(crate) hello: Hello,
    pub(crate) session: Recipient<Deliver>,
}

/// A message from an established session.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub(crate) struct Inbound {
    pub(crate) session: SessionId,
    pub(crate) message: Message,
}

/// The session ended on the transport's side.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub(crate) struct Leave(pub(crate) SessionId);

/// Say GOODBYE to everyone.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub(crate) struct Shutdown;

/// One realm's actor.
pub(crate) struct RealmActor {
    realm: Realm,
    /// Where to deliver each session's messages.
    sessions: HashMap<SessionId, Recipient<Deliver>>,
    /// The one timer, armed for the realm's next deadline.
    timer: Option<(Instant, SpawnHandle)>,
}

impl RealmActor {
    pub(crate) fn new(config: RealmConfig) -> Self {
        Self {
            realm: Realm::new(config, ClockAnchor::now()),
            sessions: HashMap::new(),
            timer: None,
        }
    }

    /// Delivers every queued output, then re-arms the timer. A session the realm
    /// has just let go of (by ABORT or GOODBYE) still gets that last message, then
    /// is forgotten here too.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        self.deliver();
        self.rearm(ctx);
    }

    fn deliver(&mut self) {
        while let Some(out) = self.realm.poll_outgoing() {
            if let Some(recipient) = self.sessions.get(&out.to) {
                recipient.do_send(Deliver(out.message));
            }
            if !self.realm.is_member(out.to) {
                self.sessions.remove(&out.to);
            }
        }
    }
}

impl RealmActor {
    /// Keeps exactly one timer, set for the realm's earliest deadline.
    fn rearm(&mut self, ctx: &mut Context<Self>) {
        let next = self.realm.poll_timeout();
        if self.timer.as_ref().map(|(at, _)| *at) == next {
            return;
        }
        if let Some((_, handle)) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        if let Some(at) = next {
            let delay = at.saturating_duration_since(Instant::now());
            let handle = ctx.run_later(delay, |actor, ctx| {
                actor.timer = None;
                actor.realm.handle_timeout(Instant::now());
                actor.flush(ctx);
            });
            self.timer = Some((at, handle));
        }
    }
}

impl Actor for RealmActor {
    type Context = Context<Self>;
}

impl Handler<Join> for RealmActor {
    type Result = ();

    fn handle(&mut self, join: Join, ctx: &mut Context<Self>) {
        match self.realm.handle_join(Instant::now(), &join.hello) {
            Ok(id) => {
                self.sessions.insert(id, join.session);
            }
            Err(refused) => join.session.do_send(Deliver(refused.to_abort())),
        }
        self.flush(ctx);
    }
}

impl Handler<Inbound> for RealmActor {
    type Result = ();

    fn handle(&mut self, inbound: Inbound, ctx: &mut Context<Self>) {
        self.realm
            .handle_message(Instant::now(), inbound.session, inbound.message);
        self.flush(ctx);
    }
}

impl Handler<Leave> for RealmActor {
    type Result = ();

    fn handle(&mut self, Leave(session): Leave, ctx: &mut Context<Self>) {
        self.sessions.remove(&session);
        self.realm.handle_leave(Instant::now(), session);
        self.flush(ctx);
    }
}

impl Handler<Shutdown> for RealmActor {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        self.realm.shutdown(Instant::now());
        self.flush(ctx);
    }
}

//! The Broker role: subscriptions and publications
//! (`rfc/text/basic/publish_and_subscribe.md`), with pattern-based subscriptions,
//! subscriber black- and whitelisting, publisher exclusion and publisher
//! identification from the Advanced Profile.
//! It also carries the router's own meta events to their subscribers.
//!
//! Subscriptions are replicated like registrations. A publication is delivered
//! by the publisher's node to its own subscribers, and passed once to every
//! other node that has a matching subscriber, which delivers to its own; each
//! subscriber gets each event once, in the order its publisher sent them.

mod audience;
mod history;
mod retained;
mod stored_event;
pub mod subscriptions;

pub use audience::Audience;
pub(crate) use history::EventQuery;
use history::History;
pub use history::{HistoryRule, MAX_HISTORY_LIMIT};
use retained::Retained;
pub use retained::MAX_RETAINED_TOPICS;
pub use stored_event::StoredEvent;

use std::collections::BTreeSet;

use switchboard_proto::error_uri::{INVALID_ARGUMENT, INVALID_URI, NO_SUCH_SUBSCRIPTION};
use switchboard_proto::uri::{is_reserved, Components};
use switchboard_proto::{
    code, Arguments, Dict, Event, IdGenerator, Message, Publish, Published, Subscribe, Unsubscribe,
    Value,
};

use crate::cluster::{NodeId, PeerMessage, RegistryCommand, Requester};
use crate::dealer::{valid_pattern, ProtocolViolation};
use crate::features::PayloadRole;
use crate::matching::MatchPolicy;
use crate::meta::{self, MetaEvent};
use crate::ppt::{check_sender, unannounced_mode, Ppt, PptError};
use crate::realm::{Context, Outcome, SessionId, Testament};
use crate::replies::error;
use subscriptions::{Left, Subscriptions};

/// The broker's state.
#[derive(Debug, Default)]
pub struct Broker {
    subscriptions: Subscriptions,
    retained: Retained,
    history: History,
}

/// Who published, when the publisher asked to be disclosed: (session, authid, authrole).
pub(crate) type Publisher = (SessionId, String, String);

impl Broker {
    /// The subscription table.
    pub fn subscriptions(&self) -> &Subscriptions {
        &self.subscriptions
    }

    /// Replaces the subscription table, the retained events and the history
    /// (from a snapshot).
    pub(crate) fn restore(
        &mut self,
        subscriptions: Subscriptions,
        retained: impl IntoIterator<Item = StoredEvent>,
        rules: &[HistoryRule],
        history: Vec<(u64, StoredEvent)>,
    ) {
        self.subscriptions = subscriptions;
        self.retained = Retained::restore(retained);
        self.history = History::restore(rules, history);
    }

    /// Every event kept in history, with its log position (for snapshots).
    pub fn history(&self) -> impl Iterator<Item = &(u64, StoredEvent)> {
        self.history.iter()
    }

    /// The history a subscription covers, oldest first.
    pub(crate) fn history_of(
        &self,
        subscription: &subscriptions::Subscription,
    ) -> Vec<&StoredEvent> {
        self.history
            .covered(&subscription.topic, subscription.match_policy)
    }

    /// Applies a committed `Record`.
    pub(crate) fn apply_record(
        &mut self,
        rules: &[HistoryRule],
        position: u64,
        event: StoredEvent,
    ) {
        self.history.record(rules, position, event);
    }

    /// Every retained event (for snapshots).
    pub fn retained(&self) -> impl Iterator<Item = &StoredEvent> {
        self.retained.iter()
    }

    /// Applies a committed `Retain`.
    pub(crate) fn apply_retain(&mut self, event: StoredEvent) {
        self.retained.keep(event);
    }

    /// Sends `subscriber` (on this node) the retained events its subscription
    /// covers, each with `retained=true`, if it would have received them.
    pub(crate) fn deliver_retained(
        &self,
        cx: &mut Context<'_>,
        subscriber: SessionId,
        subscription: u64,
    ) {
        let Some(subscription) = self.subscriptions.get(subscription) else {
            return;
        };
        let Some(record) = cx.sessions.get(subscriber) else {
            return;
        };
        let mut events = Vec::new();
        for retained in self
            .retained
            .matching(&subscription.topic, subscription.match_policy)
        {
            if !retained
                .audience
                .admits(subscriber, &record.authid, &record.authrole)
                || unannounced_mode(
                    retained.ppt.as_ref(),
                    record.features.payload_modes(PayloadRole::Subscriber),
                )
                .is_some()
            {
                continue;
            }
            let mut details =
                event_details(subscription, &retained.topic, retained.publisher.as_ref());
            details.insert("retained".into(), Value::Bool(true));
            if let Some(ppt) = &retained.ppt {
                ppt.copy_into(&mut details);
            }
            events.push(Event {
                subscription: subscription.id,
                publication: retained.publication,
                details,
                arguments: retained.arguments.clone(),
            });
        }
        for event in events {
            cx.out.send(subscriber, Message::Event(event));
        }
    }

    /// Validates a SUBSCRIBE and proposes it; SUBSCRIBED comes when it is applied.
    pub(crate) fn subscribe(
        &mut self,
        cx: &mut Context<'_>,
        session: SessionId,
        subscribe: Subscribe,
    ) {
        let reply = |uri: &str, why: String| error(code::SUBSCRIBE, subscribe.request, uri, why);
        let policy = match subscribe.options.get("match") {
            None | Some(Value::Null) => Some(MatchPolicy::Exact),
            Some(Value::String(name)) => MatchPolicy::from_option(name),
            Some(_) => None,
        };
        let Some(policy) = policy else {
            return cx.out.send(
                session,
                reply(INVALID_ARGUMENT, "unknown match policy".into()),
            );
        };
        if !valid_pattern(cx, &subscribe.topic, policy) {
            return cx.out.send(
                session,
                reply(
                    INVALID_URI,
                    format!("invalid topic URI {:?}", subscribe.topic),
                ),
            );
        }
        let get_retained = match subscribe.options.get("get_retained") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(on)) => *on,
            Some(_) => {
                return cx.out.send(
                    session,
                    reply(INVALID_ARGUMENT, "get_retained must be a boolean".into()),
                );
            }
        };
        let by = cx
            .pending
            .open(cx.node, session, code::SUBSCRIBE, subscribe.request);
        cx.proposals.push(RegistryCommand::Subscribe {
            by,
            topic: subscribe.topic,
            match_policy: policy,
            created: cx.clock.iso8601(cx.now),
            get_retained,
        });
    }

    /// Proposes an UNSUBSCRIBE.
    pub(crate) fn unsubscribe(
        &mut self,
        cx: &mut Context<'_>,
        session: SessionId,
        unsubscribe: Unsubscribe,
    ) {
        let by = cx
            .pending
            .open(cx.node, session, code::UNSUBSCRIBE, unsubscribe.request);
        cx.proposals.push(RegistryCommand::Unsubscribe {
            by,
            subscription: unsubscribe.subscription,
        });
    }

    pub(crate) fn apply_subscribe(
        &mut self,
        cx: &mut Context<'_>,
        index: u64,
        by: Requester,
        topic: &str,
        policy: MatchPolicy,
        created: String,
    ) -> Outcome {
        let (clock, now) = (cx.clock, cx.now);
        let subscribed =
            self.subscriptions
                .subscribe(index, by.session, by.node, topic, policy, move || {
                    if created.is_empty() {
                        clock.iso8601(now)
                    } else {
                        created
                    }
                });
        if announced(topic) {
            if subscribed.fresh {
                if let Some(subscription) = self.subscriptions.get(subscribed.id) {
                    cx.events
                        .push(MetaEvent::subscription_created(by.session, subscription));
                }
            }
            if subscribed.added {
                let event = MetaEvent::subscription(meta::ON_SUBSCRIBE, by.session, subscribed.id);
                cx.events.push(event);
            }
        }
        Outcome::Subscribed(subscribed.id)
    }

    pub(crate) fn apply_unsubscribe(
        &mut self,
        cx: &mut Context<'_>,
        by: Requester,
        subscription: u64,
    ) -> Outcome {
        match self.subscriptions.unsubscribe(by.session, subscription) {
            Some(left) => {
                subscription_left(cx, by.session, &left);
                Outcome::Unsubscribed
            }
            None => {
                let why = format!("no subscription {subscription} for this session");
                Outcome::refused(NO_SUCH_SUBSCRIPTION, why)
            }
        }
    }

    pub(crate) fn apply_session_left(&mut self, cx: &mut Context<'_>, session: SessionId) {
        for left in self.subscriptions.remove_session(session) {
            subscription_left(cx, session, &left);
        }
    }

    /// A PUBLISH. Payload passthru mode from a publisher that did not announce it
    /// is a protocol error (the spec's rule), so it is checked before anything else.
    pub(crate) fn publish(
        &mut self,
        cx: &mut Context<'_>,
        session: SessionId,
        publish: Publish,
    ) -> Result<(), ProtocolViolation> {
        let ppt = Ppt::parse(&publish.options);
        let used = ppt.as_ref().ok().and_then(Option::as_ref);
        check_sender(cx, session, PayloadRole::Publisher, used, "PUBLISH")?;
        self.route_publication(cx, session, publish, ppt);
        Ok(())
    }

    fn route_publication(
        &mut self,
        cx: &mut Context<'_>,
        session: SessionId,
        publish: Publish,
        ppt: Result<Option<Ppt>, PptError>,
    ) {
        let flag = |key: &str, default: bool| {
            publish
                .options
                .get(key)
                .and_then(Value::as_bool)
                .unwrap_or(default)
        };
        let acknowledge = flag("acknowledge", false);
        // The spec sends ERROR for a failed PUBLISH only to a publisher that asked
        // for acknowledgement; otherwise the publication is dropped quietly.
        let refuse = |cx: &mut Context<'_>, uri: &str, why: String| {
            if acknowledge {
                cx.out
                    .send(session, error(code::PUBLISH, publish.request, uri, why));
            }
        };
        if !cx
            .config
            .uri_check
            .is_valid(&publish.topic, Components::NonEmpty)
        {
            return refuse(
                cx,
                INVALID_URI,
                format!("invalid topic URI {:?}", publish.topic),
            );
        }
        if is_reserved(&publish.topic) {
            return refuse(
                cx,
                INVALID_URI,
                format!("{:?} is reserved for the router", publish.topic),
            );
        }
        let disclosed = flag("disclose_me", false) || cx.config.disclose_publisher;
        let publisher = disclosed
            .then(|| cx.sessions.get(session))
            .flatten()
            .map(|record| (session, record.authid.clone(), record.authrole.clone()));
        let audience = match Audience::from_options(&publish.options, session) {
            Ok(audience) => audience,
            Err(why) => return refuse(cx, INVALID_ARGUMENT, why),
        };
        let ppt = match ppt {
            Ok(ppt) => ppt,
            Err(why) => return refuse(cx, INVALID_ARGUMENT, why.to_string()),
        };
        let publication = IdGenerator::fresh(cx.rng);
        let others = self.deliver(
            cx,
            &publish.topic,
            publication,
            &publish.arguments,
            &audience,
            publisher.as_ref(),
            ppt.as_ref(),
        );
        for node in others {
            let event = PeerMessage::Event {
                topic: publish.topic.clone(),
                publication,
                publisher: publisher.clone(),
                audience: audience.clone(),
                ppt: ppt.clone(),
                arguments: publish.arguments.clone(),
            };
            cx.peers.push_back((node, event));
        }
        let kept = || {
            Box::new(StoredEvent {
                topic: publish.topic.clone(),
                publication,
                publisher: publisher.clone(),
                audience: audience.clone(),
                arguments: publish.arguments.clone(),
                timestamp: cx.clock.iso8601(cx.now),
                ppt: ppt.clone(),
            })
        };
        // Both are committed like registry changes, so every node keeps the same.
        let retain = flag("retain", false).then(kept);
        let record = (history::rule_for(&cx.config.history, &publish.topic).is_some()
            && !audience.names_sessions(session))
        .then(kept);
        if let Some(event) = retain {
            cx.proposals.push(RegistryCommand::Retain { event });
        }
        if let Some(event) = record {
            cx.proposals.push(RegistryCommand::Record { event });
        }
        if acknowledge {
            let published = Published {
                request: publish.request,
                publication,
            };
            cx.out.send(session, Message::Published(published));
        }
    }

    /// A publication made on another node, for this node's subscribers.
    pub(crate) fn handle_peer_event(&mut self, cx: &mut Context<'_>, message: PeerMessage) {
        if let PeerMessage::Event {
            topic,
            publication,
            publisher,
            audience,
            ppt,
            arguments,
        } = message
        {
            self.deliver(
                cx,
                &topic,
                publication,
                &arguments,
                &audience,
                publisher.as_ref(),
                ppt.as_ref(),
            );
        }
    }

    /// Publishes a router-originated meta event to this node's subscribers (every
    /// node applies the same commands, so each publishes to its own).
    pub(crate) fn publish_meta(&mut self, cx: &mut Context<'_>, event: MetaEvent) {
        let arguments = Arguments::list(event.args);
        let publication = IdGenerator::fresh(cx.rng);
        let everyone = Audience::everyone();
        self.deliver(
            cx,
            event.topic,
            publication,
            &arguments,
            &everyone,
            None,
            None,
        );
    }

    /// Publishes a gone session's testament to this node's subscribers: every
    /// node applies the session's removal, so each delivers to its own and no
    /// peer message is needed. Its options work as a PUBLISH's: `disclose_me`
    /// (or the realm's policy) discloses the publisher, `exclude`/`eligible`
    /// pick the audience (checked when the testament was added).
    pub(crate) fn publish_testament(
        &mut self,
        cx: &mut Context<'_>,
        publisher: &Publisher,
        testament: Testament,
    ) {
        let disclose = testament
            .options
            .get("disclose_me")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            || cx.config.disclose_publisher;
        let audience = Audience::from_options(&testament.options, publisher.0)
            .unwrap_or_else(|_| Audience::everyone());
        let publication = IdGenerator::fresh(cx.rng);
        self.deliver(
            cx,
            &testament.topic,
            publication,
            &testament.arguments,
            &audience,
            disclose.then_some(publisher),
            None,
        );
    }

    /// Sends one EVENT per matching subscription to each subscriber on this node;
    /// returns the other nodes that have matching subscribers.
    ///
    /// A publication in payload passthru mode skips subscribers that did not
    /// announce the mode. The spec leaves that case to the subscriber's side, but
    /// the router must not use a feature a peer did not announce, and such a
    /// subscriber would take the opaque payload for ordinary arguments.
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &self,
        cx: &mut Context<'_>,
        topic: &str,
        publication: u64,
        arguments: &Arguments,
        audience: &Audience,
        publisher: Option<&Publisher>,
        ppt: Option<&Ppt>,
    ) -> BTreeSet<NodeId> {
        let mut others = BTreeSet::new();
        for subscription in self.subscriptions.matching(topic) {
            let mut details = event_details(subscription, topic, publisher);
            if let Some(ppt) = ppt {
                ppt.copy_into(&mut details);
            }
            for &(subscriber, node) in &subscription.subscribers {
                if node != cx.node {
                    others.insert(node);
                    continue;
                }
                let admitted = cx.sessions.get(subscriber).is_some_and(|record| {
                    audience.admits(subscriber, &record.authid, &record.authrole)
                        && unannounced_mode(
                            ppt,
                            record.features.payload_modes(PayloadRole::Subscriber),
                        )
                        .is_none()
                });
                if !admitted {
                    continue;
                }
                let event = Event {
                    subscription: subscription.id,
                    publication,
                    details: details.clone(),
                    arguments: arguments.clone(),
                };
                cx.out.send(subscriber, Message::Event(event));
            }
        }
        others
    }
}

/// EVENT.Details for `subscription`: the topic (for a pattern subscription)
/// and the publisher, if disclosed.
pub(crate) fn event_details(
    subscription: &subscriptions::Subscription,
    topic: &str,
    publisher: Option<&Publisher>,
) -> Dict {
    let mut details = Dict::new();
    if subscription.match_policy != MatchPolicy::Exact {
        details.insert("topic".into(), Value::from(topic));
    }
    if let Some((session, authid, authrole)) = publisher {
        details.insert("publisher".into(), Value::from(*session));
        details.insert("publisher_authid".into(), Value::from(authid.as_str()));
        details.insert("publisher_authrole".into(), Value::from(authrole.as_str()));
    }
    details
}

/// Whether subscriptions to `topic` are reported by the subscription meta API.
/// Subscriptions to the router's own `wamp.` topics are not: a session
/// watching `wamp.subscription.on_subscribe` would otherwise be told about
/// its own watching, and every meta observer about every other one.
fn announced(topic: &str) -> bool {
    !topic.starts_with("wamp.")
}

/// Meta events for a subscriber leaving a subscription (and the subscription going).
fn subscription_left(cx: &mut Context<'_>, session: SessionId, left: &Left) {
    if !announced(&left.topic) {
        return;
    }
    cx.events.push(MetaEvent::subscription(
        meta::ON_UNSUBSCRIBE,
        session,
        left.id,
    ));
    if left.deleted {
        cx.events.push(MetaEvent::subscription(
            meta::SUBSCRIPTION_ON_DELETE,
            session,
            left.id,
        ));
    }
}

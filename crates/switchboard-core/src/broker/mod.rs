//! The Broker role: subscriptions and publications
//! (`rfc/text/basic/publish_and_subscribe.md`), with pattern-based subscriptions,
//! publisher exclusion and publisher identification from the Advanced Profile.
//! It also carries the router's own meta events to their subscribers.
//!
//! Subscriptions are replicated like registrations. A publication is delivered
//! by the publisher's node to its own subscribers, and passed once to every
//! other node that has a matching subscriber, which delivers to its own; each
//! subscriber gets each event once, in the order its publisher sent them.

pub mod subscriptions;

use std::collections::BTreeSet;

use switchboard_proto::error_uri::{INVALID_ARGUMENT, INVALID_URI, NO_SUCH_SUBSCRIPTION};
use switchboard_proto::uri::{is_reserved, Components};
use switchboard_proto::{
    code, Arguments, Dict, Event, IdGenerator, Message, Publish, Published, Subscribe, Unsubscribe,
    Value,
};

use crate::cluster::{NodeId, PeerMessage, RegistryCommand, Requester};
use crate::dealer::valid_pattern;
use crate::matching::MatchPolicy;
use crate::meta::MetaEvent;
use crate::realm::{Context, Outcome, SessionId, Testament};
use crate::replies::error;
use subscriptions::Subscriptions;

/// The broker's state.
#[derive(Debug, Default)]
pub struct Broker {
    subscriptions: Subscriptions,
}

/// Who published, when the publisher asked to be disclosed: (session, authid, authrole).
pub(crate) type Publisher = (SessionId, String, String);

impl Broker {
    /// The subscription table.
    pub fn subscriptions(&self) -> &Subscriptions {
        &self.subscriptions
    }

    /// Replaces the subscription table (from a snapshot).
    pub(crate) fn restore_subscriptions(&mut self, subscriptions: Subscriptions) {
        self.subscriptions = subscriptions;
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
        let by = cx
            .pending
            .open(cx.node, session, code::SUBSCRIBE, subscribe.request);
        cx.proposals.push(RegistryCommand::Subscribe {
            by,
            topic: subscribe.topic,
            match_policy: policy,
            created: cx.clock.iso8601(cx.now),
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
        let id =
            self.subscriptions
                .subscribe(index, by.session, by.node, topic, policy, move || {
                    if created.is_empty() {
                        clock.iso8601(now)
                    } else {
                        created
                    }
                });
        Outcome::Subscribed(id)
    }

    pub(crate) fn apply_unsubscribe(&mut self, by: Requester, subscription: u64) -> Outcome {
        if self.subscriptions.unsubscribe(by.session, subscription) {
            Outcome::Unsubscribed
        } else {
            let why = format!("no subscription {subscription} for this session");
            Outcome::refused(NO_SUCH_SUBSCRIPTION, why)
        }
    }

    pub(crate) fn apply_session_left(&mut self, session: SessionId) {
        self.subscriptions.remove_session(session);
    }

    pub(crate) fn publish(&mut self, cx: &mut Context<'_>, session: SessionId, publish: Publish) {
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
        let publisher = flag("disclose_me", false)
            .then(|| cx.sessions.get(session))
            .flatten()
            .map(|record| (session, record.authid.clone(), record.authrole.clone()));
        let exclude = flag("exclude_me", true).then_some(session);
        let publication = IdGenerator::fresh(cx.rng);
        let others = self.deliver(
            cx,
            &publish.topic,
            publication,
            &publish.arguments,
            exclude,
            publisher.as_ref(),
        );
        for node in others {
            let event = PeerMessage::Event {
                topic: publish.topic.clone(),
                publication,
                publisher: publisher.clone(),
                exclude,
                arguments: publish.arguments.clone(),
            };
            cx.peers.push_back((node, event));
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
            exclude,
            arguments,
        } = message
        {
            self.deliver(
                cx,
                &topic,
                publication,
                &arguments,
                exclude,
                publisher.as_ref(),
            );
        }
    }

    /// Publishes a router-originated meta event to this node's subscribers (every
    /// node applies the same commands, so each publishes to its own).
    pub(crate) fn publish_meta(&mut self, cx: &mut Context<'_>, event: MetaEvent) {
        let arguments = Arguments::list(event.args);
        let publication = IdGenerator::fresh(cx.rng);
        self.deliver(cx, event.topic, publication, &arguments, None, None);
    }

    /// Publishes a gone session's testament to this node's subscribers: every
    /// node applies the session's removal, so each delivers to its own and no
    /// peer message is needed. The publisher is disclosed if the testament's
    /// options asked for it.
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
            .unwrap_or(false);
        let publication = IdGenerator::fresh(cx.rng);
        self.deliver(
            cx,
            &testament.topic,
            publication,
            &testament.arguments,
            None,
            disclose.then_some(publisher),
        );
    }

    /// Sends one EVENT per matching subscription to each subscriber on this node;
    /// returns the other nodes that have matching subscribers.
    fn deliver(
        &self,
        cx: &mut Context<'_>,
        topic: &str,
        publication: u64,
        arguments: &Arguments,
        exclude: Option<SessionId>,
        publisher: Option<&Publisher>,
    ) -> BTreeSet<NodeId> {
        let mut others = BTreeSet::new();
        for subscription in self.subscriptions.matching(topic) {
            let mut details = Dict::new();
            if subscription.match_policy != MatchPolicy::Exact {
                details.insert("topic".into(), Value::from(topic));
            }
            if let Some((session, authid, authrole)) = publisher {
                details.insert("publisher".into(), Value::from(*session));
                details.insert("publisher_authid".into(), Value::from(authid.as_str()));
                details.insert("publisher_authrole".into(), Value::from(authrole.as_str()));
            }
            for &(subscriber, node) in &subscription.subscribers {
                if node != cx.node {
                    others.insert(node);
                    continue;
                }
                if Some(subscriber) == exclude || !cx.sessions.contains(subscriber) {
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

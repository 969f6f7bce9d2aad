//! The Broker role: subscriptions and publications
//! (`rfc/text/basic/publish_and_subscribe.md`), with pattern-based subscriptions,
//! publisher exclusion and publisher identification from the Advanced Profile.
//! It also carries the router's own meta events to their subscribers.

pub mod subscriptions;

use switchboard_proto::error_uri::{INVALID_ARGUMENT, INVALID_URI, NO_SUCH_SUBSCRIPTION};
use switchboard_proto::uri::{is_reserved, Components};
use switchboard_proto::{
    code, Arguments, Dict, Event, IdGenerator, Message, Publish, Published, Subscribe, Subscribed,
    Unsubscribe, Unsubscribed, Value,
};

use crate::matching::MatchPolicy;
use crate::meta::MetaEvent;
use crate::realm::{Context, SessionId};
use crate::replies::error;
use subscriptions::Subscriptions;

/// The broker's state.
#[derive(Debug, Default)]
pub struct Broker {
    subscriptions: Subscriptions,
}

/// Who published, when the publisher asked to be disclosed.
struct Publisher {
    session: SessionId,
    authid: String,
    authrole: String,
}

impl Broker {
    /// The subscription table.
    pub fn subscriptions(&self) -> &Subscriptions {
        &self.subscriptions
    }

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
        let topic = subscribe.topic.as_str();
        let check = cx.config.uri_check;
        let valid = match policy {
            MatchPolicy::Exact => check.is_valid(topic, Components::NonEmpty),
            MatchPolicy::Prefix => check.is_valid(
                topic.strip_suffix('.').unwrap_or(topic),
                Components::NonEmpty,
            ),
            MatchPolicy::Wildcard => check.is_valid(topic, Components::AllowEmpty),
        };
        if !valid {
            return cx.out.send(
                session,
                reply(INVALID_URI, format!("invalid topic URI {topic:?}")),
            );
        }
        let (clock, now) = (cx.clock, cx.now);
        let id = self
            .subscriptions
            .subscribe(cx.router_ids, session, topic, policy, || clock.iso8601(now));
        let subscribed = Subscribed {
            request: subscribe.request,
            subscription: id,
        };
        cx.out.send(session, Message::Subscribed(subscribed));
    }

    pub(crate) fn unsubscribe(
        &mut self,
        cx: &mut Context<'_>,
        session: SessionId,
        unsubscribe: Unsubscribe,
    ) {
        let message =
            if self
                .subscriptions
                .unsubscribe(cx.router_ids, session, unsubscribe.subscription)
            {
                Message::Unsubscribed(Unsubscribed {
                    request: unsubscribe.request,
                    details: None,
                })
            } else {
                let why = format!(
                    "no subscription {} for this session",
                    unsubscribe.subscription
                );
                error(
                    code::UNSUBSCRIBE,
                    unsubscribe.request,
                    NO_SUCH_SUBSCRIPTION,
                    why,
                )
            };
        cx.out.send(session, message);
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
            .map(|record| Publisher {
                session,
                authid: record.authid.clone(),
                authrole: record.authrole.clone(),
            });
        let exclude = flag("exclude_me", true).then_some(session);
        let publication = self.deliver(
            cx,
            &publish.topic,
            publish.arguments,
            exclude,
            publisher.as_ref(),
        );
        if acknowledge {
            let published = Published {
                request: publish.request,
                publication,
            };
            cx.out.send(session, Message::Published(published));
        }
    }

    /// Publishes a router-originated meta event to its subscribers.
    pub(crate) fn publish_meta(&mut self, cx: &mut Context<'_>, event: MetaEvent) {
        self.deliver(cx, event.topic, Arguments::list(event.args), None, None);
    }

    /// Sends one EVENT per matching subscription and subscriber; returns the
    /// publication id.
    fn deliver(
        &self,
        cx: &mut Context<'_>,
        topic: &str,
        arguments: Arguments,
        exclude: Option<SessionId>,
        publisher: Option<&Publisher>,
    ) -> u64 {
        let publication = IdGenerator::fresh();
        for subscription in self.subscriptions.matching(topic) {
            let mut details = Dict::new();
            if subscription.match_policy != MatchPolicy::Exact {
                details.insert("topic".into(), Value::from(topic));
            }
            if let Some(p) = publisher {
                details.insert("publisher".into(), Value::from(p.session));
                details.insert("publisher_authid".into(), Value::from(p.authid.as_str()));
                details.insert(
                    "publisher_authrole".into(),
                    Value::from(p.authrole.as_str()),
                );
            }
            for &subscriber in &subscription.subscribers {
                if Some(subscriber) == exclude {
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
        publication
    }

    pub(crate) fn session_left(&mut self, cx: &mut Context<'_>, session: SessionId) {
        self.subscriptions.remove_session(cx.router_ids, session);
    }
}

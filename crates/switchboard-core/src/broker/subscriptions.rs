//! The subscription table: one subscription per (topic, match policy), shared by
//! every session subscribed to it, found through the same [`UriIndex`] the
//! dealer uses for registrations. Replicated like the registry: it changes only
//! when a committed command is applied, and new ids are command indexes.

use std::collections::HashMap;

use crate::cluster::NodeId;
use crate::matching::{MatchPolicy, UriIndex};
use crate::realm::SessionId;

/// A subscription's id.
pub type SubscriptionId = u64;

/// One topic (or pattern) and its subscribers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Subscription {
    /// Router-scope id, as sent in SUBSCRIBED.
    pub id: SubscriptionId,
    /// The topic URI or pattern.
    pub topic: String,
    /// How `topic` matches publications.
    pub match_policy: MatchPolicy,
    /// The subscribed sessions and their nodes, in subscription order.
    pub subscribers: Vec<(SessionId, NodeId)>,
    /// When the subscription was created (ISO-8601).
    pub created: String,
}

/// What SUBSCRIBE did to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Subscribed {
    pub(crate) id: SubscriptionId,
    /// The subscription was created for this subscriber.
    pub(crate) fresh: bool,
    /// The session was not subscribed before.
    pub(crate) added: bool,
}

/// A session leaving one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Left {
    pub(crate) id: SubscriptionId,
    pub(crate) topic: String,
    /// It was the last subscriber: the subscription is gone.
    pub(crate) deleted: bool,
}

/// Every subscription of a realm.
#[derive(Debug, Default)]
pub struct Subscriptions {
    /// Subscription id -> subscription.
    by_id: HashMap<SubscriptionId, Subscription>,
    /// (topic or pattern, match policy) -> subscription id.
    index: UriIndex<SubscriptionId>,
    /// Session -> its subscriptions (for cleanup when it leaves).
    by_session: HashMap<SessionId, Vec<SubscriptionId>>,
}

impl Subscriptions {
    /// Subscribes `session`; subscribing twice returns the same id. Tells
    /// whether the subscription was created by this call, and whether the
    /// session was added (not already subscribed).
    pub(crate) fn subscribe(
        &mut self,
        new_id: SubscriptionId,
        session: SessionId,
        node: NodeId,
        topic: &str,
        policy: MatchPolicy,
        created: impl FnOnce() -> String,
    ) -> Subscribed {
        let mut fresh = false;
        let id = match self.index.get(topic, policy) {
            Some(&id) => id,
            None => {
                fresh = true;
                let id = new_id;
                self.index.insert(topic, policy, id);
                let subscription = Subscription {
                    id,
                    topic: topic.to_owned(),
                    match_policy: policy,
                    subscribers: Vec::new(),
                    created: created(),
                };
                self.by_id.insert(id, subscription);
                id
            }
        };
        let mut added = false;
        if let Some(subscription) = self.by_id.get_mut(&id) {
            if !subscription.subscribers.iter().any(|&(s, _)| s == session) {
                subscription.subscribers.push((session, node));
                self.by_session.entry(session).or_default().push(id);
                added = true;
            }
        }
        Subscribed { id, fresh, added }
    }

    /// Removes `session` from subscription `id`: `None` if it was not
    /// subscribed, else whether the subscription went with it (its last one).
    pub(crate) fn unsubscribe(&mut self, session: SessionId, id: SubscriptionId) -> Option<Left> {
        let subs = self.by_session.get_mut(&session)?;
        let at = subs.iter().position(|&s| s == id)?;
        subs.swap_remove(at);
        self.remove_subscriber(session, id)
    }

    /// Removes `session` from every subscription it had.
    pub(crate) fn remove_session(&mut self, session: SessionId) -> Vec<Left> {
        (self.by_session.remove(&session).unwrap_or_default())
            .into_iter()
            .filter_map(|id| self.remove_subscriber(session, id))
            .collect()
    }

    fn remove_subscriber(&mut self, session: SessionId, id: SubscriptionId) -> Option<Left> {
        let subscription = self.by_id.get_mut(&id)?;
        subscription.subscribers.retain(|&(s, _)| s != session);
        let mut deleted = None;
        if subscription.subscribers.is_empty() {
            if let Some(gone) = self.by_id.remove(&id) {
                self.index.remove(&gone.topic, gone.match_policy);
                deleted = Some(gone);
            }
        }
        let topic = match &deleted {
            Some(gone) => gone.topic.clone(),
            None => self
                .by_id
                .get(&id)
                .map(|s| s.topic.clone())
                .unwrap_or_default(),
        };
        Some(Left {
            id,
            topic,
            deleted: deleted.is_some(),
        })
    }

    /// Rebuilds the table from subscriptions saved with [`Self::iter`].
    pub(crate) fn restore(subscriptions: impl IntoIterator<Item = Subscription>) -> Self {
        let mut table = Subscriptions::default();
        for subscription in subscriptions {
            table.index.insert(
                &subscription.topic,
                subscription.match_policy,
                subscription.id,
            );
            for &(session, _) in &subscription.subscribers {
                table
                    .by_session
                    .entry(session)
                    .or_default()
                    .push(subscription.id);
            }
            table.by_id.insert(subscription.id, subscription);
        }
        table
    }

    /// Every subscription.
    pub fn iter(&self) -> impl Iterator<Item = &Subscription> {
        self.by_id.values()
    }

    /// Every subscription a publication to `topic` reaches.
    pub fn matching(&self, topic: &str) -> impl Iterator<Item = &Subscription> {
        self.index
            .all_matches(topic)
            .into_iter()
            .filter_map(|id| self.by_id.get(id))
    }

    /// The subscription for exactly this topic and policy (`wamp.subscription.lookup`).
    pub fn lookup(&self, topic: &str, policy: MatchPolicy) -> Option<&Subscription> {
        self.index
            .get(topic, policy)
            .and_then(|id| self.by_id.get(id))
    }

    /// A subscription by id.
    pub fn get(&self, id: SubscriptionId) -> Option<&Subscription> {
        self.by_id.get(&id)
    }

    /// How many subscriptions exist.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

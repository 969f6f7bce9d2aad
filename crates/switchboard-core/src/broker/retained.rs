//! Event retention (`ap_pubsub_event_retention.md`): the last event published
//! with `retain=true` on each topic. It is part of the replicated state, so a
//! subscriber on any node gets it with `get_retained=true`, whichever node the
//! publisher used, and a node that restarts has it again from the log.

use std::collections::BTreeMap;

use super::StoredEvent;
use crate::matching::MatchPolicy;

/// At most this many topics keep a retained event per realm. Beyond it, new
/// topics' `retain` is ignored (the spec lets a broker decline retention):
/// one event per topic would otherwise let a publisher grow every node's
/// memory and the log without bound, one new topic at a time.
pub const MAX_RETAINED_TOPICS: usize = 10_000;

/// The retained events of a realm, by topic.
#[derive(Debug, Default)]
pub(crate) struct Retained {
    by_topic: BTreeMap<String, StoredEvent>,
}

impl Retained {
    /// Keeps `event` as its topic's retained event (replacing the previous one).
    pub(crate) fn keep(&mut self, event: StoredEvent) {
        if self.by_topic.len() >= MAX_RETAINED_TOPICS && !self.by_topic.contains_key(&event.topic) {
            return;
        }
        self.by_topic.insert(event.topic.clone(), event);
    }

    /// The retained events a subscription to `pattern` covers.
    pub(crate) fn matching<'a>(
        &'a self,
        pattern: &'a str,
        policy: MatchPolicy,
    ) -> impl Iterator<Item = &'a StoredEvent> + 'a {
        let exact = (policy == MatchPolicy::Exact)
            .then(|| self.by_topic.get(pattern))
            .flatten();
        let patterned = (policy != MatchPolicy::Exact)
            .then(|| (self.by_topic.values()).filter(move |e| policy.matches(pattern, &e.topic)))
            .into_iter()
            .flatten();
        exact.into_iter().chain(patterned)
    }

    /// Every retained event, by topic (for snapshots).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &StoredEvent> {
        self.by_topic.values()
    }

    /// Rebuilds the table from events saved with [`Self::iter`].
    pub(crate) fn restore(events: impl IntoIterator<Item = StoredEvent>) -> Self {
        Self {
            by_topic: events.into_iter().map(|e| (e.topic.clone(), e)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(topic: &str, publication: u64) -> StoredEvent {
        StoredEvent {
            topic: topic.into(),
            publication,
            publisher: None,
            audience: crate::broker::Audience::everyone(),
            arguments: switchboard_proto::Arguments::none(),
            timestamp: String::new(),
        }
    }

    #[test]
    fn each_topic_keeps_its_latest_event_and_patterns_find_theirs() {
        let mut retained = Retained::default();
        retained.keep(event("com.example.a.temp", 1));
        retained.keep(event("com.example.b.temp", 2));
        retained.keep(event("com.example.a.temp", 3));
        let ids = |pattern, policy| -> Vec<u64> {
            retained
                .matching(pattern, policy)
                .map(|e| e.publication)
                .collect()
        };
        assert_eq!(ids("com.example.a.temp", MatchPolicy::Exact), vec![3]);
        assert_eq!(ids("com.example.", MatchPolicy::Prefix), vec![3, 2]);
        assert_eq!(ids("com.example..temp", MatchPolicy::Wildcard), vec![3, 2]);
        assert!(ids("com.example", MatchPolicy::Exact).is_empty());
    }

    #[test]
    fn new_topics_beyond_the_limit_are_not_retained_but_known_ones_still_update() {
        let mut retained = Retained::default();
        for i in 0..MAX_RETAINED_TOPICS {
            retained.keep(event(&format!("t.{i}"), 1));
        }
        retained.keep(event("t.new", 2));
        retained.keep(event("t.0", 3));
        assert_eq!(retained.iter().count(), MAX_RETAINED_TOPICS);
        assert!(retained
            .matching("t.new", MatchPolicy::Exact)
            .next()
            .is_none());
        let latest = retained.matching("t.0", MatchPolicy::Exact).next();
        assert_eq!(latest.map(|e| e.publication), Some(3));
    }
}

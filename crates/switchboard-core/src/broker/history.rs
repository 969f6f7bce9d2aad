//! Event history (`ap_pubsub_event_history.md`): the last `limit` events of
//! each topic pattern the realm's configuration names, read with
//! `wamp.subscription.get_events`. Recorded through the replicated log, so
//! every node holds the same history in the same order and answers alike.

use std::collections::VecDeque;
use std::time::SystemTime;

use switchboard_proto::{Dict, Value};

use super::StoredEvent;
use crate::matching::MatchPolicy;

/// The most events one rule may keep.
pub const MAX_HISTORY_LIMIT: usize = 100_000;

/// A topic pattern whose events the realm keeps, and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRule {
    /// The topic URI or pattern.
    pub uri: String,
    /// How `uri` matches topics.
    pub match_policy: MatchPolicy,
    /// How many of its latest events are kept.
    pub limit: usize,
}

/// The kept events, one ring per rule; each event with its log position,
/// which orders events across rings.
#[derive(Debug, Default)]
pub(crate) struct History {
    rings: Vec<VecDeque<(u64, StoredEvent)>>,
}

/// The rule that keeps events published to `topic`: the first that matches.
pub(crate) fn rule_for(rules: &[HistoryRule], topic: &str) -> Option<usize> {
    rules
        .iter()
        .position(|rule| rule.match_policy.matches(&rule.uri, topic))
}

impl History {
    /// Keeps `event` in its rule's ring, dropping the oldest beyond the limit.
    pub(crate) fn record(&mut self, rules: &[HistoryRule], position: u64, event: StoredEvent) {
        let Some(rule) = rule_for(rules, &event.topic) else {
            return;
        };
        if self.rings.len() <= rule {
            self.rings.resize_with(rules.len(), VecDeque::new);
        }
        let ring = &mut self.rings[rule];
        ring.push_back((position, event));
        while ring.len() > rules[rule].limit {
            ring.pop_front();
        }
    }

    /// The kept events a subscription to `pattern` covers, oldest first.
    pub(crate) fn covered(&self, pattern: &str, policy: MatchPolicy) -> Vec<&StoredEvent> {
        let mut events: Vec<&(u64, StoredEvent)> = (self.rings.iter().flatten())
            .filter(|(_, e)| policy.matches(pattern, &e.topic))
            .collect();
        events.sort_by_key(|(position, _)| *position);
        events.into_iter().map(|(_, e)| e).collect()
    }

    /// Every kept event with its position (for snapshots).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &(u64, StoredEvent)> {
        self.rings.iter().flatten()
    }

    /// Rebuilds the history from events saved with [`Self::iter`].
    pub(crate) fn restore(rules: &[HistoryRule], mut events: Vec<(u64, StoredEvent)>) -> Self {
        events.sort_by_key(|(position, _)| *position);
        let mut history = History::default();
        for (position, event) in events {
            history.record(rules, position, event);
        }
        history
    }
}

/// The filters of a `wamp.subscription.get_events` call (its keyword
/// arguments), all of which an event must pass.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct EventQuery {
    reverse: bool,
    limit: Option<usize>,
    from_time: Option<SystemTime>,
    after_time: Option<SystemTime>,
    before_time: Option<SystemTime>,
    until_time: Option<SystemTime>,
    topic: Option<String>,
    from_publication: Option<u64>,
    after_publication: Option<u64>,
    before_publication: Option<u64>,
    until_publication: Option<u64>,
}

impl EventQuery {
    pub(crate) fn parse(kwargs: &Dict) -> Result<Self, String> {
        let time = |key: &str| -> Result<Option<SystemTime>, String> {
            match kwargs.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => humantime::parse_rfc3339_weak(s)
                    .map(Some)
                    .map_err(|_| format!("{key} must be an RFC 3339 timestamp")),
                Some(_) => Err(format!("{key} must be an RFC 3339 timestamp")),
            }
        };
        let number = |key: &str| -> Result<Option<u64>, String> {
            match kwargs.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .filter(|&n| n > 0)
                    .map(Some)
                    .ok_or_else(|| format!("{key} must be a positive integer")),
            }
        };
        let reverse = match kwargs.get("reverse") {
            None | Some(Value::Null) => false,
            Some(v) => v.as_bool().ok_or("reverse must be a boolean")?,
        };
        let topic = match kwargs.get("topic") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_str().ok_or("topic must be a URI")?.to_owned()),
        };
        Ok(Self {
            reverse,
            limit: number("limit")?.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            from_time: time("from_time")?,
            after_time: time("after_time")?,
            before_time: time("before_time")?,
            until_time: time("until_time")?,
            topic,
            from_publication: number("from_publication")?,
            after_publication: number("after_publication")?,
            before_publication: number("before_publication")?,
            until_publication: number("until_publication")?,
        })
    }

    /// The events (oldest first) that pass, in the order asked for. A
    /// publication bound names an event by id; one no longer kept (or never
    /// seen) bounds nothing.
    pub(crate) fn select<'a>(&self, events: Vec<&'a StoredEvent>) -> Vec<&'a StoredEvent> {
        let at =
            |id: Option<u64>| id.and_then(|id| events.iter().position(|e| e.publication == id));
        let start = at(self.from_publication)
            .or(at(self.after_publication).map(|i| i + 1))
            .unwrap_or(0);
        let end = at(self.before_publication)
            .or(at(self.until_publication).map(|i| i + 1))
            .unwrap_or(events.len());
        let published = |e: &StoredEvent| humantime::parse_rfc3339_weak(&e.timestamp).ok();
        let in_time = |e: &StoredEvent| {
            let Some(t) = published(e) else {
                return self.from_time.is_none()
                    && self.after_time.is_none()
                    && self.before_time.is_none()
                    && self.until_time.is_none();
            };
            self.from_time.is_none_or(|from| t >= from)
                && self.after_time.is_none_or(|after| t > after)
                && self.before_time.is_none_or(|before| t < before)
                && self.until_time.is_none_or(|until| t <= until)
        };
        let mut chosen: Vec<&StoredEvent> = events
            .get(start..end.max(start))
            .unwrap_or_default()
            .iter()
            .copied()
            .filter(|e| self.topic.as_ref().is_none_or(|t| *t == e.topic))
            .filter(|e| in_time(e))
            .collect();
        if self.reverse {
            chosen.reverse();
        }
        if let Some(limit) = self.limit {
            chosen.truncate(limit);
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::Audience;

    fn event(topic: &str, publication: u64, second: u32) -> StoredEvent {
        StoredEvent {
            topic: topic.into(),
            publication,
            publisher: None,
            audience: Audience::everyone(),
            arguments: switchboard_proto::Arguments::none(),
            timestamp: format!("2026-01-01T00:00:{second:02}.000Z"),
        }
    }

    fn rules() -> Vec<HistoryRule> {
        vec![
            HistoryRule {
                uri: "com.example.log.".into(),
                match_policy: MatchPolicy::Prefix,
                limit: 3,
            },
            HistoryRule {
                uri: "com.example.price".into(),
                match_policy: MatchPolicy::Exact,
                limit: 10,
            },
        ]
    }

    fn ids(events: &[&StoredEvent]) -> Vec<u64> {
        events.iter().map(|e| e.publication).collect()
    }

    #[test]
    fn each_rule_keeps_its_last_events_and_others_are_not_kept() {
        let rules = rules();
        let mut history = History::default();
        for (i, topic) in [
            "com.example.log.a",
            "com.example.price",
            "com.example.log.b",
        ]
        .iter()
        .cycle()
        .take(9)
        .enumerate()
        {
            history.record(&rules, i as u64, event(topic, i as u64 + 100, 0));
        }
        history.record(&rules, 50, event("com.example.other", 1, 0));
        let logs = history.covered("com.example.log.", MatchPolicy::Prefix);
        assert_eq!(ids(&logs), vec![105, 106, 108], "the log rule keeps 3");
        let prices = history.covered("com.example.price", MatchPolicy::Exact);
        assert_eq!(ids(&prices), vec![101, 104, 107]);
        assert!(history
            .covered("com.example.other", MatchPolicy::Exact)
            .is_empty());
        let restored = History::restore(&rules, history.iter().cloned().collect());
        assert_eq!(
            ids(&restored.covered("com.example.", MatchPolicy::Prefix)),
            vec![101, 104, 105, 106, 107, 108]
        );
    }

    #[test]
    fn queries_combine_their_filters() {
        let events: Vec<StoredEvent> = (1..=6)
            .map(|i| event(if i % 2 == 0 { "t.even" } else { "t.odd" }, i, i as u32))
            .collect();
        let all: Vec<&StoredEvent> = events.iter().collect();
        let query = |pairs: &[(&str, Value)]| {
            let kwargs: Dict = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect();
            ids(&EventQuery::parse(&kwargs).unwrap().select(all.clone()))
        };
        assert_eq!(query(&[]), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(
            query(&[("reverse", true.into()), ("limit", 2u64.into())]),
            vec![6, 5]
        );
        assert_eq!(
            query(&[("after_publication", 2u64.into())]),
            vec![3, 4, 5, 6]
        );
        assert_eq!(
            query(&[
                ("from_publication", 2u64.into()),
                ("before_publication", 5u64.into())
            ]),
            vec![2, 3, 4]
        );
        assert_eq!(query(&[("until_publication", 2u64.into())]), vec![1, 2]);
        assert_eq!(query(&[("topic", "t.even".into())]), vec![2, 4, 6]);
        let at = |s: u32| Value::from(format!("2026-01-01T00:00:{s:02}Z"));
        assert_eq!(
            query(&[("from_time", at(3)), ("until_time", at(5))]),
            vec![3, 4, 5]
        );
        assert_eq!(
            query(&[("after_time", at(3)), ("before_time", at(5))]),
            vec![4]
        );
        assert_eq!(
            query(&[("after_publication", 999u64.into())]),
            vec![1, 2, 3, 4, 5, 6]
        );
    }

    #[test]
    fn malformed_filters_are_refused() {
        for (key, value) in [
            ("limit", Value::from(0u64)),
            ("limit", Value::from("ten")),
            ("from_time", Value::from("yesterday")),
            ("reverse", Value::from(1u64)),
            ("topic", Value::from(5u64)),
        ] {
            let kwargs: Dict = [(key.to_owned(), value)].into_iter().collect();
            assert!(EventQuery::parse(&kwargs).is_err(), "{key}");
        }
    }
}

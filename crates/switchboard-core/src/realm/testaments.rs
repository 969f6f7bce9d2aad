//! Session testaments (`rfc/text/advanced/ap_pubsub_testament.md`): events a
//! session leaves with the router, published when the session goes away for
//! any reason (GOODBYE, a lost transport, a kill, its node dying).
//!
//! They are kept with the session's replicated summary, so every node holds
//! every session's testaments and applies their publication at the same place
//! in the log: the command that removes the session (`SessionLeft`, or
//! `NodeDown` of its node). Each node then delivers them to its own
//! subscribers only, as it does with meta events, so each subscriber gets a
//! testament exactly once however the session went, and no node has to be
//! elected to publish for a dead one.

use serde::{Deserialize, Serialize};
use switchboard_proto::{Arguments, Dict};

/// When a testament fires. This router has no session resumption, so a session
/// that goes away is detached and destroyed at once: both buckets fire, the
/// `detached` one first, as the spec asks of such routers. The buckets stay
/// apart so `flush_testaments` can empty one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TestamentScope {
    /// `detached`.
    Detached,
    /// `destroyed` (the default).
    Destroyed,
}

impl TestamentScope {
    /// Reads the `scope` keyword argument; `None` for an unknown scope.
    pub(crate) fn from_option(name: &str) -> Option<Self> {
        match name {
            "detached" => Some(TestamentScope::Detached),
            "destroyed" => Some(TestamentScope::Destroyed),
            _ => None,
        }
    }
}

/// One event to publish when its session goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Testament {
    /// The topic to publish to.
    pub topic: String,
    /// The event's `args` and `kwargs`.
    pub arguments: Arguments,
    /// `publish_options`: only `disclose_me` changes anything (the publisher is
    /// gone, so `exclude_me` and `acknowledge` mean nothing).
    pub options: Dict,
    /// Which bucket it is in.
    pub scope: TestamentScope,
}

/// A session's testaments, in the order they were added.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Testaments {
    detached: Vec<Testament>,
    destroyed: Vec<Testament>,
}

impl Testaments {
    fn bucket(&mut self, scope: TestamentScope) -> &mut Vec<Testament> {
        match scope {
            TestamentScope::Detached => &mut self.detached,
            TestamentScope::Destroyed => &mut self.destroyed,
        }
    }

    /// Adds one to its scope's bucket, after those already there.
    pub(crate) fn add(&mut self, testament: Testament) {
        self.bucket(testament.scope).push(testament);
    }

    /// Empties `scope`'s bucket; returns how many it held.
    pub(crate) fn flush(&mut self, scope: TestamentScope) -> usize {
        std::mem::take(self.bucket(scope)).len()
    }

    /// Every testament in publishing order: `detached` ones first, each bucket
    /// in the order its testaments were added.
    pub(crate) fn into_publishing_order(self) -> impl Iterator<Item = Testament> {
        self.detached.into_iter().chain(self.destroyed)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.detached.is_empty() && self.destroyed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use switchboard_proto::Value;

    use super::*;

    fn testament(topic: &str, scope: TestamentScope) -> Testament {
        Testament {
            topic: topic.into(),
            arguments: Arguments::list(vec![Value::from(topic)]),
            options: Dict::new(),
            scope,
        }
    }

    #[test]
    fn detached_testaments_come_first_and_each_bucket_keeps_its_order() {
        let mut t = Testaments::default();
        t.add(testament("d1", TestamentScope::Destroyed));
        t.add(testament("x1", TestamentScope::Detached));
        t.add(testament("d2", TestamentScope::Destroyed));
        t.add(testament("x2", TestamentScope::Detached));
        let order: Vec<String> = t.into_publishing_order().map(|t| t.topic).collect();
        assert_eq!(order, ["x1", "x2", "d1", "d2"]);
    }

    #[test]
    fn flush_empties_one_bucket_and_counts_what_it_held() {
        let mut t = Testaments::default();
        t.add(testament("d1", TestamentScope::Destroyed));
        t.add(testament("d2", TestamentScope::Destroyed));
        t.add(testament("x1", TestamentScope::Detached));
        assert_eq!(t.flush(TestamentScope::Destroyed), 2);
        assert_eq!(t.flush(TestamentScope::Destroyed), 0);
        let order: Vec<String> = t.into_publishing_order().map(|t| t.topic).collect();
        assert_eq!(order, ["x1"]);
    }

    #[test]
    fn scopes_are_read_by_their_spec_names_only() {
        assert_eq!(
            TestamentScope::from_option("detached"),
            Some(TestamentScope::Detached)
        );
        assert_eq!(
            TestamentScope::from_option("destroyed"),
            Some(TestamentScope::Destroyed)
        );
        assert_eq!(TestamentScope::from_option("gone"), None);
    }
}

//! URI matching for registrations and subscriptions (`match` = exact, prefix,
//! wildcard), with the spec's precedence (`rfc/text/advanced/ap_rpc_pattern_based_registration.md`).
//!
//! Every lookup costs what the *called URI* costs, never what the number of
//! patterns costs: exact URIs are one hash lookup; prefixes are found by looking
//! up each prefix of the called URI (longest first), since a prefix pattern can
//! only match if it *is* a prefix of the URI; wildcard patterns live in a trie of
//! components walked along the called URI, trying the literal branch before the
//! wildcard branch, which is exactly the spec's "longest run of literal components
//! before the first wildcard, then before the second, ..." rule.

use std::collections::HashMap;

/// How a registration or subscription URI matches.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum MatchPolicy {
    /// The URI itself.
    Exact,
    /// Any URI that starts with the pattern (a string prefix, as the spec's examples show).
    Prefix,
    /// Empty components in the pattern match any one component; lengths must agree.
    Wildcard,
}

impl MatchPolicy {
    /// Whether `uri` matches `pattern` under this policy: what [`UriIndex`]
    /// finds, for one pattern (retained events and history are few, and are
    /// checked against a subscription one by one).
    pub fn matches(self, pattern: &str, uri: &str) -> bool {
        match self {
            MatchPolicy::Exact => pattern == uri,
            MatchPolicy::Prefix => uri.starts_with(pattern),
            MatchPolicy::Wildcard => {
                let (mut wanted, mut got) = (pattern.split('.'), uri.split('.'));
                loop {
                    match (wanted.next(), got.next()) {
                        (None, None) => return true,
                        (Some(w), Some(g)) if w.is_empty() || w == g => {}
                        _ => return false,
                    }
                }
            }
        }
    }

    /// The policy named by a `match` option; `None` for an unknown name.
    pub fn from_option(name: &str) -> Option<Self> {
        match name {
            "exact" => Some(MatchPolicy::Exact),
            "prefix" => Some(MatchPolicy::Prefix),
            "wildcard" => Some(MatchPolicy::Wildcard),
            _ => None,
        }
    }

    /// The option's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchPolicy::Exact => "exact",
            MatchPolicy::Prefix => "prefix",
            MatchPolicy::Wildcard => "wildcard",
        }
    }
}

/// A trie of URI components for wildcard patterns; `""` edges are wildcards.
#[derive(Debug)]
struct WildcardNode<T> {
    literal: HashMap<Box<str>, WildcardNode<T>>,
    wildcard: Option<Box<WildcardNode<T>>>,
    value: Option<T>,
}

impl<T> Default for WildcardNode<T> {
    fn default() -> Self {
        Self {
            literal: HashMap::new(),
            wildcard: None,
            value: None,
        }
    }
}

impl<T> WildcardNode<T> {
    fn is_empty(&self) -> bool {
        self.value.is_none() && self.literal.is_empty() && self.wildcard.is_none()
    }

    fn slot(&mut self, pattern: &str) -> &mut Option<T> {
        let mut node = self;
        for component in pattern.split('.') {
            node = if component.is_empty() {
                node.wildcard.get_or_insert_with(Default::default)
            } else {
                node.literal.entry(component.into()).or_default()
            };
        }
        &mut node.value
    }

    fn find(&self, pattern: &str) -> Option<&T> {
        let mut node = self;
        for component in pattern.split('.') {
            node = if component.is_empty() {
                node.wildcard.as_deref()?
            } else {
                node.literal.get(component)?
            };
        }
        node.value.as_ref()
    }

    /// Removes the pattern's value and prunes branches left empty.
    fn remove(&mut self, components: &[&str]) -> Option<T> {
        let Some((first, rest)) = components.split_first() else {
            return self.value.take();
        };
        if first.is_empty() {
            let child = self.wildcard.as_deref_mut()?;
            let removed = child.remove(rest);
            if child.is_empty() {
                self.wildcard = None;
            }
            removed
        } else {
            let child = self.literal.get_mut(*first)?;
            let removed = child.remove(rest);
            if child.is_empty() {
                self.literal.remove(*first);
            }
            removed
        }
    }

    /// Every value whose pattern matches `components`, best (by the spec) first.
    fn collect<'a>(&'a self, components: &[&str], out: &mut Vec<&'a T>, first_only: bool) {
        let Some((first, rest)) = components.split_first() else {
            if let Some(value) = &self.value {
                out.push(value);
            }
            return;
        };
        if let Some(child) = self.literal.get(*first) {
            child.collect(rest, out, first_only);
            if first_only && !out.is_empty() {
                return;
            }
        }
        if let Some(child) = &self.wildcard {
            child.collect(rest, out, first_only);
        }
    }
}

/// Patterns of all three policies, each mapped to a `T` (a registration or
/// subscription id).
#[derive(Debug)]
pub struct UriIndex<T> {
    /// Exact URI -> value.
    exact: HashMap<String, T>,
    /// Prefix pattern -> value.
    prefix: HashMap<String, T>,
    /// Wildcard patterns by component.
    wildcard: WildcardNode<T>,
    /// Length of the longest prefix pattern, to bound prefix lookups.
    longest_prefix: usize,
}

impl<T> Default for UriIndex<T> {
    fn default() -> Self {
        Self {
            exact: HashMap::new(),
            prefix: HashMap::new(),
            wildcard: WildcardNode::default(),
            longest_prefix: 0,
        }
    }
}

impl<T> UriIndex<T> {
    /// The value stored for exactly this pattern and policy.
    pub fn get(&self, pattern: &str, policy: MatchPolicy) -> Option<&T> {
        match policy {
            MatchPolicy::Exact => self.exact.get(pattern),
            MatchPolicy::Prefix => self.prefix.get(pattern),
            MatchPolicy::Wildcard => self.wildcard.find(pattern),
        }
    }

    /// Stores `value` for the pattern, returning the one it replaces.
    pub fn insert(&mut self, pattern: &str, policy: MatchPolicy, value: T) -> Option<T> {
        match policy {
            MatchPolicy::Exact => self.exact.insert(pattern.to_owned(), value),
            MatchPolicy::Prefix => {
                self.longest_prefix = self.longest_prefix.max(pattern.len());
                self.prefix.insert(pattern.to_owned(), value)
            }
            MatchPolicy::Wildcard => self.wildcard.slot(pattern).replace(value),
        }
    }

    /// Removes the pattern.
    pub fn remove(&mut self, pattern: &str, policy: MatchPolicy) -> Option<T> {
        match policy {
            MatchPolicy::Exact => self.exact.remove(pattern),
            MatchPolicy::Prefix => self.prefix.remove(pattern),
            MatchPolicy::Wildcard => {
                let components: Vec<&str> = pattern.split('.').collect();
                self.wildcard.remove(&components)
            }
        }
    }

    /// The one pattern a call to `uri` goes to: exact, else the longest prefix,
    /// else the best wildcard.
    pub fn best_match(&self, uri: &str) -> Option<&T> {
        if let Some(value) = self.exact.get(uri) {
            return Some(value);
        }
        if let Some(value) = self.prefixes_of(uri).next() {
            return Some(value);
        }
        let components: Vec<&str> = uri.split('.').collect();
        let mut found = Vec::with_capacity(1);
        self.wildcard.collect(&components, &mut found, true);
        found.into_iter().next()
    }

    /// Every pattern that matches `uri` (for publications): exact, then prefixes
    /// longest first, then wildcards best first.
    pub fn all_matches(&self, uri: &str) -> Vec<&T> {
        let mut found: Vec<&T> = self.exact.get(uri).into_iter().collect();
        found.extend(self.prefixes_of(uri));
        let components: Vec<&str> = uri.split('.').collect();
        self.wildcard.collect(&components, &mut found, false);
        found
    }

    /// Values of prefix patterns that `uri` starts with, longest first.
    fn prefixes_of<'a, 'u>(&'a self, uri: &'u str) -> impl Iterator<Item = &'a T> + use<'a, 'u, T> {
        // From the whole URI down to the empty prefix, which matches every URI
        // (permissions use it; a registration cannot have an empty URI).
        let candidates = self.longest_prefix.min(uri.len());
        let lookups = if self.prefix.is_empty() {
            0
        } else {
            candidates + 1
        };
        (0..lookups)
            .rev()
            .filter(move |&end| uri.is_char_boundary(end))
            .filter_map(move |end| self.prefix.get(&uri[..end]))
    }

    /// Every stored value with its pattern and policy.
    pub fn iter(&self) -> impl Iterator<Item = (MatchPolicy, &T)> {
        let exact = self.exact.values().map(|v| (MatchPolicy::Exact, v));
        let prefix = self.prefix.values().map(|v| (MatchPolicy::Prefix, v));
        let mut wildcards = Vec::new();
        collect_all(&self.wildcard, &mut wildcards);
        exact
            .chain(prefix)
            .chain(wildcards.into_iter().map(|v| (MatchPolicy::Wildcard, v)))
    }
}

fn collect_all<'a, T>(node: &'a WildcardNode<T>, out: &mut Vec<&'a T>) {
    out.extend(node.value.as_ref());
    for child in node.literal.values() {
        collect_all(child, out);
    }
    if let Some(child) = &node.wildcard {
        collect_all(child, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(patterns: &[(&str, MatchPolicy)]) -> UriIndex<String> {
        let mut index = UriIndex::default();
        for (pattern, policy) in patterns {
            index.insert(pattern, *policy, format!("{}:{pattern}", policy.as_str()));
        }
        index
    }

    fn best(index: &UriIndex<String>, uri: &str) -> Option<String> {
        index.best_match(uri).cloned()
    }

    use MatchPolicy::*;

    #[test]
    fn exact_beats_prefix_beats_wildcard() {
        let i = index(&[("a1.b2.c3", Exact), ("a1.b2", Prefix), ("a1..c3", Wildcard)]);
        assert_eq!(best(&i, "a1.b2.c3").as_deref(), Some("exact:a1.b2.c3"));
        assert_eq!(best(&i, "a1.b2.c4").as_deref(), Some("prefix:a1.b2"));
        assert_eq!(best(&i, "a1.x.c3").as_deref(), Some("wildcard:a1..c3"));
        assert_eq!(best(&i, "z"), None);
    }

    #[test]
    fn the_longest_prefix_wins() {
        let i = index(&[("a1.b2", Prefix), ("a1.b2.c3", Prefix), ("a1", Prefix)]);
        assert_eq!(best(&i, "a1.b2.c3.d4").as_deref(), Some("prefix:a1.b2.c3"));
        assert_eq!(best(&i, "a1.b2.x").as_deref(), Some("prefix:a1.b2"));
    }

    #[test]
    fn prefixes_match_as_strings_like_the_spec_examples() {
        let i = index(&[("com.myapp.myobject1", Prefix)]);
        for uri in [
            "com.myapp.myobject1.myprocedure1",
            "com.myapp.myobject1-mysubobject1",
            "com.myapp.myobject1",
        ] {
            assert!(best(&i, uri).is_some(), "{uri}");
        }
        assert_eq!(best(&i, "com.myapp.myobject"), None);
    }

    #[test]
    fn wildcards_match_one_whole_component_and_lengths_must_agree() {
        let i = index(&[("com.myapp..myprocedure1", Wildcard)]);
        assert!(best(&i, "com.myapp.myobject1.myprocedure1").is_some());
        assert!(best(&i, "com.myapp.x.y.myprocedure1").is_none());
        assert!(best(&i, "com.myapp.myprocedure1").is_none());
    }

    #[test]
    fn wildcard_precedence_follows_literal_runs_as_in_the_spec() {
        let i = index(&[("a1.b2..d4.e5", Wildcard), ("a1.b2.c33..e5", Wildcard)]);
        assert_eq!(
            best(&i, "a1.b2.c33.d4.e5").as_deref(),
            Some("wildcard:a1.b2.c33..e5")
        );
        let i = index(&[
            ("a1.b2..d4..f6.g7", Wildcard),
            ("a1.b2..d4.e5..g7", Wildcard),
        ]);
        assert_eq!(
            best(&i, "a1.b2.c88.d4.e5.f6.g7").as_deref(),
            Some("wildcard:a1.b2..d4.e5..g7")
        );
        let i = index(&[("a1...d4", Wildcard), ("a1.b2..d4", Wildcard)]);
        assert_eq!(
            best(&i, "a1.b2.c3.d4").as_deref(),
            Some("wildcard:a1.b2..d4")
        );
    }

    #[test]
    fn all_matches_lists_every_policy_best_first() {
        let i = index(&[
            ("a.b", Exact),
            ("a", Prefix),
            ("a.", Prefix),
            (".b", Wildcard),
            ("a.", Wildcard),
        ]);
        let all: Vec<&String> = i.all_matches("a.b");
        assert_eq!(
            all,
            [
                "exact:a.b",
                "prefix:a.",
                "prefix:a",
                "wildcard:a.",
                "wildcard:.b"
            ]
        );
    }

    #[test]
    fn removed_patterns_stop_matching_and_empty_branches_are_pruned() {
        let mut i = index(&[("a..c", Wildcard), ("a.b", Prefix)]);
        assert!(i.remove("a..c", Wildcard).is_some());
        assert!(i.wildcard.is_empty());
        assert!(i.remove("a.b", Prefix).is_some());
        assert_eq!(best(&i, "a.b.c"), None);
        assert_eq!(i.iter().count(), 0);
    }

    #[test]
    fn one_pattern_matches_what_the_index_finds_for_it() {
        let uris = ["a.b.c", "a.b", "a.bc", "a..c", "x.b.c", "a.b.c.d", ""];
        let patterns = [
            ("a.b.c", MatchPolicy::Exact),
            ("a.b", MatchPolicy::Prefix),
            ("a.", MatchPolicy::Prefix),
            ("a..c", MatchPolicy::Wildcard),
            (".b.", MatchPolicy::Wildcard),
            ("a.b.c.", MatchPolicy::Wildcard),
        ];
        for (pattern, policy) in patterns {
            let idx = index(&[(pattern, policy)]);
            for uri in uris {
                assert_eq!(
                    policy.matches(pattern, uri),
                    !idx.all_matches(uri).is_empty(),
                    "{pattern:?} {policy:?} against {uri:?}"
                );
            }
        }
    }

    #[test]
    fn non_ascii_uris_are_split_only_on_character_boundaries() {
        let i = index(&[("é", Prefix)]);
        assert_eq!(best(&i, "éa").as_deref(), Some("prefix:é"));
    }
}

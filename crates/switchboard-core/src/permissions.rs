//! What a role may do: per-role URI permissions (`rfc/text/advanced/authorization.md`).
//!
//! A role's permissions are an allow-list of `(uri, match, allow)` rules. Of the
//! rules that match a URI, the most specific decides, with the precedence of
//! pattern-based registrations: an exact rule beats the longest prefix rule,
//! which beats a wildcard rule. So `com.example.` (prefix, everything) with
//! `com.example.secret` (exact, nothing) shuts exactly that URI. The lookup is
//! the dealer's own [`UriIndex::best_match`], so the two can never disagree about
//! which pattern is "most specific".

use std::collections::HashMap;

use crate::matching::{MatchPolicy, UriIndex};

/// An action a session may be allowed on a URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// CALL the procedure.
    Call,
    /// REGISTER the procedure (or pattern).
    Register,
    /// PUBLISH to the topic.
    Publish,
    /// SUBSCRIBE to the topic (or pattern).
    Subscribe,
}

impl Action {
    /// Every action, for "allow everything".
    pub const ALL: [Action; 4] = [
        Action::Call,
        Action::Register,
        Action::Publish,
        Action::Subscribe,
    ];

    /// The action named as in the config (`"call"`, ...).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// The action's name, as in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Call => "call",
            Action::Register => "register",
            Action::Publish => "publish",
            Action::Subscribe => "subscribe",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Action::Call => 1,
            Action::Register => 2,
            Action::Publish => 4,
            Action::Subscribe => 8,
        }
    }
}

/// A set of actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Actions(u8);

impl Actions {
    /// Whether `action` is in the set.
    pub fn contains(self, action: Action) -> bool {
        self.0 & action.bit() != 0
    }
}

impl FromIterator<Action> for Actions {
    fn from_iter<I: IntoIterator<Item = Action>>(iter: I) -> Self {
        Actions(iter.into_iter().fold(0, |bits, a| bits | a.bit()))
    }
}

/// One rule of a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// The URI or pattern.
    pub uri: String,
    /// How `uri` matches.
    pub policy: MatchPolicy,
    /// What the rule allows on the URIs it decides (possibly nothing).
    pub allow: Actions,
}

impl Permission {
    /// A rule allowing `allow` on `uri` matched by `policy`.
    pub fn new(uri: impl Into<String>, policy: MatchPolicy, allow: &[Action]) -> Self {
        Self {
            uri: uri.into(),
            policy,
            allow: allow.iter().copied().collect(),
        }
    }
}

/// A role's rules, indexed for lookup.
#[derive(Debug, Default)]
pub struct Role {
    rules: UriIndex<Actions>,
    /// The rules as configured, for comparison and display.
    listed: Vec<Permission>,
}

impl Role {
    /// A role from its rules. Two rules for the same URI and policy: the later wins.
    pub fn new(permissions: Vec<Permission>) -> Self {
        let mut rules = UriIndex::default();
        for p in &permissions {
            rules.insert(&p.uri, p.policy, p.allow);
        }
        Self {
            rules,
            listed: permissions,
        }
    }

    /// Whether the most specific rule matching `uri` allows `action`; no rule
    /// matching means no.
    pub fn allows(&self, action: Action, uri: &str) -> bool {
        self.rules
            .best_match(uri)
            .is_some_and(|allowed| allowed.contains(action))
    }

    /// The rules, as configured.
    pub fn permissions(&self) -> &[Permission] {
        &self.listed
    }
}

impl PartialEq for Role {
    fn eq(&self, other: &Self) -> bool {
        self.listed == other.listed
    }
}

/// How a realm authorizes its sessions' actions.
#[derive(Debug, PartialEq, Default)]
pub enum Permissions {
    /// Every session may do everything: the open realms of a router with no
    /// security config (what the seed's example expects).
    #[default]
    AllowAll,
    /// Each session may do what its role allows; a role the realm does not
    /// define may do nothing.
    Roles(HashMap<String, Role>),
}

impl Permissions {
    /// Whether a session acting as `role` may do `action` on `uri`.
    pub fn allows(&self, role: &str, action: Action, uri: &str) -> bool {
        match self {
            Permissions::AllowAll => true,
            Permissions::Roles(roles) => roles.get(role).is_some_and(|r| r.allows(action, uri)),
        }
    }

    /// Whether the realm defines `role` (always, for an open realm).
    pub fn has_role(&self, role: &str) -> bool {
        match self {
            Permissions::AllowAll => true,
            Permissions::Roles(roles) => roles.contains_key(role),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use Permission as P;

    fn backend() -> Role {
        Role::new(vec![
            P::new("com.example.", MatchPolicy::Prefix, &Action::ALL),
            P::new("com.example.secret", MatchPolicy::Exact, &[]),
            P::new("com.example.ro.", MatchPolicy::Prefix, &[Action::Call]),
            P::new("com..status", MatchPolicy::Wildcard, &[Action::Subscribe]),
        ])
    }

    #[test]
    fn an_exact_rule_beats_a_prefix_rule_that_also_matches() {
        let role = backend();
        assert!(!role.allows(Action::Call, "com.example.secret"));
        assert!(!role.allows(Action::Register, "com.example.secret"));
        assert!(role.allows(Action::Call, "com.example.secretive"));
    }

    #[test]
    fn the_longest_prefix_decides_even_when_it_allows_less() {
        let role = backend();
        assert!(role.allows(Action::Call, "com.example.ro.get"));
        assert!(!role.allows(Action::Register, "com.example.ro.get"));
        assert!(role.allows(Action::Register, "com.example.rw.get"));
    }

    #[test]
    fn a_wildcard_rule_decides_only_where_no_exact_or_prefix_rule_matches() {
        let role = backend();
        assert!(role.allows(Action::Subscribe, "com.other.status"));
        assert!(!role.allows(Action::Publish, "com.other.status"));
        // com.example.status is decided by the prefix rule, which allows publish.
        assert!(role.allows(Action::Publish, "com.example.status"));
    }

    #[test]
    fn no_matching_rule_denies_including_meta_procedures() {
        let role = backend();
        assert!(!role.allows(Action::Call, "org.other.thing"));
        assert!(!role.allows(Action::Call, "wamp.session.count"));
        assert!(!role.allows(Action::Subscribe, "wamp.session.on_join"));
    }

    #[test]
    fn an_empty_prefix_grants_everything_including_the_meta_api() {
        let role = Role::new(vec![P::new("", MatchPolicy::Prefix, &[Action::Call])]);
        assert!(role.allows(Action::Call, "wamp.session.count"));
        assert!(!role.allows(Action::Register, "a.b"));
    }

    #[test]
    fn a_role_the_realm_does_not_define_may_do_nothing() {
        let mut roles = HashMap::new();
        roles.insert("backend".to_owned(), backend());
        let permissions = Permissions::Roles(roles);
        assert!(permissions.allows("backend", Action::Call, "com.example.x"));
        assert!(!permissions.allows("frontend", Action::Call, "com.example.x"));
        assert!(Permissions::AllowAll.allows("anyone", Action::Register, "wamp.x"));
    }
}

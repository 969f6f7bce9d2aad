//! Who receives a publication: the publisher's black- and whitelists by
//! session, authid and authrole (`ap_pubsub_subscriber_blackwhite_listing.md`),
//! and the publisher itself only if it said `exclude_me=false`
//! (`ap_pubsub_publisher_exclusion.md`).
//!
//! The publisher's node reads the options once; the audience then travels
//! with the event to the other nodes, each of which filters its own
//! subscribers (only a subscriber's node knows it is still there).

use switchboard_proto::{Dict, Value, MAX_ID};

use crate::realm::SessionId;

/// The receivers a PUBLISH allows. Lists are sorted, for lookups by binary search.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Audience {
    exclude: Vec<SessionId>,
    exclude_authid: Vec<String>,
    exclude_authrole: Vec<String>,
    eligible: Option<Vec<SessionId>>,
    eligible_authid: Option<Vec<String>>,
    eligible_authrole: Option<Vec<String>>,
}

impl Audience {
    /// Every subscriber (the router's own meta events).
    pub(crate) fn everyone() -> Self {
        Self::default()
    }

    /// Reads PUBLISH.Options. A malformed list is an error (the publication
    /// is refused rather than sent to people the publisher meant to leave out).
    pub(crate) fn from_options(options: &Dict, publisher: SessionId) -> Result<Self, String> {
        let exclude_me = options
            .get("exclude_me")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let mut exclude = ids(options, "exclude")?.unwrap_or_default();
        if exclude_me {
            if let Err(at) = exclude.binary_search(&publisher) {
                exclude.insert(at, publisher);
            }
        }
        Ok(Self {
            exclude,
            exclude_authid: names(options, "exclude_authid")?.unwrap_or_default(),
            exclude_authrole: names(options, "exclude_authrole")?.unwrap_or_default(),
            eligible: ids(options, "eligible")?,
            eligible_authid: names(options, "eligible_authid")?,
            eligible_authrole: names(options, "eligible_authrole")?,
        })
    }

    /// Whether the publisher named sessions (`exclude` beyond itself, or
    /// `eligible`). Such events are not kept in history: session ids do not
    /// outlive their sessions, so a later reader could not be judged by them.
    pub(crate) fn names_sessions(&self, publisher: SessionId) -> bool {
        self.eligible.is_some() || self.exclude.iter().any(|&s| s != publisher)
    }

    /// Whether a subscriber with this identity gets the event: in every
    /// whitelist given, and in no blacklist.
    pub(crate) fn admits(&self, session: SessionId, authid: &str, authrole: &str) -> bool {
        let listed = |list: &Option<Vec<String>>, name: &str| {
            list.as_ref()
                .is_none_or(|l| l.binary_search_by(|n| n.as_str().cmp(name)).is_ok())
        };
        let barred =
            |list: &[String], name: &str| list.binary_search_by(|n| n.as_str().cmp(name)).is_ok();
        self.eligible
            .as_ref()
            .is_none_or(|l| l.binary_search(&session).is_ok())
            && listed(&self.eligible_authid, authid)
            && listed(&self.eligible_authrole, authrole)
            && self.exclude.binary_search(&session).is_err()
            && !barred(&self.exclude_authid, authid)
            && !barred(&self.exclude_authrole, authrole)
    }
}

/// `options[key]` as a sorted list of session ids, if present.
fn ids(options: &Dict, key: &str) -> Result<Option<Vec<SessionId>>, String> {
    let Some(items) = list(options, key)? else {
        return Ok(None);
    };
    let mut ids = items
        .iter()
        .map(|v| v.as_u64().filter(|id| (1..=MAX_ID).contains(id)))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| format!("option {key} must be a list of session ids"))?;
    ids.sort_unstable();
    ids.dedup();
    Ok(Some(ids))
}

/// `options[key]` as a sorted list of strings (authids, authroles), if present.
fn names(options: &Dict, key: &str) -> Result<Option<Vec<String>>, String> {
    let Some(items) = list(options, key)? else {
        return Ok(None);
    };
    let mut names = items
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| format!("option {key} must be a list of strings"))?;
    names.sort_unstable();
    names.dedup();
    Ok(Some(names))
}

fn list<'a>(options: &'a Dict, key: &str) -> Result<Option<&'a [Value]>, String> {
    match options.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::List(items)) => Ok(Some(items)),
        Some(_) => Err(format!("option {key} must be a list")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audience(pairs: &[(&str, Value)]) -> Audience {
        let options: Dict = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        Audience::from_options(&options, 1).unwrap()
    }

    fn strings(items: &[&str]) -> Value {
        Value::List(items.iter().map(|s| Value::from(*s)).collect())
    }

    fn ids(items: &[u64]) -> Value {
        Value::List(items.iter().map(|&i| Value::from(i)).collect())
    }

    #[test]
    fn the_publisher_is_left_out_unless_it_asks_to_be_included() {
        assert!(!audience(&[]).admits(1, "a", "r"));
        assert!(audience(&[]).admits(2, "a", "r"));
        assert!(audience(&[("exclude_me", false.into())]).admits(1, "a", "r"));
    }

    #[test]
    fn a_subscriber_must_be_in_every_whitelist_and_in_no_blacklist() {
        let a = audience(&[
            ("eligible", ids(&[2, 3, 4])),
            ("exclude", ids(&[3])),
            ("eligible_authrole", strings(&["staff", "manager"])),
            ("exclude_authid", strings(&["mallory"])),
        ]);
        assert!(a.admits(2, "alice", "staff"));
        assert!(!a.admits(3, "alice", "staff"), "excluded by session");
        assert!(!a.admits(5, "alice", "staff"), "not an eligible session");
        assert!(!a.admits(2, "alice", "guest"), "not an eligible role");
        assert!(!a.admits(4, "mallory", "manager"), "excluded by authid");
        let roles = audience(&[("exclude_authrole", strings(&["guest"]))]);
        assert!(!roles.admits(2, "bob", "guest"));
        assert!(roles.admits(2, "bob", "staff"));
        let ids_only = audience(&[("eligible_authid", strings(&["bob"]))]);
        assert!(ids_only.admits(9, "bob", "any") && !ids_only.admits(9, "eve", "any"));
    }

    #[test]
    fn an_empty_whitelist_admits_nobody() {
        assert!(!audience(&[("eligible", ids(&[]))]).admits(2, "a", "r"));
    }

    #[test]
    fn malformed_lists_are_refused() {
        for (key, value) in [
            ("exclude", Value::from(5u64)),
            ("eligible", strings(&["x"])),
            ("eligible", ids(&[0])),
            ("exclude_authid", ids(&[3])),
            ("eligible_authrole", Value::from("staff")),
        ] {
            let options: Dict = [(key.to_owned(), value)].into_iter().collect();
            assert!(Audience::from_options(&options, 1).is_err(), "{key}");
        }
    }
}

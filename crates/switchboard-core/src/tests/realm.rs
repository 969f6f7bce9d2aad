//! Joining, leaving and shutting down a realm.

use switchboard_proto::error_uri::CLOSE_SYSTEM_SHUTDOWN;
use switchboard_proto::{Dict, Hello, Message, Value};

use super::harness::Harness;
use crate::{ClockAnchor, JoinError, Realm, RealmConfig};

#[test]
fn welcome_announces_the_dealer_role_and_anonymous_auth() {
    let mut realm = Realm::new(RealmConfig::anonymous("r"), ClockAnchor::now());
    let id = realm
        .handle_join(std::time::Instant::now(), &Hello::default())
        .unwrap();
    let Some(out) = realm.poll_outgoing() else {
        panic!("expected WELCOME")
    };
    let Message::Welcome(welcome) = out.message else {
        panic!("expected WELCOME")
    };
    assert_eq!((out.to, welcome.session), (id, id));
    let roles = welcome
        .details
        .get("roles")
        .and_then(Value::as_dict)
        .unwrap();
    assert!(roles
        .get("dealer")
        .and_then(Value::as_dict)
        .unwrap()
        .contains_key("features"));
    let dealer_features = roles["dealer"].as_dict().unwrap()["features"]
        .as_dict()
        .unwrap();
    for feature in [
        "call_timeout",
        "call_canceling",
        "caller_identification",
        "progressive_call_results",
        "progressive_call_invocations",
        "pattern_based_registration",
        "shared_registration",
        "registration_meta_api",
        "session_meta_api",
    ] {
        assert_eq!(
            dealer_features.get(feature),
            Some(&Value::Bool(true)),
            "{feature}"
        );
    }
    assert!(roles.contains_key("broker"));
    assert_eq!(
        welcome.details.get("authmethod"),
        Some(&Value::from("anonymous"))
    );
    assert_eq!(
        welcome.details.get("authrole"),
        Some(&Value::from("anonymous"))
    );
}

#[test]
fn join_offering_only_unknown_authmethods_is_refused() {
    let mut realm = Realm::new(RealmConfig::anonymous("r"), ClockAnchor::now());
    let mut details = Dict::new();
    details.insert("authmethods".into(), Value::List(vec!["ticket".into()]));
    let err = realm
        .handle_join(
            std::time::Instant::now(),
            &Hello {
                realm: "r".into(),
                details,
            },
        )
        .unwrap_err();
    assert!(matches!(err, JoinError::NoMatchingAuthMethod(_)));
    assert!(
        matches!(err.to_abort(), Message::Abort(a) if a.reason == "wamp.error.no_matching_auth_method")
    );
    assert_eq!(realm.session_count(), 0);
}

#[test]
fn sessions_get_distinct_ids() {
    let mut h = Harness::new();
    let ids: std::collections::HashSet<_> = (0..100).map(|_| h.join()).collect();
    assert_eq!(ids.len(), 100);
}

#[test]
fn shutdown_says_goodbye_to_every_session_and_forgets_them() {
    let mut h = Harness::new();
    let (a, b) = (h.join(), h.join());
    h.realm.shutdown(h.now);
    for s in [a, b] {
        assert!(matches!(h.take_one(s), Message::Goodbye(g) if g.reason == CLOSE_SYSTEM_SHUTDOWN));
    }
    assert_eq!(h.realm.session_count(), 0);
}

#[test]
fn messages_from_a_session_that_already_left_are_dropped() {
    let mut h = Harness::new();
    let s = h.join();
    h.leave(s);
    h.send(s, Message::Call(Default::default()));
    h.assert_quiet();
}

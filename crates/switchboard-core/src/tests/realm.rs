//! Joining, leaving and shutting down a realm.

use switchboard_proto::error_uri::CLOSE_SYSTEM_SHUTDOWN;
use switchboard_proto::{Dict, Hello, Message, Value};

use super::harness::Harness;
use crate::auth::{AuthMethod, AuthProvider, Identity};
use crate::{ClockAnchor, Realm, RealmConfig};

#[test]
fn welcome_announces_the_dealer_role_and_anonymous_auth() {
    let mut realm = Realm::new(RealmConfig::anonymous("r"), ClockAnchor::now(), 1);
    let id = realm.handle_join(
        std::time::Instant::now(),
        &Hello::default(),
        Identity::anonymous("anonymous"),
    );
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
fn a_session_gets_the_id_its_handshake_promised_when_it_is_free() {
    let mut realm = Realm::new(RealmConfig::anonymous("r"), ClockAnchor::now(), 1);
    let now = std::time::Instant::now();
    let promised = Identity {
        session: Some(4242),
        ..Identity::anonymous("anonymous")
    };
    assert_eq!(
        realm.handle_join(now, &Hello::default(), promised.clone()),
        4242
    );
    assert_ne!(realm.handle_join(now, &Hello::default(), promised), 4242);
}

#[test]
fn welcome_reports_the_identity_the_handshake_decided() {
    let mut realm = Realm::new(RealmConfig::anonymous("r"), ClockAnchor::now(), 1);
    let mut extra = Dict::new();
    extra.insert("tier".into(), Value::from("gold"));
    let identity = Identity {
        authid: Some("joe".into()),
        authrole: "frontend".into(),
        authmethod: AuthMethod::Ticket,
        authprovider: AuthProvider::Dynamic,
        authextra: extra.clone(),
        session: None,
    };
    realm.handle_join(std::time::Instant::now(), &Hello::default(), identity);
    let Some(Message::Welcome(welcome)) = realm.poll_outgoing().map(|o| o.message) else {
        panic!("expected WELCOME")
    };
    let d = &welcome.details;
    assert_eq!(d.get("authid"), Some(&Value::from("joe")));
    assert_eq!(d.get("authrole"), Some(&Value::from("frontend")));
    assert_eq!(d.get("authmethod"), Some(&Value::from("ticket")));
    assert_eq!(d.get("authprovider"), Some(&Value::from("dynamic")));
    assert_eq!(d.get("authextra"), Some(&Value::Dict(extra)));
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

#[test]
fn session_ids_come_from_the_seed_passed_in() {
    let join_three = |seed| {
        let mut realm = Realm::new(RealmConfig::anonymous("r"), ClockAnchor::now(), seed);
        (0..3)
            .map(|_| {
                realm.handle_join(
                    std::time::Instant::now(),
                    &Hello::default(),
                    Identity::anonymous("anonymous"),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(join_three(7), join_three(7), "the same seed, the same ids");
    assert_ne!(join_three(7), join_three(8));
}

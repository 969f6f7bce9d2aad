//! Per-role permissions, decided by the realm on the node that holds the session.

use std::collections::HashMap;
use std::sync::Arc;

use switchboard_proto::error_uri::NOT_AUTHORIZED;
use switchboard_proto::{code, Arguments, Dict, Message, Value};

use super::harness::Harness;
use super::wamp::{error_of, opts};
use crate::auth::{Identity, RealmSecurity};
use crate::matching::MatchPolicy;
use crate::permissions::{Action, Permission, Permissions, Role};
use crate::RealmConfig;

use Permission as P;

/// `backend` may do everything under `com.example.` but touch `com.example.secret`;
/// `frontend` may only call and subscribe; `reader` may call `wamp.session.count`.
fn secured() -> Harness {
    let mut roles = HashMap::new();
    roles.insert(
        "backend".to_owned(),
        Role::new(vec![
            P::new("com.example.", MatchPolicy::Prefix, &Action::ALL),
            P::new("com.example.secret", MatchPolicy::Exact, &[]),
        ]),
    );
    roles.insert(
        "frontend".to_owned(),
        Role::new(vec![P::new(
            "com.example.",
            MatchPolicy::Prefix,
            &[Action::Call, Action::Subscribe],
        )]),
    );
    roles.insert(
        "reader".to_owned(),
        Role::new(vec![P::new(
            "wamp.session.count",
            MatchPolicy::Exact,
            &[Action::Call],
        )]),
    );
    let security = RealmSecurity {
        permissions: Permissions::Roles(roles),
        ..RealmSecurity::open()
    };
    Harness::with_config(RealmConfig {
        security: Arc::new(security),
        ..RealmConfig::anonymous("com.example.realm")
    })
}

fn as_role(h: &mut Harness, role: &str) -> u64 {
    h.join_as(Identity {
        authid: Some(format!("{role}-user")),
        ..Identity::anonymous(role)
    })
}

fn is_denied(reply: Message, request_type: u64) -> bool {
    let (t, _, uri) = error_of(reply);
    t == request_type && uri == NOT_AUTHORIZED
}

#[test]
fn each_action_is_allowed_only_where_the_role_has_a_matching_rule() {
    let mut h = secured();
    let backend = as_role(&mut h, "backend");
    let frontend = as_role(&mut h, "frontend");
    h.registered(backend, "com.example.add", Dict::new());
    assert!(is_denied(
        h.register(frontend, 2, "com.example.other", Dict::new()),
        code::REGISTER
    ));
    let invocation = h.call_invoked(frontend, 3, "com.example.add", backend);
    h.yield_(backend, invocation.request, Dict::new(), vec![]);
    assert!(matches!(h.take_one(frontend), Message::Result(_)));
    h.subscribed(frontend, "com.example.news", Dict::new());
    h.publish(
        frontend,
        4,
        "com.example.news",
        opts(&[("acknowledge", true.into())]),
        Arguments::none(),
    );
    assert!(is_denied(h.take_one(frontend), code::PUBLISH));
}

#[test]
fn an_exact_rule_with_no_rights_shuts_one_uri_inside_an_allowed_prefix() {
    let mut h = secured();
    let backend = as_role(&mut h, "backend");
    assert!(is_denied(
        h.register(backend, 1, "com.example.secret", Dict::new()),
        code::REGISTER
    ));
    h.call(backend, 2, "com.example.secret", Dict::new(), vec![]);
    assert!(is_denied(h.take_one(backend), code::CALL));
    h.registered(backend, "com.example.secretive", Dict::new());
}

#[test]
fn a_denied_publish_without_acknowledge_is_dropped_without_a_reply() {
    let mut h = secured();
    let backend = as_role(&mut h, "backend");
    let frontend = as_role(&mut h, "frontend");
    h.subscribed(backend, "com.example.news", Dict::new());
    h.publish(
        frontend,
        1,
        "com.example.news",
        Dict::new(),
        Arguments::none(),
    );
    h.assert_quiet();
}

#[test]
fn the_meta_api_is_denied_unless_a_rule_grants_it() {
    let mut h = secured();
    let backend = as_role(&mut h, "backend");
    let reader = as_role(&mut h, "reader");
    assert!(is_denied(
        h.meta_call(backend, "wamp.session.count", vec![]),
        code::CALL
    ));
    assert!(is_denied(
        h.subscribe(backend, 2, "wamp.session.on_join", Dict::new()),
        code::SUBSCRIBE
    ));
    assert!(matches!(
        h.meta_call(reader, "wamp.session.count", vec![]),
        Message::Result(_)
    ));
}

#[test]
fn a_role_the_realm_does_not_define_may_do_nothing_and_router_sessions_may_do_anything() {
    let mut h = secured();
    let stranger = as_role(&mut h, "nobody");
    assert!(is_denied(
        h.register(stranger, 1, "com.example.x", Dict::new()),
        code::REGISTER
    ));
    let router = h.join_as(Identity::router("switchboard.authenticator"));
    h.call(router, 2, "wamp.session.count", Dict::new(), vec![]);
    assert!(matches!(h.take_one(router), Message::Result(_)));
}

#[test]
fn the_refusal_names_the_role_and_the_uri() {
    let mut h = secured();
    let frontend = as_role(&mut h, "frontend");
    let Message::Error(e) = h.register(frontend, 1, "com.example.x", Dict::new()) else {
        panic!("expected ERROR");
    };
    let text = e.arguments.args_values().unwrap();
    let Some(Value::String(why)) = text.first() else {
        panic!("expected a message");
    };
    assert!(
        why.contains("frontend") && why.contains("com.example.x"),
        "{why}"
    );
}

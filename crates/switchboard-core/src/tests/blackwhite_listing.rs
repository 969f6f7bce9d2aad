//! Subscriber black- and whitelisting (`ap_pubsub_subscriber_blackwhite_listing.md`):
//! a publisher narrows who gets its event by session, authid and authrole,
//! on one node and across nodes.

use switchboard_proto::error_uri::INVALID_ARGUMENT;
use switchboard_proto::{code, Arguments, Dict, Message, Publish, Subscribe, Value};

use super::cluster_harness::Cluster;
use super::harness::Harness;
use super::wamp::{error_of, opts};
use crate::auth::Identity;
use crate::SessionId;

const T: &str = "com.example.news";

fn member(h: &mut Harness, authid: &str, authrole: &str) -> SessionId {
    let session = h.join_as(Identity {
        authid: Some(authid.to_owned()),
        ..Identity::anonymous(authrole)
    });
    h.subscribed(session, T, Dict::new());
    session
}

fn names(items: &[&str]) -> Value {
    Value::List(items.iter().map(|&s| Value::from(s)).collect())
}

fn ids(items: &[SessionId]) -> Value {
    Value::List(items.iter().map(|&s| Value::from(s)).collect())
}

/// Who of `sessions` got an EVENT from the last publication.
fn receivers(h: &mut Harness, sessions: &[SessionId]) -> Vec<SessionId> {
    sessions
        .iter()
        .copied()
        .filter(|&s| {
            let got = h.take(s);
            assert!(got.len() <= 1, "{s} got {got:?}");
            matches!(got.as_slice(), [Message::Event(_)])
        })
        .collect()
}

/// PUBLISH options, and who should get the event.
type Case = (Vec<(&'static str, Value)>, Vec<SessionId>);

#[test]
fn each_list_narrows_the_receivers_as_the_spec_combines_them() {
    let mut h = Harness::new();
    let alice = member(&mut h, "alice", "manager");
    let bob = member(&mut h, "bob", "staff");
    let carol = member(&mut h, "carol", "staff");
    let dave = member(&mut h, "dave", "guest");
    let everyone = [alice, bob, carol, dave];
    let publisher = h.join();
    let cases: Vec<Case> = vec![
        (vec![], everyone.to_vec()),
        (vec![("exclude", ids(&[bob]))], vec![alice, carol, dave]),
        (vec![("eligible", ids(&[bob, dave]))], vec![bob, dave]),
        (
            vec![("exclude_authid", names(&["carol"]))],
            vec![alice, bob, dave],
        ),
        (
            vec![("eligible_authid", names(&["alice", "dave"]))],
            vec![alice, dave],
        ),
        (
            vec![("exclude_authrole", names(&["staff"]))],
            vec![alice, dave],
        ),
        (
            vec![("eligible_authrole", names(&["staff"]))],
            vec![bob, carol],
        ),
        (
            vec![
                ("eligible_authrole", names(&["staff", "manager"])),
                ("exclude", ids(&[carol])),
            ],
            vec![alice, bob],
        ),
        (
            vec![
                ("eligible", ids(&[alice, bob])),
                ("eligible_authrole", names(&["staff"])),
            ],
            vec![bob],
        ),
    ];
    for (options, expected) in cases {
        let described = format!("{options:?}");
        h.publish(publisher, 1, T, opts(&options), Arguments::none());
        assert_eq!(receivers(&mut h, &everyone), expected, "{described}");
    }
}

#[test]
fn a_malformed_list_refuses_an_acknowledged_publication_and_drops_the_rest() {
    let mut h = Harness::new();
    let subscriber = member(&mut h, "alice", "staff");
    let publisher = h.join();
    let bad = [
        ("acknowledge", true.into()),
        ("eligible", Value::from("alice")),
    ];
    h.publish(publisher, 7, T, opts(&bad), Arguments::none());
    assert_eq!(
        error_of(h.take_one(publisher)),
        (code::PUBLISH, 7, INVALID_ARGUMENT.into())
    );
    h.publish(publisher, 8, T, opts(&bad[1..]), Arguments::none());
    h.assert_quiet();
    assert!(h.take(subscriber).is_empty());
}

#[test]
fn the_lists_hold_for_subscribers_on_other_nodes() {
    let mut c = Cluster::new(3);
    let staff = c.join_as(2, "bob", "staff");
    let guest = c.join_as(3, "dave", "guest");
    for (node, session) in [(2, staff), (3, guest)] {
        let subscribe = Subscribe {
            request: 1,
            options: Dict::new(),
            topic: T.into(),
        };
        c.send(node, session, Message::Subscribe(subscribe));
        assert!(matches!(c.take_one(node, session), Message::Subscribed(_)));
    }
    let publisher = c.join(1, &[], &[]);
    let publish = Publish {
        request: 1,
        options: opts(&[("exclude_authrole", names(&["guest"]))]),
        topic: T.into(),
        arguments: Arguments::none(),
    };
    c.send(1, publisher, Message::Publish(publish));
    assert!(matches!(c.take_one(2, staff), Message::Event(_)));
    assert!(
        c.take(3, guest).is_empty(),
        "the guest on node 3 is excluded"
    );
}

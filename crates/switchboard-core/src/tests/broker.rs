//! The broker: subscribe, publish, events, publisher exclusion and
//! identification, pattern-based subscriptions, and refusals.

use switchboard_proto::error_uri::{INVALID_URI, NO_SUCH_SUBSCRIPTION};
use switchboard_proto::{code, Arguments, Dict, Message, Value};

use super::harness::Harness;
use super::wamp::{args, error_of, event, opts};
use crate::SessionId;

const T: &str = "com.example.topic";

fn payload() -> Arguments {
    Arguments::with_kwargs(vec![1.into(), "two".into()], opts(&[("k", "v".into())]))
}

/// Publishes `payload()` to `topic` with `options` and no acknowledgement.
fn publish(h: &mut Harness, publisher: SessionId, topic: &str, options: Dict) {
    h.publish(publisher, 1, topic, options, payload());
}

#[test]
fn a_publication_reaches_the_subscriber_as_an_event_with_args_and_kwargs() {
    let mut h = Harness::new();
    let (subscriber, publisher) = (h.join(), h.join());
    let sub = h.subscribed(subscriber, T, Dict::new());
    publish(&mut h, publisher, T, Dict::new());
    let e = event(h.take_one(subscriber));
    assert_eq!(e.subscription, sub);
    assert_eq!(e.details, Dict::new(), "exact subscriptions get no details");
    assert_eq!(args(&e.arguments), vec![Value::Int(1), Value::from("two")]);
    assert_eq!(
        e.arguments.kwargs_values().unwrap(),
        opts(&[("k", "v".into())])
    );
    h.assert_quiet();
}

#[test]
fn acknowledge_gets_published_with_the_events_publication_id() {
    let mut h = Harness::new();
    let (subscriber, publisher) = (h.join(), h.join());
    h.subscribed(subscriber, T, Dict::new());
    h.publish(
        publisher,
        7,
        T,
        opts(&[("acknowledge", true.into())]),
        payload(),
    );
    let Message::Published(published) = h.take_one(publisher) else {
        panic!("expected PUBLISHED")
    };
    assert_eq!(published.request, 7);
    assert_eq!(
        event(h.take_one(subscriber)).publication,
        published.publication
    );
}

#[test]
fn without_acknowledge_the_publisher_hears_nothing() {
    let mut h = Harness::new();
    let (subscriber, publisher) = (h.join(), h.join());
    h.subscribed(subscriber, T, Dict::new());
    publish(&mut h, publisher, T, Dict::new());
    assert_eq!(h.take(publisher), vec![]);
}

#[test]
fn the_publisher_is_excluded_from_its_own_publication_by_default() {
    let mut h = Harness::new();
    let (publisher, other) = (h.join(), h.join());
    h.subscribed(publisher, T, Dict::new());
    h.subscribed(other, T, Dict::new());
    publish(&mut h, publisher, T, Dict::new());
    assert_eq!(h.take(publisher), vec![]);
    event(h.take_one(other));
}

#[test]
fn exclude_me_false_delivers_the_publication_to_the_publisher_too() {
    let mut h = Harness::new();
    let publisher = h.join();
    let sub = h.subscribed(publisher, T, Dict::new());
    publish(&mut h, publisher, T, opts(&[("exclude_me", false.into())]));
    assert_eq!(event(h.take_one(publisher)).subscription, sub);
}

#[test]
fn disclose_me_puts_the_publisher_in_the_event_details() {
    let mut h = Harness::new();
    let (subscriber, publisher) = (h.join(), h.join());
    h.subscribed(subscriber, T, Dict::new());
    publish(&mut h, publisher, T, opts(&[("disclose_me", true.into())]));
    let expected = opts(&[
        ("publisher", publisher.into()),
        ("publisher_authid", format!("anonymous-{publisher}").into()),
        ("publisher_authrole", "anonymous".into()),
    ]);
    assert_eq!(event(h.take_one(subscriber)).details, expected);
}

#[test]
fn a_realm_that_discloses_publishers_does_so_without_disclose_me() {
    let config = crate::RealmConfig {
        disclose_publisher: true,
        ..crate::RealmConfig::anonymous("com.example.realm")
    };
    let mut h = Harness::with_config(config);
    let (subscriber, publisher) = (h.join(), h.join());
    h.subscribed(subscriber, T, Dict::new());
    publish(&mut h, publisher, T, Dict::new());
    let details = event(h.take_one(subscriber)).details;
    assert_eq!(details.get("publisher"), Some(&Value::from(publisher)));
    assert_eq!(
        details.get("publisher_authrole"),
        Some(&Value::from("anonymous"))
    );
}

#[test]
fn prefix_and_wildcard_subscriptions_get_matching_events_with_the_topic_in_details() {
    let mut h = Harness::new();
    let (subscriber, publisher) = (h.join(), h.join());
    let prefix = h.subscribed(
        subscriber,
        "com.example",
        opts(&[("match", "prefix".into())]),
    );
    let wildcard = h.subscribed(
        subscriber,
        "com..topic",
        opts(&[("match", "wildcard".into())]),
    );
    publish(&mut h, publisher, T, Dict::new());
    let mut got: Vec<(u64, Dict)> = h
        .take(subscriber)
        .into_iter()
        .map(event)
        .map(|e| (e.subscription, e.details))
        .collect();
    got.sort_by_key(|(sub, _)| *sub);
    let topic = opts(&[("topic", T.into())]);
    let mut expected = vec![(prefix, topic.clone()), (wildcard, topic)];
    expected.sort_by_key(|(sub, _)| *sub);
    assert_eq!(got, expected);
    // Neither matches this one.
    publish(&mut h, publisher, "org.example.x.y", Dict::new());
    h.assert_quiet();
}

#[test]
fn unsubscribe_stops_events_and_a_second_unsubscribe_fails_with_no_such_subscription() {
    let mut h = Harness::new();
    let (subscriber, publisher) = (h.join(), h.join());
    let sub = h.subscribed(subscriber, T, Dict::new());
    let unsubscribe = |request| {
        Message::Unsubscribe(switchboard_proto::Unsubscribe {
            request,
            subscription: sub,
        })
    };
    h.send(subscriber, unsubscribe(2));
    assert!(matches!(h.take_one(subscriber), Message::Unsubscribed(u) if u.request == 2));
    publish(&mut h, publisher, T, Dict::new());
    h.assert_quiet();
    h.send(subscriber, unsubscribe(3));
    assert_eq!(
        error_of(h.take_one(subscriber)),
        (code::UNSUBSCRIBE, 3, NO_SUCH_SUBSCRIPTION.into())
    );
}

#[test]
fn subscribing_twice_returns_the_same_subscription_id_and_one_event() {
    let mut h = Harness::new();
    let (subscriber, other, publisher) = (h.join(), h.join(), h.join());
    let first = h.subscribed(subscriber, T, Dict::new());
    assert_eq!(h.subscribed(subscriber, T, Dict::new()), first);
    assert_eq!(h.subscribed(other, T, Dict::new()), first, "one per topic");
    publish(&mut h, publisher, T, Dict::new());
    assert_eq!(event(h.take_one(subscriber)).subscription, first);
    assert_eq!(event(h.take_one(other)).subscription, first);
}

#[test]
fn publishing_to_an_invalid_topic_with_acknowledge_fails_with_invalid_uri() {
    let mut h = Harness::new();
    let publisher = h.join();
    for (request, topic) in [(1, "com..bad"), (2, "com.bad topic"), (3, "wamp.mine")] {
        h.publish(
            publisher,
            request,
            topic,
            opts(&[("acknowledge", true.into())]),
            payload(),
        );
        assert_eq!(
            error_of(h.take_one(publisher)),
            (code::PUBLISH, request, INVALID_URI.into()),
            "{topic}"
        );
    }
}

#[test]
fn publishing_to_an_invalid_topic_without_acknowledge_sends_nothing() {
    let mut h = Harness::new();
    let (subscriber, publisher) = (h.join(), h.join());
    h.subscribed(subscriber, "com", opts(&[("match", "prefix".into())]));
    publish(&mut h, publisher, "com..bad", Dict::new());
    h.assert_quiet();
}

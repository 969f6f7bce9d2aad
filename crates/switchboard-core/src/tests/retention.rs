//! Event retention (`ap_pubsub_event_retention.md`): `retain=true` keeps a
//! topic's last event; `get_retained=true` delivers it after SUBSCRIBED, with
//! `retained=true`, to subscribers that could have received it, on any node.

use switchboard_proto::{Arguments, Dict, Message, Publish, Subscribe, Value};

use super::cluster_harness::Cluster;
use super::harness::Harness;
use super::wamp::{args, event, opts};
use crate::SessionId;

const T: &str = "com.example.sensor.temp";

fn retain(h: &mut Harness, publisher: SessionId, value: i64, extra: &[(&str, Value)]) {
    let mut options = opts(&[("retain", true.into())]);
    options.extend(opts(extra));
    h.publish(
        publisher,
        1,
        T,
        options,
        Arguments::list(vec![value.into()]),
    );
}

fn subscribe(h: &mut Harness, session: SessionId, topic: &str, options: Dict) -> Vec<Message> {
    h.send(
        session,
        Message::Subscribe(Subscribe {
            request: 1,
            options,
            topic: topic.into(),
        }),
    );
    h.take(session)
}

#[test]
fn a_subscriber_asking_for_it_gets_the_latest_retained_event_after_subscribed() {
    let mut h = Harness::new();
    let publisher = h.join();
    retain(&mut h, publisher, 20, &[]);
    retain(&mut h, publisher, 21, &[]);
    h.publish(
        publisher,
        2,
        T,
        Dict::new(),
        Arguments::list(vec![99.into()]),
    );
    let subscriber = h.join();
    let got = subscribe(
        &mut h,
        subscriber,
        T,
        opts(&[("get_retained", true.into())]),
    );
    let [Message::Subscribed(subscribed), Message::Event(retained)] = got.as_slice() else {
        panic!("expected SUBSCRIBED then one EVENT, got {got:?}");
    };
    assert_eq!(retained.subscription, subscribed.subscription);
    assert_eq!(
        args(&retained.arguments),
        vec![Value::from(21)],
        "the latest retained one"
    );
    assert_eq!(retained.details.get("retained"), Some(&Value::Bool(true)));
    let other = h.join();
    let plain = subscribe(&mut h, other, T, Dict::new());
    assert!(
        matches!(plain.as_slice(), [Message::Subscribed(_)]),
        "{plain:?}"
    );
}

#[test]
fn a_pattern_subscription_gets_every_covered_topics_retained_event_with_its_topic() {
    let mut h = Harness::new();
    let publisher = h.join();
    retain(&mut h, publisher, 20, &[]);
    let humidity = opts(&[("retain", true.into())]);
    let other_topic = "com.example.sensor.humidity";
    h.publish(
        publisher,
        2,
        other_topic,
        humidity,
        Arguments::list(vec![40.into()]),
    );
    let subscriber = h.join();
    let options = opts(&[("get_retained", true.into()), ("match", "prefix".into())]);
    let got = subscribe(&mut h, subscriber, "com.example.sensor.", options);
    let mut topics: Vec<Value> = got[1..]
        .iter()
        .map(|m| event(m.clone()).details["topic"].clone())
        .collect();
    topics.sort_by_key(|t| t.as_str().map(str::to_owned));
    assert_eq!(topics, vec![Value::from(other_topic), Value::from(T)]);
}

#[test]
fn a_subscriber_the_publication_excluded_does_not_get_it_later() {
    let mut h = Harness::new();
    let publisher = h.join();
    retain(
        &mut h,
        publisher,
        20,
        &[("exclude_authrole", Value::List(vec!["anonymous".into()]))],
    );
    let subscriber = h.join();
    let got = subscribe(
        &mut h,
        subscriber,
        T,
        opts(&[("get_retained", true.into())]),
    );
    assert!(
        matches!(got.as_slice(), [Message::Subscribed(_)]),
        "{got:?}"
    );
    let own = subscribe(&mut h, publisher, T, opts(&[("get_retained", true.into())]));
    assert_eq!(
        own.len(),
        1,
        "exclude_me held for the publisher too: {own:?}"
    );
}

#[test]
fn a_retained_event_published_on_one_node_is_served_on_another_and_survives_a_snapshot() {
    let mut c = Cluster::new(3);
    let publisher = c.join(1, &[], &[]);
    let publish = Publish {
        request: 1,
        options: opts(&[("retain", true.into())]),
        topic: T.into(),
        arguments: Arguments::list(vec![22.into()]),
    };
    c.send(1, publisher, Message::Publish(publish));
    let subscriber = c.join(3, &[], &[]);
    let subscribe = Subscribe {
        request: 1,
        options: opts(&[("get_retained", true.into())]),
        topic: T.into(),
    };
    c.send(3, subscriber, Message::Subscribe(subscribe));
    let got = c.take(3, subscriber);
    assert!(
        matches!(got.first(), Some(Message::Subscribed(_))),
        "{got:?}"
    );
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        args(&event(got[1].clone()).arguments),
        vec![Value::from(22)]
    );

    let snapshot = c.node(2).snapshot();
    assert_eq!(snapshot.retained.len(), 1);
    let bytes = rmp_serde::to_vec(&snapshot).expect("snapshots serialize");
    let mut fresh = crate::Realm::replicated(
        crate::RealmConfig::anonymous("com.example.realm"),
        crate::ClockAnchor::now(),
        2,
        2,
    );
    fresh.restore(
        c.now,
        rmp_serde::from_slice(&bytes).expect("and deserialize"),
    );
    assert_eq!(fresh.snapshot(), snapshot);
}

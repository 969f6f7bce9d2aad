use bytes::Bytes;

use super::*;
use crate::codec::{decode, encode, Codec};
use crate::payload::Payload;
use crate::value::{Dict, Value};

fn dict(pairs: &[(&str, Value)]) -> Dict {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// One of every message type, each with its optional parts filled.
fn every_message() -> Vec<Message> {
    let d = dict(&[("k", Value::from("v"))]);
    let args = crate::payload::Arguments::with_kwargs(vec![Value::Int(1)], d.clone());
    vec![
        Message::Hello(Hello {
            realm: "r".into(),
            details: d.clone(),
        }),
        Message::Welcome(Welcome {
            session: 5,
            details: d.clone(),
        }),
        Message::Abort(Abort {
            details: d.clone(),
            reason: "wamp.error.x".into(),
        }),
        Message::Challenge(Challenge {
            auth_method: "ticket".into(),
            extra: d.clone(),
        }),
        Message::Authenticate(Authenticate {
            signature: "s".into(),
            extra: d.clone(),
        }),
        Message::Goodbye(Goodbye {
            details: d.clone(),
            reason: "wamp.close.close_realm".into(),
        }),
        Message::Error(Error {
            request_type: 48,
            request: 1,
            details: d.clone(),
            error: "e".into(),
            arguments: args.clone(),
        }),
        Message::Publish(Publish {
            request: 1,
            options: d.clone(),
            topic: "t".into(),
            arguments: args.clone(),
        }),
        Message::Published(Published {
            request: 1,
            publication: 2,
        }),
        Message::Subscribe(Subscribe {
            request: 1,
            options: d.clone(),
            topic: "t".into(),
        }),
        Message::Subscribed(Subscribed {
            request: 1,
            subscription: 2,
        }),
        Message::Unsubscribe(Unsubscribe {
            request: 1,
            subscription: 2,
        }),
        Message::Unsubscribed(Unsubscribed {
            request: 1,
            details: None,
        }),
        Message::Unsubscribed(Unsubscribed {
            request: 0,
            details: Some(d.clone()),
        }),
        Message::Event(Event {
            subscription: 1,
            publication: 2,
            details: d.clone(),
            arguments: args.clone(),
        }),
        Message::Call(Call {
            request: 1,
            options: d.clone(),
            procedure: "p".into(),
            arguments: args.clone(),
        }),
        Message::Cancel(Cancel {
            request: 1,
            options: d.clone(),
        }),
        Message::Result(CallResult {
            request: 1,
            details: d.clone(),
            arguments: args.clone(),
        }),
        Message::Register(Register {
            request: 1,
            options: d.clone(),
            procedure: "p".into(),
        }),
        Message::Registered(Registered {
            request: 1,
            registration: 2,
        }),
        Message::Unregister(Unregister {
            request: 1,
            registration: 2,
        }),
        Message::Unregistered(Unregistered {
            request: 1,
            details: None,
        }),
        Message::Invocation(Invocation {
            request: 1,
            registration: 2,
            details: d.clone(),
            arguments: args.clone(),
        }),
        Message::Interrupt(Interrupt {
            request: 1,
            options: d.clone(),
        }),
        Message::Yield(Yield {
            request: 1,
            options: d,
            arguments: crate::payload::Arguments::none(),
        }),
    ]
}

/// Payloads decode as `Encoded`; compare what they mean, not how they are held.
fn normalize(msg: Message) -> String {
    let reencoded = encode(Codec::Json, &msg).unwrap();
    String::from_utf8(reencoded).unwrap()
}

#[test]
fn every_message_type_round_trips_in_both_codecs() {
    for msg in every_message() {
        for codec in Codec::ALL {
            let frame = encode(codec, &msg).unwrap();
            let back = decode(codec, Bytes::from(frame)).unwrap();
            assert_eq!(back.code(), msg.code(), "{}", msg.name());
            assert_eq!(
                normalize(back),
                normalize(msg.clone()),
                "{} via {codec:?}",
                msg.name()
            );
        }
    }
}

#[test]
fn every_message_type_has_a_distinct_code() {
    let mut codes: Vec<u64> = every_message().iter().map(Message::code).collect();
    codes.dedup();
    codes.sort_unstable();
    let before = codes.len();
    codes.dedup();
    assert_eq!(before, codes.len());
    assert_eq!(codes.len(), 24);
}

#[test]
fn extra_elements_are_rejected() {
    let frame = Bytes::from_static(br#"[65, 1, 2, 3]"#);
    assert!(decode(Codec::Json, frame).is_err());
    let frame = Bytes::from_static(br#"[48, 1, {}, "p", [], {}, 7]"#);
    assert!(decode(Codec::Json, frame).is_err());
}

/// A CALL in Autobahn's "payload transparency" shape: `enc_algo` in the options
/// and a binary in place of the Arguments list.
fn transparent_call(payload: &[u8]) -> Message {
    Message::Call(Call {
        request: 7,
        options: dict(&[
            ("enc_algo", "cryptobox".into()),
            ("enc_serializer", "json".into()),
        ]),
        procedure: "com.example.sealed".into(),
        arguments: Arguments {
            args: Some(Payload::Value(Value::Bytes(payload.to_vec()))),
            kwargs: None,
        },
    })
}

#[test]
fn a_transparent_payload_in_place_of_args_round_trips_in_every_codec() {
    let msg = transparent_call(&[0, 159, 255, 1]);
    for codec in Codec::ALL {
        let frame = encode(codec, &msg).unwrap();
        let back = decode(codec, Bytes::from(frame.clone())).unwrap();
        let Message::Call(call) = &back else {
            panic!("{back:?}")
        };
        assert_eq!(
            call.arguments.args.as_ref().unwrap().to_value().unwrap(),
            Value::Bytes(vec![0, 159, 255, 1]),
            "{codec:?}"
        );
        // Forwarded in the same codec, the element goes out in its own bytes.
        assert_eq!(encode(codec, &back).unwrap(), frame, "{codec:?}");
    }
}

#[test]
fn a_transparent_payload_crosses_codecs_as_binary() {
    let frame = encode(Codec::Msgpack, &transparent_call(b"sealed")).unwrap();
    let back = decode(Codec::Msgpack, Bytes::from(frame)).unwrap();
    let json = String::from_utf8(encode(Codec::Json, &back).unwrap()).unwrap();
    assert!(json.ends_with(r#""\u0000c2VhbGVk"]"#), "{json}");
}

#[test]
fn a_binary_in_place_of_args_is_refused_without_the_transparency_marker() {
    let plain = Bytes::from_static(br#"[48, 1, {}, "p", "\u0000AAE="]"#);
    assert!(decode(Codec::Json, plain).is_err());
    let null_marker = Bytes::from_static(br#"[48, 1, {"enc_algo": null}, "p", "\u0000AAE="]"#);
    assert!(decode(Codec::Json, null_marker).is_err());
    // Only a lone last element may be the payload: kwargs after it is malformed.
    let with_kwargs =
        Bytes::from_static(br#"[48, 1, {"enc_algo": "cryptobox"}, "p", "\u0000AAE=", {}]"#);
    assert!(decode(Codec::Json, with_kwargs).is_err());
    let marked = Bytes::from_static(br#"[48, 1, {"enc_algo": "cryptobox"}, "p", "\u0000AAE="]"#);
    assert!(decode(Codec::Json, marked).is_ok());
}

#[test]
fn the_transparency_marker_is_read_from_details_on_router_messages() {
    let frame = Bytes::from_static(br#"[68, 1, 2, {"enc_algo": "mqtt"}, "\u0000AAE="]"#);
    assert!(matches!(
        decode(Codec::Json, frame),
        Ok(Message::Invocation(_))
    ));
    let frame = Bytes::from_static(br#"[36, 1, 2, {"enc_algo": "mqtt"}, "\u0000AAE="]"#);
    assert!(matches!(decode(Codec::Json, frame), Ok(Message::Event(_))));
    let frame =
        Bytes::from_static(br#"[8, 48, 2, {"enc_algo": "mqtt"}, "com.x.error", "\u0000AAE="]"#);
    assert!(matches!(decode(Codec::Json, frame), Ok(Message::Error(_))));
}

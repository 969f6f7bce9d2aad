//! The Basic Profile through the real binary and the Rust client, on both serializers.

mod common;

use std::time::Duration;

use common::{Router, REALM};
use switchboard_client::{Arguments, Client, ClientError, Codec, Dict, Value, WampError};

async fn add_callee(router: &Router, codec: Codec) -> Client {
    let callee = router.client(codec).await;
    callee
        .register("com.example.add", Dict::new(), |inv| async move {
            let args = inv
                .arguments
                .args_values()
                .map_err(|_| WampError::new("wamp.error.invalid_argument", Arguments::none()))?;
            let sum: i64 = args
                .iter()
                .filter_map(|v| {
                    if let Value::Int(i) = v {
                        Some(*i)
                    } else {
                        None
                    }
                })
                .sum();
            Ok(Arguments::list(vec![Value::Int(sum)]))
        })
        .await
        .expect("register");
    callee
}

#[tokio::test]
async fn a_call_returns_the_callees_result_on_every_serializer_pair() {
    let router = Router::start(&[]);
    for callee_codec in Codec::ALL {
        let callee = add_callee(&router, callee_codec).await;
        for caller_codec in Codec::ALL {
            let caller = router.client(caller_codec).await;
            let result = caller
                .call("com.example.add", Arguments::list(vec![2.into(), 3.into()]))
                .await
                .unwrap();
            assert_eq!(
                result.args_values().unwrap(),
                vec![Value::Int(5)],
                "{caller_codec:?} -> {callee_codec:?}"
            );
        }
        callee.leave().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn binary_and_nested_arguments_survive_json_to_msgpack_and_back() {
    let router = Router::start(&[]);
    let echo = router.client(Codec::Msgpack).await;
    echo.register("com.example.echo", Dict::new(), |inv| async move {
        Ok(inv.arguments)
    })
    .await
    .unwrap();
    let caller = router.client(Codec::Json).await;
    let mut kwargs = Dict::new();
    kwargs.insert("blob".into(), Value::Bytes(vec![0, 1, 2, 255]));
    kwargs.insert(
        "nested".into(),
        Value::List(vec![Value::Null, Value::Float(1.5), Value::Bool(true)]),
    );
    let args = vec![Value::from("text"), Value::Int(-7), Value::UInt(u64::MAX)];
    let result = caller
        .call(
            "com.example.echo",
            Arguments::with_kwargs(args.clone(), kwargs.clone()),
        )
        .await
        .unwrap();
    assert_eq!(result.args_values().unwrap(), args);
    assert_eq!(result.kwargs_values().unwrap(), kwargs);
}

#[tokio::test]
async fn application_errors_reach_the_caller_with_their_uri_and_arguments() {
    let router = Router::start(&[]);
    let callee = router.client(Codec::Json).await;
    callee
        .register("com.example.fail", Dict::new(), |_| async move {
            let mut kw = Dict::new();
            kw.insert("code".into(), Value::Int(42));
            Err(WampError::new(
                "com.example.error.bad",
                Arguments::with_kwargs(vec!["no way".into()], kw),
            ))
        })
        .await
        .unwrap();
    let caller = router.client(Codec::Msgpack).await;
    let Err(ClientError::Wamp(e)) = caller.call("com.example.fail", Arguments::none()).await else {
        panic!("expected an application error");
    };
    assert_eq!(e.uri, "com.example.error.bad");
    assert_eq!(
        e.arguments.args_values().unwrap(),
        vec![Value::from("no way")]
    );
    assert_eq!(
        e.arguments.kwargs_values().unwrap().get("code"),
        Some(&Value::Int(42))
    );
}

#[tokio::test]
async fn registration_errors_use_the_spec_uris() {
    let router = Router::start(&[]);
    let first = add_callee(&router, Codec::Json).await;
    let second = router.client(Codec::Json).await;
    let err = second
        .register("com.example.add", Dict::new(), |_| async {
            Ok(Arguments::none())
        })
        .await
        .unwrap_err();
    assert_eq!(err.wamp_uri(), Some("wamp.error.procedure_already_exists"));
    let err = second.unregister(12345).await.unwrap_err();
    assert_eq!(err.wamp_uri(), Some("wamp.error.no_such_registration"));
    let err = second
        .call("com.example.missing", Arguments::none())
        .await
        .unwrap_err();
    assert_eq!(err.wamp_uri(), Some("wamp.error.no_such_procedure"));
    drop(first);
}

#[tokio::test]
async fn unregistered_procedures_cannot_be_called() {
    let router = Router::start(&[]);
    let callee = router.client(Codec::Json).await;
    let id = callee
        .register("com.example.tmp", Dict::new(), |_| async {
            Ok(Arguments::none())
        })
        .await
        .unwrap();
    callee.unregister(id).await.unwrap();
    let caller = router.client(Codec::Json).await;
    let err = caller
        .call("com.example.tmp", Arguments::none())
        .await
        .unwrap_err();
    assert_eq!(err.wamp_uri(), Some("wamp.error.no_such_procedure"));
}

#[tokio::test]
async fn a_callee_that_disconnects_mid_call_fails_the_call_and_loses_its_registration() {
    let router = Router::start(&[]);
    let callee = router.client(Codec::Msgpack).await;
    callee
        .register("com.example.slow", Dict::new(), |_| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(Arguments::none())
        })
        .await
        .unwrap();
    let caller = router.client(Codec::Json).await;
    let pending = tokio::spawn(async move {
        let outcome = caller.call("com.example.slow", Arguments::none()).await;
        (caller, outcome)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(callee); // closes the WebSocket without GOODBYE
    let (caller, outcome) = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("no hang")
        .unwrap();
    assert_eq!(outcome.unwrap_err().wamp_uri(), Some("wamp.error.canceled"));
    let err = caller
        .call("com.example.slow", Arguments::none())
        .await
        .unwrap_err();
    assert_eq!(err.wamp_uri(), Some("wamp.error.no_such_procedure"));
}

#[tokio::test]
async fn an_unknown_realm_is_refused_with_no_such_realm() {
    let router = Router::start(&[]);
    let Err(ClientError::Aborted { reason, .. }) =
        Client::connect(&router.url, "com.example.nowhere", Codec::Json).await
    else {
        panic!("expected ABORT");
    };
    assert_eq!(reason, "wamp.error.no_such_realm");
    // Still serving the real realm.
    Client::connect(&router.url, REALM, Codec::Json)
        .await
        .unwrap();
}

#[tokio::test]
async fn welcome_announces_the_dealer() {
    let router = Router::start(&[]);
    let client = router.client(Codec::Json).await;
    let roles = client
        .welcome_details()
        .get("roles")
        .and_then(Value::as_dict)
        .expect("roles");
    assert!(roles.contains_key("dealer"));
}

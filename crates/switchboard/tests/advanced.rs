//! The Advanced Profile's RPC features and the broker, through the real binary
//! and the Rust client.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{first, options, Router};
use switchboard_client::{Arguments, CallUpdate, Client, Codec, Dict, Value};

async fn sleeper(router: &Router, procedure: &str, register_options: Dict) -> Client {
    let callee = router.client(Codec::Json).await;
    callee
        .register(procedure, register_options, |_| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(Arguments::none())
        })
        .await
        .unwrap();
    callee
}

#[tokio::test]
async fn a_call_timeout_fails_the_call_promptly_with_wamp_error_timeout() {
    let router = Router::start(&[]);
    let _callee = sleeper(&router, "com.example.slow", Dict::new()).await;
    let caller = router.client(Codec::Msgpack).await;
    let started = Instant::now();
    let err = caller
        .call_with(
            "com.example.slow",
            options(&[("timeout", 200.into())]),
            Arguments::none(),
        )
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(err.wamp_uri(), Some("wamp.error.timeout"));
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[tokio::test]
async fn canceling_a_call_answers_the_caller_and_interrupts_the_callee() {
    let router = Router::start(&[]);
    let interrupted = Arc::new(Mutex::new(false));
    let flag = interrupted.clone();
    let callee = router.client(Codec::Json).await;
    callee
        .register("com.example.cancelable", Dict::new(), move |_| {
            let flag = flag.clone();
            async move {
                // Dropped (the task is aborted) when the INTERRUPT arrives.
                struct SetOnDrop(Arc<Mutex<bool>>);
                impl Drop for SetOnDrop {
                    fn drop(&mut self) {
                        *self.0.lock().unwrap() = true;
                    }
                }
                let _guard = SetOnDrop(flag);
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(Arguments::none())
            }
        })
        .await
        .unwrap();
    let caller = router.client(Codec::Json).await;
    for mode in ["kill", "killnowait", "skip"] {
        *interrupted.lock().unwrap() = false;
        let call = caller
            .start_call("com.example.cancelable", Dict::new(), Arguments::none())
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        call.cancel(Some(mode)).unwrap();
        let err = tokio::time::timeout(Duration::from_secs(5), call.finish())
            .await
            .expect("answered")
            .unwrap_err();
        assert_eq!(err.wamp_uri(), Some("wamp.error.canceled"), "{mode}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            *interrupted.lock().unwrap(),
            mode != "skip",
            "{mode}: interrupted?"
        );
    }
}

#[tokio::test]
async fn progressive_results_arrive_in_order_before_the_final_result() {
    let router = Router::start(&[]);
    let callee = router.client(Codec::Msgpack).await;
    callee
        .register("com.example.count", Dict::new(), |inv| async move {
            for i in 0..5 {
                inv.progress(Arguments::list(vec![Value::Int(i)]));
            }
            Ok(Arguments::list(vec![Value::from("done")]))
        })
        .await
        .unwrap();
    let caller = router.client(Codec::Json).await;
    let mut call = caller
        .start_call(
            "com.example.count",
            options(&[("receive_progress", true.into())]),
            Arguments::none(),
        )
        .unwrap();
    let mut seen = Vec::new();
    while let Some(update) = call.next().await {
        match update.unwrap() {
            CallUpdate::Progress(args) => seen.push(first(&args)),
            CallUpdate::Final(args) => {
                seen.push(first(&args));
                break;
            }
        }
    }
    let expected: Vec<Value> = (0..5)
        .map(Value::Int)
        .chain([Value::from("done")])
        .collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn progressive_call_invocations_stream_chunks_to_one_callee() {
    let router = Router::start(&[]);
    let callee = router.client(Codec::Json).await;
    callee
        .register(
            "com.example.sum_stream",
            Dict::new(),
            |mut inv| async move {
                let mut total = match first(&inv.arguments) {
                    Value::Int(i) => i,
                    _ => 0,
                };
                while let Some((chunk, _last)) = inv.next_chunk().await {
                    if let Value::Int(i) = first(&chunk) {
                        total += i;
                    }
                }
                Ok(Arguments::list(vec![Value::Int(total)]))
            },
        )
        .await
        .unwrap();
    let caller = router.client(Codec::Msgpack).await;
    let call = caller
        .start_call(
            "com.example.sum_stream",
            options(&[("progress", true.into())]),
            Arguments::list(vec![1.into()]),
        )
        .unwrap();
    call.send_chunk(Arguments::list(vec![2.into()]), false)
        .unwrap();
    call.send_chunk(Arguments::list(vec![3.into()]), true)
        .unwrap();
    let result = tokio::time::timeout(Duration::from_secs(5), call.finish())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first(&result), Value::Int(6));
}

#[tokio::test]
async fn pattern_registrations_follow_the_spec_precedence_and_name_the_called_uri() {
    let router = Router::start(&[]);
    let callee = router.client(Codec::Json).await;
    for (pattern, policy) in [
        ("com.example.math.add", "exact"),
        ("com.example.math", "prefix"),
        ("com..add", "wildcard"),
    ] {
        let label = policy.to_owned();
        callee
            .register(pattern, options(&[("match", policy.into())]), move |inv| {
                let label = label.clone();
                async move {
                    let called = inv.details.get("procedure").cloned().unwrap_or(Value::Null);
                    Ok(Arguments::list(vec![Value::from(label), called]))
                }
            })
            .await
            .unwrap();
    }
    let caller = router.client(Codec::Msgpack).await;
    for (uri, winner, procedure) in [
        ("com.example.math.add", "exact", Value::Null),
        (
            "com.example.math.mul",
            "prefix",
            Value::from("com.example.math.mul"),
        ),
        ("com.other.add", "wildcard", Value::from("com.other.add")),
    ] {
        let result = caller
            .call(uri, Arguments::none())
            .await
            .unwrap()
            .args_values()
            .unwrap();
        assert_eq!(result, vec![Value::from(winner), procedure], "{uri}");
    }
}

#[tokio::test]
async fn roundrobin_spreads_calls_over_callees_and_survives_one_leaving() {
    let router = Router::start(&[]);
    let mut callees = Vec::new();
    let mut registration_ids = Vec::new();
    for name in ["a", "b", "c"] {
        let callee = router.client(Codec::Json).await;
        let id = callee
            .register(
                "com.example.rr",
                options(&[("invoke", "roundrobin".into())]),
                move |_| async move { Ok(Arguments::list(vec![Value::from(name)])) },
            )
            .await
            .unwrap();
        registration_ids.push(id);
        callees.push(callee);
    }
    assert!(
        registration_ids.windows(2).all(|w| w[0] == w[1]),
        "one registration id for all callees"
    );
    let caller = router.client(Codec::Json).await;
    let mut served = Vec::new();
    for _ in 0..6 {
        served.push(first(
            &caller
                .call("com.example.rr", Arguments::none())
                .await
                .unwrap(),
        ));
    }
    assert_eq!(served, ["a", "b", "c", "a", "b", "c"].map(Value::from));
    drop(callees.remove(1)); // b vanishes
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut after = Vec::new();
    for _ in 0..4 {
        after.push(first(
            &caller
                .call("com.example.rr", Arguments::none())
                .await
                .unwrap(),
        ));
    }
    assert_eq!(after, ["a", "c", "a", "c"].map(Value::from));
    let err = router
        .client(Codec::Json)
        .await
        .register(
            "com.example.rr",
            options(&[("invoke", "random".into())]),
            |_| async { Ok(Arguments::none()) },
        )
        .await
        .unwrap_err();
    assert_eq!(err.wamp_uri(), Some("wamp.error.procedure_already_exists"));
}

#[tokio::test]
async fn callers_are_disclosed_to_callees_by_the_default_realm() {
    let router = Router::start(&[]);
    let callee = router.client(Codec::Json).await;
    callee
        .register("com.example.whoami", Dict::new(), |inv| async move {
            Ok(Arguments::list(vec![inv
                .details
                .get("caller")
                .cloned()
                .unwrap_or(Value::Null)]))
        })
        .await
        .unwrap();
    let caller = router.client(Codec::Json).await;
    let who = first(
        &caller
            .call("com.example.whoami", Arguments::none())
            .await
            .unwrap(),
    );
    assert_eq!(who, Value::from(caller.session_id()));
}

#[tokio::test]
async fn registration_meta_events_and_procedures_describe_the_registry() {
    let router = Router::start(&[]);
    let watcher = router.client(Codec::Json).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    for topic in [
        "wamp.registration.on_create",
        "wamp.registration.on_register",
        "wamp.registration.on_unregister",
        "wamp.registration.on_delete",
    ] {
        let seen = seen.clone();
        watcher
            .subscribe(topic, Dict::new(), move |_| {
                seen.lock().unwrap().push(topic)
            })
            .await
            .unwrap();
    }
    let callee = router.client(Codec::Msgpack).await;
    let id = callee
        .register("com.example.meta", Dict::new(), |_| async {
            Ok(Arguments::none())
        })
        .await
        .unwrap();
    let looked_up = watcher
        .call(
            "wamp.registration.lookup",
            Arguments::list(vec!["com.example.meta".into()]),
        )
        .await
        .unwrap();
    assert_eq!(first(&looked_up), Value::from(id));
    let callees = watcher
        .call(
            "wamp.registration.list_callees",
            Arguments::list(vec![id.into()]),
        )
        .await
        .unwrap();
    assert_eq!(
        first(&callees),
        Value::List(vec![Value::from(callee.session_id())])
    );
    drop(callee); // leaves without GOODBYE
    for _ in 0..50 {
        if seen.lock().unwrap().len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "wamp.registration.on_create",
            "wamp.registration.on_register",
            "wamp.registration.on_unregister",
            "wamp.registration.on_delete"
        ]
    );
    let err = watcher
        .call("wamp.registration.get", Arguments::list(vec![id.into()]))
        .await
        .unwrap_err();
    assert_eq!(err.wamp_uri(), Some("wamp.error.no_such_registration"));
}

#[tokio::test]
async fn session_meta_api_counts_gets_and_kills_sessions() {
    let router = Router::start(&[]);
    let admin = router.client(Codec::Json).await;
    let victim = router.client(Codec::Msgpack).await;
    let count = admin
        .call("wamp.session.count", Arguments::none())
        .await
        .unwrap();
    assert_eq!(first(&count), Value::Int(2));
    let details = admin
        .call(
            "wamp.session.get",
            Arguments::list(vec![victim.session_id().into()]),
        )
        .await
        .unwrap();
    let details = first(&details);
    assert_eq!(
        details.as_dict().and_then(|d| d.get("authrole")),
        Some(&Value::from("anonymous"))
    );
    admin
        .call(
            "wamp.session.kill",
            Arguments::list(vec![victim.session_id().into()]),
        )
        .await
        .unwrap();
    let err = victim
        .call("wamp.session.count", Arguments::none())
        .await
        .unwrap_err();
    assert!(
        err.wamp_uri().is_none(),
        "a killed session cannot call: {err}"
    );
    let count = admin
        .call("wamp.session.count", Arguments::none())
        .await
        .unwrap();
    assert_eq!(first(&count), Value::Int(1));
}

#[tokio::test]
async fn a_request_made_after_the_router_ended_the_session_fails_at_once() {
    let router = Router::start(&[]);
    let admin = router.client(Codec::Json).await;
    let victim = router.client(Codec::Json).await;
    admin
        .call(
            "wamp.session.kill",
            Arguments::list(vec![victim.session_id().into()]),
        )
        .await
        .unwrap();
    // Long enough for the victim's client to have read the router's GOODBYE.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let outcome = tokio::time::timeout(
        Duration::from_secs(5),
        victim.call("wamp.session.count", Arguments::none()),
    )
    .await
    .expect("a request on an ended session must not wait for an answer");
    assert!(outcome.is_err());
}

#[tokio::test]
async fn events_reach_subscribers_with_exclusion_acknowledgement_and_disclosure() {
    let router = Router::start(&[]);
    let got = Arc::new(Mutex::new(Vec::new()));
    let subscriber = router.client(Codec::Msgpack).await;
    let sink = got.clone();
    subscriber
        .subscribe(
            "com.example.",
            options(&[("match", "prefix".into())]),
            move |event| {
                sink.lock().unwrap().push((
                    first(&event.arguments),
                    event.details.get("topic").cloned(),
                    event.details.get("publisher").cloned(),
                ));
            },
        )
        .await
        .unwrap();
    let publisher = router.client(Codec::Json).await;
    let publication = publisher
        .publish(
            "com.example.news",
            options(&[("acknowledge", true.into()), ("disclose_me", true.into())]),
            Arguments::list(vec!["hello".into()]),
        )
        .await
        .unwrap();
    assert!(publication.is_some());
    for _ in 0..50 {
        if !got.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        *got.lock().unwrap(),
        vec![(
            Value::from("hello"),
            Some(Value::from("com.example.news")),
            Some(Value::from(publisher.session_id()))
        )]
    );
    let err = publisher
        .publish(
            "com..bad",
            options(&[("acknowledge", true.into())]),
            Arguments::none(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.wamp_uri(), Some("wamp.error.invalid_uri"));
}

#[tokio::test]
async fn metrics_count_sessions_and_calls_by_outcome() {
    let router = Router::start(&[]);
    let callee = router.client(Codec::Json).await;
    callee
        .register("com.example.ok", Dict::new(), |_| async {
            Ok(Arguments::none())
        })
        .await
        .unwrap();
    let caller = router.client(Codec::Msgpack).await;
    caller
        .call("com.example.ok", Arguments::none())
        .await
        .unwrap();
    caller
        .call("com.example.missing", Arguments::none())
        .await
        .unwrap_err();
    let metrics = router.http_get("/metrics");
    for line in [
        "switchboard_sessions 2",
        "switchboard_calls_total{outcome=\"result\"} 1",
        "switchboard_calls_total{outcome=\"no_such_procedure\"} 1",
        "switchboard_call_duration_seconds_count 2",
        "switchboard_raft_leader -1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line:?} in:\n{metrics}"
        );
    }
    drop(callee);
    drop(caller);
}

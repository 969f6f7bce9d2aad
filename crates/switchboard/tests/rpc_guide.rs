//! The Rust examples of `docs/rpc.md`, run against the real binary.
//!
//! Each example is the region between an `ANCHOR` line and its `ANCHOR_END`
//! line; `the_guide_shows_every_rust_example_verbatim` checks that the guide shows
//! each region exactly (less its indentation) and every region once or more.

mod common;

use std::collections::BTreeMap;
use std::error::Error;
use std::path::Path;

use common::Router;
// ANCHOR: imports
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_client::{
    Arguments, CallUpdate, Client, ClientError, Codec, Dict, Invocation, Value, WampError,
};
use tokio::sync::mpsc;
// ANCHOR_END: imports

type TestResult = Result<(), Box<dyn Error>>;

/// A config file the Python examples use too, so both languages run the guide's TOML.
fn example_config(name: &str) -> String {
    format!(
        "{}/../../tests/interop/docs_examples/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[tokio::test]
async fn connect() -> TestResult {
    let router = Router::start(&[]);
    // ANCHOR: connect
    let client = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    println!("joined as session {}", client.session_id());
    let welcome = client.welcome_details(); // the router's roles and their features
    let roles = welcome.get("roles").and_then(Value::as_dict);
    assert!(roles.is_some_and(|roles| roles.contains_key("dealer")));
    client.leave().await?;
    // ANCHOR_END: connect
    Ok(())
}

#[tokio::test]
async fn registrations() -> TestResult {
    let router = Router::start(&[]);
    // ANCHOR: registrations
    let first = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    let second = Client::connect(&router.url, "com.example.realm", Codec::Msgpack).await?;
    let shared = Dict::from([("invoke".into(), "roundrobin".into())]);
    let echo = |invocation: Invocation| async move { Ok(invocation.arguments) };
    let id_1 = first
        .register("com.example.echo", shared.clone(), echo)
        .await?;
    let id_2 = second.register("com.example.echo", shared, echo).await?;
    let prefix = Dict::from([("match".into(), "prefix".into())]);
    let id_3 = first.register("com.example.echo", prefix, echo).await?;
    assert_eq!(id_1, id_2, "both callees joined one registration");
    assert_ne!(id_1, id_3, "another match policy is another registration");

    first.unregister(id_1).await?; // the registration stays: second still serves it
    let registration = Arguments::list(vec![id_1.into()]);
    let count = first
        .call("wamp.registration.count_callees", registration)
        .await?;
    assert_eq!(count.args_values()?, vec![Value::Int(1)]);
    // ANCHOR_END: registrations
    Ok(())
}

#[tokio::test]
async fn basic_call() -> TestResult {
    let router = Router::start(&[]);
    // ANCHOR: basic_call
    let callee = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    callee
        .register("com.example.add", Dict::new(), |invocation| async move {
            let args = invocation.arguments.args_values();
            let Ok([Value::Int(x), Value::Int(y)]) = args.as_deref() else {
                let why = Arguments::list(vec!["add takes two integers".into()]);
                return Err(WampError::new("wamp.error.invalid_argument", why));
            };
            let sum = x + y;
            let mut kwargs = Dict::new();
            kwargs.insert("even".into(), Value::Bool(sum % 2 == 0));
            Ok(Arguments::with_kwargs(vec![sum.into()], kwargs))
        })
        .await?;

    let caller = Client::connect(&router.url, "com.example.realm", Codec::Msgpack).await?;
    let result = caller
        .call("com.example.add", Arguments::list(vec![2.into(), 3.into()]))
        .await?;
    assert_eq!(result.args_values()?, vec![Value::Int(5)]);
    let kwargs = result.kwargs_values()?;
    assert_eq!(kwargs.get("even"), Some(&Value::Bool(false)));
    // ANCHOR_END: basic_call
    Ok(())
}

#[tokio::test]
async fn errors() -> TestResult {
    let router = Router::start(&[]);
    // ANCHOR: errors
    let callee = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    callee
        .register("com.example.divide", Dict::new(), |_| async move {
            let mut kwargs = Dict::new();
            kwargs.insert("x".into(), 1.into());
            let args = vec!["cannot divide by zero".into()];
            let arguments = Arguments::with_kwargs(args, kwargs);
            Err(WampError::new("com.example.error.zero", arguments))
        })
        .await?;

    let caller = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    let args = Arguments::list(vec![1.into(), 0.into()]);
    let err = caller.call("com.example.divide", args).await.unwrap_err();
    let ClientError::Wamp(error) = err else {
        panic!("expected an ERROR, got {err}");
    };
    assert_eq!(error.uri, "com.example.error.zero");
    let kwargs = error.arguments.kwargs_values()?;
    assert_eq!(kwargs.get("x"), Some(&Value::Int(1)));

    let err = caller
        .call("com.example.multiply", Arguments::none())
        .await
        .unwrap_err();
    assert_eq!(err.wamp_uri(), Some("wamp.error.no_such_procedure"));

    let err = caller
        .register("com.example.divide", Dict::new(), |_| async {
            Ok(Arguments::none())
        })
        .await
        .unwrap_err();
    assert_eq!(err.wamp_uri(), Some("wamp.error.procedure_already_exists"));
    // ANCHOR_END: errors
    Ok(())
}

#[tokio::test]
async fn call_timeout() -> TestResult {
    let router = Router::start(&[]);
    // ANCHOR: call_timeout
    let callee = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    callee
        .register("com.example.slow", Dict::new(), |_| async {
            tokio::time::sleep(Duration::from_secs(10)).await; // interrupted after 250 ms
            Ok(Arguments::none())
        })
        .await?;

    let caller = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    let started = Instant::now();
    let timeout = Dict::from([("timeout".into(), 250.into())]); // milliseconds
    let err = caller
        .call_with("com.example.slow", timeout, Arguments::none())
        .await
        .unwrap_err();
    assert_eq!(err.wamp_uri(), Some("wamp.error.timeout"));
    assert!(started.elapsed() < Duration::from_secs(2));
    // ANCHOR_END: call_timeout
    Ok(())
}

#[tokio::test]
async fn forward_timeout() -> TestResult {
    let router = Router::start(&[]);
    // ANCHOR: forward_timeout
    let callee = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    let forward = Dict::from([("forward_timeout".into(), true.into())]);
    callee
        .register("com.example.report", forward, |invocation| async move {
            // The router left the timer to us: INVOCATION.Details.timeout, in ms.
            let ms = invocation.details.get("timeout").and_then(Value::as_u64);
            let limit = Duration::from_millis(ms.unwrap_or(60_000));
            let work = tokio::time::sleep(Duration::from_secs(10));
            match tokio::time::timeout(limit, work).await {
                Ok(()) => Ok(Arguments::list(vec!["report".into()])),
                Err(_) => Err(WampError::new("wamp.error.timeout", Arguments::none())),
            }
        })
        .await?;

    let caller = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    let timeout = Dict::from([("timeout".into(), 250.into())]);
    let err = caller
        .call_with("com.example.report", timeout, Arguments::none())
        .await
        .unwrap_err();
    assert_eq!(err.wamp_uri(), Some("wamp.error.timeout"));
    // ANCHOR_END: forward_timeout
    Ok(())
}

#[tokio::test]
async fn timeout_between_progressive_results() -> TestResult {
    let router = Router::start(&[]);
    // ANCHOR: timeout_between_progressive_results
    let callee = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    callee
        .register("com.example.ticks", Dict::new(), |invocation| async move {
            for tick in 0..10 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                invocation.progress(Arguments::list(vec![tick.into()]));
            }
            Ok(Arguments::list(vec!["done".into()]))
        })
        .await?;

    let caller = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    // Ten 100 ms gaps: about 1 s in all, yet no gap reaches the 400 ms timeout.
    let options = Dict::from([
        ("receive_progress".into(), true.into()),
        ("timeout".into(), 400.into()),
    ]);
    let call = caller.start_call("com.example.ticks", options, Arguments::none())?;
    let result = call.finish().await?;
    assert_eq!(result.args_values()?, vec![Value::from("done")]);
    // ANCHOR_END: timeout_between_progressive_results
    Ok(())
}

#[tokio::test]
async fn cancel_modes() -> TestResult {
    let router = Router::start(&[]);
    // ANCHOR: cancel_modes
    let finished = Arc::new(AtomicBool::new(false));
    let callee = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    let done = finished.clone();
    callee
        .register("com.example.slow", Dict::new(), move |_| {
            let done = done.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                done.store(true, Ordering::SeqCst);
                Ok(Arguments::list(vec!["finished".into()]))
            }
        })
        .await?;
    let caller = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;

    // skip: the caller hears at once; the callee runs on, and its result is dropped.
    let call = caller.start_call("com.example.slow", Dict::new(), Arguments::none())?;
    call.cancel(Some("skip"))?;
    let err = call.finish().await.unwrap_err();
    assert_eq!(err.wamp_uri(), Some("wamp.error.canceled"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(finished.swap(false, Ordering::SeqCst)); // the callee ran to the end

    // kill: the callee gets INTERRUPT; the caller hears once the callee has stopped.
    let call = caller.start_call("com.example.slow", Dict::new(), Arguments::none())?;
    call.cancel(Some("kill"))?;
    let err = call.finish().await.unwrap_err();
    assert_eq!(err.wamp_uri(), Some("wamp.error.canceled"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!finished.load(Ordering::SeqCst)); // the callee was stopped
                                               // ANCHOR_END: cancel_modes
    Ok(())
}

#[tokio::test]
async fn disclose_me() -> TestResult {
    let router = Router::start(&["--config", &example_config("private_realm.toml")]);
    // ANCHOR: disclose_me
    let callee = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    let whoami = |invocation: Invocation| async move {
        let caller = invocation.details.get("caller").cloned();
        Ok(Arguments::list(vec![caller.unwrap_or(Value::Null)]))
    };
    callee
        .register("com.example.whoami", Dict::new(), whoami)
        .await?;
    let disclose_caller = Dict::from([("disclose_caller".into(), true.into())]);
    callee
        .register("com.example.audited", disclose_caller, whoami)
        .await?;

    let caller = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    let me = Value::from(caller.session_id());
    // This realm keeps callers private unless the caller or the callee asks.
    let hidden = caller.call("com.example.whoami", Arguments::none()).await?;
    assert_eq!(hidden.args_values()?, vec![Value::Null]);
    let disclose_me = Dict::from([("disclose_me".into(), true.into())]);
    let shown = caller
        .call_with("com.example.whoami", disclose_me, Arguments::none())
        .await?;
    assert_eq!(shown.args_values()?, vec![me.clone()]);
    let audited = caller
        .call("com.example.audited", Arguments::none())
        .await?;
    assert_eq!(audited.args_values()?, vec![me]);
    // ANCHOR_END: disclose_me
    Ok(())
}

#[tokio::test]
async fn progressive_results() -> TestResult {
    let router = Router::start(&[]);
    // ANCHOR: progressive_results
    let callee = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    let countdown = |invocation: Invocation| async move {
        for n in (1..=3).rev() {
            // Sent only if the caller asked for progressive results.
            invocation.progress(Arguments::list(vec![n.into()]));
        }
        Ok(Arguments::list(vec!["liftoff".into()]))
    };
    callee
        .register("com.example.countdown", Dict::new(), countdown)
        .await?;

    let caller = Client::connect(&router.url, "com.example.realm", Codec::Msgpack).await?;
    let options = Dict::from([("receive_progress".into(), true.into())]);
    let mut call = caller.start_call("com.example.countdown", options, Arguments::none())?;
    let (mut ticks, mut last) = (Vec::new(), None);
    while let Some(update) = call.next().await {
        match update? {
            CallUpdate::Progress(args) => ticks.extend(args.args_values()?),
            CallUpdate::Final(args) => last = Some(args.args_values()?),
        }
    }
    assert_eq!(ticks, vec![Value::Int(3), Value::Int(2), Value::Int(1)]);
    assert_eq!(last, Some(vec![Value::from("liftoff")]));
    // ANCHOR_END: progressive_results
    Ok(())
}

#[tokio::test]
async fn progressive_invocations() -> TestResult {
    let router = Router::start(&[]);
    // ANCHOR: progressive_invocations
    let shared = Dict::from([("invoke".into(), "roundrobin".into())]);
    let mut callees = Vec::new();
    for name in ["a", "b"] {
        let callee = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
        let sum = move |mut invocation: Invocation| async move {
            let number = |args: &Arguments| match args.args_values().as_deref() {
                Ok([Value::Int(n)]) => *n,
                _ => 0,
            };
            let mut total = number(&invocation.arguments); // the first chunk
            while let Some((chunk, _last)) = invocation.next_chunk().await {
                total += number(&chunk);
            }
            Ok(Arguments::list(vec![total.into(), name.into()]))
        };
        callee
            .register("com.example.sum", shared.clone(), sum)
            .await?;
        callees.push(callee);
    }

    let caller = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    let first_chunk = Dict::from([("progress".into(), true.into())]);
    let one = Arguments::list(vec![1.into()]);
    let call = caller.start_call("com.example.sum", first_chunk, one)?;
    call.send_chunk(Arguments::list(vec![2.into()]), false)?;
    call.send_chunk(Arguments::list(vec![3.into()]), true)?; // the last chunk
    let result = call.finish().await?;
    // Every chunk went to the callee that got the first one.
    assert_eq!(result.args_values()?, vec![Value::Int(6), Value::from("a")]);
    // ANCHOR_END: progressive_invocations
    Ok(())
}

#[tokio::test]
async fn pattern_registrations() -> TestResult {
    let router = Router::start(&[]);
    // ANCHOR: pattern_registrations
    let callee = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    for (pattern, policy) in [
        ("com.example.user.get", "exact"),
        ("com.example.user.", "prefix"),
        ("com.example..get", "wildcard"),
        ("com...get", "wildcard"),
    ] {
        let options = Dict::from([("match".into(), policy.into())]);
        callee
            .register(pattern, options, move |invocation| async move {
                // For a pattern, the URI the caller used is in details.procedure.
                let called = invocation.details.get("procedure").cloned();
                Ok(Arguments::list(vec![
                    pattern.into(),
                    called.unwrap_or_default(),
                ]))
            })
            .await?;
    }

    let caller = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    for (uri, winner) in [
        ("com.example.user.get", "com.example.user.get"),
        ("com.example.user.delete", "com.example.user."),
        ("com.example.order.get", "com.example..get"),
        ("com.acme.order.get", "com...get"),
    ] {
        let result = caller.call(uri, Arguments::none()).await?.args_values()?;
        println!("{uri} -> {result:?}");
        assert_eq!(result[0], Value::from(winner));
    }
    // ANCHOR_END: pattern_registrations
    Ok(())
}

#[tokio::test]
async fn hot_standby() -> TestResult {
    let router = Router::start(&[]);
    // ANCHOR: hot_standby
    let first = Dict::from([("invoke".into(), "first".into())]);
    let primary = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    primary
        .register("com.example.store", first.clone(), |_| async {
            Ok(Arguments::list(vec!["primary".into()]))
        })
        .await?;
    let backup = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    backup
        .register("com.example.store", first, |_| async {
            Ok(Arguments::list(vec!["backup".into()]))
        })
        .await?;

    let caller = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    let served = caller.call("com.example.store", Arguments::none()).await?;
    assert_eq!(served.args_values()?, vec![Value::from("primary")]);
    primary.leave().await?; // the backup takes over
    tokio::time::sleep(Duration::from_millis(200)).await;
    let served = caller.call("com.example.store", Arguments::none()).await?;
    assert_eq!(served.args_values()?, vec![Value::from("backup")]);
    // ANCHOR_END: hot_standby
    Ok(())
}

#[tokio::test]
async fn registration_meta() -> TestResult {
    let router = Router::start(&[]);
    // ANCHOR: registration_meta
    let watcher = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    let (events, mut seen) = mpsc::unbounded_channel();
    for topic in ["wamp.registration.on_create", "wamp.registration.on_delete"] {
        let events = events.clone();
        watcher
            .subscribe(topic, Dict::new(), move |event| {
                let _ = events.send((topic, event.arguments));
            })
            .await?;
    }

    let callee = Client::connect(&router.url, "com.example.realm", Codec::Msgpack).await?;
    let id = callee
        .register("com.example.ping", Dict::new(), |_| async {
            Ok(Arguments::list(vec!["pong".into()]))
        })
        .await?;
    let (topic, args) = seen.recv().await.ok_or("no on_create")?;
    assert_eq!(topic, "wamp.registration.on_create");
    println!("created: {:?}", args.args_values()?); // [session, RegistrationDetails]

    let matched = watcher
        .call(
            "wamp.registration.match",
            Arguments::list(vec!["com.example.ping".into()]),
        )
        .await?;
    assert_eq!(matched.args_values()?, vec![Value::from(id)]);
    let callees = watcher
        .call(
            "wamp.registration.list_callees",
            Arguments::list(vec![id.into()]),
        )
        .await?;
    assert_eq!(
        callees.args_values()?,
        vec![Value::List(vec![callee.session_id().into()])]
    );

    drop(callee); // the connection closes: the registration goes with its last callee
    let (topic, _) = seen.recv().await.ok_or("no on_delete")?;
    assert_eq!(topic, "wamp.registration.on_delete");
    // ANCHOR_END: registration_meta
    Ok(())
}

#[tokio::test]
async fn session_meta() -> TestResult {
    let router = Router::start(&[]);
    // ANCHOR: session_meta
    let admin = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    let worker = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    let (left, mut leaving) = mpsc::unbounded_channel();
    admin
        .subscribe("wamp.session.on_leave", Dict::new(), move |event| {
            let _ = left.send(event.arguments);
        })
        .await?;

    let count = admin.call("wamp.session.count", Arguments::none()).await?;
    assert_eq!(count.args_values()?, vec![Value::Int(2)]);
    let worker_id = Arguments::list(vec![worker.session_id().into()]);
    let details = admin.call("wamp.session.get", worker_id.clone()).await?;
    println!("worker: {:?}", details.args_values()?); // [SessionDetails]

    admin.call("wamp.session.kill", worker_id).await?;
    let gone = leaving.recv().await.ok_or("no on_leave")?;
    assert_eq!(gone.args_values()?[0], Value::from(worker.session_id()));
    // ANCHOR_END: session_meta
    Ok(())
}

#[tokio::test]
async fn publish_subscribe() -> TestResult {
    let router = Router::start(&[]);
    // ANCHOR: publish_subscribe
    let subscriber = Client::connect(&router.url, "com.example.realm", Codec::Msgpack).await?;
    let (events, mut received) = mpsc::unbounded_channel();
    let prefix = Dict::from([("match".into(), "prefix".into())]);
    subscriber
        .subscribe("com.example.news.", prefix, move |event| {
            let _ = events.send(event);
        })
        .await?;

    let publisher = Client::connect(&router.url, "com.example.realm", Codec::Json).await?;
    let options = Dict::from([
        ("acknowledge".into(), true.into()),
        ("disclose_me".into(), true.into()),
    ]);
    let publication = publisher
        .publish(
            "com.example.news.sport",
            options,
            Arguments::list(vec!["Goal!".into()]),
        )
        .await?;
    assert!(publication.is_some(), "acknowledged with PUBLISHED");

    let event = received.recv().await.ok_or("no event")?;
    assert_eq!(event.arguments.args_values()?, vec![Value::from("Goal!")]);
    assert_eq!(
        event.details.get("topic"),
        Some(&Value::from("com.example.news.sport"))
    );
    assert_eq!(
        event.details.get("publisher"),
        Some(&Value::from(publisher.session_id()))
    );
    // ANCHOR_END: publish_subscribe
    Ok(())
}

/// Each `ANCHOR` region of this file, by name, with its common indentation removed.
fn regions(source: &str) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut open: Option<(String, Vec<&str>)> = None;
    for line in source.lines() {
        let marker = line.trim();
        if let Some(name) = marker.strip_prefix("// ANCHOR: ") {
            assert!(open.is_none(), "region {name} starts inside another");
            open = Some((name.to_owned(), Vec::new()));
        } else if let Some(name) = marker.strip_prefix("// ANCHOR_END: ") {
            let (start, lines) = open.take().expect("ANCHOR_END without ANCHOR");
            assert_eq!(start, name, "region {start} ends as {name}");
            found.insert(start, dedent(&lines));
        } else if let Some((_, lines)) = open.as_mut() {
            lines.push(line);
        }
    }
    assert!(open.is_none(), "a region is not closed");
    found
}

fn dedent(lines: &[&str]) -> String {
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| format!("{}\n", l.get(indent..).unwrap_or("")))
        .collect()
}

/// Each fenced block of the guide that follows an `<!-- example: ... -->` line:
/// (what the marker names, the block's first line number, the block's content).
fn marked_blocks(guide: &str) -> Vec<(String, usize, String)> {
    let lines: Vec<&str> = guide.lines().collect();
    let mut blocks = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        let Some(target) = line
            .strip_prefix("<!-- example: ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        else {
            continue;
        };
        let fence = lines.get(at + 1).copied().unwrap_or_default();
        assert!(
            fence.starts_with("```"),
            "docs/rpc.md:{}: the example marker must be followed by a fenced block",
            at + 1
        );
        let body: String = lines[at + 2..]
            .iter()
            .take_while(|l| **l != "```")
            .map(|l| format!("{l}\n"))
            .collect();
        blocks.push((target.to_owned(), at + 3, body));
    }
    blocks
}

#[test]
fn the_guide_shows_every_rust_example_verbatim() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let guide = std::fs::read_to_string(root.join("../../docs/rpc.md")).expect("docs/rpc.md");
    let source = std::fs::read_to_string(root.join("tests/rpc_guide.rs")).expect("this file");
    let regions = regions(&source);
    let mut shown = Vec::new();
    for (target, line, block) in marked_blocks(&guide) {
        let Some(name) = target.strip_prefix("crates/switchboard/tests/rpc_guide.rs#") else {
            continue; // tests/interop/test_docs.py checks the Python examples
        };
        let region = regions
            .get(name)
            .unwrap_or_else(|| panic!("docs/rpc.md:{line}: no region {name} in rpc_guide.rs"));
        assert_eq!(
            &block, region,
            "docs/rpc.md:{line}: the block differs from region {name} of rpc_guide.rs"
        );
        shown.push(name.to_owned());
    }
    for name in regions.keys() {
        assert!(
            shown.contains(name),
            "docs/rpc.md does not show region {name}"
        );
    }
    // Every Rust block in the guide is one of these examples.
    let rust_blocks = guide.lines().filter(|l| l.trim() == "```rust").count();
    assert_eq!(
        rust_blocks,
        shown.len(),
        "a ```rust block in docs/rpc.md has no example marker"
    );
}

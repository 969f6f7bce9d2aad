//! Three real router processes on loopback, driven by the Rust client: calls,
//! registrations and events cross nodes, and killing a node (SIGKILL) mid-call
//! fails its calls promptly while the survivors keep serving. Each scenario
//! prints its figures.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::{Cluster, ADMIN_TOKEN, FAILURE_TIMEOUT_MS};
use common::{first, options, REALM};
use switchboard_client::{Arguments, CallUpdate, Client, Codec, Dict, Value};

/// Clusters are started one at a time: three processes each, on two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn client(cluster: &Cluster, node: usize, codec: Codec) -> Client {
    cluster.client(node, codec).await
}

async fn named(
    cluster: &Cluster,
    node: usize,
    procedure: &str,
    register_options: Dict,
    name: &'static str,
) -> Client {
    let callee = client(cluster, node, Codec::Json).await;
    callee
        .register(procedure, register_options, move |_| async move {
            Ok(Arguments::list(vec![Value::from(name)]))
        })
        .await
        .expect("registered");
    callee
}

#[tokio::test]
async fn a_caller_on_one_node_reaches_a_callee_on_another_on_every_serializer() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start(3);
    let callee = client(&cluster, 3, Codec::Msgpack).await;
    callee
        .register("com.example.add", Dict::new(), |inv| async move {
            let sum: i64 = inv
                .arguments
                .args_values()
                .unwrap()
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
        .unwrap();
    for codec in Codec::ALL {
        let caller = client(&cluster, 1, codec).await;
        let started = Instant::now();
        let result = caller
            .call("com.example.add", Arguments::list(vec![2.into(), 3.into()]))
            .await
            .unwrap();
        assert_eq!(first(&result), Value::Int(5));
        println!(
            "cross-node call ({codec:?} caller on node 1, callee on node 3): {:?}",
            started.elapsed()
        );
    }
    let metrics = cluster.node(1).http_get("/metrics");
    let forwarded = format!("switchboard_forwarded_calls_total {}", Codec::ALL.len());
    assert!(metrics.lines().any(|l| l == forwarded), "{metrics}");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("switchboard_raft_term ") && l != "switchboard_raft_term 0"),
        "{metrics}"
    );
}

#[tokio::test]
async fn concurrent_registers_of_one_uri_on_different_nodes_have_exactly_one_winner() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start(3);
    let clients = [
        client(&cluster, 1, Codec::Json).await,
        client(&cluster, 2, Codec::Json).await,
        client(&cluster, 3, Codec::Json).await,
    ];
    let outcomes = futures_util::future::join_all(clients.iter().map(|c| {
        c.register("com.example.race", Dict::new(), |_| async {
            Ok(Arguments::none())
        })
    }))
    .await;
    let winners = outcomes.iter().filter(|o| o.is_ok()).count();
    let losers: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    println!(
        "register race across 3 nodes: {winners} winner, {} procedure_already_exists",
        losers.len()
    );
    assert_eq!(winners, 1, "{outcomes:?}");
    assert!(losers
        .iter()
        .all(|e| e.wamp_uri() == Some("wamp.error.procedure_already_exists")));
}

#[tokio::test]
async fn roundrobin_rotates_over_callees_on_all_three_nodes_under_one_registration_id() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start(3);
    let rr = options(&[("invoke", "roundrobin".into())]);
    let _a = named(&cluster, 1, "com.example.rr", rr.clone(), "one").await;
    let _b = named(&cluster, 2, "com.example.rr", rr.clone(), "two").await;
    let _c = named(&cluster, 3, "com.example.rr", rr, "three").await;
    let caller = client(&cluster, 2, Codec::Msgpack).await;
    let ids: Vec<Value> = futures_util::future::join_all((1..=3).map(|node| {
        let url = cluster.node(node).url.clone();
        async move {
            let c = Client::connect(&url, REALM, Codec::Json).await.unwrap();
            first(
                &c.call(
                    "wamp.registration.lookup",
                    Arguments::list(vec!["com.example.rr".into()]),
                )
                .await
                .unwrap(),
            )
        }
    }))
    .await;
    assert!(
        ids.iter().all(|id| *id == ids[0] && *id != Value::Null),
        "one id everywhere: {ids:?}"
    );
    let mut served = Vec::new();
    for _ in 0..6 {
        served.push(first(
            &caller
                .call("com.example.rr", Arguments::none())
                .await
                .unwrap(),
        ));
    }
    println!("roundrobin across nodes served: {served:?}");
    assert_eq!(
        served,
        ["one", "two", "three", "one", "two", "three"].map(Value::from)
    );
}

#[tokio::test]
async fn prefix_and_wildcard_registrations_on_one_node_serve_calls_from_another() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start(3);
    let _p = named(
        &cluster,
        1,
        "com.example.math.",
        options(&[("match", "prefix".into())]),
        "prefix",
    )
    .await;
    let _w = named(
        &cluster,
        1,
        "com..op",
        options(&[("match", "wildcard".into())]),
        "wildcard",
    )
    .await;
    let caller = client(&cluster, 3, Codec::Json).await;
    assert_eq!(
        first(
            &caller
                .call("com.example.math.add", Arguments::none())
                .await
                .unwrap()
        ),
        Value::from("prefix")
    );
    assert_eq!(
        first(
            &caller
                .call("com.other.op", Arguments::none())
                .await
                .unwrap()
        ),
        Value::from("wildcard")
    );
}

#[tokio::test]
async fn progressive_results_and_timeouts_work_across_nodes() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start(3);
    let callee = client(&cluster, 2, Codec::Json).await;
    callee
        .register("com.example.stream", Dict::new(), |inv| async move {
            for i in 0..3 {
                inv.progress(Arguments::list(vec![Value::Int(i)]));
            }
            Ok(Arguments::list(vec![Value::from("end")]))
        })
        .await
        .unwrap();
    callee
        .register("com.example.stuck", Dict::new(), |_| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(Arguments::none())
        })
        .await
        .unwrap();
    let caller = client(&cluster, 1, Codec::Msgpack).await;
    let mut call = caller
        .start_call(
            "com.example.stream",
            options(&[("receive_progress", true.into())]),
            Arguments::none(),
        )
        .unwrap();
    let mut seen = Vec::new();
    while let Some(update) = call.next().await {
        match update.unwrap() {
            CallUpdate::Progress(a) => seen.push(first(&a)),
            CallUpdate::Final(a) => {
                seen.push(first(&a));
                break;
            }
        }
    }
    assert_eq!(
        seen,
        [
            Value::Int(0),
            Value::Int(1),
            Value::Int(2),
            Value::from("end")
        ]
    );
    let started = Instant::now();
    let err = caller
        .call_with(
            "com.example.stuck",
            options(&[("timeout", 300.into())]),
            Arguments::none(),
        )
        .await
        .unwrap_err();
    println!(
        "cross-node timeout of 300 ms fired after {:?}",
        started.elapsed()
    );
    assert_eq!(err.wamp_uri(), Some("wamp.error.timeout"));
}

#[tokio::test]
async fn events_published_on_one_node_reach_subscribers_on_every_node_once() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start(3);
    let got = Arc::new(Mutex::new(Vec::new()));
    let mut subscribers = Vec::new();
    for node in 1..=3 {
        let s = client(&cluster, node, Codec::Json).await;
        let sink = got.clone();
        s.subscribe("com.example.news", Dict::new(), move |e| {
            sink.lock().unwrap().push((node, first(&e.arguments)))
        })
        .await
        .unwrap();
        subscribers.push(s);
    }
    let publisher = client(&cluster, 2, Codec::Msgpack).await;
    publisher
        .publish(
            "com.example.news",
            options(&[("acknowledge", true.into())]),
            Arguments::list(vec!["hi".into()]),
        )
        .await
        .unwrap();
    Cluster::eventually("three events", || got.lock().unwrap().len() >= 3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut events = got.lock().unwrap().clone();
    events.sort_by_key(|(node, _)| *node);
    assert_eq!(
        events,
        [
            (1, Value::from("hi")),
            (2, Value::from("hi")),
            (3, Value::from("hi"))
        ]
    );
}

#[tokio::test]
async fn killing_the_callees_node_mid_call_fails_the_call_promptly_and_the_next_call_goes_to_a_survivor(
) {
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::start(3);
    let first_policy = options(&[("invoke", "first".into())]);
    let doomed = client(&cluster, 3, Codec::Json).await;
    doomed
        .register("com.example.work", first_policy.clone(), |_| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(Arguments::none())
        })
        .await
        .unwrap();
    let _survivor = named(&cluster, 2, "com.example.work", first_policy, "survivor").await;
    let caller = client(&cluster, 1, Codec::Msgpack).await;
    let call = caller
        .start_call("com.example.work", Dict::new(), Arguments::none())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed = Instant::now();
    cluster.kill(3);
    let outcome = tokio::time::timeout(Duration::from_secs(10), call.finish())
        .await
        .expect("no hang");
    let to_error = killed.elapsed();
    let err = outcome.unwrap_err();
    println!("SIGKILL of the callee's node: caller got {:?} after {to_error:?} (failure timeout {FAILURE_TIMEOUT_MS} ms)", err.wamp_uri());
    assert_eq!(err.wamp_uri(), Some("wamp.error.canceled"));
    assert!(
        to_error < Duration::from_millis(FAILURE_TIMEOUT_MS * 4),
        "{to_error:?}"
    );
    let mut answer = None;
    for _ in 0..50 {
        match caller.call("com.example.work", Arguments::none()).await {
            Ok(result) => {
                answer = Some(first(&result));
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert_eq!(answer, Some(Value::from("survivor")));
    drop(doomed);
}

#[tokio::test]
async fn killing_the_leader_during_a_stream_of_registers_loses_no_acknowledged_registration() {
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::start(3);
    let leader = cluster.leader().expect("a leader");
    let other = if leader == 1 { 2 } else { 1 };
    let registrar = Arc::new(client(&cluster, other, Codec::Json).await);
    let stream = {
        let registrar = registrar.clone();
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let mut refused = 0;
            for i in 0..60 {
                let uri = format!("com.example.reg{i}");
                match registrar
                    .register(&uri, Dict::new(), |_| async { Ok(Arguments::none()) })
                    .await
                {
                    Ok(_) => acknowledged.push(uri),
                    Err(_) => refused += 1,
                }
            }
            (acknowledged, refused)
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let killed = Instant::now();
    cluster.kill(leader);
    let (acknowledged, refused) = tokio::time::timeout(Duration::from_secs(120), stream)
        .await
        .expect("no hang")
        .unwrap();
    println!(
        "leader {leader} killed during 60 REGISTERs: {} acknowledged, {refused} refused, stream done {:?} after the kill",
        acknowledged.len(),
        killed.elapsed()
    );
    let checker = client(&cluster, other, Codec::Json).await;
    for uri in &acknowledged {
        let id = first(
            &checker
                .call(
                    "wamp.registration.lookup",
                    Arguments::list(vec![uri.as_str().into()]),
                )
                .await
                .unwrap(),
        );
        assert_ne!(id, Value::Null, "{uri} was acknowledged but is gone");
    }
}

/// A paused node (SIGSTOP, as `docker pause`) is declared down and its sessions'
/// registrations are removed; when it comes back it must end those sessions,
/// even one whose call it fails in the same step, so their clients reconnect
/// instead of talking to a session the router has forgotten (found by the chaos
/// suite: a hung call and a callee left registered nowhere).
#[tokio::test]
async fn a_paused_node_declared_down_ends_its_sessions_when_it_comes_back_even_mid_call() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start(3);
    let callee = client(&cluster, 1, Codec::Json).await;
    callee
        .register("com.example.slow", Dict::new(), |_| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(Arguments::none())
        })
        .await
        .unwrap();
    let caller = client(&cluster, 1, Codec::Msgpack).await;
    let call = caller
        .start_call("com.example.slow", Dict::new(), Arguments::none())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    cluster.node(1).pause();
    let observer = client(&cluster, 2, Codec::Json).await;
    let removed = removed_within_10s(&observer, "com.example.slow").await;
    cluster.node(1).resume();
    assert!(
        removed,
        "the cluster never removed the paused node's registration"
    );
    let in_flight = tokio::time::timeout(Duration::from_secs(10), call.finish())
        .await
        .expect("the call in flight is answered");
    assert!(in_flight.is_err(), "the callee's node was declared down");
    for (who, session) in [("caller", &caller), ("callee", &callee)] {
        let next = tokio::time::timeout(
            Duration::from_secs(10),
            session.call("wamp.session.count", Arguments::none()),
        )
        .await
        .unwrap_or_else(|_| panic!("the {who}'s session was left open and silent"));
        let err = next.expect_err("the session should have been ended");
        assert!(
            err.wamp_uri().is_none(),
            "the {who} got {err}, not a closed session"
        );
    }
}

/// Whether `procedure` stops being registered, as `observer`'s node sees it,
/// within ten seconds.
async fn removed_within_10s(observer: &Client, procedure: &str) -> bool {
    for _ in 0..100 {
        let lookup = Arguments::list(vec![Value::from(procedure)]);
        if let Ok(found) = observer.call("wamp.registration.lookup", lookup).await {
            if first(&found) == Value::Null {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Every exact registration a node knows: (uri, id, callees), sorted.
async fn registry_of(cluster: &Cluster, node: usize) -> Vec<(String, u64, Vec<Value>)> {
    let observer = client(cluster, node, Codec::Json).await;
    let listed = observer
        .call("wamp.registration.list", Arguments::none())
        .await
        .expect("wamp.registration.list");
    let ids = match first(&listed) {
        Value::Dict(kinds) => match kinds.get("exact") {
            Some(Value::List(ids)) => ids.clone(),
            _ => Vec::new(),
        },
        other => panic!("unexpected registration list {other:?}"),
    };
    let mut registry = Vec::new();
    for id in ids {
        let args = Arguments::list(vec![id.clone()]);
        let details = observer.call("wamp.registration.get", args.clone()).await;
        let callees = observer.call("wamp.registration.list_callees", args).await;
        if let (Ok(details), Ok(callees)) = (details, callees) {
            let uri = match first(&details) {
                Value::Dict(d) => d
                    .get("uri")
                    .and_then(|u| u.as_str())
                    .unwrap_or("")
                    .to_owned(),
                _ => String::new(),
            };
            let callees = match first(&callees) {
                Value::List(c) => c,
                _ => Vec::new(),
            };
            registry.push((uri, id.as_u64().unwrap_or(0), callees));
        }
    }
    registry.sort_by(|a, b| a.0.cmp(&b.0));
    registry
}

#[tokio::test]
async fn a_paused_node_that_catches_up_by_snapshot_ends_the_sessions_the_cluster_removed() {
    let _serial = SERIAL.lock().await;
    // Small snapshots, so the traffic during the pause outruns the log the
    // leader keeps and the paused node must catch up by installing one.
    let cluster = Cluster::start_with(3, &["--snapshot-every", "20"]);
    let stranded = named(&cluster, 3, "com.example.stranded", Dict::new(), "node 3").await;
    let applied_before = cluster.status(3)["last_applied"].as_u64().unwrap_or(0);
    cluster.node(3).pause();
    let busy = client(&cluster, 1, Codec::Msgpack).await;
    let removed = removed_within_10s(&busy, "com.example.stranded").await;
    let mut registered = Vec::new();
    for i in 0..200 {
        let id = busy
            .register(&format!("com.example.busy.{i}"), Dict::new(), |_| async {
                Ok(Arguments::none())
            })
            .await
            .expect("registers while node 3 is paused");
        registered.push(id);
    }
    for id in registered.drain(..150) {
        busy.unregister(id).await.expect("unregisters");
    }
    cluster.node(3).resume();
    assert!(
        removed,
        "the cluster never removed the paused node's session"
    );

    // Node 3 may answer a moment after it resumes, before it has caught up;
    // within a few seconds its session must be ended.
    let mut ended = None;
    for _ in 0..100 {
        let probe = tokio::time::timeout(
            Duration::from_secs(5),
            stranded.call("wamp.session.count", Arguments::none()),
        )
        .await
        .expect("the stranded session was left open and silent");
        if let Err(err) = probe {
            ended = Some(err);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let err = ended.expect("the stranded session was never ended");
    assert!(err.wamp_uri().is_none(), "got {err}, not a closed session");

    Cluster::eventually("node 3 to catch up", || {
        cluster.status(3)["last_applied"] == cluster.status(1)["last_applied"]
    })
    .await;
    let snapshot = cluster.status(3)["snapshot"].as_u64().unwrap_or(0);
    assert!(
        snapshot > applied_before,
        "node 3 caught up from the log (snapshot {snapshot}, applied before the pause {applied_before}): the snapshot path was not exercised"
    );
    let on_one = registry_of(&cluster, 1).await;
    assert_eq!(on_one.len(), 50, "{on_one:?}");
    assert_eq!(
        registry_of(&cluster, 3).await,
        on_one,
        "node 3 disagrees with node 1"
    );
    let rejoined = named(&cluster, 3, "com.example.stranded", Dict::new(), "back").await;
    cluster.caught_up(1, 3).await;
    let answer = busy
        .call("com.example.stranded", Arguments::none())
        .await
        .expect("a new session on node 3 serves");
    assert_eq!(first(&answer), Value::from("back"));
    drop(rejoined);
}

#[tokio::test]
async fn a_restarted_node_rejoins_catches_up_and_serves() {
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::start(3);
    cluster.kill(3);
    let callee = named(
        &cluster,
        1,
        "com.example.while_away",
        Dict::new(),
        "from node 1",
    )
    .await;
    let restarted = Instant::now();
    cluster.restart(3);
    println!("node 3 restarted and ready in {:?}", restarted.elapsed());
    let caller = client(&cluster, 3, Codec::Json).await;
    let mut answer = None;
    for _ in 0..50 {
        if let Ok(result) = caller
            .call("com.example.while_away", Arguments::none())
            .await
        {
            answer = Some(first(&result));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answer, Some(Value::from("from node 1")));
    let _local = named(
        &cluster,
        3,
        "com.example.on_three",
        Dict::new(),
        "from node 3",
    )
    .await;
    let far = client(&cluster, 2, Codec::Msgpack).await;
    assert_eq!(
        first(
            &far.call("com.example.on_three", Arguments::none())
                .await
                .unwrap()
        ),
        Value::from("from node 3")
    );
    drop(callee);
}

#[tokio::test]
async fn a_node_without_a_majority_refuses_register_with_a_clear_error() {
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::start(3);
    let lonely = client(&cluster, 3, Codec::Json).await;
    cluster.kill(1);
    cluster.kill(2);
    let started = Instant::now();
    let err = lonely
        .register("com.example.alone", Dict::new(), |_| async {
            Ok(Arguments::none())
        })
        .await
        .unwrap_err();
    println!(
        "REGISTER without a majority refused after {:?}: {err}",
        started.elapsed()
    );
    assert_eq!(err.wamp_uri(), Some("wamp.error.network_failure"));
    // Its joining or the REGISTER itself failed at least five times before the
    // refusal (the grace), and each failure is counted by cause.
    let metrics = cluster.node(3).http_get("/metrics");
    let failures: u64 = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("switchboard_proposal_failures_total{cause="))
        .filter_map(|l| l.rsplit(' ').next()?.trim().parse::<u64>().ok())
        .sum();
    assert!(failures >= 5, "the failed attempts are counted:\n{metrics}");
}

/// A session that leaves while its node has no majority cannot have its
/// departure committed then; once a majority is back it must be, or its
/// registrations would stay in the registry, routed to a session that is gone.
#[tokio::test]
async fn a_session_that_leaves_without_a_majority_is_removed_once_the_majority_is_back() {
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::start(3);
    let leaver = client(&cluster, 3, Codec::Json).await;
    leaver
        .register("com.example.leaver", Dict::new(), |_| async {
            Ok(Arguments::none())
        })
        .await
        .unwrap();
    cluster.kill(1);
    cluster.kill(2);
    leaver.leave().await.unwrap();
    // Past the proposal timeout: the departure has failed to commit once.
    tokio::time::sleep(Duration::from_secs(6)).await;
    cluster.restart(1);
    cluster.restart(2);
    let observer = client(&cluster, 1, Codec::Json).await;
    let mut gone = false;
    for _ in 0..100 {
        let lookup = Arguments::list(vec![Value::from("com.example.leaver")]);
        let found = observer
            .call("wamp.registration.lookup", lookup)
            .await
            .unwrap();
        if first(&found) == Value::Null {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        gone,
        "the departed session's registration is still routed to"
    );
}

#[tokio::test]
async fn a_new_node_joins_through_any_member_and_a_node_can_be_removed() {
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::start(3);
    let (id, addr, mut joiner) = cluster.spawn_joiner();
    let started = Instant::now();
    let (_, added) = cluster.admin(2, "POST", &format!("/cluster/members/{id}"), &addr);
    assert!(added.contains("\"members\":[1,2,3,4]"), "{added}");
    joiner.wait_ready();
    println!(
        "node {id} joined through node 2 and serves after {:?}",
        started.elapsed()
    );
    let _callee = named(
        &cluster,
        1,
        "com.example.for_the_new_node",
        Dict::new(),
        "node 1",
    )
    .await;
    let caller = Client::connect(&joiner.url, REALM, Codec::Json)
        .await
        .unwrap();
    let mut answer = None;
    for _ in 0..50 {
        if let Ok(result) = caller
            .call("com.example.for_the_new_node", Arguments::none())
            .await
        {
            answer = Some(first(&result));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answer, Some(Value::from("node 1")));
    let (_, removed) = cluster.admin(1, "DELETE", "/cluster/members/3", "");
    assert!(removed.contains("\"members\":[1,2,4]"), "{removed}");
}

#[tokio::test]
async fn membership_changes_without_the_admin_token_are_refused_and_leave_the_cluster_whole() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start(3);
    let wrong = format!("Bearer {}x", &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1]);
    let no_header: Vec<(&str, &str)> = Vec::new();
    let attempts = [
        ("DELETE", "/cluster/members/3", no_header.clone()),
        (
            "DELETE",
            "/cluster/members/2",
            vec![("Authorization", wrong.as_str())],
        ),
        (
            "DELETE",
            "/cluster/members/2",
            vec![("Authorization", ADMIN_TOKEN)],
        ),
        ("POST", "/cluster/members/4", no_header),
    ];
    for (method, path, headers) in attempts {
        for node in 1..=3 {
            let (status, body) =
                cluster
                    .node(node)
                    .http_request(method, path, "127.0.0.1:1", &headers);
            assert_eq!(
                status, 401,
                "{method} {path} {headers:?} on node {node}: {body}"
            );
        }
    }
    let (status, body) = cluster.admin(2, "DELETE", "/cluster/members/9", "");
    assert_eq!(status, 404, "removing a node that is not a member: {body}");
    for node in 1..=3 {
        assert_eq!(
            cluster.status(node)["members"],
            serde_json::json!([1, 2, 3]),
            "node {node}"
        );
    }
}

#[tokio::test]
async fn peer_links_with_mutual_tls_serve_calls_and_refuse_a_node_without_the_cluster_certificate()
{
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::start_tls(3);
    let _callee = named(&cluster, 1, "com.example.over_tls", Dict::new(), "node 1").await;
    cluster.caught_up(3, 1).await;
    let caller = client(&cluster, 3, Codec::Json).await;
    let result = caller
        .call("com.example.over_tls", Arguments::none())
        .await
        .expect("a call across TLS peer links");
    assert_eq!(first(&result), Value::from("node 1"));

    // Node 3 comes back with a certificate of another CA: it may not link.
    cluster.kill(3);
    let rogue_certs = cluster.dir().join("rogue-certs");
    common::cluster::make_certs(&rogue_certs, "3");
    let mut rogue = cluster.spawn_with_certs(3, &rogue_certs);
    tokio::time::sleep(Duration::from_secs(3)).await;
    for node in [1, 2] {
        let up = &cluster.status(node)["peers_up"];
        assert!(
            !up.as_array().unwrap().contains(&serde_json::json!(3)),
            "node {node} linked with a node outside the cluster CA: {up}"
        );
    }
    rogue.kill();

    // The real node 3 links again.
    cluster.restart(3);
    Cluster::eventually("node 3 linked again over TLS", || {
        cluster.status(1)["peers_up"]
            .as_array()
            .is_some_and(|up| up.contains(&serde_json::json!(3)))
    })
    .await;
}

#[tokio::test]
async fn a_dynamic_authenticator_registered_on_one_node_admits_sessions_on_another() {
    let _serial = SERIAL.lock().await;
    let config = std::env::temp_dir().join(format!(
        "switchboard-authenticator-{}.toml",
        std::process::id()
    ));
    std::fs::write(
        &config,
        r#"
[[realm]]
name = "com.example.realm"

[[realm]]
name = "com.example.secure"
authmethods = ["ticket"]
authenticator = "com.example.authenticate"
authenticator_realm = "com.example.realm"

[[realm.role]]
name = "user"
permissions = [{ uri = "com.example.", match = "prefix", allow = ["call"] }]
"#,
    )
    .unwrap();
    let cluster = Cluster::start_with(3, &["--config", config.to_str().unwrap()]);
    let backend = client(&cluster, 1, Codec::Json).await;
    backend
        .register(
            "com.example.authenticate",
            Dict::new(),
            |invocation| async move {
                let args = invocation.arguments.args_values().unwrap_or_default();
                let ticket = args
                    .get(2)
                    .and_then(|d| d.as_dict())
                    .and_then(|d| d.get("ticket"))
                    .and_then(|t| t.as_str())
                    .map(str::to_owned);
                match ticket.as_deref() {
                    Some("letmein") => Ok(Arguments::list(vec![Value::from("user")])),
                    _ => Err(switchboard_client::WampError::new(
                        "com.example.invalid_ticket",
                        Arguments::none(),
                    )),
                }
            },
        )
        .await
        .expect("registered");

    let login = |ticket: &'static str| {
        let url = cluster.node(3).url.clone();
        async move {
            let mut raw = common::Raw::connect(&url, "wamp.2.json").await;
            raw.send_text(
                r#"[1, "com.example.secure", {"roles": {"caller": {}}, "authmethods": ["ticket"], "authid": "dora"}]"#,
            )
            .await;
            let challenge = raw.recv_json().await.expect("CHALLENGE");
            assert_eq!(challenge[0], 4, "{challenge}");
            raw.send_text(&format!(r#"[5, "{ticket}", {{}}]"#)).await;
            raw.recv_json().await.expect("WELCOME or ABORT")
        }
    };
    // The router's own session on node 3 calls the authenticator on node 1.
    let welcome = login("letmein").await;
    assert_eq!(welcome[0], 2, "{welcome}");
    assert_eq!(welcome[2]["authrole"], "user");
    assert_eq!(welcome[2]["authprovider"], "dynamic");
    let refused = login("guess").await;
    assert_eq!(refused[0], 3, "{refused}");
    assert_eq!(refused[2], "com.example.invalid_ticket");
    let _ = std::fs::remove_file(&config);
}

/// A raw JSON session on node `node` whose socket has a 4 KiB receive buffer:
/// it sends HELLO and `request`, reads the replies, and is never read again.
async fn stalling_session(
    cluster: &Cluster,
    node: usize,
    request: &str,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = cluster.node(node).url.clone();
    let addr: std::net::SocketAddr = url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .parse()
        .unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    socket.set_nonblocking(true).unwrap();
    let tcp = tokio::net::TcpStream::from_std(socket.into()).unwrap();
    let mut http = url.as_str().into_client_request().unwrap();
    http.headers_mut()
        .insert("Sec-WebSocket-Protocol", "wamp.2.json".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(http, tcp).await.unwrap();
    let hello = format!(r#"[1, "{REALM}", {{"roles": {{"callee": {{}}, "subscriber": {{}}}}}}]"#);
    for text in [hello.as_str(), request] {
        ws.send(tokio_tungstenite::tungstenite::Message::Text(text.into()))
            .await
            .unwrap();
        ws.next().await.unwrap().unwrap();
    }
    ws
}

#[tokio::test]
async fn a_stalled_callee_or_subscriber_on_one_node_is_bounded_where_it_lives_for_callers_on_another(
) {
    let _serial = SERIAL.lock().await;
    let config =
        std::env::temp_dir().join(format!("switchboard-budget-{}.toml", std::process::id()));
    std::fs::write(
        &config,
        "[[realm]]\nname = \"com.example.realm\"\noutbound_soft_limit = 65536\n\
         outbound_hard_limit = 1048576\nwrite_stall_timeout_ms = 1500\n",
    )
    .unwrap();
    let cluster = Cluster::start_with(3, &["--config", config.to_str().unwrap()]);

    // A callee on node 2 that stops reading; calls from node 1.
    let stuck = stalling_session(&cluster, 2, r#"[64, 1, {}, "com.example.stuck"]"#).await;
    let caller = Arc::new(client(&cluster, 1, Codec::Json).await);
    // Wait until node 1 knows the registration (it commits through Raft).
    let mut known = false;
    for _ in 0..100 {
        let found = caller
            .call(
                "wamp.registration.lookup",
                Arguments::list(vec![Value::from("com.example.stuck")]),
            )
            .await
            .map(|r| first(&r));
        if matches!(found, Ok(ref id) if *id != Value::Null) {
            known = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(known, "node 1 never learned the registration");
    let big = Arguments::list(vec![Value::from("x".repeat(64 * 1024))]);
    let calls: Vec<_> = (0..128)
        .map(|_| {
            let (caller, big) = (caller.clone(), big.clone());
            tokio::spawn(async move {
                let timeout = options(&[("timeout", Value::from(5000u64))]);
                caller.call_with("com.example.stuck", timeout, big).await
            })
        })
        .collect();
    let mut unavailable = 0;
    for call in calls {
        let outcome = tokio::time::timeout(Duration::from_secs(15), call)
            .await
            .expect("every call is answered")
            .unwrap();
        if matches!(&outcome, Err(e) if e.wamp_uri() == Some("wamp.error.no_available_callee")) {
            unavailable += 1;
        }
    }
    assert!(
        unavailable > 0,
        "no call from node 1 was refused for the stalled callee on node 2"
    );
    drop(stuck);

    // A subscriber on node 2 that stops reading; a flood published on node 1.
    let _deaf = stalling_session(&cluster, 2, r#"[32, 1, {}, "com.example.flood"]"#).await;
    let publisher = client(&cluster, 1, Codec::Json).await;
    let event = Arguments::list(vec![Value::from("x".repeat(16 * 1024))]);
    let acknowledge = options(&[("acknowledge", Value::Bool(true))]);
    for _ in 0..1000 {
        publisher
            .publish("com.example.flood", acknowledge.clone(), event.clone())
            .await
            .unwrap();
    }
    let node2 = cluster.node(2);
    Cluster::eventually("events dropped and the subscriber closed on node 2", || {
        let metrics = node2.http_get("/metrics");
        let value = |name: &str| {
            metrics
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        value("switchboard_events_dropped_total") > 0.0
            && value("switchboard_slow_sessions_closed_total{reason=\"stalled\"}") >= 2.0
    })
    .await;
    let _ = std::fs::remove_file(&config);
}

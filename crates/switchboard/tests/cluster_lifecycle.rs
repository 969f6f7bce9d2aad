//! How a cluster lives through its nodes' ends and beginnings, one process per
//! node: a crash seen from a closed connection, a graceful leave on SIGTERM,
//! and a node whose data was wiped.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::{first, options};
use switchboard_client::{Arguments, Client, Codec, Dict, Value};

/// Clusters are started one at a time: three processes each, on two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn client(cluster: &Cluster, node: usize) -> Client {
    cluster.client(node, Codec::Msgpack).await
}

/// A callee on `node` that answers with `name` after `delay`.
async fn callee(
    cluster: &Cluster,
    node: usize,
    procedure: &str,
    register_options: Dict,
    name: &'static str,
    delay: Duration,
) -> Client {
    let callee = client(cluster, node).await;
    callee
        .register(procedure, register_options, move |_| async move {
            tokio::time::sleep(delay).await;
            Ok(Arguments::list(vec![Value::from(name)]))
        })
        .await
        .expect("registered");
    callee
}

#[tokio::test]
async fn a_crashed_node_is_down_as_soon_as_its_connection_closes_not_after_the_failure_timeout() {
    let _serial = SERIAL.lock().await;
    // A failure timeout far longer than the crash path may take: an answer
    // well inside it can only come from the closed connection.
    const FAILURE_TIMEOUT: Duration = Duration::from_secs(6);
    let mut cluster = Cluster::start_with_failure_timeout(3, FAILURE_TIMEOUT.as_millis() as u64);
    let first_policy = options(&[("invoke", "first".into())]);
    let doomed = callee(
        &cluster,
        3,
        "com.example.work",
        first_policy.clone(),
        "doomed",
        Duration::from_secs(60),
    )
    .await;
    let _survivor = callee(
        &cluster,
        2,
        "com.example.work",
        first_policy,
        "survivor",
        Duration::ZERO,
    )
    .await;
    let caller = client(&cluster, 1).await;
    let call = caller
        .start_call("com.example.work", Dict::new(), Arguments::none())
        .expect("call sent");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed = Instant::now();
    cluster.kill(3);
    let outcome = tokio::time::timeout(Duration::from_secs(20), call.finish())
        .await
        .expect("no hang");
    let to_error = killed.elapsed();
    let error = outcome.expect_err("the callee's node died");
    println!(
        "SIGKILL of the callee's node: the caller got {:?} after {to_error:?} (failure timeout {FAILURE_TIMEOUT:?})",
        error.wamp_uri()
    );
    assert_eq!(error.wamp_uri(), Some("wamp.error.canceled"));
    assert!(
        to_error < FAILURE_TIMEOUT / 2,
        "the crash was not seen from the closed connection: {to_error:?}"
    );
    // The leader commits the removal: the next call goes to the survivor.
    let removed = Instant::now();
    let mut answer = None;
    while answer.is_none() && removed.elapsed() < FAILURE_TIMEOUT / 2 {
        match caller.call("com.example.work", Arguments::none()).await {
            Ok(result) => answer = Some(first(&result)),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    println!(
        "the survivor answered {:?} after the kill",
        killed.elapsed()
    );
    assert_eq!(answer, Some(Value::from("survivor")));
    drop(doomed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_leader_so_calls_between_the_other_nodes_never_fail() {
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::start(3);
    let leaving = cluster.leader().expect("a leader");
    let others: Vec<usize> = (1..=3).filter(|&n| n != leaving).collect();
    let (staying, caller_node) = (others[0], others[1]);
    let roundrobin = options(&[("invoke", "roundrobin".into())]);
    let slow = Duration::from_millis(300);
    let on_leaving = callee(
        &cluster,
        leaving,
        "com.example.shared",
        roundrobin.clone(),
        "leaving",
        slow,
    )
    .await;
    let _on_staying = callee(
        &cluster,
        staying,
        "com.example.shared",
        roundrobin,
        "staying",
        slow,
    )
    .await;
    let caller = Arc::new(client(&cluster, caller_node).await);

    // Four calls in flight at all times, from before the SIGTERM to after the
    // node has gone.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (answered_by_leaving, failures) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut loops = Vec::new();
    for _ in 0..4 {
        let (caller, stop) = (caller.clone(), stop.clone());
        let (by_leaving, failures) = (answered_by_leaving.clone(), failures.clone());
        loops.push(tokio::spawn(async move {
            let mut calls = 0;
            while !stop.load(Ordering::Relaxed) {
                calls += 1;
                match caller.call("com.example.shared", Arguments::none()).await {
                    Ok(result) if first(&result) == Value::from("leaving") => {
                        by_leaving.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(error) => {
                        println!("a call failed: {error}");
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            calls
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before = answered_by_leaving.load(Ordering::Relaxed);
    assert!(before > 0, "the leaving node's callee served calls before");
    let started = Instant::now();
    let status =
        tokio::task::block_in_place(|| cluster.terminate(leaving, Duration::from_secs(20)));
    println!(
        "node {leaving} (the leader) drained and exited in {:?}",
        started.elapsed()
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "the node exits 0 after draining: {status:?}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut calls = 0;
    for l in loops {
        calls += l.await.expect("caller loop");
    }
    println!(
        "{calls} calls, {} answered by the leaving node's callee, {} failed",
        answered_by_leaving.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed)
    );
    assert_eq!(failures.load(Ordering::Relaxed), 0, "no call failed");

    // A new leader took over: registry changes commit again.
    let mut new_leader = None;
    Cluster::eventually("a new leader", || {
        new_leader = cluster.leader().filter(|&l| l != leaving);
        new_leader.is_some()
    })
    .await;
    println!("node {} leads now", new_leader.unwrap_or_default());
    let late = client(&cluster, staying).await;
    tokio::time::timeout(
        Duration::from_secs(10),
        late.register("com.example.after_leave", Dict::new(), |_| async {
            Ok(Arguments::none())
        }),
    )
    .await
    .expect("no hang")
    .expect("a registration commits after the leader left");
    drop(on_leaving);
}

#[tokio::test]
async fn a_wiped_first_node_rejoins_as_an_empty_member_and_no_second_cluster_appears() {
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::start(3);
    let _kept = callee(
        &cluster,
        2,
        "com.example.before_wipe",
        Dict::new(),
        "from node 2",
        Duration::ZERO,
    )
    .await;
    let before = cluster.status(2);
    cluster.kill(1);
    std::fs::remove_dir_all(cluster.data_dir(1)).expect("wipe node 1's data");
    cluster.restart(1);

    let (one, two) = (cluster.status(1), cluster.status(2));
    println!("after the wipe: node 1 {one}\nnode 2 {two}");
    assert_eq!(one["leader"], two["leader"], "one cluster, one leader");
    assert_eq!(one["term"], two["term"]);
    assert_eq!(one["members"], serde_json::json!([1, 2, 3]));
    assert!(
        one["last_applied"].as_u64() >= before["last_applied"].as_u64(),
        "node 1 caught up with the log it lost"
    );
    let caller = client(&cluster, 1).await;
    let result = caller
        .call("com.example.before_wipe", Arguments::none())
        .await
        .expect("a registration made before the wipe is served through node 1");
    assert_eq!(first(&result), Value::from("from node 2"));
    // Node 1's own new registrations reach the others.
    let _fresh = callee(
        &cluster,
        1,
        "com.example.after_wipe",
        Dict::new(),
        "from node 1",
        Duration::ZERO,
    )
    .await;
    let far = client(&cluster, 3).await;
    let result = far
        .call("com.example.after_wipe", Arguments::none())
        .await
        .expect("served across the cluster");
    assert_eq!(first(&result), Value::from("from node 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_fails_no_call_whose_caller_and_callee_stay_up() {
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::start(3);
    let roundrobin = options(&[("invoke", "roundrobin".into())]);
    let mut callees = Vec::new();
    for node in 1..=3 {
        callees.push(Some(
            callee(
                &cluster,
                node,
                "com.example.rolling",
                roundrobin.clone(),
                "served",
                Duration::from_millis(20),
            )
            .await,
        ));
    }
    for restarting in 1..=3 {
        // Callers on the two nodes that stay, calling all along.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let mut loops = Vec::new();
        for node in (1..=3).filter(|&n| n != restarting) {
            let caller = client(&cluster, node).await;
            let (stop, failures) = (stop.clone(), failures.clone());
            loops.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Err(error) = caller.call("com.example.rolling", Arguments::none()).await
                    {
                        failures.lock().expect("failures").push(format!("{error}"));
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let status =
            tokio::task::block_in_place(|| cluster.terminate(restarting, Duration::from_secs(20)));
        assert!(status.is_some_and(|s| s.success()), "{status:?}");
        callees[restarting - 1] = None;
        tokio::task::block_in_place(|| cluster.restart(restarting));
        callees[restarting - 1] = Some(
            callee(
                &cluster,
                restarting,
                "com.example.rolling",
                roundrobin.clone(),
                "served",
                Duration::from_millis(20),
            )
            .await,
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::Relaxed);
        for l in loops {
            l.await.expect("caller loop");
        }
        let failures = failures.lock().expect("failures").clone();
        println!(
            "restart of node {restarting}: {} failed calls",
            failures.len()
        );
        assert!(
            failures.is_empty(),
            "node {restarting}'s restart: {failures:?}"
        );
    }
}

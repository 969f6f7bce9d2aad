//! Three nodes in one process, on loopback: the cluster forms by itself, every
//! node applies the same commands in the same order wherever they were proposed,
//! realm messages cross links, and a node that goes silent is declared down and
//! removed from the registry.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_cluster::{
    default_raft_config, ClusterConfig, ClusterEvents, ClusterNode, CommitSink, LinkTiming,
};
use switchboard_core::cluster::{NodeId, PeerMessage, RegistryCommand, RegistrySnapshot};

#[derive(Default)]
struct Recorder {
    committed: Mutex<Vec<(u64, RegistryCommand)>>,
    messages: Mutex<Vec<(NodeId, PeerMessage)>>,
    down: Mutex<Vec<NodeId>>,
}

impl CommitSink for Recorder {
    fn committed(&self, index: u64, _realm: &str, command: &RegistryCommand) {
        self.committed
            .lock()
            .unwrap()
            .push((index, command.clone()));
    }
    fn restored(&self, _realms: &BTreeMap<String, RegistrySnapshot>) {}
}

impl ClusterEvents for Recorder {
    fn peer_message(&self, from: NodeId, _realm: &str, message: PeerMessage) {
        self.messages.lock().unwrap().push((from, message));
    }
    fn node_down(&self, node: NodeId) {
        self.down.lock().unwrap().push(node);
    }
    fn node_up(&self, _node: NodeId) {}
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn joined(session: u64, node: NodeId) -> RegistryCommand {
    RegistryCommand::SessionJoined {
        session,
        node,
        authid: "a".into(),
        authrole: "r".into(),
        authmethod: "anonymous".into(),
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_agree_on_one_log_and_drop_a_silent_node() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let members: BTreeMap<NodeId, String> = (1..=3)
        .map(|id| (id, format!("127.0.0.1:{}", free_port())))
        .collect();
    let timing = LinkTiming {
        heartbeat: Duration::from_millis(50),
        failure_timeout: Duration::from_millis(400),
    };
    let mut nodes = Vec::new();
    let mut recorders = Vec::new();
    for id in 1..=3u64 {
        let recorder = Arc::new(Recorder::default());
        let config = ClusterConfig {
            node_id: id,
            members: members.clone(),
            peer_listen: members[&id].clone(),
            data_dir: dirs[(id - 1) as usize].path().to_owned(),
            timing,
            raft: default_raft_config(),
            security: Default::default(),
            link_runtime: None,
        };
        nodes.push(ClusterNode::start(config, recorder.clone()).await.unwrap());
        recorders.push(recorder);
    }
    for node in &nodes {
        assert!(
            node.wait_ready(Duration::from_secs(10)).await,
            "node {} never became ready",
            node.id()
        );
    }

    for (i, node) in nodes.iter().enumerate() {
        node.propose("r", joined(100 + i as u64, node.id()))
            .await
            .expect("committed");
    }
    eventually("every node to apply three commands", || {
        recorders
            .iter()
            .all(|r| r.committed.lock().unwrap().len() >= 3)
    })
    .await;
    let first = recorders[0].committed.lock().unwrap().clone();
    for recorder in &recorders[1..] {
        assert_eq!(
            *recorder.committed.lock().unwrap(),
            first,
            "same commands, same order, same indexes"
        );
    }

    nodes[0].send(
        3,
        "r",
        PeerMessage::Kill {
            session: 1,
            reason: "x".into(),
            message: "y".into(),
        },
    );
    eventually("the realm message to cross", || {
        !recorders[2].messages.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(recorders[2].messages.lock().unwrap()[0].0, 1);

    // Node 3 goes silent.
    nodes[2].shutdown().await;
    let survivor_status = nodes[0].status();
    assert!(survivor_status.members.contains(&3));
    drop(nodes.pop());
    eventually("the others to declare node 3 down", || {
        recorders[..2]
            .iter()
            .all(|r| r.down.lock().unwrap().contains(&3))
    })
    .await;
    eventually("the leader to commit node 3's removal", || {
        recorders[0]
            .committed
            .lock()
            .unwrap()
            .iter()
            .any(|(_, c)| *c == RegistryCommand::NodeDown { node: 3 })
    })
    .await;
    // The two survivors are a majority: they still commit.
    nodes[1]
        .propose("r", joined(200, 2))
        .await
        .expect("committed without node 3");
}

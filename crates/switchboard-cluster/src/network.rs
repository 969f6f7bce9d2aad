//! openraft's network, over the peer links: each RPC is a request frame and the
//! reply frame that names it.

// The error types are openraft's, fixed by the trait this module implements.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;

use crate::peer::{Frame, Peers, RaftReply, RaftRpc};
use crate::types::{NodeId, TypeConfig};

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

/// Makes a [`Connection`] per target; all share the node's links.
pub struct Network {
    pub(crate) peers: Arc<Peers>,
}

/// Raft's client for one target node.
pub struct Connection {
    target: NodeId,
    peers: Arc<Peers>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct LinkError(&'static str);

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Connection {
        Connection {
            target,
            peers: self.peers.clone(),
        }
    }
}

impl Connection {
    /// Sends `rpc` and waits for its reply, or says why there is none.
    async fn call<E: std::error::Error>(
        &self,
        rpc: RaftRpc,
        option: RPCOption,
    ) -> Result<RaftReply, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>> {
        if !self.peers.is_connected(self.target) {
            return Err(RPCError::Unreachable(Unreachable::new(&LinkError(
                "no link to the peer",
            ))));
        }
        let reply = self
            .peers
            .request(self.target, option.hard_ttl(), |id| Frame::RaftRequest {
                id,
                rpc,
            })
            .await;
        match reply {
            Some(Frame::RaftResponse { reply, .. }) => Ok(reply),
            _ => Err(RPCError::Network(NetworkError::new(&LinkError(
                "no reply from the peer",
            )))),
        }
    }

    fn remote<T, E: std::error::Error>(
        &self,
        result: Result<T, RaftError<NodeId, E>>,
    ) -> Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>> {
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

fn mismatched<E: std::error::Error>() -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
    RPCError::Network(NetworkError::new(&LinkError("reply of the wrong kind")))
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        match self.call(RaftRpc::Append(rpc), option).await? {
            RaftReply::Append(result) => self.remote(result),
            _ => Err(mismatched()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        match self.call(RaftRpc::Snapshot(rpc), option).await? {
            RaftReply::Snapshot(result) => self.remote(result),
            _ => Err(mismatched()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        match self.call(RaftRpc::Vote(rpc), option).await? {
            RaftReply::Vote(result) => self.remote(result),
            _ => Err(mismatched()),
        }
    }
}

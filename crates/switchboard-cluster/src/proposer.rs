//! Group commit: a node's proposals share log entries.
//!
//! openraft 0.9 writes (and fsyncs, and replicates, and applies) each
//! `client_write` as an entry of its own, one after another. A realm that
//! proposed each REGISTER as its own entry was therefore bound by the round
//! trip of one entry, whatever the load: about 250 REGISTERs a second through
//! a follower, against ten thousand on a single node.
//!
//! Here one task per node owns the node's proposals. While an entry is in
//! flight, new proposals queue; when it has committed (or failed), everything
//! queued goes into the next entry, in arrival order, up to [`MAX_BATCH`]. So
//! one proposal alone pays one round trip, and a thousand pipelined ones share
//! a few. Order is kept: a realm's commands reach the log in the order the realm
//! made them, because at most one entry of this node is in flight.
//!
//! Every command of an entry gets its own [`position`] (from the entry's index
//! and its place in the entry), which is what the realms use as the id of
//! whatever the command creates.

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::node::ProposeError;
use crate::replica::ClusterCommand;

/// The most commands in one log entry. Positions leave room for exactly this
/// many per entry (see [`position`]).
pub const MAX_BATCH: usize = 1 << POSITION_BITS;

const POSITION_BITS: u32 = 10;

/// A command's place in the log: unique, the same on every node, and
/// increasing with the log, so it can serve as an id. Entry `index`'s commands
/// take `index * MAX_BATCH + place`, which stays below WAMP's 2^53 for the first
/// 2^43 entries.
pub fn position(index: u64, place: usize) -> u64 {
    (index << POSITION_BITS) | (place as u64 & (MAX_BATCH as u64 - 1))
}

/// What a log entry carries: the commands of one batch, for any realms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Applied in this order.
    pub commands: Vec<ClusterCommand>,
}

/// One proposal waiting for its entry.
struct Waiting {
    command: ClusterCommand,
    done: oneshot::Sender<Result<u64, ProposeError>>,
}

/// The handle realms propose through.
#[derive(Clone)]
pub(crate) struct Proposer {
    queue: mpsc::UnboundedSender<Waiting>,
}

impl Proposer {
    /// Starts the task that batches proposals and commits each batch with
    /// `commit`, one batch at a time.
    pub(crate) fn start<F, Fut>(commit: F) -> Self
    where
        F: Fn(LogEntry) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<u64, ProposeError>> + Send,
    {
        let (queue, mut waiting) = mpsc::unbounded_channel::<Waiting>();
        tokio::spawn(async move {
            while let Some(first) = waiting.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match waiting.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let (commands, done): (Vec<_>, Vec<_>) =
                    batch.into_iter().map(|w| (w.command, w.done)).unzip();
                let result = commit(LogEntry { commands }).await;
                for done in done {
                    let _ = done.send(result.clone());
                }
            }
        });
        Self { queue }
    }

    /// Queues `command` for the next entry and waits for that entry's index.
    pub(crate) async fn propose(&self, command: ClusterCommand) -> Result<u64, ProposeError> {
        let (done, result) = oneshot::channel();
        self.queue
            .send(Waiting { command, done })
            .map_err(|_| ProposeError::NotCommitted("the node is shutting down".into()))?;
        result.await.unwrap_or_else(|_| {
            Err(ProposeError::NotCommitted(
                "the node is shutting down".into(),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use switchboard_core::cluster::RegistryCommand;

    use super::*;

    fn left(session: u64) -> ClusterCommand {
        ClusterCommand {
            realm: "r".into(),
            command: RegistryCommand::SessionLeft { session },
        }
    }

    #[test]
    fn positions_are_unique_and_increase_with_the_log() {
        assert!(position(1, 0) < position(1, 1));
        assert!(position(1, MAX_BATCH - 1) < position(2, 0));
        assert_eq!(position(2, 3), 2 * MAX_BATCH as u64 + 3);
        assert!(position(1 << 43, 0) <= 1 << 53);
    }

    #[tokio::test]
    async fn proposals_made_while_an_entry_is_in_flight_share_the_next_one_in_order() {
        let entries: Arc<Mutex<Vec<Vec<u64>>>> = Arc::default();
        let seen = entries.clone();
        let proposer = Proposer::start(move |entry: LogEntry| {
            let seen = seen.clone();
            async move {
                let sessions = entry
                    .commands
                    .iter()
                    .map(|c| match c.command {
                        RegistryCommand::SessionLeft { session } => session,
                        _ => 0,
                    })
                    .collect::<Vec<_>>();
                let index = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(sessions);
                    seen.len() as u64
                };
                // The round trip during which the others queue up.
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(index)
            }
        });
        let first = tokio::spawn({
            let proposer = proposer.clone();
            async move { proposer.propose(left(1)).await }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        let rest: Vec<_> = (2..=5)
            .map(|s| {
                let proposer = proposer.clone();
                tokio::spawn(async move { proposer.propose(left(s)).await })
            })
            .collect();
        assert_eq!(first.await.unwrap().unwrap(), 1);
        for r in rest {
            assert_eq!(r.await.unwrap().unwrap(), 2, "all four share entry 2");
        }
        assert_eq!(*entries.lock().unwrap(), vec![vec![1], vec![2, 3, 4, 5]]);
    }

    #[tokio::test]
    async fn every_proposal_of_a_failed_entry_hears_why() {
        let proposer = Proposer::start(|_entry: LogEntry| async {
            Err(ProposeError::NotCommitted("leader replaced".into()))
        });
        let a = proposer.propose(left(1));
        let b = proposer.propose(left(2));
        let (a, b) = tokio::join!(a, b);
        assert!(matches!(a, Err(ProposeError::NotCommitted(_))));
        assert!(matches!(b, Err(ProposeError::NotCommitted(_))));
    }
}

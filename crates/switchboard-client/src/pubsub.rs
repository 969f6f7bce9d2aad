//! Publishing and subscribing.

use std::sync::Arc;

use switchboard_proto::{Arguments, Dict, Message, Publish, Subscribe, Unsubscribe};

use crate::connection::Client;
use crate::error::ClientError;

/// One EVENT as a subscriber sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The subscription it matched.
    pub subscription: u64,
    /// The publication's id.
    pub publication: u64,
    /// EVENT.Details (`topic`, `publisher`, ...).
    pub details: Dict,
    /// The publisher's payload.
    pub arguments: Arguments,
}

/// Called (on the reader task) for each event of a subscription.
pub(crate) type EventHandler = Arc<dyn Fn(Event) + Send + Sync>;

impl Client {
    /// Subscribes to `topic` with SUBSCRIBE.Options `options` (`match`); `handler`
    /// gets each event. Returns the subscription id.
    pub async fn subscribe(
        &self,
        topic: &str,
        options: Dict,
        handler: impl Fn(Event) + Send + Sync + 'static,
    ) -> Result<u64, ClientError> {
        let request = self.shared.request_id();
        let message = Message::Subscribe(Subscribe {
            request,
            options,
            topic: topic.to_owned(),
        });
        match self.request(request, message).await? {
            Message::Subscribed(s) => {
                if let Ok(mut subscribers) = self.shared.subscribers.lock() {
                    subscribers.insert(s.subscription, Arc::new(handler));
                }
                Ok(s.subscription)
            }
            _ => Err(ClientError::Unexpected("expected SUBSCRIBED")),
        }
    }

    /// Ends a subscription.
    pub async fn unsubscribe(&self, subscription: u64) -> Result<(), ClientError> {
        let request = self.shared.request_id();
        let message = Message::Unsubscribe(Unsubscribe {
            request,
            subscription,
        });
        match self.request(request, message).await? {
            Message::Unsubscribed(_) => {
                if let Ok(mut subscribers) = self.shared.subscribers.lock() {
                    subscribers.remove(&subscription);
                }
                Ok(())
            }
            _ => Err(ClientError::Unexpected("expected UNSUBSCRIBED")),
        }
    }

    /// Publishes to `topic`. With `acknowledge: true` in `options` it waits for
    /// PUBLISHED and returns the publication id; otherwise it returns `None` at once.
    pub async fn publish(
        &self,
        topic: &str,
        options: Dict,
        arguments: Arguments,
    ) -> Result<Option<u64>, ClientError> {
        let acknowledge = options
            .get("acknowledge")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let request = self.shared.request_id();
        let message = Message::Publish(Publish {
            request,
            options,
            topic: topic.to_owned(),
            arguments,
        });
        if !acknowledge {
            self.shared.send(message)?;
            return Ok(None);
        }
        match self.request(request, message).await? {
            Message::Published(p) => Ok(Some(p.publication)),
            _ => Err(ClientError::Unexpected("expected PUBLISHED")),
        }
    }
}

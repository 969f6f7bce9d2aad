//! A publication as the broker keeps it after delivering it: a topic's
//! retained event, or an entry of its history. Kept in the replicated state,
//! so every node holds the same ones.

use switchboard_proto::Arguments;

use super::Audience;
use crate::realm::SessionId;

/// One publication, kept.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredEvent {
    /// The topic it was published to.
    pub topic: String,
    /// Its publication id.
    pub publication: u64,
    /// The publisher, if it was disclosed: (session, authid, authrole).
    pub publisher: Option<(SessionId, String, String)>,
    /// Who may receive it: whoever reads it later gets it only if they would
    /// have received the event when it was published.
    pub audience: Audience,
    /// The payload.
    pub arguments: Arguments,
    /// When it was published (ISO-8601, the publisher's node's clock).
    #[serde(default)]
    pub timestamp: String,
}

//! Publish and subscribe messages. `rfc/text/basic/publish_and_subscribe.md`.

use super::wire_format;
use crate::payload::Arguments;
use crate::value::Dict;

/// `[PUBLISH, Request|id, Options|dict, Topic|uri, Arguments|list?, ArgumentsKw|dict?]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Publish {
    /// The publisher's request id.
    pub request: u64,
    /// `acknowledge`, `exclude_me`, `disclose_me`, ...
    pub options: Dict,
    /// The topic.
    pub topic: String,
    /// The event's payload.
    pub arguments: Arguments,
}
wire_format!(Publish, super::code::PUBLISH, "PUBLISH",
    fields { request: "request id", options: "options dict", topic: "topic URI" },
    arguments arguments, transparent_with options);

/// `[PUBLISHED, PUBLISH.Request|id, Publication|id]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Published {
    /// The PUBLISH's request id.
    pub request: u64,
    /// The publication's id.
    pub publication: u64,
}
wire_format!(
    Published,
    super::code::PUBLISHED,
    "PUBLISHED",
    fields {
        request: "request id",
        publication: "publication id"
    }
);

/// `[SUBSCRIBE, Request|id, Options|dict, Topic|uri]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Subscribe {
    /// The subscriber's request id.
    pub request: u64,
    /// `match`, ...
    pub options: Dict,
    /// The topic (or pattern).
    pub topic: String,
}
wire_format!(
    Subscribe,
    super::code::SUBSCRIBE,
    "SUBSCRIBE",
    fields {
        request: "request id",
        options: "options dict",
        topic: "topic URI"
    }
);

/// `[SUBSCRIBED, SUBSCRIBE.Request|id, Subscription|id]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Subscribed {
    /// The SUBSCRIBE's request id.
    pub request: u64,
    /// The subscription's id.
    pub subscription: u64,
}
wire_format!(
    Subscribed,
    super::code::SUBSCRIBED,
    "SUBSCRIBED",
    fields {
        request: "request id",
        subscription: "subscription id"
    }
);

/// `[UNSUBSCRIBE, Request|id, SUBSCRIBED.Subscription|id]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Unsubscribe {
    /// The subscriber's request id.
    pub request: u64,
    /// The subscription to leave.
    pub subscription: u64,
}
wire_format!(
    Unsubscribe,
    super::code::UNSUBSCRIBE,
    "UNSUBSCRIBE",
    fields {
        request: "request id",
        subscription: "subscription id"
    }
);

/// `[UNSUBSCRIBED, UNSUBSCRIBE.Request|id]`, or with `Details|dict` when the
/// router revokes a subscription (request `0`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Unsubscribed {
    /// The UNSUBSCRIBE's request id, or 0 for a revocation.
    pub request: u64,
    /// `{"subscription": id, "reason": uri}` on revocation.
    pub details: Option<Dict>,
}

super::acknowledgement_with_details!(Unsubscribed, super::code::UNSUBSCRIBED, "UNSUBSCRIBED");

/// `[EVENT, SUBSCRIBED.Subscription|id, PUBLISHED.Publication|id, Details|dict,
/// PUBLISH.Arguments|list?, PUBLISH.ArgumentsKw|dict?]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Event {
    /// The subscription that matched.
    pub subscription: u64,
    /// The publication's id.
    pub publication: u64,
    /// `publisher`, `topic`, ...
    pub details: Dict,
    /// The publisher's payload.
    pub arguments: Arguments,
}
wire_format!(Event, super::code::EVENT, "EVENT",
    fields { subscription: "subscription id", publication: "publication id", details: "details dict" },
    arguments arguments, transparent_with details);

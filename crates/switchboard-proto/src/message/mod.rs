//! Every WAMP v2 message of the Basic and Advanced Profile.
//!
//! One file per family (session, rpc, pubsub, error), each message a plain struct
//! with public fields: decoding checks the element count and each element's type
//! once, so code that holds a `Message` never re-validates its shape. URIs are
//! decoded as strings; whether a URI is acceptable is the router's decision
//! ([`crate::uri`]), since strict and loose rules are a per-realm setting.

mod error;
mod pubsub;
mod rpc;
mod session;

pub use error::Error;
pub use pubsub::{Event, Publish, Published, Subscribe, Subscribed, Unsubscribe, Unsubscribed};
pub use rpc::{
    Call, CallResult, Cancel, Interrupt, Invocation, Register, Registered, Unregister,
    Unregistered, Yield,
};
pub use session::{Abort, Authenticate, Challenge, Goodbye, Hello, Welcome};

use crate::codec::{DecodeError, EncodeError, Fields, FrameWriter, PayloadShape};
use crate::payload::{Arguments, TRANSPARENT_PAYLOAD_MARKER};
use crate::value::Dict;

/// A WAMP message, dispatched on its type code.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Message {
    Hello(Hello),
    Welcome(Welcome),
    Abort(Abort),
    Challenge(Challenge),
    Authenticate(Authenticate),
    Goodbye(Goodbye),
    Error(Error),
    Publish(Publish),
    Published(Published),
    Subscribe(Subscribe),
    Subscribed(Subscribed),
    Unsubscribe(Unsubscribe),
    Unsubscribed(Unsubscribed),
    Event(Event),
    Call(Call),
    Cancel(Cancel),
    Result(CallResult),
    Register(Register),
    Registered(Registered),
    Unregister(Unregister),
    Unregistered(Unregistered),
    Invocation(Invocation),
    Interrupt(Interrupt),
    Yield(Yield),
}

/// The spec's type codes (`rfc/text/basic/message_codes.md`).
#[allow(missing_docs)]
pub mod code {
    pub const HELLO: u64 = 1;
    pub const WELCOME: u64 = 2;
    pub const ABORT: u64 = 3;
    pub const CHALLENGE: u64 = 4;
    pub const AUTHENTICATE: u64 = 5;
    pub const GOODBYE: u64 = 6;
    pub const ERROR: u64 = 8;
    pub const PUBLISH: u64 = 16;
    pub const PUBLISHED: u64 = 17;
    pub const SUBSCRIBE: u64 = 32;
    pub const SUBSCRIBED: u64 = 33;
    pub const UNSUBSCRIBE: u64 = 34;
    pub const UNSUBSCRIBED: u64 = 35;
    pub const EVENT: u64 = 36;
    pub const CALL: u64 = 48;
    pub const CANCEL: u64 = 49;
    pub const RESULT: u64 = 50;
    pub const REGISTER: u64 = 64;
    pub const REGISTERED: u64 = 65;
    pub const UNREGISTER: u64 = 66;
    pub const UNREGISTERED: u64 = 67;
    pub const INVOCATION: u64 = 68;
    pub const INTERRUPT: u64 = 69;
    pub const YIELD: u64 = 70;
}

/// Dispatches `$body` over every variant, binding the inner struct to `$m`.
macro_rules! each_message {
    ($self:expr, $m:ident => $body:expr) => {
        match $self {
            Message::Hello($m) => $body,
            Message::Welcome($m) => $body,
            Message::Abort($m) => $body,
            Message::Challenge($m) => $body,
            Message::Authenticate($m) => $body,
            Message::Goodbye($m) => $body,
            Message::Error($m) => $body,
            Message::Publish($m) => $body,
            Message::Published($m) => $body,
            Message::Subscribe($m) => $body,
            Message::Subscribed($m) => $body,
            Message::Unsubscribe($m) => $body,
            Message::Unsubscribed($m) => $body,
            Message::Event($m) => $body,
            Message::Call($m) => $body,
            Message::Cancel($m) => $body,
            Message::Result($m) => $body,
            Message::Register($m) => $body,
            Message::Registered($m) => $body,
            Message::Unregister($m) => $body,
            Message::Unregistered($m) => $body,
            Message::Invocation($m) => $body,
            Message::Interrupt($m) => $body,
            Message::Yield($m) => $body,
        }
    };
}

impl Message {
    /// The message's type code.
    pub fn code(&self) -> u64 {
        each_message!(self, m => m.code())
    }

    /// The message's name as the spec writes it (`"CALL"`), for logs and errors.
    pub fn name(&self) -> &'static str {
        each_message!(self, m => m.name())
    }

    pub(crate) fn element_count(&self) -> usize {
        each_message!(self, m => m.element_count())
    }

    pub(crate) fn encode(&self, w: &mut FrameWriter) -> std::result::Result<(), EncodeError> {
        w.field(&self.code())?;
        each_message!(self, m => m.encode_fields(w))
    }

    pub(crate) fn decode(f: &mut Fields) -> std::result::Result<Message, DecodeError> {
        let code: u64 = match f.len() {
            0 => return Err(DecodeError::MissingTypeCode),
            _ => f
                .get(0, "type code")
                .map_err(|_| DecodeError::MissingTypeCode)?,
        };
        Ok(match code {
            code::HELLO => Message::Hello(decode_checked(f)?),
            code::WELCOME => Message::Welcome(decode_checked(f)?),
            code::ABORT => Message::Abort(decode_checked(f)?),
            code::CHALLENGE => Message::Challenge(decode_checked(f)?),
            code::AUTHENTICATE => Message::Authenticate(decode_checked(f)?),
            code::GOODBYE => Message::Goodbye(decode_checked(f)?),
            code::ERROR => Message::Error(decode_checked(f)?),
            code::PUBLISH => Message::Publish(decode_checked(f)?),
            code::PUBLISHED => Message::Published(decode_checked(f)?),
            code::SUBSCRIBE => Message::Subscribe(decode_checked(f)?),
            code::SUBSCRIBED => Message::Subscribed(decode_checked(f)?),
            code::UNSUBSCRIBE => Message::Unsubscribe(decode_checked(f)?),
            code::UNSUBSCRIBED => Message::Unsubscribed(decode_checked(f)?),
            code::EVENT => Message::Event(decode_checked(f)?),
            code::CALL => Message::Call(decode_checked(f)?),
            code::CANCEL => Message::Cancel(decode_checked(f)?),
            code::RESULT => Message::Result(decode_checked(f)?),
            code::REGISTER => Message::Register(decode_checked(f)?),
            code::REGISTERED => Message::Registered(decode_checked(f)?),
            code::UNREGISTER => Message::Unregister(decode_checked(f)?),
            code::UNREGISTERED => Message::Unregistered(decode_checked(f)?),
            code::INVOCATION => Message::Invocation(decode_checked(f)?),
            code::INTERRUPT => Message::Interrupt(decode_checked(f)?),
            code::YIELD => Message::Yield(decode_checked(f)?),
            other => return Err(DecodeError::UnknownType(other)),
        })
    }
}

/// What each message struct provides to the dispatcher above.
pub(crate) trait WireFormat: Sized {
    /// The type code.
    const CODE: u64;
    /// The spec's name for the message.
    const NAME: &'static str;
    /// The allowed element counts, type code included.
    const LENGTHS: std::ops::RangeInclusive<usize>;

    fn decode_fields(f: &Fields) -> std::result::Result<Self, DecodeError>;
    fn encode_fields(&self, w: &mut FrameWriter) -> std::result::Result<(), EncodeError>;
    /// Elements written, type code included.
    fn element_count(&self) -> usize;

    fn code(&self) -> u64 {
        Self::CODE
    }
    fn name(&self) -> &'static str {
        Self::NAME
    }
}

/// The one place that rejects missing or extra elements before a message decodes.
fn decode_checked<M: WireFormat>(f: &mut Fields) -> std::result::Result<M, DecodeError> {
    f.message = M::NAME;
    if !M::LENGTHS.contains(&f.len()) {
        return Err(DecodeError::WrongLength {
            message: M::NAME,
            len: f.len(),
        });
    }
    M::decode_fields(f)
}

/// Reads the optional trailing `args`, `kwargs` starting at `index`. A lone
/// last element may be a binary payload instead of the `args` list when
/// `marked_by` (the message's options or details) carries
/// [`TRANSPARENT_PAYLOAD_MARKER`]; the marker is looked up only then.
fn decode_arguments(
    f: &Fields,
    index: usize,
    marked_by: Option<&Dict>,
) -> std::result::Result<Arguments, DecodeError> {
    let args = match f.payload(index, PayloadShape::List) {
        Err(_) if f.len() == index + 1 && marked_by.is_some_and(marks_transparent_payload) => {
            f.payload(index, PayloadShape::Opaque)
        }
        args => args,
    }?;
    Ok(Arguments {
        args,
        kwargs: f.payload(index + 1, PayloadShape::Dict)?,
    })
}

/// Whether a message's options or details mark its payload as transparent.
fn marks_transparent_payload(options: &Dict) -> bool {
    options
        .get(TRANSPARENT_PAYLOAD_MARKER)
        .is_some_and(|v| !matches!(v, crate::value::Value::Null))
}

/// Writes `args`, `kwargs`, with an empty `args` list when only `kwargs` is set.
fn encode_arguments(w: &mut FrameWriter, a: &Arguments) -> std::result::Result<(), EncodeError> {
    match (&a.args, &a.kwargs) {
        (Some(args), kwargs) => {
            w.payload(args)?;
            if let Some(kwargs) = kwargs {
                w.payload(kwargs)?;
            }
        }
        (None, Some(kwargs)) => {
            w.field(&[(); 0])?;
            w.payload(kwargs)?;
        }
        (None, None) => {}
    }
    Ok(())
}

/// Implements [`WireFormat`] for a struct whose fields are all fixed elements
/// followed, optionally, by `arguments` (which `transparent_with` names the
/// options or details that may mark as a transparent payload).
macro_rules! wire_format {
    (
        $ty:ident, $code:expr, $name:literal,
        fields { $($field:ident : $expected:literal),* $(,)? }
        $(, arguments $args:ident $(, transparent_with $via:ident)?)?
    ) => {
        impl $crate::message::WireFormat for $ty {
            const CODE: u64 = $code;
            const NAME: &'static str = $name;
            const LENGTHS: std::ops::RangeInclusive<usize> = {
                let fixed = 1 $(+ wire_format!(@one $field))*;
                let extra = 0 $(+ wire_format!(@two $args))?;
                fixed..=fixed + extra
            };

            fn decode_fields(
                f: &$crate::codec::Fields,
            ) -> std::result::Result<Self, $crate::codec::DecodeError> {
                #[allow(unused_mut, unused_variables)]
                let mut index = 0;
                $(let $field = {
                    index += 1;
                    f.get(index, $expected)?
                };)*
                Ok($ty {
                    $($args: $crate::message::decode_arguments(
                        f,
                        index + 1,
                        wire_format!(@marked_by $($via)?),
                    )?,)?
                    $($field,)*
                })
            }

            fn encode_fields(
                &self,
                w: &mut $crate::codec::FrameWriter,
            ) -> std::result::Result<(), $crate::codec::EncodeError> {
                $(w.field(&self.$field)?;)*
                $($crate::message::encode_arguments(w, &self.$args)?;)?
                Ok(())
            }

            fn element_count(&self) -> usize {
                1 $(+ wire_format!(@one $field))* $(+ self.$args.element_count())?
            }
        }
    };
    (@one $x:ident) => { 1 };
    (@marked_by $via:ident) => { Some(&$via) };
    (@marked_by) => { None };
    (@two $x:ident) => { 2 };
}
pub(crate) use wire_format;

/// Implements [`WireFormat`] for `[TYPE, Request|id]` with the Advanced Profile's
/// optional trailing `Details|dict` (UNREGISTERED and UNSUBSCRIBED, which a router
/// also sends unasked, with request 0, to revoke a registration or subscription).
macro_rules! acknowledgement_with_details {
    ($ty:ident, $code:expr, $name:literal) => {
        impl $crate::message::WireFormat for $ty {
            const CODE: u64 = $code;
            const NAME: &'static str = $name;
            const LENGTHS: std::ops::RangeInclusive<usize> = 2..=3;

            fn decode_fields(
                f: &$crate::codec::Fields,
            ) -> std::result::Result<Self, $crate::codec::DecodeError> {
                Ok(Self {
                    request: f.get(1, "request id")?,
                    details: if f.len() > 2 {
                        Some(f.get(2, "details dict")?)
                    } else {
                        None
                    },
                })
            }

            fn encode_fields(
                &self,
                w: &mut $crate::codec::FrameWriter,
            ) -> std::result::Result<(), $crate::codec::EncodeError> {
                w.field(&self.request)?;
                if let Some(details) = &self.details {
                    w.field(details)?;
                }
                Ok(())
            }

            fn element_count(&self) -> usize {
                2 + usize::from(self.details.is_some())
            }
        }
    };
}
pub(crate) use acknowledgement_with_details;

#[cfg(test)]
mod tests;

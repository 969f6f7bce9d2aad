//! RawSocket framing, sans-IO: a 4-octet prefix (type and length) before each
//! payload, as a `tokio_util` codec so the session reads and writes frames.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::handshake::MAX_LEN;

const PREFIX_LEN: usize = 4;
const TYPE_MASK: u8 = 0b0000_0111;
/// The 25th length bit, set only for a payload of exactly 16 MiB.
const LENGTH_BIT_24: u8 = 0b0000_1000;
const RESERVED_MASK: u8 = 0b1111_0000;

/// One transport message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A serialized WAMP message.
    Message(Bytes),
    /// Must be answered with a `Pong` of the same payload.
    Ping(Bytes),
    Pong(Bytes),
}

/// A frame this side cannot read or write; each ends the connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("frame of {len} bytes is longer than the {limit} agreed")]
    TooLong { len: usize, limit: usize },
    #[error("frame prefix {0:#04x} sets reserved bits")]
    ReservedBits(u8),
    #[error("frame type {0} is reserved")]
    UnknownType(u8),
    #[error("frame length bit 24 set with a length of {0} in the other bits")]
    BadLength(usize),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads frames no longer than `limit` (the router's announced maximum) and
/// writes frames of any length the format allows; the session keeps
/// messages longer than the client's maximum from reaching the writer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawSocketCodec {
    limit: usize,
}

impl RawSocketCodec {
    pub(crate) fn new(limit: usize) -> Self {
        Self { limit }
    }
}

/// The length and type a prefix announces.
fn parse_prefix(prefix: [u8; 4], limit: usize) -> Result<(u8, usize), FrameError> {
    let [first, high, mid, low] = prefix;
    if first & RESERVED_MASK != 0 {
        return Err(FrameError::ReservedBits(first));
    }
    let low_bits = usize::from(high) << 16 | usize::from(mid) << 8 | usize::from(low);
    let len = if first & LENGTH_BIT_24 != 0 {
        if low_bits != 0 {
            return Err(FrameError::BadLength(low_bits));
        }
        MAX_LEN
    } else {
        low_bits
    };
    if len > limit {
        return Err(FrameError::TooLong { len, limit });
    }
    Ok((first & TYPE_MASK, len))
}

/// The prefix for a payload of `len` bytes (at most 16 MiB).
fn prefix(kind: u8, len: usize) -> Result<[u8; 4], FrameError> {
    if len > MAX_LEN {
        return Err(FrameError::TooLong {
            len,
            limit: MAX_LEN,
        });
    }
    let bit_24 = if len == MAX_LEN { LENGTH_BIT_24 } else { 0 };
    let [_, high, mid, low] = u32::try_from(len & 0x00ff_ffff)
        .unwrap_or_default()
        .to_be_bytes();
    Ok([kind | bit_24, high, mid, low])
}

impl Decoder for RawSocketCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some(prefix) = src.get(..PREFIX_LEN) else {
            return Ok(None);
        };
        let (kind, len) = parse_prefix([prefix[0], prefix[1], prefix[2], prefix[3]], self.limit)?;
        if kind > 2 {
            return Err(FrameError::UnknownType(kind));
        }
        if src.len() < PREFIX_LEN + len {
            src.reserve(PREFIX_LEN + len - src.len());
            return Ok(None);
        }
        src.advance(PREFIX_LEN);
        let payload = src.split_to(len).freeze();
        Ok(Some(match kind {
            0 => Frame::Message(payload),
            1 => Frame::Ping(payload),
            _ => Frame::Pong(payload),
        }))
    }
}

impl Encoder<Frame> for RawSocketCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        let (kind, payload) = match frame {
            Frame::Message(payload) => (0, payload),
            Frame::Ping(payload) => (1, payload),
            Frame::Pong(payload) => (2, payload),
        };
        dst.reserve(PREFIX_LEN + payload.len());
        dst.put_slice(&prefix(kind, payload.len())?);
        dst.put_slice(&payload);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(frame: Frame) -> BytesMut {
        let mut buf = BytesMut::new();
        RawSocketCodec::new(MAX_LEN)
            .encode(frame, &mut buf)
            .unwrap();
        buf
    }

    #[test]
    fn frames_are_prefixed_with_their_type_and_big_endian_length() {
        let buf = encoded(Frame::Message(Bytes::from_static(b"[1]")));
        assert_eq!(&buf[..], b"\x00\x00\x00\x03[1]");
        let buf = encoded(Frame::Ping(Bytes::from(vec![7; 0x0102])));
        assert_eq!(&buf[..4], b"\x01\x00\x01\x02");
        let buf = encoded(Frame::Pong(Bytes::new()));
        assert_eq!(&buf[..], b"\x02\x00\x00\x00");
    }

    #[test]
    fn what_is_encoded_decodes_back() {
        let mut codec = RawSocketCodec::new(MAX_LEN);
        for frame in [
            Frame::Message(Bytes::from_static(b"[2, 1, {}]")),
            Frame::Ping(Bytes::from_static(b"abc")),
            Frame::Pong(Bytes::new()),
        ] {
            let mut buf = encoded(frame.clone());
            assert_eq!(codec.decode(&mut buf).unwrap(), Some(frame));
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn a_frame_is_read_only_once_whole() {
        let mut codec = RawSocketCodec::new(1024);
        let mut buf = BytesMut::from(&b"\x00\x00"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\x00\x05[1,");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"2]\x01\x00");
        assert_eq!(
            codec.decode(&mut buf).unwrap(),
            Some(Frame::Message(Bytes::from_static(b"[1,2]")))
        );
        assert_eq!(&buf[..], b"\x01\x00", "the next frame's start stays");
    }

    #[test]
    fn a_frame_longer_than_the_limit_is_refused_from_its_prefix() {
        let mut codec = RawSocketCodec::new(1024);
        let mut buf = BytesMut::from(&b"\x00\x00\x04\x01"[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::TooLong {
                len: 1025,
                limit: 1024
            })
        ));
        let mut buf = BytesMut::from(&b"\x00\x00\x04\x00"[..]);
        buf.extend_from_slice(&[b' '; 1024]);
        assert!(codec.decode(&mut buf).unwrap().is_some());
    }

    #[test]
    fn reserved_bits_and_types_are_refused() {
        let mut codec = RawSocketCodec::new(1024);
        assert!(matches!(
            codec.decode(&mut BytesMut::from(&b"\x10\x00\x00\x00"[..])),
            Err(FrameError::ReservedBits(0x10))
        ));
        assert!(matches!(
            codec.decode(&mut BytesMut::from(&b"\x03\x00\x00\x00"[..])),
            Err(FrameError::UnknownType(3))
        ));
    }

    #[test]
    fn exactly_16_mib_uses_the_25th_length_bit() {
        assert_eq!(prefix(0, MAX_LEN).unwrap(), [0x08, 0, 0, 0]);
        assert_eq!(prefix(1, MAX_LEN - 1).unwrap(), [0x01, 0xff, 0xff, 0xff]);
        assert!(prefix(0, MAX_LEN + 1).is_err());
        assert_eq!(
            parse_prefix([0x08, 0, 0, 0], MAX_LEN).unwrap(),
            (0, MAX_LEN)
        );
        assert!(matches!(
            parse_prefix([0x08, 0, 0, 1], MAX_LEN),
            Err(FrameError::BadLength(1))
        ));
    }
}

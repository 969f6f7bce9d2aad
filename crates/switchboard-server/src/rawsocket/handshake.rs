//! The RawSocket opening handshake, sans-IO: four octets from the client, four
//! back (WAMP spec, "RawSocket Transport").

/// The first octet of every handshake; no HTTP request can start with it, so
/// a client that sent something else is not a RawSocket client.
pub(crate) const MAGIC: u8 = 0x7F;

/// The smallest and largest maximum lengths the handshake can express:
/// `2^(9 + exponent)` for exponents 0 to 15.
pub(crate) const MIN_LEN: usize = 1 << 9;
pub(crate) const MAX_LEN: usize = 1 << 24;

/// What the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Request {
    /// The serializer id (1 JSON, 2 MessagePack, 3 CBOR, ...).
    pub(crate) serializer: u8,
    /// The longest message the client accepts from the router.
    pub(crate) max_len: usize,
}

/// The spec's handshake error codes (upper nibble of the second octet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    SerializerUnsupported = 1,
    /// Never sent: the router serves any length a client announces.
    #[allow(dead_code)]
    MaxLengthUnacceptable = 2,
    ReservedBits = 3,
    MaxConnections = 4,
}

/// Why a handshake request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HandshakeError {
    /// Not a RawSocket client at all: the connection is closed unanswered.
    #[error("first octet {0:#04x} is not the RawSocket magic 0x7f")]
    NotRawSocket(u8),
    /// A RawSocket client this router answers with an error code.
    #[error("handshake refused: {0:?}")]
    Refused(Refusal),
}

/// Reads the client's four octets. Which serializers are spoken is for the
/// caller to judge; only the frame of the request is checked here.
pub(crate) fn parse(octets: [u8; 4]) -> Result<Request, HandshakeError> {
    let [magic, second, reserved @ ..] = octets;
    if magic != MAGIC {
        return Err(HandshakeError::NotRawSocket(magic));
    }
    if reserved != [0, 0] {
        return Err(HandshakeError::Refused(Refusal::ReservedBits));
    }
    Ok(Request {
        serializer: second & 0x0f,
        max_len: max_len(second >> 4),
    })
}

/// The router's acceptance: the client's serializer echoed, and the longest
/// message the router takes, rounded down to what the handshake can express.
pub(crate) fn accept(serializer: u8, router_limit: usize) -> [u8; 4] {
    [
        MAGIC,
        exponent(router_limit) << 4 | (serializer & 0x0f),
        0,
        0,
    ]
}

/// The router's refusal.
pub(crate) fn refuse(refusal: Refusal) -> [u8; 4] {
    [MAGIC, (refusal as u8) << 4, 0, 0]
}

/// `2^(9 + exponent)`.
pub(crate) fn max_len(exponent: u8) -> usize {
    MIN_LEN << exponent.min(15)
}

/// The largest exponent whose length does not exceed `limit` (at least 0, so
/// a limit below 512 still announces 512: the handshake cannot say less).
pub(crate) fn exponent(limit: usize) -> u8 {
    (0..=15u8).rev().find(|&e| max_len(e) <= limit).unwrap_or(0)
}

/// The limit the router enforces on what it reads: exactly what it announced.
pub(crate) fn announced_limit(router_limit: usize) -> usize {
    max_len(exponent(router_limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_its_serializer_and_the_longest_message_it_accepts() {
        assert_eq!(
            parse([0x7f, 0xf1, 0, 0]),
            Ok(Request {
                serializer: 1,
                max_len: 1 << 24
            })
        );
        assert_eq!(
            parse([0x7f, 0x02, 0, 0]),
            Ok(Request {
                serializer: 2,
                max_len: 512
            })
        );
    }

    #[test]
    fn a_wrong_magic_octet_is_not_a_rawsocket_client() {
        assert_eq!(parse(*b"GET "), Err(HandshakeError::NotRawSocket(b'G')));
    }

    #[test]
    fn reserved_octets_must_be_zero() {
        assert_eq!(
            parse([0x7f, 0xf1, 0, 1]),
            Err(HandshakeError::Refused(Refusal::ReservedBits))
        );
        assert_eq!(
            parse([0x7f, 0xf1, 0x80, 0]),
            Err(HandshakeError::Refused(Refusal::ReservedBits))
        );
    }

    #[test]
    fn the_answer_echoes_the_serializer_with_the_routers_limit() {
        assert_eq!(accept(2, 16 * 1024 * 1024), [0x7f, 0xf2, 0, 0]);
        assert_eq!(accept(1, 65536), [0x7f, 0x71, 0, 0]);
        // 100,000 cannot be said: the largest power of two below it is.
        assert_eq!(accept(1, 100_000), [0x7f, 0x71, 0, 0]);
        assert_eq!(announced_limit(100_000), 65536);
        // More than 16 MiB cannot be said either.
        assert_eq!(accept(1, 1 << 30), [0x7f, 0xf1, 0, 0]);
    }

    #[test]
    fn errors_sit_in_the_upper_nibble_with_a_zero_serializer() {
        assert_eq!(refuse(Refusal::SerializerUnsupported), [0x7f, 0x10, 0, 0]);
        assert_eq!(refuse(Refusal::MaxLengthUnacceptable), [0x7f, 0x20, 0, 0]);
        assert_eq!(refuse(Refusal::ReservedBits), [0x7f, 0x30, 0, 0]);
        assert_eq!(refuse(Refusal::MaxConnections), [0x7f, 0x40, 0, 0]);
    }

    #[test]
    fn exponents_cover_512_bytes_to_16_mib() {
        assert_eq!(max_len(0), MIN_LEN);
        assert_eq!(max_len(15), MAX_LEN);
        assert_eq!(exponent(MIN_LEN), 0);
        assert_eq!(exponent(MIN_LEN - 1), 0);
        assert_eq!(exponent(MAX_LEN), 15);
        assert_eq!(exponent(1024), 1);
        assert_eq!(exponent(2047), 1);
    }
}

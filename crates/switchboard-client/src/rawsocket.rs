//! The RawSocket transport (`rs://host:port`): the 4-octet handshake, then
//! frames of one type octet and a 3-octet big-endian length.

use bytes::{Buf, BufMut, BytesMut};
use switchboard_proto::Codec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder, Encoder, Framed};

use crate::error::ClientError;

/// The handshake's magic octet.
const MAGIC: u8 = 0x7F;
/// The longest message this client takes: 2^(9 + 15) = 16 MiB, the maximum.
const MAX_LENGTH_EXPONENT: u8 = 15;
/// Frame types.
const REGULAR: u8 = 0;

/// Connects to `addr` (`host:port`) and does the handshake for `codec`.
pub(crate) async fn open(
    addr: &str,
    codec: Codec,
) -> Result<Framed<TcpStream, Frames>, ClientError> {
    let mut stream = TcpStream::connect(addr).await?;
    // No Nagle: a request must not wait for the ACK of the one before it.
    stream.set_nodelay(true)?;
    let ours = (MAX_LENGTH_EXPONENT << 4) | codec.rawsocket_id();
    stream.write_all(&[MAGIC, ours, 0, 0]).await?;
    let mut reply = [0u8; 4];
    stream.read_exact(&mut reply).await?;
    if reply[0] != MAGIC {
        return Err(ClientError::Handshake("not a RawSocket router".into()));
    }
    if reply[1] & 0x0F == 0 {
        return Err(ClientError::Handshake(format!(
            "refused, error code {}",
            reply[1] >> 4
        )));
    }
    if reply[1] & 0x0F != codec.rawsocket_id() {
        return Err(ClientError::Handshake("another serializer answered".into()));
    }
    let limit = 1usize << (9 + (reply[1] >> 4));
    Ok(Framed::new(stream, Frames { limit }))
}

/// Regular frames in and out; PING and PONG from the router are skipped (this
/// client sends none, so the router does not ping it).
pub(crate) struct Frames {
    /// The longest message the router said it takes.
    limit: usize,
}

impl Decoder for Frames {
    type Item = Vec<u8>;
    type Error = ClientError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Vec<u8>>, ClientError> {
        loop {
            if src.len() < 4 {
                return Ok(None);
            }
            let kind = src[0] & 0x07;
            let len = u32::from_be_bytes([0, src[1], src[2], src[3]]) as usize;
            if src.len() < 4 + len {
                src.reserve(4 + len - src.len());
                return Ok(None);
            }
            src.advance(4);
            let body = src.split_to(len);
            if kind == REGULAR {
                return Ok(Some(body.to_vec()));
            }
        }
    }
}

impl Encoder<Vec<u8>> for Frames {
    type Error = ClientError;

    fn encode(&mut self, message: Vec<u8>, dst: &mut BytesMut) -> Result<(), ClientError> {
        if message.len() > self.limit || message.len() >= 1 << 24 {
            return Err(ClientError::Unexpected(
                "message longer than the router takes",
            ));
        }
        dst.reserve(4 + message.len());
        dst.put_u8(REGULAR);
        dst.put_uint(message.len() as u64, 3);
        dst.put_slice(&message);
        Ok(())
    }
}

impl From<std::io::Error> for ClientError {
    fn from(error: std::io::Error) -> Self {
        ClientError::Io(error)
    }
}

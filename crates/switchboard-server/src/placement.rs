//! Which thread a new session lives on.
//!
//! Every realm has a thread (an actix arbiter), and a session lives on its
//! realm's: a call between two sessions of one realm then never crosses a
//! thread, and realms spread across cores. Measured with `wamp_load` on one
//! node (see the server README): handing each message from a session thread
//! to the realm's thread and back cost more router CPU than all the WAMP work
//! of a call.
//!
//! With one realm there is nothing to choose. With several, a connection's
//! realm is known only from its HELLO, so the first frame is read (within the
//! hello timeout) on the thread that accepted the connection, and only
//! peeked at: the bytes stay in the buffer that goes with the connection, and
//! the session decodes them again as it would any frame.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use switchboard_proto::{decode, Codec, Message};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::codec::Decoder;

use crate::directory::RealmDirectory;

/// The realm a connection's HELLO names, read only where it decides the
/// session's thread (a node with several realms); `None` otherwise, or when
/// no HELLO comes first and in time. `message` takes the WAMP message out of
/// a transport frame (`None` for a control frame). Everything read stays in
/// `unread`, for the session to read again.
pub(crate) async fn realm_to_place<R, D>(
    realms: &RealmDirectory,
    io: &mut R,
    unread: &mut BytesMut,
    decoder: D,
    codec: Codec,
    until: Instant,
    message: impl FnOnce(D::Item) -> Option<Bytes>,
) -> Option<String>
where
    R: AsyncRead + Unpin,
    D: Decoder,
{
    if !realms.places_by_realm() {
        return None;
    }
    let frame = first_frame(io, unread, decoder, until).await?;
    realm_named(codec, message(frame)?)
}

/// Reads from `io` into `buffer` until `decoder` finds a whole first frame in
/// it, and returns that frame, leaving `buffer` as read. `None` when the peer
/// closes, errs, sends something undecodable or runs past `until`: the
/// session, placed anywhere, then deals with it as it would.
async fn first_frame<R, D>(
    io: &mut R,
    buffer: &mut BytesMut,
    mut decoder: D,
    until: Instant,
) -> Option<D::Item>
where
    R: AsyncRead + Unpin,
    D: Decoder,
{
    loop {
        // Decoded from a copy: the frame's bytes must stay for the session.
        let mut probe = buffer.clone();
        match decoder.decode(&mut probe) {
            Ok(Some(frame)) => return Some(frame),
            Ok(None) => {}
            Err(_) => return None,
        }
        match tokio::time::timeout_at(until.into(), io.read_buf(buffer)).await {
            Ok(Ok(read)) if read > 0 => {}
            _ => return None,
        }
    }
}

/// The realm a first message asks to join, if it is a HELLO.
fn realm_named(codec: Codec, message: Bytes) -> Option<String> {
    match decode(codec, message) {
        Ok(Message::Hello(hello)) => Some(hello.realm),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;
    use tokio_util::codec::LinesCodec;

    use super::*;

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn the_first_frame_is_found_across_reads_and_its_bytes_stay_in_the_buffer() {
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(b"[1, \"com.exa").await.unwrap();
        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            client.write_all(b"mple.realm\", {}]\nnext").await.unwrap();
            client
        });
        let mut buffer = BytesMut::new();
        let frame = first_frame(&mut server, &mut buffer, LinesCodec::new(), soon()).await;
        assert_eq!(frame.as_deref(), Some(r#"[1, "com.example.realm", {}]"#));
        assert_eq!(&buffer[..], b"[1, \"com.example.realm\", {}]\nnext");
        drop(writer.await);
    }

    #[tokio::test]
    async fn a_peer_that_closes_or_stays_silent_yields_no_frame() {
        let (client, mut server) = tokio::io::duplex(64);
        drop(client);
        let mut buffer = BytesMut::new();
        let frame = first_frame(&mut server, &mut buffer, LinesCodec::new(), soon()).await;
        assert_eq!(frame, None);

        let (_client, mut server) = tokio::io::duplex(64);
        let until = Instant::now() + Duration::from_millis(20);
        let frame = first_frame(&mut server, &mut buffer, LinesCodec::new(), until).await;
        assert_eq!(frame, None);
    }

    #[test]
    fn only_a_hello_names_a_realm() {
        let hello = bytes::Bytes::from_static(br#"[1, "com.example.realm", {}]"#);
        let goodbye = bytes::Bytes::from_static(br#"[6, {}, "wamp.close.normal"]"#);
        assert_eq!(
            realm_named(Codec::Json, hello).as_deref(),
            Some("com.example.realm")
        );
        assert_eq!(realm_named(Codec::Json, goodbye), None);
        assert_eq!(
            realm_named(Codec::Json, bytes::Bytes::from_static(b"{")),
            None
        );
    }
}

//! Moving an accepted connection to the thread its session will live on.
//!
//! A connection is accepted, and its HTTP upgrade answered, on whichever
//! thread took it (an HTTP worker). Its session should live on its realm's
//! thread instead, so that a call between two sessions of a realm crosses no
//! thread (see `placement.rs`). A tokio socket is tied to the reactor of the
//! thread it was registered on, so moving it means detaching it (as a std
//! socket) and attaching it again on the target thread. TLS state must move
//! with it: [`MovableTcp`] is the socket under the TLS layer and can be
//! detached and attached in place, so the whole TLS stream, with whatever it
//! already decrypted, moves as one value.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The two halves a session reads from and writes to.
pub(crate) type Halves = (Box<dyn AsyncRead + Unpin>, Box<dyn AsyncWrite + Unpin>);

/// The read half of a connection whose first bytes were already read (past
/// an HTTP request, a RawSocket handshake, or a HELLO read to place the
/// session): they are read again first. Copied out, so the buffer they were
/// read into (often 8 KiB of mostly nothing) is not kept for the session's
/// lifetime.
pub(crate) fn read_again_first(
    read: Box<dyn AsyncRead + Unpin>,
    unread: &[u8],
) -> Box<dyn AsyncRead + Unpin> {
    if unread.is_empty() {
        return read;
    }
    let first = std::io::Cursor::new(bytes::Bytes::copy_from_slice(unread));
    Box::new(tokio::io::AsyncReadExt::chain(first, read))
}

/// A connection that can change threads: detached on the thread that
/// accepted it, attached on the one that will serve it.
pub(crate) trait Movable: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Leaves this thread's reactor (the socket stays open).
    fn detach(&mut self) -> io::Result<()>;

    /// Joins the current thread's reactor.
    fn attach(&mut self) -> io::Result<()>;

    /// Splits an attached connection for a reader and a writer.
    fn into_halves(self) -> io::Result<Halves>;
}

/// A TCP socket that is either registered with a thread's reactor or
/// detached from all of them, in transit between threads.
pub(crate) enum MovableTcp {
    Attached(TcpStream),
    Detached(std::net::TcpStream),
    /// Only while changing state; an error left it so.
    Gone,
}

impl MovableTcp {
    pub(crate) fn new(stream: TcpStream) -> Self {
        Self::Attached(stream)
    }

    fn attached(&mut self) -> io::Result<&mut TcpStream> {
        match self {
            Self::Attached(stream) => Ok(stream),
            _ => Err(not_attached()),
        }
    }
}

fn not_attached() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the socket is between threads")
}

impl Movable for MovableTcp {
    fn detach(&mut self) -> io::Result<()> {
        if let Self::Attached(stream) = std::mem::replace(self, Self::Gone) {
            *self = Self::Detached(stream.into_std()?);
        }
        Ok(())
    }

    fn attach(&mut self) -> io::Result<()> {
        if let Self::Detached(stream) = std::mem::replace(self, Self::Gone) {
            *self = Self::Attached(TcpStream::from_std(stream)?);
        }
        self.attached().map(|_| ())
    }

    /// Owned halves: unlike a generic split they share no lock.
    fn into_halves(self) -> io::Result<Halves> {
        match self {
            Self::Attached(stream) => {
                let (read, write) = stream.into_split();
                Ok((Box::new(read), Box::new(write)))
            }
            _ => Err(not_attached()),
        }
    }
}

impl Movable for tokio_rustls::server::TlsStream<MovableTcp> {
    fn detach(&mut self) -> io::Result<()> {
        self.get_mut().0.detach()
    }

    fn attach(&mut self) -> io::Result<()> {
        self.get_mut().0.attach()
    }

    fn into_halves(self) -> io::Result<Halves> {
        let (read, write) = tokio::io::split(self);
        Ok((Box::new(read), Box::new(write)))
    }
}

impl AsyncRead for MovableTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut().attached() {
            Ok(stream) => Pin::new(stream).poll_read(cx, buf),
            Err(error) => Poll::Ready(Err(error)),
        }
    }
}

impl AsyncWrite for MovableTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().attached() {
            Ok(stream) => Pin::new(stream).poll_write(cx, buf),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().attached() {
            Ok(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        matches!(self, Self::Attached(stream) if stream.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().attached() {
            Ok(stream) => Pin::new(stream).poll_flush(cx),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().attached() {
            Ok(stream) => Pin::new(stream).poll_shutdown(cx),
            Err(error) => Poll::Ready(Err(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn a_detached_socket_refuses_io_and_works_again_once_attached() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let mut client = client.unwrap();
        let mut server = MovableTcp::new(accepted.unwrap().0);
        client.write_all(b"sent while in transit").await.unwrap();
        server.detach().unwrap();
        let mut byte = [0u8; 1];
        assert!(server.read(&mut byte).await.is_err());
        // Moved to another thread and attached there: nothing sent meanwhile is lost.
        let mut server = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                server.attach().unwrap();
                let mut text = [0u8; 21];
                server.read_exact(&mut text).await.unwrap();
                assert_eq!(&text, b"sent while in transit");
                server.detach().unwrap();
                server
            })
        })
        .join()
        .unwrap();
        server.attach().unwrap();
        server.write_all(b"back").await.unwrap();
        let mut reply = [0u8; 4];
        client.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply, b"back");
    }
}

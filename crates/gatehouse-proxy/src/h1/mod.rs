//! HTTP/1.1 on both sides of the gateway: `server` reads requests from client connections
//! and writes their responses, `client` sends requests to upstream targets and reads their
//! responses, and `codec` contains the message framing both share.
//!
//! The request phases see only `http` types and `http_body::Body`, so this module is the
//! one place that reads and writes the HTTP/1.1 wire format. HTTP/2 goes through hyper.

pub mod client;
pub mod codec;
pub mod server;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// A byte stream a connection runs on: TCP, or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static> Io for T {}

/// Minimum free space in the buffer before a read.
const READ_RESERVE: usize = 16 * 1024;

/// Reads what the stream has into the spare capacity of `buf`. Returns 0 at end of file.
pub fn poll_read_buf(
    io: &mut dyn Io,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    if buf.capacity() - buf.len() < READ_RESERVE / 4 {
        buf.reserve(READ_RESERVE);
    }
    // A `read_buf` future keeps no state of its own, so polling a fresh one is a plain read.
    let mut read = std::pin::pin!(io.read_buf(buf));
    read.as_mut().poll(cx)
}

/// Writes all of `buf` and flushes the stream.
pub fn poll_write_all(
    io: &mut dyn Io,
    buf: &mut impl Buf,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    while buf.has_remaining() {
        match Pin::new(&mut *io).poll_write(cx, buf.chunk()) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(written)) => buf.advance(written),
            Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
            Poll::Pending => return Poll::Pending,
        }
    }
    Pin::new(io).poll_flush(cx)
}

/// A stream with bytes that were read from it already and are to be read again first.
pub struct Rewind {
    pub prefix: BytesMut,
    pub inner: Box<dyn Io>,
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let take = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..take]);
            self.prefix.advance(take);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

//! The connection under the session, and writing to it while reading what the server says.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Buf;
use smtp_sansio::Transmission;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// The most segments one vectored write takes (well under every platform's `IOV_MAX`).
const MAX_SLICES: usize = 64;

/// The connection, before or after the TLS handshake.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// Writes all of `data`, reading what the server sends meanwhile (see [`poll_transmit`]).
    pub(crate) async fn transmit(
        &mut self,
        data: &mut Transmission,
        buf: &mut [u8],
        on_input: &mut impl FnMut(&[u8]) -> bool,
    ) -> io::Result<()> {
        match self {
            Self::Plain(s) => poll_fn(|cx| poll_transmit(s, cx, data, buf, on_input)).await,
            Self::Tls(s) => poll_fn(|cx| poll_transmit(&mut **s, cx, data, buf, on_input)).await,
        }
    }

    /// Closes the connection, TLS with a close_notify first (RFC 8314 §3.4).
    pub(crate) async fn close(self) {
        let _ = match self {
            Self::Plain(mut s) => s.shutdown().await,
            Self::Tls(mut s) => s.shutdown().await,
        };
    }

    /// Reads once; 0 at the end of the stream.
    pub(crate) async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf).await,
            Self::Tls(s) => s.read(buf).await,
        }
    }
}

/// Writes as much of `data` as `io` takes; when it takes no more, reads once into `buf` and
/// hands what came (empty at the end of the stream) to `on_input`, which says whether to go on
/// writing. Ready when everything is written and flushed, or when `on_input` says stop.
fn poll_transmit<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    cx: &mut Context<'_>,
    data: &mut Transmission,
    buf: &mut [u8],
    on_input: &mut impl FnMut(&[u8]) -> bool,
) -> Poll<io::Result<()>> {
    loop {
        if !data.has_remaining() {
            return Pin::new(&mut *io).poll_flush(cx);
        }
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let count = data.chunks_vectored(&mut slices);
        match Pin::new(&mut *io).poll_write_vectored(cx, &slices[..count]) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(n)) => {
                data.advance(n);
                continue;
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {}
        }
        let mut read = ReadBuf::new(buf);
        match Pin::new(&mut *io).poll_read(cx, &mut read) {
            Poll::Ready(Ok(())) if on_input(read.filled()) => {}
            Poll::Ready(Ok(())) => return Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    }
}

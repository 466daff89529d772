//! The connection under the session, and writing to it while reading what the server says.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Buf;
use smtp_sansio::Transmission;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_rustls::client::TlsStream;

/// The most segments one vectored write takes (well under every platform's `IOV_MAX`).
const MAX_SLICES: usize = 64;

/// Any byte stream a session runs over: TCP, a proxy's stream, a Unix socket, a pipe in memory.
/// Boxed as `dyn Connection`, which forwards every method of the stream's own `AsyncWrite`,
/// vectored writes included.
pub(crate) trait Connection: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Connection for T {}

/// The connection, before or after the TLS handshake.
pub(crate) enum Stream {
    Plain(Box<dyn Connection>),
    Tls(Box<TlsStream<Box<dyn Connection>>>),
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

/// The first octets the server sent through a [`Recorder`], as many as
/// [`looks_like_smtp_reply`](smtp_sansio::driver::looks_like_smtp_reply) needs.
#[derive(Clone, Default)]
pub(crate) struct FirstOctets(Arc<Mutex<Vec<u8>>>);

impl FirstOctets {
    const LEN: usize = 4;

    /// Keeps the start of `read` while fewer than [`Self::LEN`] octets are kept.
    /// Returns whether all are kept, after which the recorder stops asking.
    fn record(&self, read: &[u8]) -> bool {
        let Ok(mut kept) = self.0.lock() else {
            return true;
        };
        let room = Self::LEN.saturating_sub(kept.len());
        kept.extend_from_slice(&read[..read.len().min(room)]);
        kept.len() >= Self::LEN
    }

    /// The octets kept so far.
    pub(crate) fn get(&self) -> Vec<u8> {
        self.0.lock().map(|kept| kept.clone()).unwrap_or_default()
    }
}

/// A stream that copies the first octets read through it into [`FirstOctets`], so that a failed
/// implicit-TLS handshake can tell whether the server spoke plaintext SMTP instead.
pub(crate) struct Recorder {
    inner: Box<dyn Connection>,
    first: FirstOctets,
    /// Whether [`FirstOctets`] is full: reads then pass straight through.
    full: bool,
}

impl Recorder {
    pub(crate) fn new(inner: Box<dyn Connection>, first: FirstOctets) -> Self {
        Self {
            inner,
            first,
            full: false,
        }
    }
}

impl AsyncRead for Recorder {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), false) = (&read, self.full) {
            self.full = self.first.record(&buf.filled()[before..]);
        }
        read
    }
}

impl AsyncWrite for Recorder {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes every write whole and keeps the most slices one write brought.
    struct Vectored {
        most_slices: Arc<Mutex<usize>>,
    }

    impl AsyncRead for Vectored {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Vectored {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            if let Ok(mut most) = self.most_slices.lock() {
                *most = (*most).max(bufs.len());
            }
            Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A boxed stream, and the recorder around one, keep the stream's own vectored writes, so
    /// that a transmission's segments go out in one call.
    #[tokio::test]
    async fn boxed_streams_keep_vectored_writes() {
        let most_slices = Arc::new(Mutex::new(0));
        let boxed: Box<dyn Connection> = Box::new(Vectored {
            most_slices: most_slices.clone(),
        });
        let mut recorded: Box<dyn Connection> =
            Box::new(Recorder::new(boxed, FirstOctets::default()));
        assert!(recorded.is_write_vectored());
        let slices = [
            IoSlice::new(b"MAIL FROM:<a@example.com>\r\n"),
            IoSlice::new(b"DATA\r\n"),
        ];
        let written = recorded.write_vectored(&slices).await.expect("write");
        assert_eq!(written, 33);
        assert_eq!(*most_slices.lock().expect("lock"), 2);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_recorder_keeps_the_first_four_octets() {
        let (ours, mut theirs) = tokio::net::UnixStream::pair().expect("pair");
        let first = FirstOctets::default();
        let mut stream = Stream::Plain(Box::new(Recorder::new(Box::new(ours), first.clone())));
        let mut buf = [0; 64];
        for piece in [&b"22"[..], b"0 mx\r\n"] {
            theirs.write_all(piece).await.expect("write");
            let n = stream.read(&mut buf).await.expect("read");
            assert_eq!(&buf[..n], piece);
        }
        assert_eq!(first.get(), b"220 ");
    }
}

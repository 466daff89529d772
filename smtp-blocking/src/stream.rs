//! The connection under the session: any stream with timeouts, or TLS over it, written in
//! vectored form.

use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Buf;
use native_tls::TlsStream;
use smtp_sansio::Transmission;

/// Under TLS, segments shorter than this are gathered into one write, so that a command and its
/// data share a record instead of going out as several small ones.
const GATHER_SIZE: usize = 16 * 1024;

/// The most segments one vectored write takes (well under every platform's `IOV_MAX`).
const MAX_SLICES: usize = 64;

/// A connection a session can run over: a byte stream whose reads and writes can time out.
///
/// The adapter bounds every read, write and TLS handshake by the session's deadlines with these
/// timeouts, set again before each call from the time left. A stream that cannot time out
/// cannot honour a deadline: a server that stops answering would block its session forever.
/// Implemented for [`TcpStream`] and, on Unix, for
/// [`UnixStream`](std::os::unix::net::UnixStream); for another stream (a proxy's, a tunnel's),
/// forward to the socket underneath. Pass it to [`connect_over`](crate::connect_over).
pub trait Connection: Read + Write + Send {
    /// Sets how long each later read may block: when it passes, the read fails with
    /// [`WouldBlock`](io::ErrorKind::WouldBlock) or [`TimedOut`](io::ErrorKind::TimedOut).
    /// `None` blocks without limit; the adapter never passes a zero duration.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;

    /// Sets how long each later write may block, the same way.
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Connection for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }
}

#[cfg(unix)]
impl Connection for std::os::unix::net::UnixStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_write_timeout(self, timeout)
    }
}

impl<C: Connection + ?Sized> Connection for Box<C> {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_write_timeout(timeout)
    }
}

/// The connection, before or after the TLS handshake.
pub(crate) enum Stream {
    Plain(Box<dyn Connection>),
    Tls(Box<TlsStream<Box<dyn Connection>>>),
}

impl Stream {
    /// The connection under the stream, for its timeouts.
    pub(crate) fn connection(&self) -> &dyn Connection {
        match self {
            Self::Plain(s) => s,
            Self::Tls(s) => s.get_ref(),
        }
    }

    /// Reads once; 0 at the end of the stream.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
        }
    }

    /// Closes the connection, TLS with a close_notify first (RFC 8314 §3.4); dropping the
    /// stream closes it.
    pub(crate) fn close(self) {
        match self {
            Self::Plain(mut s) => {
                let _ = s.flush();
            }
            Self::Tls(mut s) => {
                let _ = s.shutdown();
            }
        }
    }

    /// Writes a prefix of `data` in one call: one vectored write on a plain socket. TLS copies
    /// into records anyway and native-tls writes one slice at a time, so there short segments
    /// are first gathered into `gathered` and large ones written directly.
    pub(crate) fn write_some(
        &mut self,
        data: &Transmission,
        gathered: &mut Vec<u8>,
    ) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let filled = data.chunks_vectored(&mut slices);
                s.write_vectored(&slices[..filled])
            }
            Self::Tls(s) => {
                let first = data.chunk();
                if first.len() >= GATHER_SIZE || first.len() == data.len() {
                    return s.write(first);
                }
                gathered.clear();
                for segment in data.segments() {
                    let room = GATHER_SIZE - gathered.len();
                    gathered.extend_from_slice(&segment[..segment.len().min(room)]);
                    if gathered.len() == GATHER_SIZE {
                        break;
                    }
                }
                s.write(gathered)
            }
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

/// A connection that copies the first octets read through it into [`FirstOctets`], so that a
/// failed implicit-TLS handshake can tell whether the server spoke plaintext SMTP instead.
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

impl Read for Recorder {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if !self.full {
            self.full = self.first.record(&buf[..n]);
        }
        Ok(n)
    }
}

impl Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.inner.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Connection for Recorder {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_write_timeout(timeout)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_recorder_keeps_the_first_four_octets_and_forwards_timeouts() {
        let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().expect("pair");
        let first = FirstOctets::default();
        let mut recorder = Recorder::new(Box::new(ours), first.clone());
        let mut buf = [0; 64];
        for piece in [&b"22"[..], b"0 mx\r\n"] {
            theirs.write_all(piece).expect("write");
            let n = recorder.read(&mut buf).expect("read");
            assert_eq!(&buf[..n], piece);
        }
        assert_eq!(first.get(), b"220 ");
        Connection::set_read_timeout(&recorder, Some(Duration::from_millis(10))).expect("timeout");
        let timed_out = recorder.read(&mut buf).expect_err("nothing to read");
        assert!(matches!(
            timed_out.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ));
    }
}

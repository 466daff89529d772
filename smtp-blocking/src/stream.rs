//! The connection under the session: plain TCP or TLS over it, written in vectored form.

use std::io::{IoSlice, Read, Write};
use std::net::TcpStream;

use bytes::Buf;
use native_tls::TlsStream;
use smtp_sansio::Transmission;

/// Under TLS, segments shorter than this are gathered into one write, so that a command and its
/// data share a record instead of going out as several small ones.
const GATHER_SIZE: usize = 16 * 1024;

/// The most segments one vectored write takes (well under every platform's `IOV_MAX`).
const MAX_SLICES: usize = 64;

/// The connection, before or after the TLS handshake.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// The TCP socket under the stream, for its timeouts.
    pub(crate) fn tcp(&self) -> &TcpStream {
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

    /// Closes the connection, TLS with a close_notify first (RFC 8314 §3.4).
    pub(crate) fn close(self) {
        match self {
            Self::Plain(s) => {
                let _ = s.shutdown(std::net::Shutdown::Both);
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

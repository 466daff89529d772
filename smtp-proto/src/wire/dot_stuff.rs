//! The DATA encoder: message text in transparent form with its terminator (RFC 5321 §4.5.2).

use bytes::{BufMut, BytesMut};

use super::text::{Canonicalizer, TextPolicy};
use crate::error::DataError;

/// Turns a message body, pushed in chunks of any size, into the bytes that follow a `354` reply.
///
/// - Line endings become CRLF, or a bare CR or LF is refused, by [`TextPolicy`] (RFC 5321 §2.3.8).
/// - A line that starts with `.` gets another `.` (RFC 5321 §4.5.2).
/// - NUL is refused (§4.1.1.4), lines over 998 octets are refused (§4.5.3.1.6), and octets above
///   127 are refused unless the policy allows 8-bit text (§2.4).
/// - [`finish`](Self::finish) adds the terminator exactly once: `.` CRLF after a body ending in
///   CRLF (or an empty body), CRLF `.` CRLF otherwise; never an extra blank line (§4.1.1.4).
///
/// The output is byte-identical however the body is chunked, so no end-of-data look-alike
/// (`\n.\n`, `\r.\r`, ...) can survive (SECURITY.md D1, D6). The first error is sticky.
#[derive(Clone, Debug)]
pub struct DataEncoder {
    text: Canonicalizer,
    finished: bool,
}

impl DataEncoder {
    /// An encoder for one message.
    pub fn new(policy: TextPolicy) -> Self {
        Self {
            text: Canonicalizer::new(policy, true),
            finished: false,
        }
    }

    /// Encodes the next part of the body onto `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut BytesMut) -> Result<(), DataError> {
        if self.finished {
            return Err(DataError::Finished);
        }
        self.text.push(chunk, out)
    }

    /// Ends the body and writes the terminator. Call it once, after the last [`push`](Self::push).
    pub fn finish(&mut self, out: &mut BytesMut) -> Result<(), DataError> {
        if self.finished {
            return Err(DataError::Finished);
        }
        self.text.finish(out)?;
        self.finished = true;
        if !self.text.at_line_start() {
            out.put_slice(b"\r\n");
        }
        out.put_slice(b".\r\n");
        Ok(())
    }

    /// Encodes a whole body and its terminator in one call.
    pub fn encode_all(
        policy: TextPolicy,
        body: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), DataError> {
        let mut encoder = Self::new(policy);
        encoder.push(body, out)?;
        encoder.finish(out)
    }
}

/// Where RFC 5321 §4.5.2 wants an extra `.` in canonical text that starts at a line start:
/// before every line that begins with `.`.
pub(crate) fn dot_positions(lines: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let first = (lines.first() == Some(&b'.')).then_some(0);
    first
        .into_iter()
        .chain(memchr::memmem::find_iter(lines, b"\n.").map(|at| at + 1))
}

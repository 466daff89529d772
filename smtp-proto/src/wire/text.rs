//! Canonical line endings for message text, shared by the DATA encoder and the BDAT chunker.

use bytes::{BufMut, BytesMut};

use crate::error::DataError;

/// RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets with its CRLF.
pub(crate) const MAX_TEXT_LINE: usize = 998;

/// What to do with a CR or LF that is not part of a CRLF pair (SECURITY.md D1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BareLineEndings {
    /// Turn each bare CR and each bare LF into CRLF. The default: the body arrives as the
    /// author's lines, and no end-of-data look-alike survives.
    #[default]
    Normalize,
    /// Refuse the body with [`DataError::BareLineEnding`].
    Reject,
}

/// How message text is checked and canonicalised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextPolicy {
    /// Bare CR and LF handling.
    pub bare_line_endings: BareLineEndings,
    /// Whether octets above 127 may appear. Allow them only when the server advertised
    /// 8BITMIME and MAIL carries `BODY=8BITMIME` (RFC 6152, SECURITY.md D8).
    pub allow_8bit: bool,
}

/// Streams text into canonical form: every line ends in CRLF, no NUL, no line over 998 octets,
/// and (if `stuff_dots`) a leading `.` doubled (RFC 5321 §4.5.2). Output is the same however the
/// input is split: a CR at the end of one chunk waits for the next (SECURITY.md D6).
#[derive(Clone, Debug)]
pub(crate) struct Canonicalizer {
    policy: TextPolicy,
    stuff_dots: bool,
    at_line_start: bool,
    pending_cr: bool,
    line_len: usize,
    failed: Option<DataError>,
}

impl Canonicalizer {
    pub(crate) fn new(policy: TextPolicy, stuff_dots: bool) -> Self {
        Self {
            policy,
            stuff_dots,
            at_line_start: true,
            pending_cr: false,
            line_len: 0,
            failed: None,
        }
    }

    /// True when everything written so far ends with CRLF (or nothing was written).
    pub(crate) fn at_line_start(&self) -> bool {
        self.at_line_start && !self.pending_cr
    }

    /// Canonicalises `input` onto `out`. The first error is returned again on every later call.
    pub(crate) fn push(&mut self, input: &[u8], out: &mut BytesMut) -> Result<(), DataError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        self.push_inner(input, out)
            .inspect_err(|&e| self.failed = Some(e))
    }

    /// Ends the text: a CR still waiting for its LF is a bare CR.
    pub(crate) fn finish(&mut self, out: &mut BytesMut) -> Result<(), DataError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        if self.pending_cr {
            self.pending_cr = false;
            self.bare_line_ending(out)
                .inspect_err(|&e| self.failed = Some(e))?;
        }
        Ok(())
    }

    fn push_inner(&mut self, mut input: &[u8], out: &mut BytesMut) -> Result<(), DataError> {
        out.reserve(input.len() + input.len() / 32 + 2);
        if self.pending_cr {
            match input.split_first() {
                None => return Ok(()),
                Some((b'\n', rest)) => {
                    input = rest;
                    self.end_line(out);
                }
                Some(_) => self.bare_line_ending(out)?,
            }
            self.pending_cr = false;
        }
        // One bulk check: an all-ASCII chunk needs no per-line 8-bit check.
        let check_8bit = !self.policy.allow_8bit && !input.is_ascii();
        while let Some(&first) = input.first() {
            if self.at_line_start {
                if self.stuff_dots && first == b'.' {
                    out.put_u8(b'.');
                }
                self.at_line_start = false;
            }
            let run = memchr::memchr3(b'\r', b'\n', 0, input).unwrap_or(input.len());
            self.check_run(&input[..run], check_8bit)?;
            self.line_len += run;
            if let [b'\r', b'\n', ..] = input[run..] {
                // The common case: the line and its CRLF go out in one copy.
                let (line, rest) = input.split_at(run + 2);
                out.put_slice(line);
                self.at_line_start = true;
                self.line_len = 0;
                input = rest;
                continue;
            }
            let (text, rest) = input.split_at(run);
            out.put_slice(text);
            input = match rest {
                [] => rest,
                [b'\r'] => {
                    self.pending_cr = true;
                    &[]
                }
                [b'\r' | b'\n', tail @ ..] => {
                    self.bare_line_ending(out)?;
                    tail
                }
                [_, ..] => return Err(DataError::Nul),
            };
        }
        Ok(())
    }

    /// Checks a run of plain octets against the line limit and the 8-bit policy. Whichever
    /// fault comes first in the stream is reported, so the error is the same however the body
    /// was split.
    fn check_run(&self, run: &[u8], check_8bit: bool) -> Result<(), DataError> {
        let room = MAX_TEXT_LINE - self.line_len;
        if check_8bit && !run.is_ascii() {
            let first_8bit = run.iter().position(|&b| b > 127).unwrap_or(run.len());
            if first_8bit < room {
                return Err(DataError::EightBit);
            }
        }
        if run.len() > room {
            return Err(DataError::LineTooLong);
        }
        Ok(())
    }

    fn bare_line_ending(&mut self, out: &mut BytesMut) -> Result<(), DataError> {
        match self.policy.bare_line_endings {
            BareLineEndings::Normalize => {
                self.end_line(out);
                Ok(())
            }
            BareLineEndings::Reject => Err(DataError::BareLineEnding),
        }
    }

    fn end_line(&mut self, out: &mut BytesMut) {
        out.put_slice(b"\r\n");
        self.at_line_start = true;
        self.line_len = 0;
    }
}

/// Whether `body` is already what the canonicaliser would make of it with 8-bit text allowed
/// and no dot-stuffing: every line ends in CRLF (the last one too), no bare CR or LF, no NUL,
/// no line over 998 octets (RFC 5321 §2.3.8, §4.5.3.1.6). Such a body is sent as it is.
pub(crate) fn is_canonical(body: &[u8]) -> bool {
    if !body.is_empty() && !body.ends_with(b"\r\n") {
        return false;
    }
    let mut line_start = 0;
    while let Some(found) = memchr::memchr3(b'\r', b'\n', 0, &body[line_start..]) {
        let at = line_start + found;
        let crlf = body[at] == b'\r' && body.get(at + 1) == Some(&b'\n');
        if !crlf || found > MAX_TEXT_LINE {
            return false;
        }
        line_start = at + 2;
    }
    line_start == body.len()
}

/// The length of `body` once canonical (no dot-stuffing, ending in CRLF), checked as the
/// encoders check it. It is canonicalised a window at a time into a scratch buffer, so memory
/// does not grow with the body.
pub(crate) fn canonical_len(policy: TextPolicy, body: &[u8]) -> Result<usize, DataError> {
    const WINDOW: usize = 64 * 1024;
    let mut text = Canonicalizer::new(policy, false);
    let mut scratch = BytesMut::new();
    let mut len = 0;
    for window in body.chunks(WINDOW) {
        text.push(window, &mut scratch)?;
        len += scratch.len();
        scratch.clear();
    }
    text.finish(&mut scratch)?;
    len += scratch.len();
    if !text.at_line_start() {
        len += 2;
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body is taken as it is exactly when canonicalising it would change nothing.
    #[test]
    fn canonical_bodies_are_recognised() {
        let long = [&[b'a'; 998][..], b"\r\n"].concat();
        let too_long = [&[b'a'; 999][..], b"\r\n"].concat();
        let cases: [(&[u8], bool); 9] = [
            (b"", true),
            (b"a\r\n\r\n.b\r\n", true),
            (&long, true),
            (&too_long, false),
            (b"a\r\nb", false),
            (b"a\nb\r\n", false),
            (b"a\rb\r\n", false),
            (b"a\0b\r\n", false),
            (b"\r\n\r", false),
        ];
        for (body, canonical) in cases {
            assert_eq!(is_canonical(body), canonical, "{body:?}");
            if canonical {
                let mut text = Canonicalizer::new(TextPolicy::default(), false);
                let mut out = BytesMut::new();
                text.push(body, &mut out).expect("canonical text");
                assert_eq!(&out[..], body);
            }
        }
    }

    #[test]
    fn first_fault_decides_the_error() {
        let policy = TextPolicy::default();
        let mut long_then_8bit = alloc::vec![b'a'; 1200];
        long_then_8bit[1100] = 0xe9;
        let mut early_8bit = alloc::vec![b'a'; 1200];
        early_8bit[10] = 0xe9;
        for (body, expected) in [
            (long_then_8bit, DataError::LineTooLong),
            (early_8bit, DataError::EightBit),
        ] {
            for split in [1, 7, 500, 999, 1101, 1200] {
                let mut text = Canonicalizer::new(policy, true);
                let mut out = BytesMut::new();
                let result = body
                    .chunks(split)
                    .try_for_each(|chunk| text.push(chunk, &mut out));
                assert_eq!(result, Err(expected), "split {split}");
            }
        }
    }
}

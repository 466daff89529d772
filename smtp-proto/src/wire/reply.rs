//! Server replies: codes, severities, enhanced status codes (RFC 5321 §4.2, RFC 3463).

use alloc::vec::Vec;
use bytes::{BufMut, Bytes, BytesMut};
use core::fmt;

use crate::wire::escape::Escaped;

/// A three-digit reply code whose first digit is 2, 3, 4 or 5 (RFC 5321 §4.2).
///
/// Codes the RFC does not define (`299`, `459`, `260`) are valid and are classified by their
/// first digit alone (RFC 5321 §4.2: "unknown codes MUST be handled by their first digit").
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(u16);

impl ReplyCode {
    /// `220`: service ready, and the positive answer to STARTTLS (RFC 3207 §4).
    pub const SERVICE_READY: Self = Self(220);
    /// `221`: service closing transmission channel, the answer to QUIT.
    pub const CLOSING: Self = Self(221);
    /// `235`: authentication succeeded (RFC 4954 §6).
    pub const AUTH_SUCCEEDED: Self = Self(235);
    /// `250`: requested action completed.
    pub const OK: Self = Self(250);
    /// `334`: SASL challenge, continue authentication (RFC 4954 §4).
    pub const AUTH_CHALLENGE: Self = Self(334);
    /// `354`: start mail input (RFC 5321 §4.1.1.4).
    pub const START_MAIL_INPUT: Self = Self(354);
    /// `451`: local error in processing; also what a lost connection counts as (RFC 5321 §3.8).
    pub const LOCAL_ERROR: Self = Self(451);
    /// `421`: service not available, the server is closing the channel (RFC 5321 §3.8).
    pub const SERVICE_CLOSING: Self = Self(421);
    /// `554`: transaction failed, or "no SMTP service here" as a greeting (RFC 5321 §3.1).
    pub const TRANSACTION_FAILED: Self = Self(554);

    /// Builds a code from its value; `None` unless it has three digits starting with 2 to 5.
    pub const fn new(value: u16) -> Option<Self> {
        if value >= 200 && value <= 599 {
            Some(Self(value))
        } else {
            None
        }
    }

    /// The numeric value, for example `250`.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The class given by the first digit.
    pub const fn severity(self) -> Severity {
        match self.0 / 100 {
            2 => Severity::PositiveCompletion,
            3 => Severity::PositiveIntermediate,
            4 => Severity::TransientNegative,
            _ => Severity::PermanentNegative,
        }
    }

    /// `421`: the server is about to close the connection (RFC 5321 §3.8).
    pub const fn is_service_closing(self) -> bool {
        self.0 == 421
    }

    /// The three ASCII digits of this code.
    pub const fn digits(self) -> [u8; 3] {
        let v = self.0;
        [
            b'0' + (v / 100) as u8,
            b'0' + (v / 10 % 10) as u8,
            b'0' + (v % 10) as u8,
        ]
    }
}

impl fmt::Debug for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The class of a reply, from the first digit of its code (RFC 5321 §4.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    /// `2yz`: the action completed.
    PositiveCompletion,
    /// `3yz`: accepted so far, the server waits for more (354, 334).
    PositiveIntermediate,
    /// `4yz`: not done, but the same request may succeed later.
    TransientNegative,
    /// `5yz`: not done, and repeating the same request will not help.
    PermanentNegative,
}

/// An enhanced mail system status code `class.subject.detail` (RFC 3463 §2, RFC 2034).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedStatus {
    class: u8,
    subject: u16,
    detail: u16,
}

impl EnhancedStatus {
    /// Builds a status code; `None` unless class is 2, 4 or 5 and the other parts are 0 to 999
    /// (RFC 3463 §2: `subject = 1*3digit`, `detail = 1*3digit`).
    pub const fn new(class: u8, subject: u16, detail: u16) -> Option<Self> {
        if matches!(class, 2 | 4 | 5) && subject <= 999 && detail <= 999 {
            Some(Self {
                class,
                subject,
                detail,
            })
        } else {
            None
        }
    }

    /// The class digit: 2 success, 4 persistent transient failure, 5 permanent failure.
    pub const fn class(self) -> u8 {
        self.class
    }

    /// The subject, for example `1` (addressing) in `5.1.1`.
    pub const fn subject(self) -> u16 {
        self.subject
    }

    /// The detail, for example the last `1` in `5.1.1`.
    pub const fn detail(self) -> u16 {
        self.detail
    }
}

impl fmt::Display for EnhancedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

impl fmt::Debug for EnhancedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One line of a reply: its text after the code and separator, and the enhanced status code
/// found at its start, if any.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ReplyLine {
    raw: Bytes,
    status: Option<EnhancedStatus>,
    text_start: usize,
}

impl ReplyLine {
    pub(crate) fn new(raw: Bytes, status: Option<(EnhancedStatus, usize)>) -> Self {
        match status {
            Some((status, text_start)) => Self {
                raw,
                status: Some(status),
                text_start,
            },
            None => Self {
                raw,
                status: None,
                text_start: 0,
            },
        }
    }

    /// Everything after the code and the separator, exactly as received, without CRLF.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The text after the enhanced status code (and its space), or the raw text if there is none.
    pub fn text(&self) -> &[u8] {
        self.raw.get(self.text_start..).unwrap_or_default()
    }

    /// The enhanced status code at the start of this line, if it was well-formed.
    pub fn enhanced_status(&self) -> Option<EnhancedStatus> {
        self.status
    }
}

impl fmt::Debug for ReplyLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", Escaped(&self.raw))
    }
}

/// A complete reply: one code and one or more lines of text (RFC 5321 §4.2).
///
/// The text is kept as bytes exactly as received; [`Reply`]'s `Display` escapes every byte that
/// is not printable ASCII, so hostile text (`\x1b[2J`, NUL, invalid UTF-8) can be logged safely.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Reply {
    code: ReplyCode,
    lines: Vec<ReplyLine>,
}

impl Reply {
    pub(crate) fn from_lines(code: ReplyCode, lines: Vec<ReplyLine>) -> Self {
        debug_assert!(!lines.is_empty());
        Self { code, lines }
    }

    /// Builds a reply from text lines, as a server would send it; enhanced status codes at the
    /// start of each line are recognised as the decoder would. Returns `None` if `lines` is empty
    /// or a line holds CR or LF.
    pub fn new<I, L>(code: ReplyCode, lines: I) -> Option<Self>
    where
        I: IntoIterator<Item = L>,
        L: AsRef<[u8]>,
    {
        let lines: Vec<ReplyLine> = lines
            .into_iter()
            .map(|text| {
                let text = text.as_ref();
                if text.iter().any(|&b| b == b'\r' || b == b'\n') {
                    return None;
                }
                let status = crate::wire::parse::enhanced_status_prefix(code, text);
                Some(ReplyLine::new(Bytes::copy_from_slice(text), status))
            })
            .collect::<Option<_>>()?;
        if lines.is_empty() {
            return None;
        }
        Some(Self { code, lines })
    }

    /// The reply code.
    pub fn code(&self) -> ReplyCode {
        self.code
    }

    /// The class of the reply code.
    pub fn severity(&self) -> Severity {
        self.code.severity()
    }

    /// `2yz`.
    pub fn is_positive_completion(&self) -> bool {
        self.severity() == Severity::PositiveCompletion
    }

    /// `3yz`.
    pub fn is_intermediate(&self) -> bool {
        self.severity() == Severity::PositiveIntermediate
    }

    /// `4yz`: the same request may succeed later (RFC 5321 §4.2.1).
    pub fn is_transient(&self) -> bool {
        self.severity() == Severity::TransientNegative
    }

    /// `5yz`: the same request will not succeed (RFC 5321 §4.2.1).
    pub fn is_permanent(&self) -> bool {
        self.severity() == Severity::PermanentNegative
    }

    /// `421`: the server is closing the connection (RFC 5321 §3.8).
    pub fn is_service_closing(&self) -> bool {
        self.code.is_service_closing()
    }

    /// The enhanced status code of the first line, if it carried a well-formed one whose class
    /// matches the reply code's first digit (RFC 3463 §2, RFC 2034 §4).
    pub fn enhanced_status(&self) -> Option<EnhancedStatus> {
        self.lines.first().and_then(ReplyLine::enhanced_status)
    }

    /// Forgets the enhanced status codes recognised on every line, keeping the text as received.
    ///
    /// Call it when the server did not advertise ENHANCEDSTATUSCODES (RFC 2034 §3): its text
    /// then only looks like a status code.
    pub(crate) fn forget_enhanced_status(&mut self) {
        for line in &mut self.lines {
            line.status = None;
            line.text_start = 0;
        }
    }

    /// Every line of the reply, first to last.
    pub fn lines(&self) -> &[ReplyLine] {
        &self.lines
    }

    /// The text of the first line, after any enhanced status code.
    pub fn first_text(&self) -> &[u8] {
        self.lines.first().map(ReplyLine::text).unwrap_or_default()
    }

    /// Writes the reply in wire form: `code-text` CRLF for every line but the last, then
    /// `code text` CRLF (or `code` CRLF when the last text is empty).
    pub fn encode(&self, out: &mut BytesMut) {
        let digits = self.code.digits();
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            out.put_slice(&digits);
            if i < last {
                out.put_u8(b'-');
                out.put_slice(&line.raw);
            } else if !line.raw.is_empty() {
                out.put_u8(b' ');
                out.put_slice(&line.raw);
            }
            out.put_slice(b"\r\n");
        }
    }

    /// How many bytes [`Reply::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        let separators =
            self.lines.len() - usize::from(self.lines.last().is_some_and(|l| l.raw.is_empty()));
        self.lines
            .iter()
            .map(|l| 3 + l.raw.len() + 2)
            .sum::<usize>()
            + separators
    }
}

impl fmt::Display for Reply {
    /// The code and every line's text, lines joined by `" / "`, non-printable bytes escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == 0 { " " } else { " / " };
            if !line.raw.is_empty() {
                write!(f, "{sep}{}", Escaped(&line.raw))?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reply({self})")
    }
}

#[cfg(test)]
mod tests {
    /// RFC 2034 §3: a server that did not advertise ENHANCEDSTATUSCODES sends none; text that
    /// looks like one stays text.
    #[test]
    fn b18_an_enhanced_status_not_negotiated_is_text() {
        let mut decoder = crate::ReplyDecoder::default();
        decoder.feed(b"550 5.1.1 unknown\r\n");
        let mut reply = decoder.next_reply().ok().flatten().expect("a reply");
        reply.forget_enhanced_status();
        assert_eq!(reply.enhanced_status(), None);
        assert_eq!(reply.first_text(), b"5.1.1 unknown");
    }
}

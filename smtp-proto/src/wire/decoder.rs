//! Incremental framing of server replies (RFC 5321 §2.3.8, §4.2).

use alloc::collections::VecDeque;
use alloc::string::ToString;
use alloc::vec::Vec;
use bytes::{Bytes, BytesMut};

use super::escape::Escaped;
use super::parse::{LineFault, Separator, enhanced_status_prefix, reply_line};
use super::reply::{Reply, ReplyCode, ReplyLine};
use crate::error::ReplyError;

/// Hard limits on what the decoder buffers. The defaults accept every legal reply and bound
/// hostile ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplyLimits {
    /// The longest reply line, code and CRLF included. RFC 5321 §4.5.3.1.5 requires at least
    /// 512; the default, 2048, leaves room for servers that write long explanations.
    pub max_line_len: usize,
    /// The longest `334` line, which carries a SASL challenge. RFC 4954 §4 names 12,288 octets
    /// as enough for any mechanism; the default, 12,300, adds room for the code and CRLF.
    pub max_challenge_line_len: usize,
    /// The most lines in one reply. Default 256; real EHLO replies have about 20.
    pub max_lines: usize,
    /// The most octets in one reply, all lines together. Default 64 KiB.
    pub max_reply_len: usize,
}

impl Default for ReplyLimits {
    fn default() -> Self {
        Self {
            max_line_len: 2048,
            max_challenge_line_len: 12_300,
            max_lines: 256,
            max_reply_len: 64 * 1024,
        }
    }
}

/// The reply currently being assembled from its lines.
#[derive(Debug)]
struct PartialReply {
    code: ReplyCode,
    lines: Vec<ReplyLine>,
    octets: usize,
}

/// Turns the server's byte stream into replies.
///
/// Feed it whatever the transport delivered with [`feed`](Self::feed), in slices of any size,
/// then take replies with [`next_reply`](Self::next_reply) until it answers `Ok(None)` ("need
/// more bytes", a state rather than an error). Replies come out identical however the input was
/// split (SECURITY.md B13).
///
/// Only CRLF ends a line (RFC 5321 §2.3.8). Complete lines are split off at once and each byte is
/// searched for LF once, so the work is linear however the input is cut. A line that exceeds
/// its limit is refused before it is copied. The first error is sticky: it is returned after the
/// replies that preceded it, on every later call, and further input is ignored.
#[derive(Debug)]
pub struct ReplyDecoder {
    limits: ReplyLimits,
    accept_bare_lf: bool,
    line: BytesMut,
    current: Option<PartialReply>,
    ready: VecDeque<Reply>,
    error: Option<ReplyError>,
}

impl Default for ReplyDecoder {
    fn default() -> Self {
        Self::new(ReplyLimits::default())
    }
}

impl ReplyDecoder {
    /// A decoder with the given limits, accepting only CRLF as a line ending.
    pub fn new(limits: ReplyLimits) -> Self {
        Self {
            limits,
            accept_bare_lf: false,
            line: BytesMut::new(),
            current: None,
            ready: VecDeque::new(),
            error: None,
        }
    }

    /// Also accept a bare LF as the end of a reply line. Off by default: RFC 5321 §2.3.8 forbids
    /// recognising any other terminator. Turn it on only for a known server that needs it; a bare
    /// CR inside a line stays an error either way.
    pub fn accept_bare_lf(&mut self, accept: bool) {
        self.accept_bare_lf = accept;
    }

    /// Adds bytes received from the server. Complete replies become available to
    /// [`next_reply`](Self::next_reply); an incomplete line is kept for the next call.
    pub fn feed(&mut self, mut input: &[u8]) {
        while !input.is_empty() && self.error.is_none() {
            let limit = self.line_limit(input);
            match input.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    if self.line.len() + end + 1 > limit {
                        return self.fail(ReplyError::LineTooLong { limit });
                    }
                    let (head, tail) = input.split_at(end + 1);
                    self.line.extend_from_slice(head);
                    input = tail;
                    let line = self.line.split().freeze();
                    self.take_line(line);
                }
                None => {
                    if self.line.len() + input.len() >= limit {
                        return self.fail(ReplyError::LineTooLong { limit });
                    }
                    self.line.extend_from_slice(input);
                    return;
                }
            }
        }
    }

    /// The next complete reply: `Ok(None)` when more bytes are needed, `Err` once the stream
    /// turned out malformed (and forever after).
    pub fn next_reply(&mut self) -> Result<Option<Reply>, ReplyError> {
        if let Some(reply) = self.ready.pop_front() {
            return Ok(Some(reply));
        }
        match &self.error {
            Some(error) => Err(error.clone()),
            None => Ok(None),
        }
    }

    /// True if any byte has been received that is not part of a reply already taken: a queued
    /// reply, part of a multiline reply, a partial line, or a malformed one.
    ///
    /// After the reply to STARTTLS this must be false; otherwise bytes were injected before the
    /// TLS handshake (RFC 3207 §4.2, SECURITY.md A5, A6).
    pub fn has_buffered_input(&self) -> bool {
        !self.ready.is_empty()
            || self.current.is_some()
            || !self.line.is_empty()
            || self.error.is_some()
    }

    /// True if the stream stopped inside a reply: the connection ending now loses a reply
    /// (RFC 5321 §3.8, SECURITY.md B17).
    pub fn is_mid_reply(&self) -> bool {
        self.current.is_some() || !self.line.is_empty()
    }

    /// The limit for the line being received, chosen by its code: `334` challenges get
    /// `max_challenge_line_len` (RFC 4954 §4), every other line `max_line_len`.
    fn line_limit(&self, input: &[u8]) -> usize {
        let mut code = [0u8; 3];
        let known = self.line.iter().chain(input).take(3);
        for (slot, &b) in code.iter_mut().zip(known) {
            *slot = b;
        }
        if &code == b"334" {
            self.limits
                .max_challenge_line_len
                .max(self.limits.max_line_len)
        } else {
            self.limits.max_line_len
        }
    }

    fn fail(&mut self, error: ReplyError) {
        self.line.clear();
        self.current = None;
        self.error = Some(error);
    }

    /// Parses one framed line (ending in LF) and adds it to the reply being assembled.
    fn take_line(&mut self, line: Bytes) {
        let content_len = match line.len().checked_sub(2) {
            Some(n) if line.get(n) == Some(&b'\r') => n,
            _ if self.accept_bare_lf => line.len() - 1,
            _ => return self.fail(ReplyError::BareLineFeed),
        };
        let content = &line[..content_len];
        if content.contains(&b'\r') {
            return self.fail(ReplyError::BareCarriageReturn);
        }
        let (code, separator, text) = match reply_line(content) {
            Ok(parsed) => parsed,
            Err(LineFault::CodeOutOfRange(code)) => {
                return self.fail(ReplyError::CodeOutOfRange { code });
            }
            Err(LineFault::NotSmtp) => {
                let excerpt = Escaped(&content[..content.len().min(40)]).to_string();
                return self.fail(ReplyError::NonSmtpReply { excerpt });
            }
        };
        let text_start = content_len - text.len();
        let status = enhanced_status_prefix(code, text);
        let reply_line = ReplyLine::new(line.slice(text_start..content_len), status);

        let mut partial = self.current.take().unwrap_or(PartialReply {
            code,
            lines: Vec::new(),
            octets: 0,
        });
        if partial.code != code {
            return self.fail(ReplyError::InconsistentMultilineCode {
                first: partial.code.get(),
                found: code.get(),
            });
        }
        if partial.lines.len() >= self.limits.max_lines {
            let limit = self.limits.max_lines;
            return self.fail(ReplyError::TooManyLines { limit });
        }
        partial.octets += line.len();
        if partial.octets > self.limits.max_reply_len {
            let limit = self.limits.max_reply_len;
            return self.fail(ReplyError::ReplyTooLong { limit });
        }
        partial.lines.push(reply_line);
        match separator {
            Separator::More => self.current = Some(partial),
            Separator::Last => self
                .ready
                .push_back(Reply::from_lines(partial.code, partial.lines)),
        }
    }
}

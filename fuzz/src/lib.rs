//! Shared helpers for the fuzz targets: splitting input, decoding, and reference models. The
//! targets together check SECURITY.md F13: no input makes the core panic or grow without bound.

use smtp_proto::{Reply, ReplyDecoder, ReplyError, ReplyLimits};

/// Cuts `data` into pieces whose lengths come from `cuts` (each 1 to 16), the rest last.
pub fn pieces<'a>(data: &'a [u8], cuts: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    for &cut in cuts {
        if rest.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at(usize::from(cut % 16 + 1).min(rest.len()));
        out.push(head);
        rest = tail;
    }
    out.push(rest);
    out
}

/// Cut lengths (1 to 16) drawn from `seed`, enough for `len` bytes: a split pattern that a
/// one-byte prefix of the input selects, so raw SMTP text makes a meaningful seed.
pub fn cuts_from_seed(seed: u8, len: usize) -> Vec<u8> {
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as u8
        })
        .collect()
}

/// Everything a decoder produced from some input.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    pub replies: Vec<Reply>,
    pub error: Option<ReplyError>,
    pub mid_reply: bool,
}

/// Feeds the pieces one by one, taking replies after each.
pub fn decode(limits: ReplyLimits, pieces: &[&[u8]]) -> Decoded {
    let mut decoder = ReplyDecoder::new(limits);
    let mut replies = Vec::new();
    let mut error = None;
    for piece in pieces {
        decoder.feed(piece);
        loop {
            match decoder.next_reply() {
                Ok(Some(reply)) => replies.push(reply),
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
    }
    Decoded { replies, error, mid_reply: decoder.is_mid_reply() }
}

/// Small limits, so that the fuzzer reaches every limit quickly.
pub fn small_limits() -> ReplyLimits {
    ReplyLimits { max_line_len: 64, max_challenge_line_len: 96, max_lines: 6, max_reply_len: 256 }
}

/// The canonical form of a text body, computed the obvious way: CRLF kept, any other CR or LF
/// becomes CRLF, and a last line without CRLF gets one.
pub fn reference_canonical(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 2);
    let mut i = 0;
    while i < body.len() {
        match (body[i], body.get(i + 1)) {
            (b'\r', Some(b'\n')) => {
                out.extend_from_slice(b"\r\n");
                i += 2;
                continue;
            }
            (b'\r' | b'\n', _) => out.extend_from_slice(b"\r\n"),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Asserts that `line` is one command line: CRLF once, at the end, and no CR, LF or NUL before.
pub fn assert_one_line(line: &[u8]) {
    assert!(line.ends_with(b"\r\n"), "{line:?}");
    let body = &line[..line.len() - 2];
    assert!(!body.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0), "{line:?}");
}

//! Shared helpers for the fuzz targets: splitting input, decoding, and reference models. The
//! targets together check SECURITY.md F13: no input makes the core panic or grow without bound.

use smtp_sansio::ReplyLimits;

#[path = "../../smtp-proto/tests/support/reference.rs"]
mod reference;

#[path = "../../smtp-proto/tests/support/model_server.rs"]
mod model_server;

#[path = "../../smtp-proto/tests/support/verdict_check.rs"]
mod verdict_check;

pub use reference::{Decoded, decode_pieces as decode, reference_canonical, unstuff};
pub use verdict_check::{Scenario, check as check_verdicts};

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

/// Small limits, so that the fuzzer reaches every limit quickly.
pub fn small_limits() -> ReplyLimits {
    let mut limits = ReplyLimits::default();
    limits.max_line_len = 64;
    limits.max_challenge_line_len = 96;
    limits.max_lines = 6;
    limits.max_reply_len = 256;
    limits
}

/// Asserts that `line` is one command line: CRLF once, at the end, and no CR, LF or NUL before.
pub fn assert_one_line(line: &[u8]) {
    assert!(line.ends_with(b"\r\n"), "{line:?}");
    let body = &line[..line.len() - 2];
    assert!(!body.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0), "{line:?}");
}

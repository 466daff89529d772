//! Reference models shared by the property tests and the fuzz targets (the fuzz crate includes
//! this file with `#[path]`): feeding a decoder piece by piece, and canonical text computed the
//! obvious way.

#![allow(dead_code, unreachable_pub)]

use smtp_sansio::{Reply, ReplyDecoder, ReplyError, ReplyLimits};

/// What a decoder produced from some input: the replies, the error that ended the stream if
/// any, and whether it was left inside a reply.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    pub replies: Vec<Reply>,
    pub error: Option<ReplyError>,
    pub mid_reply: bool,
}

/// Feeds the pieces one by one, taking replies after each.
pub fn decode_pieces(limits: ReplyLimits, pieces: &[&[u8]]) -> Decoded {
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
    Decoded {
        replies,
        error,
        mid_reply: decoder.is_mid_reply(),
    }
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

/// Reverses the transparency of DATA (RFC 5321 §4.5.2): strips the terminator and the extra
/// leading dots. `None` if `wire` does not end in the terminator.
pub fn unstuff(wire: &[u8]) -> Option<Vec<u8>> {
    let body = if wire == b".\r\n" {
        &b""[..]
    } else {
        wire.strip_suffix(b".\r\n")?
    };
    let mut out = Vec::with_capacity(body.len());
    for line in body.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    Some(out)
}

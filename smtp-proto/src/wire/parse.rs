//! nom parsers for the server side of the grammar, each named after its ABNF rule.
//!
//! They work on one line at a time, after framing has removed the CRLF (DESIGN.md §4.7), and
//! never see more than the decoder's line limit.
//!
//! The module is private; its `pub` items are reachable only through `crate::fuzzing`, which
//! exists under `cfg(fuzzing)`.

#![cfg_attr(not(fuzzing), allow(unreachable_pub))]

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while_m_n, take_while1};
use nom::character::complete::one_of;
use nom::combinator::{eof, map_res, value};
use nom::sequence::terminated;
use nom::{IResult, Parser};

use super::reply::{EnhancedStatus, ReplyCode};

/// Whether a reply line is the last of its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Separator {
    /// `"-"`: more lines follow.
    More,
    /// `SP` or the end of the line: this is the last line.
    Last,
}

/// Why a framed line is not a reply line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineFault {
    /// Not `3DIGIT` followed by `SP`, `"-"` or the end of the line.
    NotSmtp,
    /// Three digits, but the first is not 2 to 5 (RFC 5321 §4.2: treat as fatal).
    CodeOutOfRange(u16),
}

fn digits_value(digits: &[u8]) -> u16 {
    digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'))
}

/// `Reply-code = %x32-35 %x30-35 %x30-39` (RFC 5321 §4.2), with the second digit relaxed to
/// `%x30-39` because unknown codes are classified by their first digit (§4.2, SECURITY.md B6).
/// Returns the three digits' value, which may lie outside 200-599.
fn reply_code(input: &[u8]) -> IResult<&[u8], u16> {
    take_while_m_n(3, 3, |b: u8| b.is_ascii_digit())
        .map(digits_value)
        .parse(input)
}

/// The separator after `Reply-code`: `"-"` on a continuation line, `SP` or nothing on the last
/// (RFC 5321 §4.2: "be prepared for the code alone, with or without a trailing space").
fn reply_separator(input: &[u8]) -> IResult<&[u8], Separator> {
    alt((
        value(Separator::More, tag(&b"-"[..])),
        value(Separator::Last, tag(&b" "[..])),
        value(Separator::Last, eof),
    ))
    .parse(input)
}

/// `Reply-line` without its CRLF: `Reply-code ( "-" / SP / "" ) [ textstring ]`
/// (RFC 5321 §4.2). The text is returned as bytes, unchecked: hostile text is kept and escaped
/// when shown (SECURITY.md B12), never a reason to misread the code.
pub fn reply_line(line: &[u8]) -> Result<(ReplyCode, Separator, &[u8]), LineFault> {
    let (text, (code, separator)) = (reply_code, reply_separator)
        .parse(line)
        .map_err(|_: nom::Err<nom::error::Error<&[u8]>>| LineFault::NotSmtp)?;
    let code = ReplyCode::new(code).ok_or(LineFault::CodeOutOfRange(code))?;
    Ok((code, separator, text))
}

/// `1*3digit`, as in `subject` and `detail` of RFC 3463 §2.
fn one_to_three_digits(input: &[u8]) -> IResult<&[u8], u16> {
    take_while_m_n(1, 3, |b: u8| b.is_ascii_digit())
        .map(digits_value)
        .parse(input)
}

/// `status-code = class "." subject "." detail`, followed by `SP` or the end of the text
/// (RFC 3463 §2; RFC 2034 §4 puts it right after the reply code and its separator).
fn status_code(input: &[u8]) -> IResult<&[u8], EnhancedStatus> {
    map_res(
        (
            one_of("245"),
            tag(&b"."[..]),
            one_to_three_digits,
            tag(&b"."[..]),
            terminated(one_to_three_digits, alt((tag(&b" "[..]), eof))),
        ),
        |(class, _, subject, _, detail)| {
            EnhancedStatus::new(class as u8 - b'0', subject, detail).ok_or(())
        },
    )
    .parse(input)
}

/// The enhanced status code at the start of a reply line's text and the offset of the text
/// after it. Only a code whose class equals the reply code's first digit counts (RFC 2034 §4):
/// `250 5.0.0 weird` keeps `5.0.0` as text (SECURITY.md B18).
pub(crate) fn enhanced_status_prefix(
    code: ReplyCode,
    text: &[u8],
) -> Option<(EnhancedStatus, usize)> {
    let (rest, status) = status_code(text).ok()?;
    (u16::from(status.class()) == code.get() / 100).then_some((status, text.len() - rest.len()))
}

/// `ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")` (RFC 5321 §4.1.1.1).
fn ehlo_keyword(input: &[u8]) -> IResult<&[u8], &[u8]> {
    nom::combinator::recognize((
        take_while_m_n(1, 1, |b: u8| b.is_ascii_alphanumeric()),
        take_while(|b: u8| b.is_ascii_alphanumeric() || b == b'-'),
    ))
    .parse(input)
}

/// `ehlo-param = 1*(%d33-126)` (RFC 5321 §4.1.1.1).
fn ehlo_param(input: &[u8]) -> IResult<&[u8], &[u8]> {
    take_while1(|b: u8| (33..=126).contains(&b)).parse(input)
}

/// Spaces and tabs, any number: the separator between `ehlo-keyword` and `ehlo-param`s, read
/// liberally (the RFC says one SP; real servers send more, or lead with one, SECURITY.md B15).
fn whitespace(input: &[u8]) -> IResult<&[u8], &[u8]> {
    take_while(|b: u8| b == b' ' || b == b'\t').parse(input)
}

/// `ehlo-line = ehlo-keyword *( SP ehlo-param )` (RFC 5321 §4.1.1.1), with leading and repeated
/// whitespace tolerated. Returns the keyword and the parameter text after it, or `None` for a
/// line that is not an extension (blank, whitespace-only, or malformed keyword).
///
/// A keyword immediately followed by `=` is returned with `=` as the separator so the legacy
/// `AUTH=PLAIN LOGIN` form can be recognised by the caller.
pub fn ehlo_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let (rest, _) = whitespace(line).ok()?;
    let (rest, keyword) = ehlo_keyword(rest).ok()?;
    match rest.first() {
        None => Some((keyword, rest)),
        Some(b' ' | b'\t' | b'=') => Some((keyword, rest)),
        Some(_) => None,
    }
}

/// The `ehlo-param`s of an EHLO line, in order. A whitespace-separated token that is not an
/// `ehlo-param` (it holds a control or non-ASCII octet) is skipped, not allowed to hide the
/// parameters after it (SECURITY.md B19).
pub fn ehlo_params(rest: &[u8]) -> impl Iterator<Item = &[u8]> {
    rest.split(|&b| b == b' ' || b == b'\t')
        .filter(|token| matches!(ehlo_param(token), Ok((after, _)) if after.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b1_minimal_reply_forms() {
        for line in [&b"250"[..], b"250 ", b"250 OK"] {
            let (code, sep, _) = reply_line(line).expect("valid");
            assert_eq!((code.get(), sep), (250, Separator::Last));
        }
        assert_eq!(reply_line(b"250-").map(|r| r.1), Ok(Separator::More));
    }

    #[test]
    fn b2_text_starting_with_digits_is_kept() {
        let (_, sep, text) = reply_line(b"250-234 Text beginning with numbers").expect("valid");
        assert_eq!(sep, Separator::More);
        assert_eq!(text, b"234 Text beginning with numbers");
    }

    #[test]
    fn b4_non_smtp_lines_are_rejected() {
        for line in [
            &b"25"[..],
            b"2500 ok",
            b"25O ok",
            b" 250 ok",
            b"250\tok",
            b"+OK",
            b"* OK IMAP ready",
            b"HTTP/1.1 400 Bad Request",
            b"",
        ] {
            assert_eq!(reply_line(line), Err(LineFault::NotSmtp), "{line:?}");
        }
    }

    #[test]
    fn b5_first_digit_out_of_range() {
        assert_eq!(reply_line(b"199 no"), Err(LineFault::CodeOutOfRange(199)));
        assert_eq!(reply_line(b"600 x"), Err(LineFault::CodeOutOfRange(600)));
        assert_eq!(reply_line(b"099 x"), Err(LineFault::CodeOutOfRange(99)));
    }

    #[test]
    fn b20_overflowing_numbers_are_malformed() {
        assert_eq!(
            reply_line(b"99999999999999999999 ok"),
            Err(LineFault::NotSmtp)
        );
    }

    #[test]
    fn b18_enhanced_status_only_when_well_formed_and_matching() {
        let ok = ReplyCode::OK;
        let perm = ReplyCode::new(550).expect("code");
        assert_eq!(
            enhanced_status_prefix(ok, b"2.1.5 OK"),
            Some((EnhancedStatus::new(2, 1, 5).expect("status"), 6))
        );
        assert_eq!(
            enhanced_status_prefix(perm, b"5.1.1 unknown").map(|s| s.0.to_string()),
            Some("5.1.1".into())
        );
        assert_eq!(enhanced_status_prefix(ok, b"5.0.0 weird"), None);
        assert_eq!(enhanced_status_prefix(ok, b"2.x.y"), None);
        assert_eq!(enhanced_status_prefix(ok, b"2.1.5000 x"), None);
        assert_eq!(enhanced_status_prefix(ok, b"2.1.5x"), None);
        assert!(enhanced_status_prefix(ok, b"2.0.0").is_some());
    }

    #[test]
    fn ehlo_lines() {
        assert_eq!(ehlo_line(b"SIZE 1000"), Some((&b"SIZE"[..], &b" 1000"[..])));
        assert_eq!(ehlo_line(b"   "), None);
        assert_eq!(ehlo_line(b""), None);
        assert_eq!(ehlo_line(b" 8BITMIME"), Some((&b"8BITMIME"[..], &b""[..])));
        assert_eq!(
            ehlo_line(b"AUTH=PLAIN"),
            Some((&b"AUTH"[..], &b"=PLAIN"[..]))
        );
        assert_eq!(ehlo_line(b"-X"), None);
        assert_eq!(ehlo_line(b"X_Y"), None);
        let params: alloc::vec::Vec<_> = ehlo_params(b"  PLAIN\tLOGIN  ").collect();
        assert_eq!(params, [&b"PLAIN"[..], b"LOGIN"]);
        let params: alloc::vec::Vec<_> = ehlo_params(b" A \x01\xff B\x00 C").collect();
        assert_eq!(params, [&b"A"[..], b"C"]);
    }

    use alloc::string::ToString;
}

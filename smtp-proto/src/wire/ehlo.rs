//! The server's EHLO reply as typed capabilities (RFC 5321 §4.1.1.1 and the extension RFCs).

use alloc::vec::Vec;
use bytes::Bytes;

use super::parse::{ehlo_line, ehlo_params};
use super::reply::{Reply, ReplyCode};
use crate::types::mechanism::{Mechanism, MechanismSet};

/// The message size limit advertised by `SIZE` (RFC 1870).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SizeLimit {
    /// `SIZE` with no number, `SIZE 0`, or a number too large or malformed to read: the server
    /// declared no usable maximum (RFC 1870: zero means no fixed maximum; SECURITY.md B15).
    Undeclared,
    /// The largest message the server accepts, in octets.
    Max(u64),
}

/// The limits advertised by `LIMITS` (RFC 9422). A limit that is absent, zero or unreadable is
/// `None`: zero would make no transaction possible, so it is treated as not stated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MailLimits {
    /// `RCPTMAX`: the most recipients in one transaction.
    pub rcpt_max: Option<u32>,
    /// `MAILMAX`: the most transactions in one session.
    pub mail_max: Option<u32>,
    /// `RCPTDOMAINMAX`: the most distinct recipient domains in one transaction.
    pub rcpt_domain_max: Option<u32>,
}

/// An EHLO keyword this crate does not interpret, with its parameters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Extension {
    /// The keyword in upper case.
    pub keyword: Bytes,
    /// The parameters as sent.
    pub params: Vec<Bytes>,
}

/// What a server said it supports in its `250` reply to EHLO.
///
/// Keywords are matched case-insensitively (RFC 5321 §2.4) and read only from the lines after
/// the first, which holds the server's domain (RFC 5321 §4.1.1.1, SECURITY.md A17). Blank or
/// malformed lines are skipped; when a keyword repeats, the first occurrence counts, except
/// `AUTH`, whose mechanism lists are merged. The number of entries is bounded by the reply
/// decoder's line limit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    server_name: Bytes,
    size: Option<SizeLimit>,
    auth: Option<MechanismSet>,
    limits: Option<MailLimits>,
    mt_priority: Option<Option<Bytes>>,
    deliver_by: Option<Option<u32>>,
    flags: u16,
    others: Vec<Extension>,
}

const PIPELINING: u16 = 1;
const EIGHT_BIT_MIME: u16 = 1 << 1;
const SMTP_UTF8: u16 = 1 << 2;
const STARTTLS: u16 = 1 << 3;
const ENHANCED_STATUS_CODES: u16 = 1 << 4;
const CHUNKING: u16 = 1 << 5;
const BINARY_MIME: u16 = 1 << 6;
const DSN: u16 = 1 << 7;
const REQUIRETLS: u16 = 1 << 8;

const FLAG_KEYWORDS: [(&[u8], u16); 9] = [
    (b"PIPELINING", PIPELINING),
    (b"8BITMIME", EIGHT_BIT_MIME),
    (b"SMTPUTF8", SMTP_UTF8),
    (b"STARTTLS", STARTTLS),
    (b"ENHANCEDSTATUSCODES", ENHANCED_STATUS_CODES),
    (b"CHUNKING", CHUNKING),
    (b"BINARYMIME", BINARY_MIME),
    (b"DSN", DSN),
    (b"REQUIRETLS", REQUIRETLS),
];

impl Capabilities {
    /// Reads the capabilities from a reply to EHLO; `None` unless the reply is `250`
    /// (SECURITY.md B15: keywords are read only from a successful reply).
    pub fn from_ehlo_reply(reply: &Reply) -> Option<Self> {
        if reply.code() != ReplyCode::OK {
            return None;
        }
        let (first, rest) = reply.lines().split_first()?;
        let mut caps = Self {
            server_name: first_word(first.raw()),
            ..Self::default()
        };
        for line in rest {
            if let Some((keyword, params)) = ehlo_line(line.raw()) {
                caps.add(keyword, params);
            }
        }
        Some(caps)
    }

    /// Capabilities of a server that answered HELO, or of none at all: no extension.
    pub fn none() -> Self {
        Self::default()
    }

    fn add(&mut self, keyword: &[u8], rest: &[u8]) {
        let upper = |k: &[u8]| k.eq_ignore_ascii_case(keyword);
        if let Some(rest) = rest.strip_prefix(b"=") {
            // The pre-standard `AUTH=PLAIN LOGIN` form (SECURITY.md B15).
            if upper(b"AUTH") {
                self.add_auth(rest);
            }
            return;
        }
        if let Some(&(_, flag)) = FLAG_KEYWORDS.iter().find(|(k, _)| upper(k)) {
            self.flags |= flag;
        } else if upper(b"SIZE") {
            self.size.get_or_insert_with(|| parse_size(rest));
        } else if upper(b"AUTH") {
            self.add_auth(rest);
        } else if upper(b"LIMITS") {
            self.limits.get_or_insert_with(|| parse_limits(rest));
        } else if upper(b"MT-PRIORITY") {
            self.mt_priority
                .get_or_insert_with(|| ehlo_params(rest).next().map(Bytes::copy_from_slice));
        } else if upper(b"DELIVERBY") {
            self.deliver_by
                .get_or_insert_with(|| ehlo_params(rest).next().and_then(parse_u32));
        } else {
            self.others.push(Extension {
                keyword: Bytes::from(keyword.to_ascii_uppercase()),
                params: ehlo_params(rest).map(Bytes::copy_from_slice).collect(),
            });
        }
    }

    fn add_auth(&mut self, rest: &[u8]) {
        let set = self.auth.get_or_insert_with(MechanismSet::new);
        for mechanism in ehlo_params(rest).filter_map(Mechanism::from_name) {
            set.insert(mechanism);
        }
    }

    /// The first word of the reply's first line: the server's domain or address literal.
    pub fn server_name(&self) -> &[u8] {
        &self.server_name
    }

    /// `SIZE` (RFC 1870).
    pub fn size(&self) -> Option<SizeLimit> {
        self.size
    }

    /// The known mechanisms of `AUTH` (RFC 4954 §3); `None` if AUTH was not advertised.
    pub fn auth(&self) -> Option<MechanismSet> {
        self.auth
    }

    /// `LIMITS` (RFC 9422).
    pub fn limits(&self) -> Option<MailLimits> {
        self.limits
    }

    /// `PIPELINING` (RFC 2920).
    pub fn pipelining(&self) -> bool {
        self.flags & PIPELINING != 0
    }

    /// `8BITMIME` (RFC 6152).
    pub fn eight_bit_mime(&self) -> bool {
        self.flags & EIGHT_BIT_MIME != 0
    }

    /// `SMTPUTF8` (RFC 6531).
    pub fn smtp_utf8(&self) -> bool {
        self.flags & SMTP_UTF8 != 0
    }

    /// `STARTTLS` (RFC 3207).
    pub fn starttls(&self) -> bool {
        self.flags & STARTTLS != 0
    }

    /// `ENHANCEDSTATUSCODES` (RFC 2034).
    pub fn enhanced_status_codes(&self) -> bool {
        self.flags & ENHANCED_STATUS_CODES != 0
    }

    /// `CHUNKING` (RFC 3030).
    pub fn chunking(&self) -> bool {
        self.flags & CHUNKING != 0
    }

    /// `BINARYMIME` (RFC 3030); only usable together with CHUNKING.
    pub fn binary_mime(&self) -> bool {
        self.flags & BINARY_MIME != 0
    }

    /// `DSN` (RFC 3461).
    pub fn dsn(&self) -> bool {
        self.flags & DSN != 0
    }

    /// `REQUIRETLS` (RFC 8689).
    pub fn requiretls(&self) -> bool {
        self.flags & REQUIRETLS != 0
    }

    /// `MT-PRIORITY` (RFC 6710): `Some(profile)` when advertised, the profile name if given.
    pub fn mt_priority(&self) -> Option<Option<&[u8]>> {
        self.mt_priority.as_ref().map(|p| p.as_deref())
    }

    /// `DELIVERBY` (RFC 2852): `Some(min_by_time)` when advertised, the minimum if given.
    pub fn deliver_by(&self) -> Option<Option<u32>> {
        self.deliver_by
    }

    /// Keywords this crate does not interpret, with their parameters.
    pub fn others(&self) -> &[Extension] {
        &self.others
    }

    /// Whether an uninterpreted keyword was advertised, compared case-insensitively.
    pub fn has_other(&self, keyword: &str) -> bool {
        self.others
            .iter()
            .any(|e| e.keyword.eq_ignore_ascii_case(keyword.as_bytes()))
    }
}

fn first_word(text: &[u8]) -> Bytes {
    let word = text.split(|&b| b == b' ').next().unwrap_or_default();
    Bytes::copy_from_slice(word)
}

/// Reads `1*DIGIT` into a `u32`; `None` on anything else or on overflow (SECURITY.md B20).
fn parse_u32(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u32, |acc, d| {
        acc.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })
}

/// `SIZE [SP size-value]` (RFC 1870): a missing, zero, malformed or overflowing value declares
/// no usable limit (SECURITY.md B15).
fn parse_size(rest: &[u8]) -> SizeLimit {
    let value = ehlo_params(rest).next().and_then(|digits| {
        if digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        digits.iter().try_fold(0u64, |acc, d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
    });
    match value {
        Some(0) | None => SizeLimit::Undeclared,
        Some(max) => SizeLimit::Max(max),
    }
}

/// `LIMITS SP limit-name "=" limit-value *(SP ...)` (RFC 9422 §4).
fn parse_limits(rest: &[u8]) -> MailLimits {
    let mut limits = MailLimits::default();
    for param in ehlo_params(rest) {
        let Some(eq) = param.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (name, value) = (&param[..eq], &param[eq + 1..]);
        let value = parse_u32(value).filter(|&v| v > 0);
        let slot = if name.eq_ignore_ascii_case(b"RCPTMAX") {
            &mut limits.rcpt_max
        } else if name.eq_ignore_ascii_case(b"MAILMAX") {
            &mut limits.mail_max
        } else if name.eq_ignore_ascii_case(b"RCPTDOMAINMAX") {
            &mut limits.rcpt_domain_max
        } else {
            continue;
        };
        if slot.is_none() {
            *slot = value;
        }
    }
    limits
}

//! Local-parts, mailboxes and the paths of MAIL and RCPT (RFC 5321 §4.1.2, RFC 6531 §3.3).

use alloc::string::String;
use core::fmt;

use super::domain::{Host, display_as_str};
use crate::error::{InvalidInput, check_len, reject_controls};

/// RFC 5321 §4.5.3.1.1: the maximum length of a local-part.
pub(crate) const MAX_LOCAL_PART_LEN: usize = 64;
/// RFC 5321 §4.5.3.1.3: the maximum length of a path, angle brackets included.
pub(crate) const MAX_PATH_LEN: usize = 256;

/// `atext` (RFC 5322 §3.2.3), extended by `UTF8-non-ascii` (RFC 6531 §3.3).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

/// `Dot-string = Atom *("." Atom)` (RFC 5321 §4.1.2).
fn is_dot_string(value: &str) -> bool {
    value
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// `Quoted-string = DQUOTE *QcontentSMTP DQUOTE` (RFC 5321 §4.1.2): `qtextSMTP` is printable
/// ASCII but `"` and `\` (plus `UTF8-non-ascii`, RFC 6531 §3.3); `quoted-pairSMTP` is `\`
/// followed by printable ASCII or SP. No control character can appear (SECURITY.md C2).
fn is_quoted_string(value: &str) -> bool {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return false;
    };
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        let ok = match c {
            '\\' => chars.next().is_some_and(|q| (' '..='~').contains(&q)),
            '"' => false,
            c => (' '..='~').contains(&c) || !c.is_ascii(),
        };
        if !ok {
            return false;
        }
    }
    true
}

/// `text` itself if it is a dot-string, otherwise a quoted string with `"` and `\` escaped.
fn quote_text(text: &str) -> String {
    if is_dot_string(text) {
        return text.into();
    }
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// The part of a mailbox before `@`: a dot-string or a quoted string (RFC 5321 §4.1.2), at most
/// 64 octets (§4.5.3.1.1), kept exactly as given: case is preserved (§2.4).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LocalPart(String);

impl LocalPart {
    /// Validates a local-part in its wire form (quotes included, if quoted).
    pub fn parse(value: &str) -> Result<Self, InvalidInput> {
        const FIELD: &str = "local-part";
        reject_controls(FIELD, value)?;
        check_len(FIELD, value, MAX_LOCAL_PART_LEN)?;
        if is_dot_string(value) || is_quoted_string(value) {
            Ok(Self(value.into()))
        } else {
            Err(InvalidInput::malformed(FIELD))
        }
    }

    /// Builds the wire form of any printable text: as it is if it is a dot-string, otherwise
    /// quoted with `"` and `\` escaped.
    pub fn quote(text: &str) -> Result<Self, InvalidInput> {
        reject_controls("local-part", text)?;
        Self::parse(&quote_text(text))
    }

    /// The local-part as it goes on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True if it holds non-ASCII characters, so it needs SMTPUTF8 (RFC 6531 §3.3).
    pub fn needs_smtp_utf8(&self) -> bool {
        !self.0.is_ascii()
    }
}

/// `Mailbox = Local-part "@" ( Domain / address-literal )` (RFC 5321 §4.1.2), short enough to
/// fit a path of 256 octets with its angle brackets (§4.5.3.1.3).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    text: String,
    at: usize,
}

impl Mailbox {
    /// Validates `local@domain`, splitting at the last `@` (a quoted local-part may hold `@`).
    ///
    /// Refuses CR, LF, NUL, angle brackets and spaces outside quotes (SECURITY.md C1, C2, C5).
    pub fn parse(value: &str) -> Result<Self, InvalidInput> {
        reject_controls("mailbox", value)?;
        check_len("path", value, MAX_PATH_LEN - 2)?;
        let at = value.rfind('@').ok_or(InvalidInput::malformed("mailbox"))?;
        LocalPart::parse(&value[..at])?;
        Host::parse(&value[at + 1..])?;
        Ok(Self {
            text: value.into(),
            at,
        })
    }

    /// Joins a validated local-part and host.
    pub fn new(local: &LocalPart, host: &Host) -> Result<Self, InvalidInput> {
        let text = alloc::format!("{local}@{host}");
        check_len("path", &text, MAX_PATH_LEN - 2)?;
        Ok(Self {
            at: local.as_str().len(),
            text,
        })
    }

    /// The mailbox as it goes on the wire, without angle brackets.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The local-part, in wire form.
    pub fn local_part(&self) -> &str {
        &self.text[..self.at]
    }

    /// The domain or address literal.
    pub fn host(&self) -> &str {
        &self.text[self.at + 1..]
    }

    /// True if the mailbox can only be sent with SMTPUTF8 (RFC 6531 §3.3).
    pub fn needs_smtp_utf8(&self) -> bool {
        !self.text.is_ascii()
    }
}

/// The argument of MAIL FROM: a mailbox, or the null path `<>` for bounces (RFC 5321 §4.1.2,
/// §4.5.5).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReversePath {
    /// `<>`.
    Null,
    /// `<mailbox>`.
    Mailbox(Mailbox),
}

impl ReversePath {
    /// True if the path can only be sent with SMTPUTF8.
    pub fn needs_smtp_utf8(&self) -> bool {
        matches!(self, Self::Mailbox(m) if m.needs_smtp_utf8())
    }

    pub(crate) fn mailbox_str(&self) -> &str {
        match self {
            Self::Null => "",
            Self::Mailbox(m) => m.as_str(),
        }
    }
}

impl From<Mailbox> for ReversePath {
    fn from(mailbox: Mailbox) -> Self {
        Self::Mailbox(mailbox)
    }
}

/// The argument of RCPT TO (RFC 5321 §4.1.1.3): a mailbox, or the special `<Postmaster>` that
/// every server must accept without a domain.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ForwardPath {
    /// `<mailbox>`.
    Mailbox(Mailbox),
    /// `<Postmaster>`.
    Postmaster,
}

impl ForwardPath {
    /// True if the path can only be sent with SMTPUTF8.
    pub fn needs_smtp_utf8(&self) -> bool {
        matches!(self, Self::Mailbox(m) if m.needs_smtp_utf8())
    }

    pub(crate) fn mailbox_str(&self) -> &str {
        match self {
            Self::Mailbox(m) => m.as_str(),
            Self::Postmaster => "Postmaster",
        }
    }
}

impl From<Mailbox> for ForwardPath {
    fn from(mailbox: Mailbox) -> Self {
        Self::Mailbox(mailbox)
    }
}

/// The path as it goes on the wire: `<b@example.net>` or `<Postmaster>`.
impl core::fmt::Display for ForwardPath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "<{}>", self.mailbox_str())
    }
}

/// The path as it goes on the wire: `<a@example.com>` or `<>`.
impl core::fmt::Display for ReversePath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "<{}>", self.mailbox_str())
    }
}

/// The argument of VRFY, EXPN or HELP: `String = Atom / Quoted-string` (RFC 5321 §4.1.2),
/// accepted as a dot-string or quoted string, at most 256 octets, no control character
/// (SECURITY.md C12).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct QueryArg(String);

impl QueryArg {
    /// Validates an argument in its wire form.
    pub fn parse(value: &str) -> Result<Self, InvalidInput> {
        const FIELD: &str = "query argument";
        reject_controls(FIELD, value)?;
        check_len(FIELD, value, MAX_PATH_LEN)?;
        if is_dot_string(value) || is_quoted_string(value) {
            Ok(Self(value.into()))
        } else {
            Err(InvalidInput::malformed(FIELD))
        }
    }

    /// The wire form of any printable text, quoted if it is not a dot-string.
    pub fn quote(text: &str) -> Result<Self, InvalidInput> {
        reject_controls("query argument", text)?;
        Self::parse(&quote_text(text))
    }

    /// The argument as it goes on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

display_as_str!(LocalPart, Mailbox, QueryArg);

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn c1_crlf_in_address_is_rejected() {
        let err = Mailbox::parse("victim@example.com\r\nRCPT TO:<attacker@evil.example>");
        assert!(matches!(err, Err(InvalidInput::ControlCharacter { .. })));
        assert!(Mailbox::parse("a\n@example.com").is_err());
        assert!(Mailbox::parse("a@example.com\0").is_err());
    }

    #[test]
    fn c2_crlf_in_quoted_local_part_is_rejected() {
        assert!(Mailbox::parse("\"a\r\nRCPT TO:<x@evil>\"@example.com").is_err());
        assert!(Mailbox::parse("\"a\\\r\"@example.com").is_err());
        assert!(Mailbox::parse("\"john smith\"@example.com").is_ok());
        assert!(Mailbox::parse("\"a@b\"@example.com").is_ok_and(|m| m.host() == "example.com"));
    }

    #[test]
    fn c5_path_break_out_is_rejected() {
        for bad in [
            "a@b.example> SIZE=1 RET=FULL",
            "a@b.example> AUTH=<>",
            "a<b@example.com",
            "a b@example.com",
            "@example.com",
            "a@",
            "a.@example.com",
        ] {
            assert!(Mailbox::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn c7_local_part_and_path_lengths() {
        let local64 = "a".repeat(64);
        assert!(LocalPart::parse(&local64).is_ok());
        assert_eq!(
            LocalPart::parse(&"a".repeat(65)),
            Err(InvalidInput::TooLong {
                field: "local-part",
                limit: 64
            })
        );
        // 64 + 1 + 189 = 254 octets: a path of exactly 256 with its brackets.
        let domain = ["a".repeat(63), "b".repeat(63), "c".repeat(61)].join(".");
        assert_eq!(domain.len(), 189);
        assert!(Mailbox::parse(&alloc::format!("{local64}@{domain}")).is_ok());
        assert!(Mailbox::parse(&alloc::format!("{local64}@{domain}x")).is_err());
    }

    #[test]
    fn c6_utf8_addresses_are_flagged() {
        let m = Mailbox::parse("Böb@example.com").expect("valid under SMTPUTF8");
        assert!(m.needs_smtp_utf8());
        assert!(Mailbox::parse("bob@bücher.example").is_ok_and(|m| m.needs_smtp_utf8()));
        assert!(!Mailbox::parse("bob@example.com").is_ok_and(|m| m.needs_smtp_utf8()));
    }

    #[test]
    fn quoting() {
        assert_eq!(
            LocalPart::quote("john.smith").map(|l| l.to_string()),
            Ok("john.smith".into())
        );
        assert_eq!(
            LocalPart::quote("john \"jr\" smith").map(|l| l.to_string()),
            Ok("\"john \\\"jr\\\" smith\"".into())
        );
        assert!(LocalPart::quote("a\r\nb").is_err());
        assert_eq!(
            QueryArg::quote("John Smith").map(|q| q.to_string()),
            Ok("\"John Smith\"".into())
        );
        assert!(QueryArg::parse("x\r\nDATA").is_err());
        assert!(QueryArg::parse("a b").is_err());
    }
}

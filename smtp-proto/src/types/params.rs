//! ESMTP parameters of MAIL and RCPT, each a validated value (SECURITY.md C4).

use alloc::string::String;
use core::fmt::{self, Write};

use super::mailbox::Mailbox;
use crate::error::InvalidInput;

/// Text in xtext form (RFC 3461 §4): printable ASCII except `+` and `=` as is, every other octet
/// as `+XX`. What an xtext holds can never break a command line.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct XText(String);

impl XText {
    /// Encodes any bytes.
    pub fn encode(raw: &[u8]) -> Self {
        let mut out = String::with_capacity(raw.len());
        for &b in raw {
            if (33..=126).contains(&b) && b != b'+' && b != b'=' {
                out.push(char::from(b));
            } else {
                // Writing to a String cannot fail.
                let _ = write!(out, "+{b:02X}");
            }
        }
        Self(out)
    }

    /// The encoded form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for XText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Checks that `raw` is printable ASCII of at most `limit` characters, as RFC 3461 §4.4 asks of
/// ENVID and §4.2 of the ORCPT address, then xtext-encodes it.
fn printable_xtext(field: &'static str, raw: &str, limit: usize) -> Result<XText, InvalidInput> {
    crate::error::reject_controls(field, raw)?;
    crate::error::check_len(field, raw, limit)?;
    if raw.is_empty() || !raw.bytes().all(|b| (32..=126).contains(&b)) {
        return Err(InvalidInput::malformed(field));
    }
    Ok(XText::encode(raw.as_bytes()))
}

/// `ENVID=`: the sender's envelope identifier, returned in DSNs (RFC 3461 §4.4).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EnvId(XText);

impl EnvId {
    /// Validates printable ASCII of at most 100 characters (RFC 3461 §4.4).
    pub fn new(raw: &str) -> Result<Self, InvalidInput> {
        printable_xtext("envid", raw, 100).map(Self)
    }

    /// The xtext form sent on the wire.
    pub fn xtext(&self) -> &XText {
        &self.0
    }
}

/// `ORCPT=rfc822;<xtext>`: the original recipient, returned in DSNs (RFC 3461 §4.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OriginalRecipient(XText);

impl OriginalRecipient {
    /// An `rfc822` original recipient address: printable ASCII, at most 500 characters.
    pub fn rfc822(address: &str) -> Result<Self, InvalidInput> {
        printable_xtext("orcpt", address, 500).map(Self)
    }

    /// The xtext form of the address.
    pub fn xtext(&self) -> &XText {
        &self.0
    }
}

/// `BODY=` (RFC 6152 §2, RFC 3030 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyType {
    /// `7BIT`: US-ASCII only.
    SevenBit,
    /// `8BITMIME`: octets above 127 in text lines (needs 8BITMIME).
    EightBitMime,
    /// `BINARYMIME`: arbitrary octets, sent with BDAT (needs BINARYMIME and CHUNKING).
    BinaryMime,
}

impl BodyType {
    /// The parameter value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SevenBit => "7BIT",
            Self::EightBitMime => "8BITMIME",
            Self::BinaryMime => "BINARYMIME",
        }
    }
}

/// `RET=`: how much of the message a DSN returns (RFC 3461 §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// `FULL`: the whole message.
    Full,
    /// `HDRS`: the headers only.
    Headers,
}

/// `NOTIFY=` (RFC 3461 §4.1): `NEVER`, or any non-empty combination of the three conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Notify {
    success: bool,
    failure: bool,
    delay: bool,
}

impl Notify {
    /// `NOTIFY=NEVER`.
    pub const NEVER: Self = Self {
        success: false,
        failure: false,
        delay: false,
    };

    /// Notify on the chosen conditions; `None` if none is chosen (use [`Notify::NEVER`]).
    pub const fn on(success: bool, failure: bool, delay: bool) -> Option<Self> {
        if success || failure || delay {
            Some(Self {
                success,
                failure,
                delay,
            })
        } else {
            None
        }
    }

    pub(crate) fn write(self, out: &mut String) {
        if self == Self::NEVER {
            out.push_str("NEVER");
            return;
        }
        let names = [
            (self.success, "SUCCESS"),
            (self.failure, "FAILURE"),
            (self.delay, "DELAY"),
        ];
        let chosen = names.iter().filter(|(on, _)| *on).map(|(_, name)| *name);
        for (i, name) in chosen.enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(name);
        }
    }
}

/// `MT-PRIORITY=`: a priority from -9 to 9 (RFC 6710 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MtPriority(i8);

impl MtPriority {
    /// `None` outside -9..=9.
    pub const fn new(priority: i8) -> Option<Self> {
        if priority >= -9 && priority <= 9 {
            Some(Self(priority))
        } else {
            None
        }
    }

    /// The priority.
    pub const fn get(self) -> i8 {
        self.0
    }
}

/// What the server does when a DELIVERBY time passes (RFC 2852 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ByMode {
    /// `R`: return the message as undeliverable.
    Return,
    /// `N`: send a delay notification and keep trying.
    Notify,
}

/// `BY=<seconds>;<mode>[T]` (RFC 2852 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeliverBy {
    seconds: i32,
    mode: ByMode,
    trace: bool,
}

impl DeliverBy {
    /// `seconds` may be negative for `N` (§4), at most nine digits; `None` otherwise, or if it is
    /// not positive with mode `R`.
    pub const fn new(seconds: i32, mode: ByMode, trace: bool) -> Option<Self> {
        let in_range = seconds >= -999_999_999 && seconds <= 999_999_999;
        let positive_for_return = !matches!(mode, ByMode::Return) || seconds > 0;
        if in_range && positive_for_return {
            Some(Self {
                seconds,
                mode,
                trace,
            })
        } else {
            None
        }
    }

    pub(crate) fn write(self, out: &mut String) {
        let mode = match self.mode {
            ByMode::Return => 'R',
            ByMode::Notify => 'N',
        };
        let trace = if self.trace { "T" } else { "" };
        let _ = write!(out, "{};{mode}{trace}", self.seconds);
    }
}

/// `AUTH=` on MAIL: the authenticated submitter, or `<>` if unknown (RFC 4954 §5).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AuthParam {
    /// `AUTH=<>`.
    Unknown,
    /// `AUTH=<xtext of the mailbox>`.
    Submitter(Mailbox),
}

/// The ESMTP parameters of MAIL FROM. Each is sent only if the server advertised its extension;
/// otherwise building the command fails (RFC 5321 §4.1.1.3, SECURITY.md C8).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailParameters {
    /// `SIZE=` (RFC 1870), generated from the integer alone (SECURITY.md C4).
    pub size: Option<u64>,
    /// `BODY=` (RFC 6152, RFC 3030).
    pub body: Option<BodyType>,
    /// `SMTPUTF8` (RFC 6531 §3.4).
    pub smtp_utf8: bool,
    /// `RET=` (RFC 3461 §4.3).
    pub ret: Option<Ret>,
    /// `ENVID=` (RFC 3461 §4.4).
    pub envid: Option<EnvId>,
    /// `REQUIRETLS` (RFC 8689 §4.1); the session must also be over TLS, which the client
    /// session checks.
    pub require_tls: bool,
    /// `MT-PRIORITY=` (RFC 6710).
    pub mt_priority: Option<MtPriority>,
    /// `BY=` (RFC 2852).
    pub deliver_by: Option<DeliverBy>,
    /// `AUTH=` (RFC 4954 §5).
    pub auth: Option<AuthParam>,
}

/// The ESMTP parameters of RCPT TO (RFC 3461 §4.1, §4.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RcptParameters {
    /// `NOTIFY=`.
    pub notify: Option<Notify>,
    /// `ORCPT=rfc822;...`.
    pub orcpt: Option<OriginalRecipient>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xtext_encodes_everything_unsafe() {
        assert_eq!(
            XText::encode(b"a+b=c d\r\n").as_str(),
            "a+2Bb+3Dc+20d+0D+0A"
        );
        assert_eq!(XText::encode("é".as_bytes()).as_str(), "+C3+A9");
    }

    #[test]
    fn c4_parameter_values_are_validated() {
        assert!(EnvId::new("QQ314159").is_ok());
        assert!(EnvId::new("id\r\nRCPT TO:<x@evil>").is_err());
        assert!(EnvId::new(&"a".repeat(101)).is_err());
        assert!(OriginalRecipient::rfc822("a@b\nc").is_err());
        assert_eq!(
            OriginalRecipient::rfc822("a+b@example.com").map(|o| o.0),
            Ok(XText("a+2Bb@example.com".into()))
        );
        assert!(MtPriority::new(10).is_none() && MtPriority::new(-9).is_some());
        assert!(DeliverBy::new(0, ByMode::Return, false).is_none());
        assert!(DeliverBy::new(-5, ByMode::Notify, true).is_some());
        assert!(Notify::on(false, false, false).is_none());
    }

    #[test]
    fn notify_lists() {
        let mut s = String::new();
        Notify::on(true, true, false).expect("some").write(&mut s);
        assert_eq!(s, "SUCCESS,FAILURE");
        s.clear();
        Notify::NEVER.write(&mut s);
        assert_eq!(s, "NEVER");
    }
}

//! Domains, address literals and the client's EHLO identity (RFC 5321 §4.1.2, §4.1.3).

use alloc::string::{String, ToString};
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{InvalidInput, check_len, reject_controls};

/// RFC 5321 §4.5.3.1.2: the maximum length of a domain name.
pub(crate) const MAX_DOMAIN_LEN: usize = 255;
/// RFC 1035 §2.3.4: the maximum length of one label.
const MAX_LABEL_LEN: usize = 63;

/// A domain name: `sub-domain *("." sub-domain)` (RFC 5321 §4.1.2), where a sub-domain is a
/// letter-digit-hyphen label or, under SMTPUTF8, a U-label (RFC 6531 §3.3).
///
/// At most 255 octets (RFC 5321 §4.5.3.1.2), labels of at most 63 (RFC 1035 §2.3.4), no control
/// character, no trailing dot. U-labels are checked for shape (letters, digits and hyphens of
/// any script), not for full IDNA validity.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Domain(String);

fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || (!c.is_ascii() && c.is_alphanumeric())
}

impl Domain {
    /// Validates a domain.
    pub fn parse(value: &str) -> Result<Self, InvalidInput> {
        const FIELD: &str = "domain";
        reject_controls(FIELD, value)?;
        check_len(FIELD, value, MAX_DOMAIN_LEN)?;
        for label in value.split('.') {
            let first = label.chars().next();
            let last = label.chars().next_back();
            let ends_ok = |c: Option<char>| c.is_some_and(|c| c != '-' && is_label_char(c));
            if label.len() > MAX_LABEL_LEN
                || !ends_ok(first)
                || !ends_ok(last)
                || !label.chars().all(is_label_char)
            {
                return Err(InvalidInput::malformed(FIELD));
            }
        }
        Ok(Self(value.to_string()))
    }

    /// The domain as it goes on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True if the domain has a U-label, so it can only be sent with SMTPUTF8 (RFC 6531 §3.2).
    pub fn needs_smtp_utf8(&self) -> bool {
        !self.0.is_ascii()
    }
}

/// An address literal in brackets: `[192.0.2.1]`, `[IPv6:2001:db8::1]` or a general literal
/// `[tag:content]` (RFC 5321 §4.1.3).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AddressLiteral(String);

impl AddressLiteral {
    /// Validates an address literal, brackets included.
    pub fn parse(value: &str) -> Result<Self, InvalidInput> {
        const FIELD: &str = "address literal";
        reject_controls(FIELD, value)?;
        check_len(FIELD, value, MAX_DOMAIN_LEN)?;
        let inner = value
            .strip_prefix('[')
            .and_then(|v| v.strip_suffix(']'))
            .ok_or(InvalidInput::malformed(FIELD))?;
        let valid = if let Some(v6) = strip_prefix_ignore_case(inner, "IPv6:") {
            v6.parse::<Ipv6Addr>().is_ok()
        } else if let Some((tag, content)) = inner.split_once(':') {
            // General-address-literal = Standardized-tag ":" 1*dcontent
            let tag_ok = Domain::parse(tag).is_ok_and(|d| !d.0.contains('.') && tag.is_ascii());
            let dcontent = |b: u8| matches!(b, 33..=90 | 94..=126);
            tag_ok && !content.is_empty() && content.bytes().all(dcontent)
        } else {
            inner.parse::<Ipv4Addr>().is_ok()
        };
        if valid {
            Ok(Self(value.to_string()))
        } else {
            Err(InvalidInput::malformed(FIELD))
        }
    }

    /// The literal for an IP address: `[192.0.2.1]` or `[IPv6:...]`.
    pub fn from_ip(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(alloc::format!("[{v4}]")),
            IpAddr::V6(v6) => Self(alloc::format!("[IPv6:{v6}]")),
        }
    }

    /// The literal as it goes on the wire, brackets included.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn strip_prefix_ignore_case<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
}

/// The domain part of a mailbox: a domain or an address literal (RFC 5321 §4.1.2).
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name.
    Domain(Domain),
    /// An address literal.
    Literal(AddressLiteral),
}

impl Host {
    /// Validates a domain, or an address literal if `value` starts with `[`.
    pub fn parse(value: &str) -> Result<Self, InvalidInput> {
        if value.starts_with('[') {
            AddressLiteral::parse(value).map(Self::Literal)
        } else {
            Domain::parse(value).map(Self::Domain)
        }
    }

    /// The host as it goes on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Domain(d) => d.as_str(),
            Self::Literal(l) => l.as_str(),
        }
    }

    /// True if the host is a domain with a U-label (RFC 6531 §3.2).
    pub fn needs_smtp_utf8(&self) -> bool {
        matches!(self, Self::Domain(d) if d.needs_smtp_utf8())
    }
}

/// The client's identity in EHLO, HELO and LHLO: an ASCII domain or an address literal
/// (RFC 5321 §4.1.1.1). EHLO is sent before the client knows whether SMTPUTF8 is available, so
/// U-labels are refused here (use the A-label form).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClientId(Host);

impl ClientId {
    /// Validates an EHLO identity (SECURITY.md C3: CR, LF and NUL are refused).
    pub fn parse(value: &str) -> Result<Self, InvalidInput> {
        let host = Host::parse(value)?;
        if host.needs_smtp_utf8() {
            return Err(InvalidInput::malformed("client id"));
        }
        Ok(Self(host))
    }

    /// The address literal for an IP address, for clients without a DNS name.
    pub fn from_ip(ip: IpAddr) -> Self {
        Self(Host::Literal(AddressLiteral::from_ip(ip)))
    }

    /// The identity as it goes on the wire.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.as_str(), f)
            }
        }
    )*};
}
pub(crate) use display_as_str;
display_as_str!(Domain, AddressLiteral, Host, ClientId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        for ok in [
            "example.com",
            "a",
            "mx-1.example.co.uk",
            "xn--bcher-kva.example",
            "bücher.example",
        ] {
            assert!(Domain::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a.example",
            "a-.example",
            "a..b",
            "a.",
            ".a",
            "a_b.example",
            "a b",
            "a>b",
        ] {
            assert!(Domain::parse(bad).is_err(), "{bad}");
        }
        assert!(Domain::parse("bücher.example").is_ok_and(|d| d.needs_smtp_utf8()));
    }

    #[test]
    fn c7_domain_and_label_lengths() {
        let label = "a".repeat(63);
        let domain = [label.as_str(); 4].join(".");
        assert_eq!(domain.len(), 255);
        assert!(Domain::parse(&domain).is_ok());
        assert_eq!(
            Domain::parse(&(domain + "a")),
            Err(InvalidInput::TooLong {
                field: "domain",
                limit: 255
            })
        );
        assert!(Domain::parse(&"a".repeat(64)).is_err());
    }

    #[test]
    fn c3_client_id_rejects_line_breaks_and_nul() {
        for bad in [
            "client.example\r\nMAIL FROM:<x>",
            "client\n",
            "client\0",
            "client\r",
        ] {
            assert!(
                matches!(
                    ClientId::parse(bad),
                    Err(InvalidInput::ControlCharacter { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(ClientId::parse("bücher.example").is_err());
        assert_eq!(
            ClientId::parse("[192.0.2.1]").map(|c| c.to_string()),
            Ok("[192.0.2.1]".into())
        );
    }

    #[test]
    fn address_literals() {
        for ok in [
            "[192.0.2.1]",
            "[IPv6:2001:db8::1]",
            "[ipv6:::1]",
            "[x-tag:abc]",
        ] {
            assert!(AddressLiteral::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "192.0.2.1",
            "[192.0.2.256]",
            "[IPv6:zz]",
            "[]",
            "[a:]",
            "[a:b]c]",
            "[a:b\\c]",
        ] {
            assert!(AddressLiteral::parse(bad).is_err(), "{bad}");
        }
        let v6 = AddressLiteral::from_ip("2001:db8::1".parse().expect("ip"));
        assert_eq!(v6.as_str(), "[IPv6:2001:db8::1]");
    }
}

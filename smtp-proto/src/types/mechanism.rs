//! SASL mechanisms the client knows by name (RFC 4954, RFC 4422).

use core::fmt;

/// A SASL mechanism this crate can name in `AUTH` and recognise in an EHLO reply.
///
/// Mechanism names are matched case-insensitively (RFC 4422 §3.1 defines them in upper case;
/// RFC 5321 §2.4 makes EHLO keywords case-insensitive). Unknown names in an EHLO reply are
/// ignored (SECURITY.md B19).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Mechanism {
    /// `PLAIN` (RFC 4616): one message with authorization id, user and password.
    Plain,
    /// `LOGIN` (draft-murchison-sasl-login): user and password in two steps.
    Login,
    /// `XOAUTH2` (Google and Microsoft): an OAuth 2.0 bearer token.
    XOAuth2,
    /// `OAUTHBEARER` (RFC 7628): an OAuth 2.0 bearer token.
    OAuthBearer,
    /// `CRAM-MD5` (RFC 2195): a keyed digest of a server challenge.
    CramMd5,
    /// `EXTERNAL` (RFC 4422 Appendix A): identity from the TLS client certificate.
    External,
    /// `SCRAM-SHA-1` (RFC 5802).
    ScramSha1,
    /// `SCRAM-SHA-256` (RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-1-PLUS` (RFC 5802): SCRAM bound to the TLS channel.
    ScramSha1Plus,
    /// `SCRAM-SHA-256-PLUS` (RFC 7677): SCRAM bound to the TLS channel.
    ScramSha256Plus,
}

impl Mechanism {
    /// Every known mechanism, in declaration order.
    pub const ALL: [Self; 10] = [
        Self::Plain,
        Self::Login,
        Self::XOAuth2,
        Self::OAuthBearer,
        Self::CramMd5,
        Self::External,
        Self::ScramSha1,
        Self::ScramSha256,
        Self::ScramSha1Plus,
        Self::ScramSha256Plus,
    ];

    /// The registered name, as sent in `AUTH <name>`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::Login => "LOGIN",
            Self::XOAuth2 => "XOAUTH2",
            Self::OAuthBearer => "OAUTHBEARER",
            Self::CramMd5 => "CRAM-MD5",
            Self::External => "EXTERNAL",
            Self::ScramSha1 => "SCRAM-SHA-1",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Self::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
        }
    }

    /// The mechanism with this name, compared case-insensitively.
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.name().as_bytes().eq_ignore_ascii_case(name))
    }

    const fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// Whether this is one of the SCRAM mechanisms.
    pub const fn is_scram(self) -> bool {
        matches!(
            self,
            Self::ScramSha1 | Self::ScramSha256 | Self::ScramSha1Plus | Self::ScramSha256Plus
        )
    }

    /// Whether this mechanism binds the exchange to the TLS channel (`-PLUS`).
    pub const fn binds_channel(self) -> bool {
        matches!(self, Self::ScramSha1Plus | Self::ScramSha256Plus)
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`Mechanism`]s, as advertised by the AUTH keyword.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MechanismSet(u16);

impl MechanismSet {
    /// The empty set.
    pub const fn new() -> Self {
        Self(0)
    }

    /// Adds a mechanism.
    pub fn insert(&mut self, mechanism: Mechanism) {
        self.0 |= mechanism.bit();
    }

    /// Whether the set holds `mechanism`.
    pub const fn contains(self, mechanism: Mechanism) -> bool {
        self.0 & mechanism.bit() != 0
    }

    /// True if no known mechanism is in the set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The mechanisms in the set, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Mechanism> {
        Mechanism::ALL
            .into_iter()
            .filter(move |m| self.contains(*m))
    }
}

impl FromIterator<Mechanism> for MechanismSet {
    fn from_iter<I: IntoIterator<Item = Mechanism>>(iter: I) -> Self {
        let mut set = Self::new();
        for m in iter {
            set.insert(m);
        }
        set
    }
}

/// The names, comma-separated, or `none`.
impl fmt::Display for MechanismSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        for (i, m) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(m.name())?;
        }
        Ok(())
    }
}

impl fmt::Debug for MechanismSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_case_insensitively() {
        for m in Mechanism::ALL {
            assert_eq!(Mechanism::from_name(m.name().as_bytes()), Some(m));
            let lower = m.name().to_ascii_lowercase();
            assert_eq!(Mechanism::from_name(lower.as_bytes()), Some(m));
        }
        assert_eq!(Mechanism::from_name(b"GSSAPI"), None);
    }

    #[test]
    fn set_membership() {
        let set: MechanismSet = [Mechanism::Plain, Mechanism::ScramSha256]
            .into_iter()
            .collect();
        assert!(set.contains(Mechanism::Plain) && !set.contains(Mechanism::Login));
        assert_eq!(set.iter().count(), 2);
    }
}

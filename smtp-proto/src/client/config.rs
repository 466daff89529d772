//! Session configuration: TLS mode, credentials, limits and policies.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::time::Timeouts;
use crate::error::{InvalidInput, reject_controls};
use crate::types::domain::ClientId;
use crate::types::mechanism::Mechanism;
use crate::types::secret::Secret;
use crate::wire::decoder::ReplyLimits;
use crate::wire::text::BareLineEndings;

/// How the connection is encrypted. There is no default: a session that silently talks in clear
/// is the most common SMTP client mistake, so the choice is always written down.
///
/// Ports tell the two TLS modes apart. Amazon SES, for example, offers STARTTLS on 25, 587 and
/// 2587 and implicit TLS ("TLS Wrapper") on 465 and 2465; [`TlsMode::for_port`] knows these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsMode {
    /// Implicit TLS, "TLS Wrapper" (RFC 8314 §3): the driver completes the TLS handshake before
    /// the first byte of SMTP. The client asks for it with its first action.
    Implicit,
    /// STARTTLS required (RFC 3207): plain TCP, EHLO, STARTTLS, handshake, EHLO again. If the
    /// server does not offer STARTTLS or refuses it, the session fails before any AUTH or MAIL.
    StartTls,
    /// STARTTLS if the server offers it, plaintext otherwise. Credentials are still never sent
    /// in clear unless [`AuthPolicy::allow_without_tls`] says so (SECURITY.md A18).
    StartTlsOpportunistic,
    /// No TLS at all: for tests and local relays only. Credentials need
    /// [`AuthPolicy::allow_without_tls`] as well.
    InsecurePlaintext,
}

impl TlsMode {
    /// The mode a well-known submission port implies: 465 and 2465 implicit TLS, 25, 587 and
    /// 2587 STARTTLS (RFC 8314 §3.3, RFC 6409, the SES endpoint table); `None` for any other
    /// port, where the caller must choose.
    pub const fn for_port(port: u16) -> Option<Self> {
        match port {
            465 | 2465 => Some(Self::Implicit),
            25 | 587 | 2587 => Some(Self::StartTls),
            _ => None,
        }
    }

    /// Whether the session may continue without TLS.
    pub const fn allows_plaintext(self) -> bool {
        matches!(self, Self::StartTlsOpportunistic | Self::InsecurePlaintext)
    }
}

/// Credentials for SMTP AUTH. Every field is checked for CR, LF and NUL (SECURITY.md C11);
/// secrets are held in [`Secret`], whose `Debug` redacts them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// A user name and password, for SCRAM (RFC 5802, RFC 7677), PLAIN (RFC 4616) and LOGIN.
    Password {
        /// The identity to act as, if different from the user (PLAIN and SCRAM).
        authzid: Option<String>,
        /// The user name.
        username: String,
        /// The password.
        password: Secret<String>,
    },
    /// An OAuth 2.0 bearer token, for XOAUTH2 and OAUTHBEARER (RFC 7628).
    OAuth2 {
        /// The user the token belongs to.
        username: String,
        /// The access token.
        token: Secret<String>,
    },
    /// The identity of the TLS client certificate, for EXTERNAL (RFC 4422 Appendix A): the
    /// driver presents the certificate; AUTH only names who to act as.
    External {
        /// The identity to act as, if not the certificate's own.
        authzid: Option<String>,
    },
}

impl Credentials {
    /// A user name and password.
    pub fn password(username: &str, password: &str) -> Result<Self, InvalidInput> {
        reject_controls("username", username)?;
        reject_controls("password", password)?;
        Ok(Self::Password {
            authzid: None,
            username: username.into(),
            password: Secret::new(password.into()),
        })
    }

    /// A user name and password, acting as `authzid` (the authorization identity of PLAIN and
    /// SCRAM; LOGIN has none).
    pub fn password_as(
        authzid: &str,
        username: &str,
        password: &str,
    ) -> Result<Self, InvalidInput> {
        reject_controls("authzid", authzid)?;
        match Self::password(username, password)? {
            Self::Password {
                username, password, ..
            } => Ok(Self::Password {
                authzid: Some(authzid.into()),
                username,
                password,
            }),
            other => Ok(other),
        }
    }

    /// An OAuth 2.0 bearer token.
    pub fn oauth2(username: &str, token: &str) -> Result<Self, InvalidInput> {
        reject_controls("username", username)?;
        reject_controls("token", token)?;
        Ok(Self::OAuth2 {
            username: username.into(),
            token: Secret::new(token.into()),
        })
    }

    /// Authentication by the TLS client certificate the driver presents (SASL EXTERNAL,
    /// RFC 4422 Appendix A), as the certificate's own identity.
    pub fn external() -> Self {
        Self::External { authzid: None }
    }

    /// Authentication by the TLS client certificate, acting as `authzid`.
    pub fn external_as(authzid: &str) -> Result<Self, InvalidInput> {
        reject_controls("authzid", authzid)?;
        Ok(Self::External {
            authzid: Some(authzid.into()),
        })
    }

    /// Whether `mechanism` can use these credentials.
    pub fn suits(&self, mechanism: Mechanism) -> bool {
        match self {
            Self::Password { .. } => {
                matches!(mechanism, Mechanism::Plain | Mechanism::Login) || mechanism.is_scram()
            }
            Self::OAuth2 { .. } => matches!(mechanism, Mechanism::XOAuth2 | Mechanism::OAuthBearer),
            Self::External { .. } => mechanism == Mechanism::External,
        }
    }
}

/// Which mechanism to use and on what channel credentials may be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthPolicy {
    /// Mechanisms in order of preference; the first that the server advertised after TLS and
    /// that suits the credentials is used (SECURITY.md E3). Default: SCRAM-SHA-256-PLUS,
    /// SCRAM-SHA-256, SCRAM-SHA-1-PLUS, SCRAM-SHA-1 (the password never leaves the client, and
    /// `-PLUS` binds the exchange to the TLS connection), then OAUTHBEARER, XOAUTH2, PLAIN,
    /// LOGIN, EXTERNAL (only [`Credentials::External`] suits it). SCRAM needs [`Config::sasl_nonce`], `-PLUS` the driver's channel binding data
    /// ([`TlsInfo::channel_binding`](crate::TlsInfo)); without them the next is used. Put
    /// PLAIN first for a server whose stored passwords cannot serve SCRAM.
    pub preference: Vec<Mechanism>,
    /// Send credentials on a connection without TLS. Off by default (RFC 8314 §5.1,
    /// SECURITY.md E1, A18).
    pub allow_without_tls: bool,
    /// Send credentials over TLS whose certificate the driver could not verify. Off by default
    /// (RFC 4954 §14, SECURITY.md E2).
    pub allow_unverified_tls: bool,
}

impl Default for AuthPolicy {
    fn default() -> Self {
        Self {
            preference: vec![
                Mechanism::ScramSha256Plus,
                Mechanism::ScramSha256,
                Mechanism::ScramSha1Plus,
                Mechanism::ScramSha1,
                Mechanism::OAuthBearer,
                Mechanism::XOAuth2,
                Mechanism::Plain,
                Mechanism::Login,
                Mechanism::External,
            ],
            allow_without_tls: false,
            allow_unverified_tls: false,
        }
    }
}

/// Everything a [`Client`](crate::Client) needs to know before the connection starts.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// The name sent in EHLO.
    pub client_id: ClientId,
    /// How the connection is encrypted.
    pub tls: TlsMode,
    /// Credentials for AUTH, if the server needs them.
    pub credentials: Option<Credentials>,
    /// A fresh random nonce for SCRAM (RFC 5802 §5.1): printable ASCII without `,`, at least 18
    /// characters, new for every session. The core has no randomness of its own; the adapters
    /// draw one for each connection, replacing this. Without a valid one SCRAM is not used.
    pub sasl_nonce: Option<String>,
    /// Mechanism choice and the channel rules for credentials.
    pub auth: AuthPolicy,
    /// Continue a STARTTLS-required or implicit-TLS session whose certificate the driver could
    /// not verify. Off by default: the session then ends with QUIT before AUTH or MAIL
    /// (RFC 8314 §5.2, SECURITY.md A13, I6).
    pub allow_unverified_tls: bool,
    /// Per-command timeouts.
    pub timeouts: Timeouts,
    /// Limits on server replies.
    pub reply_limits: ReplyLimits,
    /// Pipeline commands when the server offers PIPELINING (RFC 2920). Default on.
    pub pipelining: bool,
    /// Send bodies with BDAT when the server offers CHUNKING (RFC 3030). Default on.
    pub chunking: bool,
    /// The size of a BDAT chunk. Default 256 KiB.
    pub bdat_chunk_size: usize,
    /// With pipelining, stop emitting once this many octets (commands and message data) await
    /// their replies, so a slow server cannot make the output grow without bound. At least one
    /// command always goes out. Default 4 MiB.
    pub max_unacknowledged_bytes: usize,
    /// With pipelining, stop emitting once this many commands await their replies. The server
    /// writes replies while it reads commands, so a driver that writes everything before it
    /// reads could deadlock with a server whose replies filled the buffers between them
    /// (RFC 2920 §3.1); 256 replies stay far below any socket buffer. At least one command
    /// always goes out. Default 256.
    pub max_unanswered_commands: usize,
    /// The most octets of a streamed body the client holds before
    /// [`push_body`](crate::Client::push_body) says "wait". Default 256 KiB.
    pub max_body_buffer: usize,
    /// Speak LMTP (RFC 2033): LHLO instead of EHLO, one end-of-data reply per recipient.
    pub lmtp: bool,
    /// What to do with bare CR and LF in message bodies.
    pub bare_line_endings: BareLineEndings,
    /// Report every command and reply as an [`Event::Transcript`](crate::Event::Transcript),
    /// with SASL payloads redacted. Default off.
    pub transcript: bool,
}

impl Config {
    /// A configuration with the defaults above.
    pub fn new(client_id: ClientId, tls: TlsMode) -> Self {
        Self {
            client_id,
            tls,
            credentials: None,
            sasl_nonce: None,
            auth: AuthPolicy::default(),
            allow_unverified_tls: false,
            timeouts: Timeouts::default(),
            reply_limits: ReplyLimits::default(),
            pipelining: true,
            chunking: true,
            bdat_chunk_size: 256 * 1024,
            max_unacknowledged_bytes: 4 * 1024 * 1024,
            max_unanswered_commands: 256,
            max_body_buffer: 256 * 1024,
            lmtp: false,
            bare_line_endings: BareLineEndings::default(),
            transcript: false,
        }
    }
}

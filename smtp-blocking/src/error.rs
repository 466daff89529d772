//! The adapter's error: IO, TLS, timeouts and the core's protocol errors kept apart.

use smtp_proto::{Stage, UsageError};

/// Why a session could not go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Connecting, reading or writing failed.
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS handshake failed: certificate, name or protocol (SECURITY.md A12, A13, G3).
    #[error("tls handshake failed: {0}")]
    TlsHandshake(String),
    /// The TLS configuration could not be built (an unreadable CA file).
    #[error("tls configuration: {0}")]
    TlsConfig(String),
    /// Connecting took longer than the greeting timeout.
    #[error("connecting timed out")]
    ConnectTimeout,
    /// No greeting came on a port that usually speaks implicit TLS (SECURITY.md G4).
    #[error(
        "no greeting from the server; port {0} usually expects implicit tls (TlsMode::Implicit)"
    )]
    NoGreetingOnImplicitPort(u16),
    /// The SMTP session failed: the server's reply, a protocol error or a timeout, from the core.
    #[error(transparent)]
    Smtp(#[from] smtp_proto::Error),
    /// The request cannot be carried out (a bad value, a closed session).
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The endpoint cannot be built (a port without a known TLS mode, a bad region).
    #[error(transparent)]
    Endpoint(#[from] smtp_proto::EndpointError),
    /// The host name did not resolve to any address.
    #[error("invalid host name {0:?}")]
    InvalidHostName(String),
}

impl Error {
    /// The server's reply behind the error, if any.
    pub fn reply(&self) -> Option<&smtp_proto::Reply> {
        match self {
            Self::Smtp(e) => e.reply(),
            _ => None,
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Io(_) | Self::ConnectTimeout => true,
            Self::Smtp(e) => e.is_transient(),
            _ => false,
        }
    }

    /// Whether this is a timeout of some wait.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Self::ConnectTimeout
                | Self::NoGreetingOnImplicitPort(_)
                | Self::Smtp(smtp_proto::Error::Timeout(_))
        )
    }

    pub(crate) fn greeting_timeout(&self) -> bool {
        matches!(
            self,
            Self::Smtp(smtp_proto::Error::Timeout(Stage::Greeting))
        )
    }
}

//! Where to connect, and how to encrypt: host, port and TLS mode, with the Amazon SES table.
//!
//! The adapters connect to an [`Endpoint`]; the rules that pair ports with TLS modes live here,
//! once, so that no adapter decides them.

use alloc::format;
use alloc::string::String;
use core::time::Duration;

use crate::client::config::TlsMode;

/// An endpoint that cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// A port without a well-known TLS mode was given without one.
    #[error("port {0} has no well-known tls mode; choose one explicitly")]
    PortNeedsTlsMode(u16),
    /// Not a valid SES region name.
    #[error("invalid region {0:?}")]
    InvalidRegion(String),
    /// Amazon SES has no SMTP endpoint in this region (its API only); send through another.
    #[error("amazon ses has no smtp endpoint in {0}")]
    NoSmtpEndpoint(String),
}

/// The Amazon SES regions whose SES has no SMTP endpoint.
pub const SES_REGIONS_WITHOUT_SMTP: [&str; 5] = [
    "af-south-1",
    "ap-southeast-3",
    "eu-south-1",
    "il-central-1",
    "me-south-1",
];

/// Checks an SES region name: lower-case letters, digits and `-`, with an SMTP endpoint.
pub(crate) fn check_ses_region(region: &str) -> Result<(), EndpointError> {
    let valid = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(EndpointError::InvalidRegion(region.into()));
    }
    if SES_REGIONS_WITHOUT_SMTP.contains(&region) {
        return Err(EndpointError::NoSmtpEndpoint(region.into()));
    }
    Ok(())
}

/// A server to connect to: host name, port and TLS mode.
///
/// [`Endpoint::new`] picks the mode from the port for the well-known submission ports (465 and
/// 2465 implicit TLS; 25, 587 and 2587 STARTTLS) and refuses any other port, so the two TLS
/// modes cannot be mixed up silently. [`Endpoint::with_mode`] states the mode outright.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The host name (or IP address) to dial. It is also the name the certificate must carry
    /// and the SNI sent (RFC 8314 §5.3, SECURITY.md G5).
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// How the connection is encrypted.
    pub tls: TlsMode,
}

impl Endpoint {
    /// An endpoint on a well-known port, with the TLS mode that port implies
    /// ([`TlsMode::for_port`]). Any other port is [`EndpointError::PortNeedsTlsMode`].
    pub fn new(host: impl Into<String>, port: u16) -> Result<Self, EndpointError> {
        let tls = TlsMode::for_port(port).ok_or(EndpointError::PortNeedsTlsMode(port))?;
        Ok(Self {
            host: host.into(),
            port,
            tls,
        })
    }

    /// An endpoint with an explicit TLS mode, for any port.
    pub fn with_mode(host: impl Into<String>, port: u16, tls: TlsMode) -> Self {
        Self {
            host: host.into(),
            port,
            tls,
        }
    }

    /// Amazon SES in `region` (for example `us-east-1`) on one of its ports: 587, 2587 and 25
    /// for STARTTLS, 465 and 2465 for implicit TLS ("TLS Wrapper").
    ///
    /// EC2 throttles outgoing traffic on port 25 by default; from EC2 use 587 or 2587. The
    /// regions in [`SES_REGIONS_WITHOUT_SMTP`] are refused: SES has no SMTP endpoint there.
    pub fn ses(region: &str, port: u16) -> Result<Self, EndpointError> {
        check_ses_region(region)?;
        if !SES_PORTS.contains(&port) {
            return Err(EndpointError::PortNeedsTlsMode(port));
        }
        Self::new(ses_host(region), port)
    }

    /// Whether this is an Amazon SES endpoint (`email-smtp.<region>.amazonaws.com`, the FIPS
    /// `email-smtp-fips.<region>.amazonaws.com`, with or without a final dot), whose limits
    /// [`PoolPolicy::ses`](crate::pool::PoolPolicy::ses) follows. A VPC endpoint's name cannot
    /// be told apart: choose that policy by hand for one.
    pub fn is_ses(&self) -> bool {
        let host = self.host.to_ascii_lowercase();
        let host = host.strip_suffix('.').unwrap_or(&host);
        host.starts_with("email-smtp") && host.ends_with(".amazonaws.com")
    }

    /// Whether the port usually expects implicit TLS while the mode is not implicit TLS: the
    /// hint to give when a greeting never comes (SECURITY.md G4).
    pub fn looks_like_implicit_tls(&self) -> bool {
        self.tls != TlsMode::Implicit && TlsMode::for_port(self.port) == Some(TlsMode::Implicit)
    }

    /// How long a driver waits for a server that has not yet spoken on a port that usually
    /// expects implicit TLS while this endpoint does not use it
    /// ([`looks_like_implicit_tls`](Self::looks_like_implicit_tls)); see
    /// [`greeting_wait`](Self::greeting_wait).
    pub const IMPLICIT_PORT_GREETING_WAIT: Duration = Duration::from_secs(10);

    /// How long to wait for the greeting, given the `configured` greeting timeout (RFC 5321
    /// §4.5.3.2.1: 5 minutes by default). On a port that usually expects implicit TLS, with
    /// STARTTLS or plaintext chosen, a server that is waiting for a TLS handshake never greets:
    /// the wait is then at most [`IMPLICIT_PORT_GREETING_WAIT`](Self::IMPLICIT_PORT_GREETING_WAIT),
    /// so that the mistake shows within seconds (SECURITY.md G4). Elsewhere it is `configured`.
    pub fn greeting_wait(&self, configured: Duration) -> Duration {
        if self.looks_like_implicit_tls() {
            configured.min(Self::IMPLICIT_PORT_GREETING_WAIT)
        } else {
            configured
        }
    }
}

/// The ports Amazon SES listens on.
pub const SES_PORTS: [u16; 5] = [25, 587, 2587, 465, 2465];

/// The SMTP host name of Amazon SES in `region`, such as `email-smtp.us-east-1.amazonaws.com`.
pub fn ses_host(region: &str) -> String {
    format!("email-smtp.{region}.amazonaws.com")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ses_regions_without_an_smtp_endpoint_are_refused() {
        for region in super::SES_REGIONS_WITHOUT_SMTP {
            assert_eq!(
                super::Endpoint::ses(region, 587),
                Err(super::EndpointError::NoSmtpEndpoint(region.into()))
            );
        }
        assert!(super::Endpoint::ses("eu-west-1", 587).is_ok());
    }

    #[test]
    fn ses_endpoints_are_told_by_their_host() {
        for host in [
            "email-smtp.us-east-1.amazonaws.com",
            "EMAIL-SMTP.eu-west-1.amazonaws.com.",
            "email-smtp-fips.us-gov-west-1.amazonaws.com",
        ] {
            assert!(
                super::Endpoint::new(host, 587).expect("port").is_ses(),
                "{host}"
            );
        }
        for host in [
            "smtp.example.com",
            "email-smtp.example.com",
            "amazonaws.com",
        ] {
            assert!(
                !super::Endpoint::new(host, 587).expect("port").is_ses(),
                "{host}"
            );
        }
    }

    use super::*;

    use alloc::string::ToString;

    #[test]
    fn well_known_ports_pick_their_mode() {
        assert_eq!(
            Endpoint::new("h", 465).map(|e| e.tls),
            Ok(TlsMode::Implicit)
        );
        assert_eq!(
            Endpoint::new("h", 2465).map(|e| e.tls),
            Ok(TlsMode::Implicit)
        );
        assert_eq!(
            Endpoint::new("h", 587).map(|e| e.tls),
            Ok(TlsMode::StartTls)
        );
        assert_eq!(
            Endpoint::new("h", 2587).map(|e| e.tls),
            Ok(TlsMode::StartTls)
        );
        assert_eq!(Endpoint::new("h", 25).map(|e| e.tls), Ok(TlsMode::StartTls));
        assert_eq!(
            Endpoint::new("h", 2525),
            Err(EndpointError::PortNeedsTlsMode(2525))
        );
        assert!(
            EndpointError::PortNeedsTlsMode(2525)
                .to_string()
                .contains("2525")
        );
    }

    #[test]
    fn ses_presets() {
        let e = Endpoint::ses("eu-west-1", 2465).expect("valid");
        assert_eq!(e.host, "email-smtp.eu-west-1.amazonaws.com");
        assert_eq!(e.tls, TlsMode::Implicit);
        assert!(Endpoint::ses("us-east-1", 8080).is_err());
        assert!(Endpoint::ses("us east", 587).is_err());
    }

    #[test]
    fn g4_hint_for_starttls_on_an_implicit_port() {
        assert!(Endpoint::with_mode("h", 465, TlsMode::StartTls).looks_like_implicit_tls());
        assert!(!Endpoint::with_mode("h", 587, TlsMode::StartTls).looks_like_implicit_tls());
    }

    #[test]
    fn g4_the_greeting_is_awaited_briefly_on_an_implicit_port() {
        let five_minutes = Duration::from_secs(300);
        let wait = Endpoint::IMPLICIT_PORT_GREETING_WAIT;
        let starttls_on_465 = Endpoint::with_mode("h", 465, TlsMode::StartTls);
        assert_eq!(starttls_on_465.greeting_wait(five_minutes), wait);
        let short = Duration::from_secs(1);
        assert_eq!(starttls_on_465.greeting_wait(short), short);
        for fitting in [
            Endpoint::with_mode("h", 465, TlsMode::Implicit),
            Endpoint::with_mode("h", 587, TlsMode::StartTls),
        ] {
            assert_eq!(fitting.greeting_wait(five_minutes), five_minutes);
        }
    }
}

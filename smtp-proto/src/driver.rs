//! What every driver over `std` shares (feature `std`): its options, its error type, and the
//! translation between the driver's clock and the client's.
//!
//! `smtp-tokio` and `smtp-blocking` both re-export these, so the two adapters have the same
//! names and the same error variants by construction: switching between them is a change of
//! import and of `.await`. A driver of another runtime can use them too.

mod dispatch;
mod flight;
mod log;
mod tls;

pub use dispatch::{ConnEvent, Dispatcher, Order};
pub use flight::InFlight;
pub use log::{MessageLog, log_line, message_of};
pub use tls::{Built, ClientCertificate, read_pem_file};

use alloc::string::{String, ToString};
use core::time::Duration;
use std::io;

use crate::client::Client;
use crate::client::config::Config;
use crate::client::error::{Error as SessionError, Stage, SubmitError, UsageError};
use crate::client::event::{Action, Event, QueryId, TransactionId};
use crate::client::report::TransactionReport;
use crate::client::time::Instant;
use crate::endpoint::{Endpoint, EndpointError};
use crate::types::domain::ClientId;
use crate::wire::reply::Reply;

/// Everything needed to open a session: where, how to encrypt, the client's configuration, the
/// driver's TLS settings `T`, and optionally the driver's source `P` of fresh credentials.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options<T, P = ()> {
    /// Where to connect and how to encrypt. Its TLS mode overrides `config.tls`.
    pub endpoint: Endpoint,
    /// The core's configuration: client name, credentials, timeouts, policies.
    pub config: Config,
    /// Which certificates to trust, and the client certificate if any.
    pub tls: T,
    /// Asked for credentials before every new connection, replacing `config.credentials`: an
    /// OAuth 2 access token that expires within the hour, so that a pool running for days
    /// authenticates with a fresh one. None by default.
    pub credentials_provider: Option<P>,
}

impl<T: Default, P> Options<T, P> {
    /// Options with the core's defaults and the driver's default roots of trust.
    pub fn new(endpoint: Endpoint, client_id: ClientId) -> Self {
        let config = Config::new(client_id, endpoint.tls);
        Self {
            endpoint,
            config,
            tls: T::default(),
            credentials_provider: None,
        }
    }
}

/// Why a driver could not do what was asked.
///
/// A refused recipient or message is not an error: it is in the message's report. The session's
/// own failure ([`Error::Smtp`]) is sticky: every later call on that session returns it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The SMTP session failed: the server's reply, a protocol error, a timeout, a lost
    /// connection or a failed TLS handshake, as the client decided.
    #[error(transparent)]
    Smtp(#[from] SessionError),
    /// The request cannot be carried out (a bad value, a closed session).
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The host name did not resolve.
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        /// The name.
        host: String,
        /// Why.
        source: io::Error,
    },
    /// Connecting failed: refused, unreachable.
    #[error("cannot connect: {0}")]
    Connect(io::Error),
    /// Connecting took longer than the greeting timeout.
    #[error("connecting timed out")]
    ConnectTimeout,
    /// No greeting came on a port that usually speaks implicit TLS (SECURITY.md G4): the
    /// session uses STARTTLS (or plaintext) where the server waits for a TLS handshake. The
    /// greeting is awaited only briefly on such a port ([`Endpoint::greeting_wait`]).
    #[error("no greeting from the server: port {0} expects implicit tls (TlsMode::Implicit)")]
    NoGreetingOnImplicitPort(u16),
    /// The server answered the implicit-TLS handshake with a plaintext SMTP reply (such as
    /// `220 mx ESMTP`): the port speaks STARTTLS or plaintext, not implicit TLS. The adapters
    /// tell it from the first octets read during the handshake ([`looks_like_smtp_reply`]).
    #[error("the server sent a plaintext smtp greeting{}", starttls_hint(*.port))]
    PlaintextGreeting {
        /// The port dialled.
        port: u16,
    },
    /// The TLS configuration could not be built (an unreadable CA file, no roots).
    #[error("tls configuration: {0}")]
    TlsConfig(String),
    /// The endpoint cannot be built (a port without a known TLS mode, a bad region).
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The credentials provider failed: no connection was opened. Transient: the provider
    /// (a token endpoint, say) may answer next time.
    #[error("cannot get credentials: {0}")]
    Credentials(#[source] alloc::boxed::Box<dyn std::error::Error + Send + Sync>),
    /// The host cannot be used as a TLS server name.
    #[error("invalid host name {0:?}")]
    InvalidHostName(String),
    /// The application's body source failed; the message was cancelled (see
    /// [`Client::cancel`](crate::Client::cancel)).
    #[error("reading the message body: {0}")]
    BodyRead(io::Error),
    /// A pooled message's connection ended without its report: it may have been delivered, so
    /// it was not sent again.
    #[error("the connection ended without the message's report; it may have been delivered")]
    ReportLost,
    /// A pooled message never reached a server: no connection could be opened (`cause`, the
    /// last connection's error) within the policy's tries.
    #[error("not sent: {cause}")]
    NotSent {
        /// Why the last connection failed.
        cause: String,
        /// Whether that failure may pass.
        transient: bool,
    },
}

impl From<SubmitError> for Error {
    fn from(error: SubmitError) -> Self {
        match error {
            SubmitError::Usage(e) => Self::Usage(e),
            SubmitError::Failed(e) => Self::Smtp(e),
        }
    }
}

/// A value that cannot be put on the wire is a usage error, so `?` on
/// [`Mailbox::parse`](crate::Mailbox::parse) works in a function returning the adapter's
/// `Error`.
impl From<crate::InvalidInput> for Error {
    fn from(error: crate::InvalidInput) -> Self {
        Self::Usage(UsageError::InvalidInput(error))
    }
}

impl Error {
    /// The session's error as a driver reports it: a greeting that never came on a port that
    /// usually speaks implicit TLS says so (SECURITY.md G4).
    pub fn from_session(error: SessionError, endpoint: &Endpoint) -> Self {
        if error == SessionError::Timeout(Stage::Greeting) && endpoint.looks_like_implicit_tls() {
            return Self::NoGreetingOnImplicitPort(endpoint.port);
        }
        Self::Smtp(error)
    }

    /// The server's reply behind the error, if any.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Self::Smtp(e) => e.reply(),
            _ => None,
        }
    }

    /// Whether trying again later, on a new connection, may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Resolve { .. }
            | Self::Connect(_)
            | Self::ConnectTimeout
            | Self::Credentials(_) => true,
            Self::NotSent { transient, .. } => *transient,
            Self::Smtp(e) => e.is_transient(),
            // A TLS mode that does not fit the port: a configuration mistake.
            Self::NoGreetingOnImplicitPort(_) | Self::PlaintextGreeting { .. } => false,
            _ => false,
        }
    }

    /// Whether this is a timeout of some wait.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Self::ConnectTimeout
                | Self::NoGreetingOnImplicitPort(_)
                | Self::Smtp(SessionError::Timeout(_))
        )
    }
}

impl PartialEq for Error {
    /// Compares kinds and, where they carry one, the value; IO errors compare by kind.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Smtp(a), Self::Smtp(b)) => a == b,
            (Self::Usage(a), Self::Usage(b)) => a == b,
            (Self::Endpoint(a), Self::Endpoint(b)) => a == b,
            (Self::Resolve { host: a, .. }, Self::Resolve { host: b, .. })
            | (Self::InvalidHostName(a), Self::InvalidHostName(b))
            | (Self::TlsConfig(a), Self::TlsConfig(b)) => a == b,
            (Self::Connect(a), Self::Connect(b)) | (Self::BodyRead(a), Self::BodyRead(b)) => {
                a.kind() == b.kind()
            }
            (Self::NoGreetingOnImplicitPort(a), Self::NoGreetingOnImplicitPort(b))
            | (Self::PlaintextGreeting { port: a }, Self::PlaintextGreeting { port: b }) => a == b,
            (Self::NotSent { cause: a, .. }, Self::NotSent { cause: b, .. }) => a == b,
            (Self::ConnectTimeout, Self::ConnectTimeout) | (Self::ReportLost, Self::ReportLost) => {
                true
            }
            _ => false,
        }
    }
}

/// Whether `first` (the first octets a server sent, four are enough) starts like an SMTP reply:
/// three digits, then a space, a hyphen or the CR of a reply without text (RFC 5321 §4.2). A
/// TLS record never does (its first octet is a content type, 20 to 24), so a driver that reads
/// this where it expected a TLS handshake has met a server that speaks plaintext SMTP first
/// ([`Error::PlaintextGreeting`]).
pub fn looks_like_smtp_reply(first: &[u8]) -> bool {
    match first {
        [a, b, c, d, ..] => {
            [a, b, c].iter().all(|x| x.is_ascii_digit()) && matches!(d, b' ' | b'-' | b'\r')
        }
        _ => false,
    }
}

/// The end of [`Error::PlaintextGreeting`]'s message: which mode the port speaks.
fn starttls_hint(port: u16) -> String {
    use crate::client::config::TlsMode;
    if TlsMode::for_port(port) == Some(TlsMode::StartTls) {
        alloc::format!(": port {port} expects starttls (TlsMode::StartTls)")
    } else {
        " instead of a tls handshake: the port expects starttls (TlsMode::StartTls)".to_string()
    }
}

/// The driver's clock: the client's [`Instant`]s are durations since `epoch`, a monotonic
/// instant the driver chose when the connection opened.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: std::time::Instant,
}

impl Clock {
    /// A clock whose epoch is `epoch`.
    pub fn starting_at(epoch: std::time::Instant) -> Self {
        Self { epoch }
    }

    /// Now, for the client.
    pub fn now(&self) -> Instant {
        Instant::from_duration(self.epoch.elapsed())
    }

    /// The monotonic instant of the client's deadline `at`; a deadline too far away to name
    /// (a timeout of `Duration::MAX`, say) becomes a century from the epoch.
    pub fn deadline(&self, at: Instant) -> std::time::Instant {
        const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
        self.epoch
            .checked_add(at.as_duration())
            .or_else(|| self.epoch.checked_add(CENTURY))
            .unwrap_or(self.epoch)
    }

    /// The time left before deadline `at`, or `None` if it has passed. Socket timeouts are
    /// computed from this before every call, so a deadline stays absolute (SECURITY.md F2).
    pub fn remaining(&self, at: Instant) -> Option<Duration> {
        let left = at.as_duration().saturating_sub(self.epoch.elapsed());
        (!left.is_zero()).then_some(left)
    }
}

/// What a driver does next, from [`next_io`]: the IO the client asks for, or stop.
#[derive(Debug)]
#[non_exhaustive]
pub enum Io {
    /// Write all of `data` before `deadline`.
    Transmit {
        /// The bytes.
        data: crate::client::transmission::Transmission,
        /// When the write must be done.
        deadline: Instant,
    },
    /// Read once before `deadline`.
    Receive {
        /// When the read must be done.
        deadline: Instant,
    },
    /// Run the TLS handshake before `deadline`.
    UpgradeTls {
        /// When the handshake must be done.
        deadline: Instant,
    },
    /// Nothing more to do for now: the session ended (failed or closed), or `idle`: it waits
    /// for the application (work to queue, or more of a streamed body).
    Stop {
        /// Whether the client waits for the application rather than having ended.
        idle: bool,
    },
}

/// The client's next action reduced to IO: events go to `on_event` (a driver logs them; the
/// results they announce stay in the client), a failed or closed session is [`Io::Stop`].
pub fn next_io(client: &mut Client, now: Instant, mut on_event: impl FnMut(&Event)) -> Io {
    loop {
        match client.next_action(now) {
            Ok(Action::Transmit { data, deadline }) => return Io::Transmit { data, deadline },
            Ok(Action::Receive { deadline }) => return Io::Receive { deadline },
            Ok(Action::UpgradeTls { deadline }) => return Io::UpgradeTls { deadline },
            Ok(Action::Event(event)) => on_event(&event),
            Ok(Action::Idle) => return Io::Stop { idle: true },
            // Matched in full: a new action must be carried out here, never dropped.
            Ok(Action::Close) | Err(_) => return Io::Stop { idle: false },
        }
    }
}

/// `Ok` if `done` holds for the client, else why not: see [`ended`].
pub fn check(client: &Client, endpoint: &Endpoint, done: bool) -> Result<(), Error> {
    if done {
        Ok(())
    } else {
        Err(ended(client, endpoint))
    }
}

/// Why a session can do no more: its error (as [`Error::from_session`] reports it), or that
/// it closed.
pub fn ended(client: &Client, endpoint: &Endpoint) -> Error {
    match client.error() {
        Some(e) => Error::from_session(e.clone(), endpoint),
        None => Error::Usage(UsageError::Closed),
    }
}

/// Takes the report of a settled message.
pub fn take_report(client: &mut Client, id: TransactionId) -> Result<TransactionReport, Error> {
    Ok(client.take_report(id).ok_or(UsageError::UnknownId)?)
}

/// Takes the reports of settled messages, in the order given.
pub fn take_reports(
    client: &mut Client,
    ids: &[TransactionId],
) -> Result<alloc::vec::Vec<TransactionReport>, Error> {
    ids.iter().map(|&id| take_report(client, id)).collect()
}

/// Takes the reply to an answered query, or the session's error.
pub fn take_reply(client: &mut Client, endpoint: &Endpoint, id: QueryId) -> Result<Reply, Error> {
    match client.take_reply(id) {
        Some(Ok(reply)) => Ok(reply),
        Some(Err(error)) => Err(Error::from_session(error, endpoint)),
        None => Err(ended(client, endpoint)),
    }
}

/// A SCRAM nonce ([`Config::sasl_nonce`]) from fresh random octets (18 or more): their
/// hexadecimal form, printable and without `,` (RFC 5802 §5.1). The core has no randomness of
/// its own; a driver draws the octets from its platform.
pub fn sasl_nonce(random: &[u8]) -> String {
    random.iter().map(|b| alloc::format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_replies_are_told_from_tls_records() {
        for reply in [
            &b"220 mx ESMTP\r\n"[..],
            b"220-mx",
            b"421 ",
            b"220\r\n",
            b"554 ",
        ] {
            assert!(looks_like_smtp_reply(reply), "{reply:?}");
        }
        // A TLS alert or handshake record, too little to tell, text that is not a reply.
        for other in [
            &[0x15, 0x03, 0x03, 0x00, 0x02][..],
            &[0x16, 0x03, 0x01, 0x00][..],
            b"220",
            b"",
            b"22x ",
            b"2200",
            b"HTTP/1.1 400",
        ] {
            assert!(!looks_like_smtp_reply(other), "{other:?}");
        }
    }

    #[test]
    fn tls_mode_mistakes_name_the_mode_and_are_not_transient() {
        let plaintext = Error::PlaintextGreeting { port: 587 };
        let message = plaintext.to_string();
        assert!(
            message.contains("port 587 expects starttls (TlsMode::StartTls)"),
            "{message}"
        );
        let other = Error::PlaintextGreeting { port: 2525 }.to_string();
        assert!(
            other.contains("TlsMode::StartTls") && !other.contains("2525"),
            "{other}"
        );
        let no_greeting = Error::NoGreetingOnImplicitPort(465);
        assert!(
            no_greeting
                .to_string()
                .contains("port 465 expects implicit tls")
        );
        assert!(no_greeting.is_timeout() && !plaintext.is_timeout());
        assert!(!no_greeting.is_transient() && !plaintext.is_transient());
    }

    /// RFC 5321 §4.1.2: a mailbox with a line break is refused before anything is sent, and
    /// `?` turns the refusal into the driver's error.
    #[test]
    fn rfc5321_4_1_2_question_mark_on_a_bad_mailbox_gives_a_usage_error() {
        fn recipient(text: &str) -> Result<crate::Mailbox, Error> {
            Ok(crate::Mailbox::parse(text)?)
        }
        let error = recipient("a@b\r\nRCPT TO:<c@d>").expect_err("a line break is refused");
        assert!(
            matches!(error, Error::Usage(UsageError::InvalidInput(_))),
            "{error:?}"
        );
        assert!(!error.is_transient());
        assert!(recipient("a@example.com").is_ok());
    }
}

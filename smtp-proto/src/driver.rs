//! What every driver over `std` shares (feature `std`): its options, its error type, and the
//! translation between the driver's clock and the client's.
//!
//! `smtp-tokio` and `smtp-blocking` both re-export these, so the two adapters have the same
//! names and the same error variants by construction: switching between them is a change of
//! import and of `.await`. A driver of another runtime can use them too.

mod dispatch;

pub use dispatch::{ConnEvent, Dispatcher, Order};

use alloc::string::{String, ToString};
use core::time::Duration;
use std::io;

use crate::client::Client;
use crate::client::config::Config;
use crate::client::error::{Error as SessionError, Stage, SubmitError, UsageError};
use crate::client::event::{Action, Event, QueryId, TransactionId, TranscriptLine};
use crate::client::report::TransactionReport;
use crate::client::time::Instant;
use crate::endpoint::{Endpoint, EndpointError};
use crate::types::domain::ClientId;
use crate::wire::reply::Reply;

/// Everything needed to open a session: where, how to encrypt, the client's configuration, and
/// the driver's TLS settings `T`.
#[derive(Clone, Debug)]
pub struct Options<T> {
    /// Where to connect and how to encrypt. Its TLS mode overrides `config.tls`.
    pub endpoint: Endpoint,
    /// The core's configuration: client name, credentials, timeouts, policies.
    pub config: Config,
    /// Which certificates to trust.
    pub tls: T,
}

impl<T: Default> Options<T> {
    /// Options with the core's defaults and the driver's default roots of trust.
    pub fn new(endpoint: Endpoint, client_id: ClientId) -> Self {
        let config = Config::new(client_id, endpoint.tls);
        Self {
            endpoint,
            config,
            tls: T::default(),
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
    /// No greeting came on a port that usually speaks implicit TLS (SECURITY.md G4).
    #[error(
        "no greeting from the server; port {0} usually expects implicit tls (TlsMode::Implicit)"
    )]
    NoGreetingOnImplicitPort(u16),
    /// The TLS configuration could not be built (an unreadable CA file, no roots).
    #[error("tls configuration: {0}")]
    TlsConfig(String),
    /// The endpoint cannot be built (a port without a known TLS mode, a bad region).
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
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
            Self::Resolve { .. } | Self::Connect(_) | Self::ConnectTimeout => true,
            Self::NotSent { transient, .. } => *transient,
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
            (Self::NoGreetingOnImplicitPort(a), Self::NoGreetingOnImplicitPort(b)) => a == b,
            (Self::NotSent { cause: a, .. }, Self::NotSent { cause: b, .. }) => a == b,
            (Self::ConnectTimeout, Self::ConnectTimeout) | (Self::ReportLost, Self::ReportLost) => {
                true
            }
            _ => false,
        }
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

/// A driver's TLS connector, built once and shared by every clone of the options that made it
/// (loading a platform's certificate store takes tens of milliseconds), and built again only
/// if the settings it was built from change.
pub struct Built<K, C> {
    cell: std::sync::Arc<std::sync::Mutex<Option<(K, C)>>>,
}

impl<K, C> Clone for Built<K, C> {
    fn clone(&self) -> Self {
        Self {
            cell: self.cell.clone(),
        }
    }
}

impl<K, C> Default for Built<K, C> {
    fn default() -> Self {
        Self {
            cell: std::sync::Arc::default(),
        }
    }
}

impl<K, C> core::fmt::Debug for Built<K, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Built")
    }
}

impl<K: PartialEq, C: Clone> Built<K, C> {
    /// The connector built from `settings`: the one built before if the settings are the same,
    /// else a new one from `build`.
    pub fn get_or_build(
        &self,
        settings: K,
        build: impl FnOnce() -> Result<C, Error>,
    ) -> Result<C, Error> {
        let mut cell = match self.cell.lock() {
            Ok(cell) => cell,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((built_from, connector)) = cell.as_ref()
            && *built_from == settings
        {
            return Ok(connector.clone());
        }
        let connector = build()?;
        *cell = Some((settings, connector.clone()));
        Ok(connector)
    }
}

/// Reads a PEM file of CA certificates for a driver's TLS options.
pub fn read_pem_file(path: &std::path::Path) -> Result<alloc::vec::Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::TlsConfig(alloc::format!("{}: {e}", path.display())))
}

/// A SCRAM nonce ([`Config::sasl_nonce`]) from fresh random octets (18 or more): their
/// hexadecimal form, printable and without `,` (RFC 5802 §5.1). The core has no randomness of
/// its own; a driver draws the octets from its platform.
pub fn sasl_nonce(random: &[u8]) -> String {
    random.iter().map(|b| alloc::format!("{b:02x}")).collect()
}

/// A line for a driver's log, for the events worth logging: the redacted transcript, the
/// session becoming ready, a message settling.
pub fn log_line(event: &Event) -> Option<String> {
    match event {
        Event::Transcript(TranscriptLine::Sent(line)) => Some(alloc::format!("C: {line}")),
        Event::Transcript(TranscriptLine::Received(line)) => Some(alloc::format!("S: {line}")),
        Event::Ready(_) => Some("session ready".to_string()),
        Event::Settled(id) => Some(alloc::format!("transaction {} settled", id.0)),
        _ => None,
    }
}

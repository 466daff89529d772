//! A sans-IO SMTP client protocol core.
//!
//! Bytes from the server go in, bytes for the server come out. The crate opens no socket, reads
//! no clock and starts no TLS: the driver (for example `smtp-tokio` or `smtp-blocking`) performs
//! every IO and passes the results in. That makes the protocol logic testable byte for byte,
//! fuzzable, and usable from any runtime.
//!
//! # The driving loop
//!
//! A [`Client`] is one SMTP session. The driver owns the socket and the clock; it asks the client
//! what to do with [`Client::next_action`], does it, and reports back:
//!
//! ```
//! use smtp_sansio::{
//!     Action, Client, ClientId, Config, Disconnect, Envelope, Event, Instant, Mailbox, TlsMode,
//!     Verdict,
//! };
//!
//! // Port 587: STARTTLS. (Port 465 would be `TlsMode::Implicit`; see `TlsMode::for_port`.)
//! let mode = TlsMode::for_port(587).expect("a well-known port");
//! let config = Config::new(ClientId::parse("client.example")?, mode);
//! let mut client = Client::new(Instant::ZERO, config);
//! let to = [Mailbox::parse("b@example.net")?];
//! client.send(Envelope::new(Mailbox::parse("a@example.com")?, to), "Subject: hi\r\n\r\nHi\r\n".into())?;
//! client.quit()?;
//!
//! // The server's side of the conversation, standing in for a socket.
//! let mut server = [
//!     &b"220 mx.example ESMTP\r\n"[..],
//!     b"250-mx.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n",
//!     b"220 go ahead\r\n",
//!     b"250-mx.example\r\n250 PIPELINING\r\n",
//!     b"250 ok\r\n250 ok\r\n354 go\r\n",
//!     b"250 Ok 0100019ac1b2c3d4-000000\r\n221 bye\r\n",
//! ]
//! .into_iter();
//! let now = Instant::ZERO; // a real driver passes its monotonic clock
//! let mut message_id = None;
//! loop {
//!     match client.next_action(now)? {
//!         // Write everything before the deadline (keep reading meanwhile if you can).
//!         Action::Transmit { data, deadline: _ } => { let _ = data; }
//!         // Read once; at the end of the stream or on a read error call handle_connection_lost,
//!         // past the deadline handle_timeout.
//!         Action::Receive { deadline: _ } => match server.next() {
//!             Some(bytes) => client.handle_input(now, bytes),
//!             None => client.handle_connection_lost(now, Disconnect::Closed),
//!         },
//!         // Run the TLS handshake on the same socket, then say how it went.
//!         Action::UpgradeTls { .. } => client.handle_tls_established(now, smtp_sansio::TlsInfo::new(true))?,
//!         // The client keeps every message's report until it is taken.
//!         Action::Event(Event::Settled(id)) => {
//!             let report = client.take_report(id).expect("settled");
//!             assert_eq!(report.verdict, Verdict::Delivered);
//!             message_id = report.message_id().map(String::from);
//!         }
//!         Action::Event(_) => {}
//!         Action::Idle | Action::Close => break,
//!         _ => {}
//!     }
//! }
//! assert_eq!(message_id.as_deref(), Some("0100019ac1b2c3d4-000000"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The contract:
//!
//! - **One ordered output.** The client decides the order of everything, so a driver cannot
//!   get it wrong.
//! - **The client owns every result.** Every queued message settles exactly once, with a
//!   [`Verdict`] for the message and for each recipient (delivered, deferred, bounced, unknown,
//!   not attempted), decided from the whole transaction and from how the connection ended.
//!   [`Client::is_settled`] says when; [`Client::take_report`] hands the report over.
//! - **Every IO outcome goes back in**: bytes, the end of the stream or a failed read or write
//!   ([`Client::handle_connection_lost`]), a passed deadline. The driver makes no decision of
//!   its own, so no result depends on which driver ran the session.
//! - **Time comes in.** Every wait has an absolute deadline set when it starts (RFC 5321
//!   §4.5.3.2); partial data never extends it. A timeout ends the session.
//! - **Errors are sticky**: after a fatal error every call returns it again, queueing calls
//!   included ([`SubmitError::Failed`]). Caller mistakes are a separate [`UsageError`] that
//!   changes nothing. A refused recipient or message is a result in its [`TransactionReport`],
//!   not an error.
//! - **TLS.** With STARTTLS, any byte after the `220` is fatal, and everything learned before
//!   the handshake is forgotten (RFC 3207 §4.2). A driver must not put a read buffer between the
//!   socket and the client: the client is the only buffer, so it alone sees the TLS boundary.
//! - **Credentials** go only over verified TLS unless the configuration says otherwise by name.
//!
//! The chapter [`guide`] ("Writing a driver") says what a driver does for every action, IO
//! outcome and deadline, with a complete driver over `std::net::TcpStream` as an example.
//!
//! # The wire layer
//!
//! Everything the session is built from is public for those who build their own:
//!
//! - [`ReplyDecoder`] frames and parses server replies incrementally (RFC 5321 §4.2), under hard
//!   [`ReplyLimits`]; [`Reply`] keeps the code, the enhanced status code (RFC 3463) and the text.
//! - [`Capabilities`] reads an EHLO reply into typed extensions.
//! - [`Command`] encodes every client command from validated values ([`Mailbox`],
//!   [`ClientId`], [`MailParameters`], ...), so a command carrying CR, LF or NUL, a path that
//!   breaks out of `<...>`, or a parameter the server did not advertise cannot be built.
//! - [`DataEncoder`] produces the transparent DATA stream (RFC 5321 §4.5.2) and
//!   [`BdatEncoder`] the BDAT chunks (RFC 3030), both canonicalising line endings so that no
//!   SMTP-smuggling sequence survives.
//!
//! # Non-goals
//!
//! No MIME building, no DNS, no sockets and no stored retry queue. A [`Client`] speaks SMTP on
//! one connection; [`pool`] decides for a pool of them (where each message goes, when to open,
//! retry or stop) and owns no connection itself. CRAM-MD5 is recognised in EHLO but not implemented (RFC 8314 makes it obsolete):
//! a server that offers only it ends the session with [`Error::AuthUnavailable`] naming it.
//!
//! # `no_std`
//!
//! The crate is `#![no_std]` and needs only `alloc`. The `std` feature, on by default, lets a
//! [`Transmission`] hand all its segments to one vectored write and adds the `driver` module:
//! what every driver over `std` shares (options, the driver's error type, classifying
//! `io::Error`s with `Disconnect::from_io`, the clock). Build with `default-features = false`
//! where there is no `std`.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

extern crate alloc;
#[cfg(all(feature = "std", not(test)))]
extern crate std;

mod client;
#[cfg(feature = "std")]
pub mod driver;
mod endpoint;
mod error;
#[cfg(feature = "std")]
pub mod guide;
pub mod pool;
#[cfg(feature = "crypto")]
mod ses;
mod types;
mod wire;

/// The `bytes` crate, whose `Bytes` carries message bodies and whose `Buf` a
/// [`Transmission`] implements: drivers use it without naming a version of their own.
pub use bytes;

pub use client::Client;
pub use client::config::{AuthPolicy, Config, Credentials, TlsMode};
pub use client::error::{Disconnect, Error, ProtocolError, Stage, SubmitError, UsageError};
pub use client::event::{
    Action, ChannelBinding, ChannelBindingKind, Event, QueryId, StreamedBody, TlsInfo,
    TransactionId, TranscriptLine,
};
pub use client::oauth::OAuthError;
pub use client::report::{Outcome, RecipientReport, TransactionReport, Verdict};
pub use client::time::{Instant, Timeouts};
pub use client::transaction::{Envelope, Recipient};
pub use client::transmission::Transmission;
pub use endpoint::{Endpoint, EndpointError, SES_PORTS, SES_REGIONS_WITHOUT_SMTP, ses_host};
pub use error::{DataError, InvalidInput, ReplyError};
#[cfg(feature = "crypto")]
pub use ses::{SesCredentialsError, ses_smtp_password};
pub use types::domain::{AddressLiteral, ClientId, Domain, Host};
pub use types::mailbox::{ForwardPath, LocalPart, Mailbox, QueryArg, ReversePath};
pub use types::mechanism::{Mechanism, MechanismSet};
pub use types::params::{
    AuthParam, BodyType, ByMode, DeliverBy, EnvId, MailParameters, MtPriority, Notify,
    OriginalRecipient, RcptParameters, Ret, XText,
};
pub use types::secret::Secret;
pub use wire::bdat::{BdatChunk, BdatContent, BdatEncoder};
pub use wire::command::{AuthCommand, Command, MailCommand, RcptCommand, SaslResponse};
pub use wire::decoder::{ReplyDecoder, ReplyLimits};
pub use wire::dot_stuff::DataEncoder;
pub use wire::ehlo::{Capabilities, Extension, MailLimits, SizeLimit};
pub use wire::escape::Escaped;
pub use wire::reply::{EnhancedStatus, Reply, ReplyCode, ReplyLine, Severity};
pub use wire::text::{BareLineEndings, TextPolicy};

/// What the fuzz targets need beyond the public API: the private line parsers, so a target can
/// check that framing and line parsing agree. Only built under `cfg(fuzzing)` (cargo-fuzz).
#[cfg(fuzzing)]
pub mod fuzzing {
    pub use crate::wire::parse::{LineFault, Separator, ehlo_line, ehlo_params, reply_line};
}

/// Compiles and runs the README's examples as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// Compiles and runs the examples of this crate's README as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctests;

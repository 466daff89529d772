//! A sans-IO SMTP client protocol core.
//!
//! Bytes from the server go in, bytes for the server come out. The crate opens no socket, reads
//! no clock and starts no TLS: the driver (for example `smtp-tokio` or `smtp-blocking`) performs
//! every IO and passes the results in. That makes the protocol logic testable byte for byte,
//! fuzzable, and usable from any runtime.
//!
//! # What is here
//!
//! The wire layer, which every higher layer builds on:
//!
//! - [`ReplyDecoder`] frames and parses server replies incrementally (RFC 5321 §4.2), under hard
//!   [`ReplyLimits`]; [`Reply`] keeps the code, the enhanced status code (RFC 3463) and the text.
//! - [`Capabilities`] reads an EHLO reply into typed extensions (SIZE, PIPELINING, STARTTLS,
//!   AUTH, CHUNKING, DSN, LIMITS, ...).
//! - [`Command`] encodes every client command from validated values ([`Mailbox`],
//!   [`ClientId`], [`MailParameters`], ...), so a command carrying CR, LF or NUL, a path that
//!   breaks out of `<...>`, or a parameter the server did not advertise cannot be built.
//! - [`DataEncoder`] produces the transparent DATA stream (RFC 5321 §4.5.2) and
//!   [`BdatEncoder`] the BDAT chunks (RFC 3030), both canonicalising line endings so that no
//!   SMTP-smuggling sequence survives.
//!
//! ```
//! use bytes::BytesMut;
//! use smtp_proto::{Capabilities, ClientId, Command, ReplyDecoder};
//!
//! let mut out = BytesMut::new();
//! Command::Ehlo(ClientId::parse("client.example")?).encode(&mut out);
//! assert_eq!(&out[..], b"EHLO client.example\r\n");
//!
//! let mut decoder = ReplyDecoder::default();
//! decoder.feed(b"250-mx.example\r\n250-PIPELINING\r\n250 STAR");
//! assert!(decoder.next_reply()?.is_none()); // need more bytes
//! decoder.feed(b"TTLS\r\n");
//! let reply = decoder.next_reply()?.expect("a complete reply");
//! let caps = Capabilities::from_ehlo_reply(&reply).expect("a 250 reply");
//! assert!(caps.pipelining() && caps.starttls());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Non-goals
//!
//! No MIME building, no DNS, no retry queue. This crate speaks SMTP on one connection.
//!
//! # `no_std`
//!
//! The crate is `#![no_std]` and needs only `alloc`.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

extern crate alloc;

pub mod client;
pub mod error;
pub mod types;
pub mod wire;

pub use client::Client;
pub use client::config::{AuthPolicy, Config, Credentials, TlsMode};
pub use client::error::{Error, ProtocolError, Stage, UsageError};
pub use client::event::{
    Action, Event, Outcome, RecipientReport, StreamedBody, TlsInfo, TransactionId,
    TransactionReport, TranscriptLine,
};
pub use client::time::{Instant, Timeouts};
pub use client::transaction::{Envelope, Recipient};
pub use error::{DataError, InvalidInput, ReplyError};
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

/// Compiles and runs the README's examples as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

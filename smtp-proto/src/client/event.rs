//! What the client asks of its driver, and what it tells the application.

use alloc::string::String;
use alloc::vec::Vec;

use super::error::{Error, Stage};
use super::time::Instant;
use super::transmission::Transmission;
use crate::error::{DataError, InvalidInput};
use crate::types::mailbox::ForwardPath;
use crate::wire::ehlo::Capabilities;
use crate::wire::reply::Reply;

/// The one ordered output of [`Client::next_action`](crate::Client::next_action). The driver
/// performs it, feeds back what happened, and asks again.
#[derive(Debug)]
#[non_exhaustive]
pub enum Action {
    /// Write all of `data` to the connection before `deadline`, then ask again. Reading may go
    /// on meanwhile: the client accepts replies while output is pending (SECURITY.md F11).
    Transmit {
        /// The bytes to write: commands, and message data shared with the caller's `Bytes`.
        data: Transmission,
        /// When the write must be done.
        deadline: Instant,
    },
    /// Read once and pass the bytes to [`handle_input`](crate::Client::handle_input) (or call
    /// [`handle_eof`](crate::Client::handle_eof)); if nothing arrives by `deadline`, call
    /// [`handle_timeout`](crate::Client::handle_timeout).
    Receive {
        /// The absolute deadline of the oldest outstanding reply.
        deadline: Instant,
    },
    /// Run the TLS handshake on the connection now, before reading or writing anything else,
    /// then call [`handle_tls_established`](crate::Client::handle_tls_established).
    UpgradeTls {
        /// When the handshake must be done.
        deadline: Instant,
    },
    /// Something for the application.
    Event(Event),
    /// Nothing to do until the application queues work. A driver may keep reading: the server
    /// may still announce `421`.
    Idle,
    /// The session ended cleanly: close the connection (after a TLS close_notify, RFC 8314
    /// §3.4). Every later call returns `Close` again.
    Close,
}

/// What the driver learned from the TLS handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// Whether the certificate chain was verified and matched the host name the driver dialled
    /// (RFC 8314 §5.3, RFC 4954 §14).
    pub peer_verified: bool,
}

impl TlsInfo {
    /// A handshake whose certificate was (or was not) verified.
    pub const fn new(peer_verified: bool) -> Self {
        Self { peer_verified }
    }
}

/// Names one queued message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(pub(crate) u64);

/// Something that happened in the session.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// The session is established: greeting, EHLO, TLS and AUTH are done. Messages go out from
    /// here on.
    Ready(Capabilities),
    /// A message's transaction ended, well or badly.
    Transaction(TransactionReport),
    /// The answer to a NOOP, RSET, VRFY, EXPN or HELP the application asked for.
    QueryReply(Reply),
    /// One line of the conversation (only with [`Config::transcript`](crate::Config)).
    Transcript(TranscriptLine),
}

/// One line of the redacted transcript: SASL payloads are masked (SECURITY.md E13) and reply
/// text is escaped (SECURITY.md B12).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TranscriptLine {
    /// A command the client sent, or a summary of message data.
    Sent(String),
    /// A reply the server sent.
    Received(String),
}

/// What became of one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientReport {
    /// The recipient.
    pub path: ForwardPath,
    /// The reply to its RCPT, or a synthetic `451` if the connection was lost before it came
    /// (RFC 5321 §3.8, SECURITY.md F5); `None` if the RCPT was never sent.
    pub reply: Option<Reply>,
    /// With LMTP, this recipient's own reply to the end of data (RFC 2033 §4.2).
    pub delivery: Option<Reply>,
}

impl RecipientReport {
    /// Whether the server accepted this recipient (and, with LMTP, the message for it).
    pub fn accepted(&self) -> bool {
        let rcpt_ok = self
            .reply
            .as_ref()
            .is_some_and(Reply::is_positive_completion);
        rcpt_ok
            && self
                .delivery
                .as_ref()
                .is_none_or(Reply::is_positive_completion)
    }
}

/// How a message's transaction ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The server took responsibility for the message (RFC 5321 §6.1): for every recipient in
    /// [`TransactionReport::recipients`] whose report says accepted.
    Accepted(Reply),
    /// The server refused the message at `stage`. Check [`Reply::is_transient`]: a `4yz` (such
    /// as SES's `454 Throttling failure`) may succeed later.
    Rejected {
        /// Where it was refused.
        stage: Stage,
        /// The refusal.
        reply: Reply,
    },
    /// Every recipient was refused; the body was not sent (RFC 2920 §3.1, SECURITY.md D10).
    NoRecipientAccepted,
    /// The message was not sent because a value cannot go on the wire to this server, for
    /// example a parameter it did not advertise (SECURITY.md C6, C8).
    InvalidForServer(InvalidInput),
    /// The body could not be encoded (SECURITY.md D2, D7, D8).
    InvalidBody(DataError),
    /// The message is larger than the server's advertised SIZE (RFC 1870).
    TooLarge {
        /// The server's limit.
        limit: u64,
    },
    /// The session failed after the end of the data was sent but before the server answered:
    /// the message may have been delivered, and sending it again may duplicate it
    /// (RFC 5321 §4.5.3.2.6, §6.1, SECURITY.md F4).
    Unknown(Error),
    /// The session failed before the message was complete; it was not delivered
    /// (SECURITY.md F5, F6).
    Aborted(Error),
}

/// The full result of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionReport {
    /// Which message.
    pub id: TransactionId,
    /// How it ended.
    pub outcome: Outcome,
    /// Each recipient, in the order given.
    pub recipients: Vec<RecipientReport>,
}

impl TransactionReport {
    /// True if the server accepted the message for at least one recipient.
    pub fn is_accepted(&self) -> bool {
        matches!(self.outcome, Outcome::Accepted(_))
    }

    /// The server's identifier for the message, read from the end-of-data reply: the token
    /// after `queued as` (Postfix), after `id=` (Exim), or the word after `Ok` (Amazon SES's
    /// `250 Ok <message id>`).
    pub fn message_id(&self) -> Option<&str> {
        let Outcome::Accepted(reply) = &self.outcome else {
            return None;
        };
        let text = core::str::from_utf8(reply.first_text()).ok()?;
        let mut words = text.split_ascii_whitespace();
        if let Some(rest) = text.split("queued as ").nth(1) {
            return rest.split_ascii_whitespace().next();
        }
        if let Some(id) = text
            .split_ascii_whitespace()
            .find_map(|w| w.strip_prefix("id="))
        {
            return Some(id);
        }
        match words.next() {
            Some(first) if first.eq_ignore_ascii_case("ok") => words.next(),
            _ => None,
        }
    }
}

/// A body the application streams in pieces with [`Client::push_body`](crate::Client::push_body).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamedBody {
    /// The body has octets above 127 (it needs 8BITMIME, RFC 6152).
    pub eight_bit: bool,
    /// The expected size, declared with SIZE when the server offers it (RFC 1870).
    pub size_hint: Option<u64>,
}

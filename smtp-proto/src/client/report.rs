//! What became of each message and each recipient: the verdict a caller acts on, and the
//! server's replies behind it.

use alloc::vec::Vec;
use core::fmt;

use super::error::{Error, Stage};
use super::event::TransactionId;
use crate::error::{DataError, InvalidInput};
use crate::types::mailbox::ForwardPath;
use crate::wire::reply::Reply;

/// What a message or a recipient came to, and so what the caller should do with it.
///
/// The client decides it from the whole transaction (MAIL, every RCPT, DATA or BDAT, the reply
/// to the end of the data, and how the connection ended), never from one reply alone: a refused
/// MAIL explains the `503`s its pipelined RCPTs then get, and recipients that were all refused
/// for now explain the `554 no valid recipients` that a pipelined DATA gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verdict {
    /// The server took responsibility for the message (a `2yz` to the end of the data,
    /// RFC 5321 §6.1). Done: never send it again. For a message, this means delivered to at
    /// least one recipient: recipients refused or left out have verdicts of their own, which
    /// [`TransactionReport::recipients_to_retry`] lists.
    Delivered,
    /// Refused for now: a `4yz` reply (`421` included, wherever it came), or a session that
    /// failed part-way through the transaction, before the end of the data went out (RFC 5321
    /// §3.8, §4.2.5). Send it again later; Amazon SES advises waiting about 5, 10 and 30 s.
    Deferred,
    /// Refused for good: a `5yz` reply, or a message the client refused itself because this
    /// server cannot take it (too large, a parameter it does not offer, an invalid body). Do not
    /// send it again unchanged; tell the sender.
    Bounced,
    /// The end of the data went out but no reply to it came: the server may have delivered the
    /// message (RFC 5321 §4.5.3.2.6, SECURITY.md F4). Also when the server accepted the data of
    /// a transaction whose MAIL it had refused: its state was not the client's. Sending it again
    /// may deliver it twice; do so only if a duplicate is better than a loss.
    Unknown,
    /// Nothing of the message reached the server in a way that could deliver it: the session
    /// ended before the server answered any of its commands, the application cancelled it, or
    /// (for a recipient) LIMITS RCPTMAX kept its RCPT from being sent. Safe to send again at
    /// once, on another connection.
    NotAttempted,
}

impl Verdict {
    /// The verdict of one reply to a step of the transaction: `2yz` delivered, `5yz` bounced,
    /// anything else (`4yz`) deferred.
    pub(crate) fn of_reply(reply: &Reply) -> Self {
        if reply.is_positive_completion() {
            Self::Delivered
        } else if reply.is_permanent() {
            Self::Bounced
        } else {
            Self::Deferred
        }
    }

    /// Whether the message may be sent again without risk of delivering it twice, and may
    /// succeed: deferred or not attempted.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Deferred | Self::NotAttempted)
    }

    /// The verdict in words, as a person reads it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Deferred => "deferred",
            Self::Bounced => "bounced",
            Self::Unknown => "unknown",
            Self::NotAttempted => "not attempted",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What became of one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecipientReport {
    /// The recipient.
    pub path: ForwardPath,
    /// What became of the message for this recipient. A recipient whose RCPT was accepted
    /// shares the message's fate; one refused has the verdict of its refusal, or of the MAIL
    /// refusal that explains it.
    pub verdict: Verdict,
    /// The server's reply to its RCPT; `None` if the RCPT was never sent or never answered.
    pub reply: Option<Reply>,
    /// With LMTP, this recipient's own reply to the end of data (RFC 2033 §4.2).
    pub delivery: Option<Reply>,
}

impl RecipientReport {
    /// Whether the message was delivered to this recipient.
    pub fn is_delivered(&self) -> bool {
        self.verdict == Verdict::Delivered
    }
}

/// How a message's transaction ended: the detail behind its [`Verdict`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The server took responsibility for the message (RFC 5321 §6.1), for each recipient whose
    /// report says delivered.
    Accepted(Reply),
    /// The server refused the message at `stage`: MAIL, DATA, a BDAT chunk or the end of the
    /// data. The verdict follows the reply: `4yz` (including `421`, and Amazon SES's
    /// `454 Throttling failure`) is deferred, `5yz` bounced.
    Rejected {
        /// Where it was refused.
        stage: Stage,
        /// The refusal.
        reply: Reply,
    },
    /// Every recipient was refused; the body was not sent, or sent as a lone dot (RFC 2920 §3.1,
    /// SECURITY.md D10). Each recipient's report has its refusal.
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
    /// The session failed after the end of the data went out but before the server answered
    /// it: the message may have been delivered (RFC 5321 §4.5.3.2.6, §6.1, SECURITY.md F4).
    Unknown(Error),
    /// The session failed during the transaction, before the end of the data went out: the
    /// message was not delivered (RFC 5321 §3.8, SECURITY.md F5, F6).
    Interrupted(Error),
    /// The session ended before the server answered any command of this message. The
    /// session's error says why.
    NotAttempted,
    /// The application cancelled the message with [`Client::cancel`](crate::Client::cancel).
    Cancelled,
}

/// The full result of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionReport {
    /// Which message.
    pub id: TransactionId,
    /// What became of it; each recipient has its own in [`recipients`](Self::recipients).
    pub verdict: Verdict,
    /// How it ended.
    pub outcome: Outcome,
    /// Each recipient, in the order given.
    pub recipients: Vec<RecipientReport>,
}

impl TransactionReport {
    /// Whether the server took the message, for at least one recipient. Check
    /// [`recipients_to_retry`](Self::recipients_to_retry) too, or
    /// [`is_delivered_to_all`](Self::is_delivered_to_all).
    pub fn is_delivered(&self) -> bool {
        self.verdict == Verdict::Delivered
    }

    /// Whether the server took the message for every recipient.
    pub fn is_delivered_to_all(&self) -> bool {
        self.recipients.iter().all(RecipientReport::is_delivered)
    }

    /// The server's reply that decided the outcome, if one did: the acceptance or refusal, or
    /// the reply behind the session's failure (a `421`, say).
    pub fn reply(&self) -> Option<&Reply> {
        match &self.outcome {
            Outcome::Accepted(reply) | Outcome::Rejected { reply, .. } => Some(reply),
            Outcome::Unknown(error) | Outcome::Interrupted(error) => error.reply(),
            _ => None,
        }
    }

    /// The recipients that may still get the message by sending it again to them alone:
    /// deferred or not attempted (a message delivered to some recipients may still have these).
    pub fn recipients_to_retry(&self) -> impl Iterator<Item = &ForwardPath> + '_ {
        self.recipients
            .iter()
            .filter(|r| r.verdict.is_retryable())
            .map(|r| &r.path)
    }

    /// The recipients with the given verdict: for example those to send again later.
    pub fn recipients_with(&self, verdict: Verdict) -> impl Iterator<Item = &ForwardPath> + '_ {
        self.recipients
            .iter()
            .filter(move |r| r.verdict == verdict)
            .map(|r| &r.path)
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

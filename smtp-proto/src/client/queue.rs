//! Queueing application work: messages, their bodies, and the other commands.

use bytes::Bytes;

use alloc::vec::Vec;

use super::config::Config;
use super::error::{SubmitError, UsageError};
use super::event::{QueryId, StreamedBody, TransactionId};
use super::transaction::{BodySource, Envelope, LocalFailure, Next, StreamState, Txn};
use super::{Client, Op, Phase};
use crate::BodyType;
use crate::types::mailbox::QueryArg;
use crate::wire::command::Command;
use crate::wire::text::{TextPolicy, canonical_len, is_canonical};

impl Client {
    /// Queues a message whose body is held whole. Line endings are made CRLF (or a bare CR or LF
    /// refused, by [`Config::bare_line_endings`](crate::Config::bare_line_endings)) and the
    /// body is checked now: NUL and lines over 998 octets are refused (SECURITY.md D1, D2, D7).
    /// A `BODY=BINARYMIME` body is sent as is.
    ///
    /// A body that already ends every line in CRLF is not copied: its octets go out by reference
    /// in [`Transmission`](crate::Transmission) segments, with BDAT as they are and with DATA
    /// between the dots that RFC 5321 §4.5.2 adds. Any other body is made canonical a window at
    /// a time as it goes out, so memory does not grow with its size.
    ///
    /// Its report is ready once [`is_settled`](Self::is_settled) says so.
    pub fn send(&mut self, envelope: Envelope, body: Bytes) -> Result<TransactionId, SubmitError> {
        self.check_open()?;
        let source = body_source(&self.config, &envelope, body)?;
        Ok(self.queue(envelope, source))
    }

    /// Checks a message as [`send`](Self::send) would, without a session: it has recipients, and
    /// its body can be sent under `config` (no NUL, no line over 998 octets, line endings as
    /// [`Config::bare_line_endings`](crate::Config::bare_line_endings) allows). For a driver that
    /// queues messages before it has a session (a pool), so a bad one is refused at once.
    pub fn check_message(
        config: &Config,
        envelope: &Envelope,
        body: &Bytes,
    ) -> Result<(), UsageError> {
        body_source(config, envelope, body.clone()).map(|_| ())
    }

    /// Queues several messages, as [`send`](Self::send) would one by one, but only if every
    /// one of them can be queued: the first invalid message is refused with its index and
    /// nothing is queued. The ids come in input order;
    /// [`is_settled_through`](Self::is_settled_through) with the last says when every report is
    /// ready.
    pub fn send_batch(
        &mut self,
        messages: impl IntoIterator<Item = (Envelope, Bytes)>,
    ) -> Result<Vec<TransactionId>, SubmitError> {
        self.check_open()?;
        let mut checked = Vec::new();
        for (index, (envelope, body)) in messages.into_iter().enumerate() {
            let source = body_source(&self.config, &envelope, body).map_err(|error| {
                SubmitError::Usage(UsageError::InBatch {
                    index,
                    error: alloc::boxed::Box::new(error),
                })
            })?;
            checked.push((envelope, source));
        }
        Ok(checked
            .into_iter()
            .map(|(envelope, source)| self.queue(envelope, source))
            .collect())
    }

    /// Queues a message whose body the application pushes in pieces with
    /// [`push_body`](Self::push_body), then [`finish_body`](Self::finish_body).
    pub fn send_streamed(
        &mut self,
        envelope: Envelope,
        body: StreamedBody,
    ) -> Result<TransactionId, SubmitError> {
        self.check_open()?;
        if envelope.recipients.is_empty() {
            return Err(UsageError::NoRecipients.into());
        }
        Ok(self.queue(envelope, BodySource::Streamed(StreamState::new(body))))
    }

    /// Gives up message `id`, typically because its streamed body cannot be completed (the
    /// source failed). It is settled as [`Outcome::Cancelled`](crate::Outcome::Cancelled),
    /// verdict not attempted, and nothing of a truncated body is ever delivered:
    ///
    /// - not started yet: it is dropped from the queue;
    /// - its RCPTs or BDAT chunks are going out: they stop, and RSET clears the server's side
    ///   (RFC 3030 §2); the session goes on;
    /// - DATA went out: if the server answers `354`, or the body is already going out, the
    ///   session fails with [`Error::Cancelled`](crate::Error::Cancelled), since only dropping
    ///   the connection stops a DATA body (RFC 5321 §4.1.1.4).
    ///
    /// A message whose end of data went out cannot be cancelled ([`UsageError::DataEnded`]); one
    /// the server already refused keeps its refusal.
    pub fn cancel(&mut self, id: TransactionId) -> Result<(), UsageError> {
        let Some(txn) = self.txns.get_mut(id) else {
            return Err(UsageError::UnknownId);
        };
        if txn.end_sent {
            return Err(UsageError::UnexpectedDriverEvent(
                "cancel after the end of data",
            ));
        }
        txn.local = Some(LocalFailure::Cancelled);
        if txn.next == Next::Mail {
            self.settle(id);
        }
        Ok(())
    }

    /// Adds a piece of a streamed body. Answers [`UsageError::BodyBufferFull`] when
    /// [`Config::max_body_buffer`](crate::Config::max_body_buffer) octets are waiting: call [`next_action`](Self::next_action)
    /// and transmit first (backpressure, so a large body never sits in memory whole).
    pub fn push_body(&mut self, id: TransactionId, piece: Bytes) -> Result<(), SubmitError> {
        let limit = self.config.max_body_buffer;
        let stream = self.stream_mut(id)?;
        let buffered = stream.queue.buffered;
        if buffered > 0 && buffered + piece.len() > limit {
            return Err(UsageError::BodyBufferFull.into());
        }
        stream.queue.push(piece);
        Ok(())
    }

    /// Ends a streamed body.
    pub fn finish_body(&mut self, id: TransactionId) -> Result<(), SubmitError> {
        self.stream_mut(id)?.finished = true;
        Ok(())
    }

    /// How many octets [`push_body`](Self::push_body) takes now without refusing; 0 if the body
    /// is unknown or finished.
    pub fn body_room(&self, id: TransactionId) -> usize {
        let stream = self.txns.get(id).and_then(|t| match &t.body {
            BodySource::Streamed(s) if !s.finished => Some(s),
            _ => None,
        });
        // An empty buffer takes any piece (see `push_body`), so there is always room then.
        stream.map_or(0, |s| match s.queue.buffered {
            0 => self.config.max_body_buffer.max(1),
            buffered => self.config.max_body_buffer.saturating_sub(buffered),
        })
    }

    /// Queues RSET (RFC 5321 §4.1.1.5); [`take_reply`](Self::take_reply) hands over the reply.
    pub fn reset(&mut self) -> Result<QueryId, SubmitError> {
        self.check_open()?;
        let id = self.queries.open();
        self.ops.push_back(Op::Rset { query: Some(id) });
        Ok(id)
    }

    /// Queues NOOP (RFC 5321 §4.1.1.9); [`take_reply`](Self::take_reply) hands over the reply.
    pub fn noop(&mut self) -> Result<QueryId, SubmitError> {
        self.queue_query(Command::Noop)
    }

    /// Queues VRFY (RFC 5321 §4.1.1.6); [`take_reply`](Self::take_reply) hands over the reply.
    pub fn verify(&mut self, argument: QueryArg) -> Result<QueryId, SubmitError> {
        self.queue_query(Command::Vrfy(argument))
    }

    /// Queues EXPN (RFC 5321 §4.1.1.7); [`take_reply`](Self::take_reply) hands over the reply.
    pub fn expand(&mut self, argument: QueryArg) -> Result<QueryId, SubmitError> {
        self.queue_query(Command::Expn(argument))
    }

    /// Queues HELP (RFC 5321 §4.1.1.8); [`take_reply`](Self::take_reply) hands over the reply.
    pub fn help(&mut self, argument: Option<QueryArg>) -> Result<QueryId, SubmitError> {
        self.queue_query(Command::Help(argument))
    }

    /// Queues QUIT after everything already queued (RFC 5321 §4.1.1.10). Whatever the server
    /// answers, or if it just closes, the session then ends with
    /// [`Action::Close`](crate::Action::Close) and [`is_closed`](Self::is_closed) holds.
    pub fn quit(&mut self) -> Result<(), SubmitError> {
        self.check_open()?;
        self.quit_queued = true;
        self.ops.push_back(Op::Quit);
        Ok(())
    }

    /// Refuses new work once the session failed (with its sticky error, or the error a QUIT in
    /// progress will end it with) or is closing.
    fn check_open(&self) -> Result<(), SubmitError> {
        if let Some(error) = self.error.as_ref().or(self.quit_error.as_ref()) {
            return Err(SubmitError::Failed(error.clone()));
        }
        if self.quit_queued || matches!(self.phase, Phase::Quitting | Phase::Closed) {
            return Err(UsageError::Closed.into());
        }
        Ok(())
    }

    fn queue(&mut self, envelope: Envelope, body: BodySource) -> TransactionId {
        let id = self.txns.push(|id| Txn::new(id, envelope, body));
        self.ops.push_back(Op::Transaction(id));
        id
    }

    fn queue_query(&mut self, command: Command) -> Result<QueryId, SubmitError> {
        self.check_open()?;
        let id = self.queries.open();
        self.ops.push_back(Op::Query(id, command));
        Ok(id)
    }

    fn stream_mut(&mut self, id: TransactionId) -> Result<&mut StreamState, SubmitError> {
        if let Some(error) = &self.error {
            return Err(SubmitError::Failed(error.clone()));
        }
        match self.txns.get_mut(id).map(|t| &mut t.body) {
            Some(BodySource::Streamed(s)) if !s.finished => Ok(s),
            _ => Err(UsageError::NotStreaming.into()),
        }
    }
}

/// Checks a message and decides how its body goes out.
fn body_source(
    config: &Config,
    envelope: &Envelope,
    body: Bytes,
) -> Result<BodySource, UsageError> {
    if envelope.recipients.is_empty() {
        return Err(UsageError::NoRecipients);
    }
    let binary = envelope.params.body == Some(BodyType::BinaryMime);
    Ok(if binary {
        BodySource::Whole {
            content: body,
            eight_bit: true,
        }
    } else if is_canonical(&body) {
        BodySource::Whole {
            eight_bit: !body.is_ascii(),
            content: body,
        }
    } else {
        let policy = TextPolicy {
            bare_line_endings: config.bare_line_endings,
            allow_8bit: true,
        };
        let declared = StreamedBody {
            eight_bit: !body.is_ascii(),
            size_hint: Some(canonical_len(policy, &body)? as u64),
        };
        BodySource::Streamed(StreamState::whole(body, declared))
    })
}

//! Queueing application work: messages, their bodies, and the other commands.

use bytes::Bytes;

use super::error::UsageError;
use super::event::{StreamedBody, TransactionId};
use super::transaction::{BodySource, Envelope, StreamState, Txn};
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
    pub fn send(&mut self, envelope: Envelope, body: Bytes) -> Result<TransactionId, UsageError> {
        self.check_open(&envelope)?;
        let binary = envelope.params.body == Some(BodyType::BinaryMime);
        let source = if binary {
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
                bare_line_endings: self.config.bare_line_endings,
                allow_8bit: true,
            };
            let declared = StreamedBody {
                eight_bit: !body.is_ascii(),
                size_hint: Some(canonical_len(policy, &body)? as u64),
            };
            BodySource::Streamed(StreamState::whole(body, declared))
        };
        Ok(self.queue(envelope, source))
    }

    /// Queues a message whose body the application pushes in pieces with
    /// [`push_body`](Self::push_body), then [`finish_body`](Self::finish_body).
    pub fn send_streamed(
        &mut self,
        envelope: Envelope,
        body: StreamedBody,
    ) -> Result<TransactionId, UsageError> {
        self.check_open(&envelope)?;
        Ok(self.queue(envelope, BodySource::Streamed(StreamState::new(body))))
    }

    /// Adds a piece of a streamed body. Answers [`UsageError::BodyBufferFull`] when
    /// [`Config::max_body_buffer`](crate::Config::max_body_buffer) octets are waiting: call [`next_action`](Self::next_action)
    /// and transmit first (backpressure, so a large body never sits in memory whole).
    pub fn push_body(&mut self, id: TransactionId, piece: Bytes) -> Result<(), UsageError> {
        let limit = self.config.max_body_buffer;
        let stream = self.stream_mut(id)?;
        let buffered = stream.queue.buffered;
        if buffered > 0 && buffered + piece.len() > limit {
            return Err(UsageError::BodyBufferFull);
        }
        stream.queue.push(piece);
        Ok(())
    }

    /// Ends a streamed body.
    pub fn finish_body(&mut self, id: TransactionId) -> Result<(), UsageError> {
        self.stream_mut(id)?.finished = true;
        Ok(())
    }

    /// How many octets [`push_body`](Self::push_body) takes now without refusing; 0 if the body
    /// is unknown or finished.
    pub fn body_room(&self, id: TransactionId) -> usize {
        let stream = self
            .txns
            .iter()
            .find(|t| t.id == id)
            .and_then(|t| match &t.body {
                BodySource::Streamed(s) if !s.finished => Some(s),
                _ => None,
            });
        stream.map_or(0, |s| {
            self.config.max_body_buffer.saturating_sub(s.queue.buffered)
        })
    }

    /// Queues RSET (RFC 5321 §4.1.1.5); the reply comes as [`Event::QueryReply`](crate::Event::QueryReply).
    pub fn reset(&mut self) -> Result<(), UsageError> {
        self.queue_op(Op::Rset { requested: true })
    }

    /// Queues NOOP (RFC 5321 §4.1.1.9); the reply comes as [`Event::QueryReply`](crate::Event::QueryReply).
    pub fn noop(&mut self) -> Result<(), UsageError> {
        self.queue_op(Op::Query(Command::Noop))
    }

    /// Queues VRFY (RFC 5321 §4.1.1.6); the reply comes as [`Event::QueryReply`](crate::Event::QueryReply).
    pub fn verify(&mut self, argument: QueryArg) -> Result<(), UsageError> {
        self.queue_op(Op::Query(Command::Vrfy(argument)))
    }

    /// Queues EXPN (RFC 5321 §4.1.1.7); the reply comes as [`Event::QueryReply`](crate::Event::QueryReply).
    pub fn expand(&mut self, argument: QueryArg) -> Result<(), UsageError> {
        self.queue_op(Op::Query(Command::Expn(argument)))
    }

    /// Queues HELP (RFC 5321 §4.1.1.8); the reply comes as [`Event::QueryReply`](crate::Event::QueryReply).
    pub fn help(&mut self, argument: Option<QueryArg>) -> Result<(), UsageError> {
        self.queue_op(Op::Query(Command::Help(argument)))
    }

    /// Queues QUIT after everything already queued (RFC 5321 §4.1.1.10). Whatever the server
    /// answers, or if it just closes, the session then ends with [`Action::Close`](crate::Action::Close).
    pub fn quit(&mut self) -> Result<(), UsageError> {
        self.queue_op(Op::Quit)?;
        Ok(())
    }

    fn accepting_work(&self) -> bool {
        self.error.is_none()
            && !matches!(self.phase, Phase::Quitting | Phase::Closed)
            && !self.ops.iter().any(|op| matches!(op, Op::Quit))
    }

    fn check_open(&self, envelope: &Envelope) -> Result<(), UsageError> {
        if !self.accepting_work() {
            return Err(UsageError::Closed);
        }
        if envelope.recipients.is_empty() {
            return Err(UsageError::NoRecipients);
        }
        Ok(())
    }

    fn queue(&mut self, envelope: Envelope, body: BodySource) -> TransactionId {
        let id = TransactionId(self.next_id);
        self.next_id += 1;
        self.txns.push_back(Txn::new(id, envelope, body));
        self.ops.push_back(Op::Transaction(id));
        id
    }

    fn queue_op(&mut self, op: Op) -> Result<(), UsageError> {
        if !self.accepting_work() {
            return Err(UsageError::Closed);
        }
        self.ops.push_back(op);
        Ok(())
    }

    fn stream_mut(&mut self, id: TransactionId) -> Result<&mut StreamState, UsageError> {
        match self
            .txns
            .iter_mut()
            .find(|t| t.id == id)
            .map(|t| &mut t.body)
        {
            Some(BodySource::Streamed(s)) if !s.finished => Ok(s),
            _ => Err(UsageError::NotStreaming),
        }
    }
}

//! One message's transaction: its envelope, body, replies, and how its report is built.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use bytes::{Bytes, BytesMut};

use super::event::{StreamedBody, TransactionId};
use crate::error::{DataError, InvalidInput};
use crate::types::mailbox::{ForwardPath, Mailbox, ReversePath};
use crate::types::params::{MailParameters, RcptParameters};
use crate::wire::bdat::{BdatChunk, BdatContent, BdatEncoder};
use crate::wire::command::RcptCommand;
use crate::wire::dot_stuff::DataEncoder;
use crate::wire::reply::Reply;
use crate::wire::text::TextPolicy;

/// One recipient and its RCPT parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recipient {
    /// The forward-path.
    pub path: ForwardPath,
    /// DSN parameters (RFC 3461).
    pub params: RcptParameters,
}

/// The envelope of a message: who sends it, to whom, with which MAIL parameters.
///
/// The client adds SIZE, `BODY=8BITMIME` and SMTPUTF8 itself when the body or an address needs
/// them and the server offers them (RFC 1870, RFC 6152, RFC 6531); the other parameters are
/// sent as given, and refused locally if the server did not advertise them (SECURITY.md C8).
///
/// If the server advertises `LIMITS RCPTMAX` (RFC 9422) and there are more recipients, only
/// the first RCPTMAX are sent; the others appear in the report with no reply, to be sent in
/// another transaction. A recipient refused with `452` (too many recipients, RFC 5321
/// §4.5.3.1.10) is reported the same way as any transient refusal, for the caller to retry.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Envelope {
    /// The reverse-path.
    pub from: ReversePath,
    /// The recipients, in order.
    pub recipients: Vec<Recipient>,
    /// MAIL parameters.
    pub params: MailParameters,
}

impl Recipient {
    /// A recipient with no parameters.
    pub fn new(path: impl Into<ForwardPath>) -> Self {
        Self {
            path: path.into(),
            params: RcptParameters::default(),
        }
    }

    /// The same recipient with DSN parameters (RFC 3461).
    pub fn with_params(mut self, params: RcptParameters) -> Self {
        self.params = params;
        self
    }
}

impl Envelope {
    /// The same envelope with MAIL parameters.
    pub fn with_params(mut self, params: MailParameters) -> Self {
        self.params = params;
        self
    }

    /// An envelope from `from` to `recipients`, each with its own parameters.
    pub fn with_recipients<F, I>(from: F, recipients: I) -> Self
    where
        F: Into<ReversePath>,
        I: IntoIterator<Item = Recipient>,
    {
        Self {
            from: from.into(),
            recipients: recipients.into_iter().collect(),
            params: MailParameters::default(),
        }
    }

    /// An envelope with no parameters.
    pub fn new<F, I>(from: F, to: I) -> Self
    where
        F: Into<ReversePath>,
        I: IntoIterator<Item = Mailbox>,
    {
        Self {
            from: from.into(),
            recipients: to
                .into_iter()
                .map(|m| Recipient {
                    path: m.into(),
                    params: RcptParameters::default(),
                })
                .collect(),
            params: MailParameters::default(),
        }
    }
}

/// Where the body comes from.
#[derive(Debug)]
pub(crate) enum BodySource {
    /// Held whole and sent by reference: canonical text (checked) or binary content.
    Whole { content: Bytes, eight_bit: bool },
    /// Pushed by the application in pieces, or held whole but needing its line endings fixed:
    /// encoded a window at a time as it goes out.
    Streamed(StreamState),
}

#[derive(Debug)]
pub(crate) struct StreamState {
    pub(crate) declared: StreamedBody,
    pub(crate) queue: PieceQueue,
    pub(crate) finished: bool,
    data: Option<DataEncoder>,
    bdat: Option<BdatEncoder>,
}

/// Body pieces waiting to be encoded.
#[derive(Debug, Default)]
pub(crate) struct PieceQueue {
    pieces: VecDeque<Bytes>,
    /// The octets waiting, for backpressure.
    pub(crate) buffered: usize,
}

impl PieceQueue {
    pub(crate) fn push(&mut self, piece: Bytes) {
        self.buffered += piece.len();
        self.pieces.push_back(piece);
    }

    /// The next piece, at most `max` octets of it.
    fn take(&mut self, max: usize) -> Option<Bytes> {
        let front = self.pieces.front_mut()?;
        let piece = if front.len() > max {
            front.split_to(max)
        } else {
            self.pieces.pop_front()?
        };
        self.buffered -= piece.len();
        Some(piece)
    }
}

impl StreamState {
    pub(crate) fn new(declared: StreamedBody) -> Self {
        Self {
            declared,
            queue: PieceQueue::default(),
            finished: false,
            data: None,
            bdat: None,
        }
    }

    /// A whole body, already checked, that is encoded as it goes out rather than copied first.
    pub(crate) fn whole(body: Bytes, declared: StreamedBody) -> Self {
        let mut stream = Self::new(declared);
        stream.queue.push(body);
        stream.finished = true;
        stream
    }

    /// Encodes at most `budget` octets of waiting body for DATA onto `out`, and the terminator
    /// once the body is complete (RFC 5321 §4.5.2). True when the terminator went out.
    pub(crate) fn encode_data(
        &mut self,
        policy: TextPolicy,
        mut budget: usize,
        out: &mut BytesMut,
    ) -> Result<bool, DataError> {
        let encoder = self.data.get_or_insert_with(|| DataEncoder::new(policy));
        while budget > 0 {
            let Some(piece) = self.queue.take(budget) else {
                break;
            };
            budget -= piece.len();
            encoder.push(&piece, out)?;
        }
        if self.finished && self.queue.pieces.is_empty() {
            encoder.finish(out)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The next BDAT chunk, if enough body is waiting (RFC 3030 §2). The chunker is fed a
    /// chunk's worth at a time, so it holds at most a chunk and a piece.
    pub(crate) fn next_chunk(
        &mut self,
        content: BdatContent,
        chunk_size: usize,
    ) -> Result<Option<BdatChunk>, DataError> {
        let encoder = self
            .bdat
            .get_or_insert_with(|| BdatEncoder::new(content, chunk_size));
        loop {
            if let Some(chunk) = encoder.next_chunk() {
                return Ok(Some(chunk));
            }
            match self.queue.take(chunk_size) {
                Some(piece) => encoder.push(&piece)?,
                None if self.finished => {
                    // `finish` answers `Finished` to every call after the first, which ended
                    // the body already; any other error is the body's.
                    return match encoder.finish() {
                        Ok(()) | Err(DataError::Finished) => Ok(encoder.next_chunk()),
                        Err(e) => Err(e),
                    };
                }
                None => return Ok(None),
            }
        }
    }
}

/// What the transaction sends next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    Mail,
    Rcpt(usize),
    DataCommand,
    /// DATA sent; waiting for `354`.
    AwaitGo,
    /// `354` received: the body, then the terminator.
    Body,
    /// BDAT chunks.
    Chunks,
    /// Everything is sent.
    Done,
}

/// Why a transaction stopped on the client's side.
#[derive(Clone, Debug)]
pub(crate) enum LocalFailure {
    Invalid(InvalidInput),
    Body(DataError),
    TooLarge(u64),
    /// The application cancelled it.
    Cancelled,
}

#[derive(Debug)]
pub(crate) struct Txn {
    pub(crate) id: TransactionId,
    pub(crate) envelope: Envelope,
    pub(crate) body: BodySource,
    pub(crate) next: Next,
    pub(crate) use_bdat: bool,
    pub(crate) in_flight: usize,
    pub(crate) mail: Option<Reply>,
    pub(crate) rcpts: Vec<Option<Reply>>,
    pub(crate) deliveries: Vec<Option<Reply>>,
    pub(crate) data: Option<Reply>,
    pub(crate) chunk_failure: Option<Reply>,
    pub(crate) end: Option<Reply>,
    /// RCPT commands, built and checked with MAIL before anything is sent.
    pub(crate) rcpt_commands: Vec<RcptCommand>,
    /// What is left of a whole body to send in BDAT chunks.
    pub(crate) remaining: Option<Bytes>,
    /// A BDAT chunk failed: RSET must follow (RFC 3030 §2, SECURITY.md D14).
    pub(crate) rset_needed: bool,
    pub(crate) local: Option<LocalFailure>,
    /// Commands were cut short: the server may hold transaction state, so RSET follows.
    pub(crate) aborted: bool,
    /// The end of the data was emitted (DATA terminator or BDAT LAST).
    pub(crate) end_sent: bool,
    /// The end of the data was handed to the driver, so it may have reached the server.
    pub(crate) end_transmitted: bool,
    /// The server answered at least one of its commands.
    pub(crate) answered: bool,
    /// The session failed while one of its commands waited for a reply.
    pub(crate) hit: bool,
    /// An RSET already went out for it, right after it stopped short.
    pub(crate) reset_sent: bool,
}

impl Txn {
    pub(crate) fn new(id: TransactionId, envelope: Envelope, body: BodySource) -> Self {
        let n = envelope.recipients.len();
        Self {
            id,
            envelope,
            body,
            next: Next::Mail,
            use_bdat: false,
            in_flight: 0,
            mail: None,
            rcpts: alloc::vec![None; n],
            deliveries: alloc::vec![None; n],
            data: None,
            chunk_failure: None,
            end: None,
            rcpt_commands: Vec::new(),
            remaining: None,
            rset_needed: false,
            local: None,
            aborted: false,
            end_sent: false,
            end_transmitted: false,
            answered: false,
            hit: false,
            reset_sent: false,
        }
    }

    pub(crate) fn mail_accepted(&self) -> bool {
        self.mail
            .as_ref()
            .is_some_and(Reply::is_positive_completion)
    }

    pub(crate) fn accepted_recipients(&self) -> usize {
        self.rcpts
            .iter()
            .filter(|r| r.as_ref().is_some_and(Reply::is_positive_completion))
            .count()
    }

    /// Whether the server has taken everything that it will take, so the report can be built.
    pub(crate) fn is_settled(&self) -> bool {
        self.in_flight == 0 && (self.aborted || self.local.is_some() || self.next == Next::Done)
    }

    /// Whether an RSET must clear server-side state after this transaction.
    pub(crate) fn needs_rset(&self) -> bool {
        !self.reset_sent && ((self.mail_accepted() && !self.end_sent) || self.rset_needed)
    }

    /// Whether the server may hold state for it, with replies still to come: its MAIL was not
    /// refused and its data did not end, or a chunk failed.
    pub(crate) fn may_hold_state(&self) -> bool {
        let mail_refused = self
            .mail
            .as_ref()
            .is_some_and(|r| !r.is_positive_completion());
        self.rset_needed || (!self.end_sent && !mail_refused)
    }

    /// Whether it was cancelled by the application.
    pub(crate) fn is_cancelled(&self) -> bool {
        matches!(self.local, Some(LocalFailure::Cancelled))
    }
}

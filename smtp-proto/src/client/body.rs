//! Message bodies on the wire: DATA in transparent form (RFC 5321 §4.5.2) and BDAT chunks
//! (RFC 3030 §2), a bounded window or chunk at a time.

use alloc::vec::Vec;

use super::error::Error;
use super::pump::Progress;
use super::transaction::{BodySource, LocalFailure, Next};
use super::{Client, Expected, TransactionId};
use crate::types::params::BodyType;
use crate::wire::bdat::{BdatChunk, BdatContent};
use crate::wire::ehlo::Capabilities;
use crate::wire::text::TextPolicy;

/// The most body octets one transmission carries with DATA: the segments and any copy made
/// for dot-stuffing stay bounded however large the message.
const DATA_WINDOW: usize = 256 * 1024;

impl Client {
    /// How message text is checked on the wire: the configured line-ending rule, and 8-bit
    /// octets only if the server offers 8BITMIME (RFC 6152).
    fn text_policy(&self) -> TextPolicy {
        TextPolicy {
            bare_line_endings: self.config.bare_line_endings,
            allow_8bit: self.caps.as_ref().is_some_and(Capabilities::eight_bit_mime),
        }
    }

    /// After `354`: the body in transparent form and the terminator (RFC 5321 §4.5.2). A whole
    /// body goes out by reference, one window per transmission.
    pub(super) fn emit_body(&mut self, id: TransactionId) -> Progress {
        self.mark_output();
        let before = self.out.len();
        let policy = self.text_policy();
        let Some(txn) = self.txns.get_mut(id) else {
            return Progress::Free;
        };
        let result = match &mut txn.body {
            BodySource::Whole { content, .. } => {
                let rest = txn.remaining.get_or_insert_with(|| content.clone());
                let window = rest.split_to(line_window(rest));
                self.out.push_stuffed(window);
                let done = rest.is_empty();
                if done {
                    self.out.put_slice(b".\r\n");
                }
                Ok(done)
            }
            BodySource::Streamed(stream) => {
                // At most a window of body per transmission, however large the pieces.
                stream.encode_data(policy, DATA_WINDOW, self.out.tail())
            }
        };
        let written = self.out.len() - before;
        let lmtp_rcpts: Vec<usize> = if self.config.lmtp {
            let accepted = |r: &Option<crate::wire::reply::Reply>| {
                r.as_ref().is_some_and(|r| r.is_positive_completion())
            };
            (0..txn.rcpts.len())
                .filter(|&i| accepted(&txn.rcpts[i]))
                .collect()
        } else {
            Vec::new()
        };
        if result == Ok(true) {
            txn.end_sent = true;
            txn.next = Next::Done;
        }
        self.note_data(id, written);
        match result {
            Ok(true) => {
                let timeout = self.config.timeouts.data_termination;
                if lmtp_rcpts.is_empty() {
                    self.expect(Expected::DataEnd { id, rcpt: None }, timeout);
                } else {
                    // RFC 2033 §4.2: one reply per accepted recipient.
                    for rcpt in lmtp_rcpts {
                        self.expect(
                            Expected::DataEnd {
                                id,
                                rcpt: Some(rcpt),
                            },
                            timeout,
                        );
                    }
                }
                self.group_open = true;
                Progress::Continue
            }
            Ok(false) => Progress::Blocked,
            Err(e) => {
                // Part of the message may be out; only dropping the connection keeps it from
                // being delivered truncated.
                if let Some(txn) = self.txns.get_mut(id) {
                    txn.local = Some(LocalFailure::Body(e));
                }
                self.fail(Error::InvalidBody(e));
                Progress::Blocked
            }
        }
    }

    /// BDAT chunks (RFC 3030 §2): all at once with pipelining, one per reply without.
    pub(super) fn emit_chunks(&mut self, id: TransactionId) -> Progress {
        let chunk_size = self.config.bdat_chunk_size;
        let policy = self.text_policy();
        let Some(txn) = self.txns.get_mut(id) else {
            return Progress::Free;
        };
        let binary = txn.envelope.params.body == Some(BodyType::BinaryMime);
        let chunk = match &mut txn.body {
            BodySource::Whole { content, .. } => {
                let rest = txn.remaining.get_or_insert_with(|| content.clone());
                let data = rest.split_to(chunk_size.min(rest.len()));
                Ok(Some(BdatChunk {
                    last: rest.is_empty(),
                    data,
                }))
            }
            BodySource::Streamed(stream) => {
                let kind = if binary {
                    BdatContent::Binary
                } else {
                    BdatContent::Text(policy)
                };
                stream.next_chunk(kind, chunk_size)
            }
        };
        match chunk {
            Ok(Some(chunk)) => {
                if chunk.last {
                    txn.end_sent = true;
                    txn.next = Next::Done;
                }
                let octets = chunk.data.len();
                let timeout = if chunk.last {
                    self.config.timeouts.data_termination
                } else {
                    self.config.timeouts.data_block
                };
                self.emit(
                    chunk.command(),
                    Expected::Bdat {
                        id,
                        last: chunk.last,
                    },
                    timeout,
                );
                self.out.push_shared(chunk.data);
                // The chunk counts with its command until the reply, so pipelined chunks stop
                // at `max_unacknowledged_bytes`.
                self.count_sent(octets);
                self.note_data(id, octets);
                Progress::Continue
            }
            Ok(None) => Progress::Blocked,
            Err(e) => {
                // RFC 3030 §2: the chunks sent so far are discarded by the RSET that follows.
                txn.local = Some(LocalFailure::Body(e));
                txn.rset_needed = true;
                self.stop_short(id);
                Progress::Continue
            }
        }
    }
}

/// How much of a canonical body (every line ending in CRLF) one transmission carries with DATA:
/// up to [`DATA_WINDOW`] octets, cut after a line's CRLF so the next window starts a line.
fn line_window(rest: &[u8]) -> usize {
    if rest.len() <= DATA_WINDOW {
        return rest.len();
    }
    // Lines are at most 1000 octets, so a window of many lines always holds an LF.
    memchr::memrchr(b'\n', &rest[..DATA_WINDOW]).map_or(rest.len(), |at| at + 1)
}

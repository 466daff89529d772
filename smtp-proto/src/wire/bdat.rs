//! The BDAT chunker (RFC 3030 §2): message content in counted chunks, no dot-stuffing.

use bytes::{BufMut, Bytes, BytesMut};

use super::command::Command;
use super::text::{Canonicalizer, TextPolicy};
use crate::error::DataError;

/// What kind of content goes through BDAT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BdatContent {
    /// 7-bit or 8-bit text, canonicalised as for DATA but without dot-stuffing, and ending in
    /// CRLF. A later hop may turn the message back into DATA, so the same rules apply here
    /// (SECURITY.md D15).
    Text(TextPolicy),
    /// `BODY=BINARYMIME` content, sent exactly as given (RFC 3030 §3).
    Binary,
}

/// One chunk: `BDAT <size> [LAST]` CRLF, then exactly `size` octets (RFC 3030 §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BdatChunk {
    /// The octets of the chunk.
    pub data: Bytes,
    /// Whether this is the message's last chunk.
    pub last: bool,
}

impl BdatChunk {
    /// The BDAT command that announces this chunk.
    pub fn command(&self) -> Command {
        Command::Bdat {
            size: self.data.len() as u64,
            last: self.last,
        }
    }

    /// Appends the command line and the chunk's octets.
    pub fn encode(&self, out: &mut BytesMut) {
        self.command().encode(out);
        out.put_slice(&self.data);
    }
}

/// Cuts a message body, pushed in pieces of any size, into BDAT chunks of `chunk_size` octets,
/// the last one marked `LAST` and holding the rest (possibly nothing: `BDAT 0 LAST`).
///
/// Call [`push`](Self::push) for each piece and [`finish`](Self::finish) after the last; take
/// chunks with [`next_chunk`](Self::next_chunk) whenever convenient (after each push keeps at
/// most one chunk plus one piece buffered). Every chunk is at most `chunk_size` octets, and the
/// chunks are the same however the body was split.
#[derive(Clone, Debug)]
pub struct BdatEncoder {
    text: Option<Canonicalizer>,
    chunk_size: usize,
    pending: BytesMut,
    finished: bool,
    last_taken: bool,
}

impl BdatEncoder {
    /// A chunker for one message; `chunk_size` is clamped to at least 1.
    pub fn new(content: BdatContent, chunk_size: usize) -> Self {
        let text = match content {
            BdatContent::Text(policy) => Some(Canonicalizer::new(policy, false)),
            BdatContent::Binary => None,
        };
        Self {
            text,
            chunk_size: chunk_size.max(1),
            pending: BytesMut::new(),
            finished: false,
            last_taken: false,
        }
    }

    /// Adds the next part of the body.
    pub fn push(&mut self, piece: &[u8]) -> Result<(), DataError> {
        if self.finished {
            return Err(DataError::Finished);
        }
        match &mut self.text {
            Some(text) => text.push(piece, &mut self.pending),
            None => {
                self.pending.extend_from_slice(piece);
                Ok(())
            }
        }
    }

    /// Ends the body. Text that does not end in CRLF gets one, as DATA would add it
    /// (RFC 5321 §4.1.1.4). The `LAST` chunk then comes out of [`next_chunk`](Self::next_chunk).
    pub fn finish(&mut self) -> Result<(), DataError> {
        if self.finished {
            return Err(DataError::Finished);
        }
        if let Some(text) = &mut self.text {
            text.finish(&mut self.pending)?;
            if !text.at_line_start() {
                self.pending.put_slice(b"\r\n");
            }
        }
        self.finished = true;
        Ok(())
    }

    /// The next chunk, if one is ready: a full chunk, or after [`finish`](Self::finish) the
    /// `LAST` chunk with the rest. `None` when more body is needed, or after the `LAST` chunk.
    pub fn next_chunk(&mut self) -> Option<BdatChunk> {
        let full = self.pending.len() > self.chunk_size
            || (!self.finished && self.pending.len() == self.chunk_size);
        if full {
            return Some(BdatChunk {
                data: self.pending.split_to(self.chunk_size).freeze(),
                last: false,
            });
        }
        if self.finished && !self.last_taken {
            self.last_taken = true;
            return Some(BdatChunk {
                data: self.pending.split().freeze(),
                last: true,
            });
        }
        None
    }

    /// Splits binary content held in `Bytes` into chunks without copying it.
    pub fn binary_chunks(body: Bytes, chunk_size: usize) -> impl Iterator<Item = BdatChunk> {
        let chunk_size = chunk_size.max(1);
        let mut rest = Some(body);
        core::iter::from_fn(move || {
            let mut body = rest.take()?;
            if body.len() > chunk_size {
                let data = body.split_to(chunk_size);
                rest = Some(body);
                Some(BdatChunk { data, last: false })
            } else {
                Some(BdatChunk {
                    data: body,
                    last: true,
                })
            }
        })
    }
}

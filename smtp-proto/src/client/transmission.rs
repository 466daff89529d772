//! Bytes for the server as a list of segments, so message bodies held in `Bytes` go out
//! without being copied.

use alloc::collections::VecDeque;
use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::wire::dot_stuff::dot_positions;

/// Shared data shorter than this is copied next to its command: one more segment costs the
/// writer more than copying a few hundred octets. It also bounds the number of segments: at most
/// one per this many octets, whatever the data.
const INLINE_LIMIT: usize = 512;

/// What [`Action::Transmit`](crate::Action::Transmit) asks the driver to write: commands the
/// client encoded and message data shared with the caller's `Bytes`, in order.
///
/// It is a [`bytes::Buf`]: with the crate's `std` feature (on by default),
/// [`chunks_vectored`](Buf::chunks_vectored) yields every segment, so
/// `AsyncWriteExt::write_all_buf` in tokio, or a `write_vectored` loop, sends a whole
/// transmission in one system call where the transport allows. Drivers that need one slice can
/// call [`into_bytes`](Self::into_bytes).
#[derive(Clone, Default)]
pub struct Transmission {
    segments: VecDeque<Bytes>,
    remaining: usize,
}

impl Transmission {
    /// How many octets are left to write.
    pub fn len(&self) -> usize {
        self.remaining
    }

    /// Whether everything was written.
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }

    /// The segments left to write, in order; none is empty.
    pub fn segments(&self) -> impl ExactSizeIterator<Item = &Bytes> + '_ {
        self.segments.iter()
    }

    /// Everything left as one `Bytes`: without copying when it is one segment.
    pub fn into_bytes(mut self) -> Bytes {
        match self.segments.len() {
            0 => Bytes::new(),
            1 => self.segments.pop_front().unwrap_or_default(),
            _ => {
                let mut whole = BytesMut::with_capacity(self.remaining);
                for segment in &self.segments {
                    whole.put_slice(segment);
                }
                whole.freeze()
            }
        }
    }
}

/// Shows the size, not the content: a transmission may hold a whole message.
impl core::fmt::Debug for Transmission {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Transmission")
            .field("len", &self.remaining)
            .field("segments", &self.segments.len())
            .finish()
    }
}

impl From<Bytes> for Transmission {
    fn from(data: Bytes) -> Self {
        let mut transmission = Self::default();
        if !data.is_empty() {
            transmission.remaining = data.len();
            transmission.segments.push_back(data);
        }
        transmission
    }
}

impl Buf for Transmission {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.segments
            .front()
            .map_or(&[], |segment| segment.as_ref())
    }

    /// Consumes `count` octets; more than [`remaining`](Buf::remaining) consumes everything.
    fn advance(&mut self, mut count: usize) {
        while count > 0 {
            let Some(front) = self.segments.front_mut() else {
                break;
            };
            if count < front.len() {
                front.advance(count);
                self.remaining -= count;
                break;
            }
            count -= front.len();
            self.remaining -= front.len();
            self.segments.pop_front();
        }
    }

    #[cfg(feature = "std")]
    fn chunks_vectored<'a>(&'a self, dst: &mut [std::io::IoSlice<'a>]) -> usize {
        let mut filled = 0;
        for (slot, segment) in dst.iter_mut().zip(&self.segments) {
            *slot = std::io::IoSlice::new(segment);
            filled += 1;
        }
        filled
    }
}

/// The client's output buffer: small writes gather in a tail, shared data is kept by reference.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    sealed: VecDeque<Bytes>,
    sealed_len: usize,
    tail: BytesMut,
}

impl Outbox {
    pub(crate) fn len(&self) -> usize {
        self.sealed_len + self.tail.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where commands are encoded and copied data goes.
    pub(crate) fn tail(&mut self) -> &mut BytesMut {
        &mut self.tail
    }

    pub(crate) fn put_slice(&mut self, data: &[u8]) {
        self.tail.put_slice(data);
    }

    /// Appends data the caller handed over in `Bytes`: referenced, not copied, unless short.
    pub(crate) fn push_shared(&mut self, data: Bytes) {
        if data.len() < INLINE_LIMIT {
            self.tail.put_slice(&data);
            return;
        }
        self.seal();
        self.sealed_len += data.len();
        self.sealed.push_back(data);
    }

    /// Appends canonical text that starts at a line start, with each leading `.` doubled
    /// (RFC 5321 §4.5.2): the runs of lines between dots are referenced, or copied when short.
    pub(crate) fn push_stuffed(&mut self, lines: Bytes) {
        let mut start = 0;
        for at in dot_positions(&lines) {
            self.push_shared(lines.slice(start..at));
            self.tail.put_u8(b'.');
            start = at;
        }
        self.push_shared(lines.slice(start..));
    }

    /// Everything buffered, handed out for writing.
    pub(crate) fn take(&mut self) -> Transmission {
        self.seal();
        Transmission {
            segments: core::mem::take(&mut self.sealed),
            remaining: core::mem::take(&mut self.sealed_len),
        }
    }

    pub(crate) fn clear(&mut self) {
        self.sealed.clear();
        self.sealed_len = 0;
        self.tail.clear();
    }

    fn seal(&mut self) {
        if !self.tail.is_empty() {
            let data = self.tail.split().freeze();
            self.sealed_len += data.len();
            self.sealed.push_back(data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::dot_stuff::DataEncoder;
    use crate::wire::text::TextPolicy;

    fn contains(outer: &Bytes, inner: &[u8]) -> bool {
        let range = outer.as_ptr_range();
        range.contains(&inner.as_ptr()) && inner.len() <= outer.len()
    }

    #[test]
    fn shared_data_is_referenced_and_short_data_copied() {
        let body = Bytes::from(alloc::vec![b'x'; 4096]);
        let mut outbox = Outbox::default();
        outbox.put_slice(b"BDAT 4096 LAST\r\n");
        outbox.push_shared(body.clone());
        outbox.push_shared(Bytes::from_static(b"short"));
        let sent = outbox.take();
        assert_eq!(sent.len(), 16 + 4096 + 5);
        let segments: alloc::vec::Vec<_> = sent.segments().cloned().collect();
        assert_eq!(segments.len(), 3);
        assert!(contains(&body, &segments[1]));
        assert!(outbox.is_empty());
    }

    /// RFC 5321 §4.5.2: by reference or by copy, the stuffed text is what the encoder makes.
    #[test]
    fn stuffing_by_reference_matches_the_encoder() {
        let few = [&b".a\r\nb\r\n"[..], &[b'c'; 700], b"\r\n..d\r\n.\r\n"].concat();
        let many = b".\r\n".repeat(100);
        for text in [few, many, alloc::vec::Vec::new()] {
            let mut expected = BytesMut::new();
            DataEncoder::encode_all(TextPolicy::default(), &text, &mut expected)
                .expect("canonical text");
            let mut outbox = Outbox::default();
            outbox.push_stuffed(Bytes::from(text.clone()));
            outbox.put_slice(b".\r\n");
            assert_eq!(outbox.take().into_bytes(), expected.freeze());
        }
    }

    #[test]
    fn advancing_walks_across_segments() {
        let mut outbox = Outbox::default();
        outbox.put_slice(b"MAIL FROM:<a@b>\r\n");
        outbox.push_shared(Bytes::from(alloc::vec![b'y'; 600]));
        outbox.put_slice(b"QUIT\r\n");
        let mut sent = outbox.take();
        let whole = sent.clone().into_bytes();
        sent.advance(10);
        assert_eq!(sent.chunk(), &whole[10..17]);
        sent.advance(300);
        assert_eq!(sent.len(), whole.len() - 310);
        assert_eq!(sent.clone().into_bytes(), whole.slice(310..));
        sent.advance(usize::MAX);
        assert!(sent.is_empty() && sent.chunk().is_empty());
    }

    #[cfg(feature = "std")]
    #[test]
    fn vectored_chunks_cover_every_segment() {
        let mut outbox = Outbox::default();
        outbox.put_slice(b"BDAT 600\r\n");
        outbox.push_shared(Bytes::from(alloc::vec![b'z'; 600]));
        outbox.put_slice(b"BDAT 0 LAST\r\n");
        let sent = outbox.take();
        let mut slices = [std::io::IoSlice::new(&[]); 8];
        let filled = sent.chunks_vectored(&mut slices);
        let total: usize = slices[..filled].iter().map(|s| s.len()).sum();
        assert_eq!((filled, total), (3, sent.len()));
    }
}

//! When input arrived and when replies are due: what [`Limits::latency`] needs to answer each
//! command one latency after it arrived, however many are pipelined.
//!
//! [`Limits::latency`]: crate::Limits::latency

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// When the octets read so far arrived, so that the arrival of the input a reply answers (the
/// chunk that completed it) is known when the reply is made.
#[derive(Debug)]
pub(super) struct Arrivals {
    /// Octets read since the last reset.
    read: u64,
    /// Octets consumed (taken out of the read buffer) since the last reset.
    consumed: u64,
    /// For each chunk read and not wholly consumed: the count of octets read when it ended,
    /// and when it arrived.
    chunks: VecDeque<(u64, Instant)>,
    /// When the last octet consumed arrived.
    last: Instant,
}

impl Arrivals {
    /// Nothing read yet; replies are counted from `now` (the connection or the handshake).
    pub(super) fn new(now: Instant) -> Self {
        Self {
            read: 0,
            consumed: 0,
            chunks: VecDeque::new(),
            last: now,
        }
    }

    /// `n` octets arrived at `now`.
    pub(super) fn read(&mut self, n: usize, now: Instant) {
        self.read += n as u64;
        self.chunks.push_back((self.read, now));
    }

    /// `n` octets were consumed: the input they end arrived with the chunk holding the last.
    pub(super) fn consume(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.consumed += n as u64;
        while let Some(&(end, at)) = self.chunks.front() {
            if end >= self.consumed {
                self.last = at;
                if end == self.consumed {
                    self.chunks.pop_front();
                }
                break;
            }
            self.chunks.pop_front();
        }
    }

    /// When the input answered next arrived.
    pub(super) fn last(&self) -> Instant {
        self.last
    }
}

/// Replies waiting for the time they are due, in the order they were made.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    pending: VecDeque<(Instant, Vec<u8>)>,
}

impl Outbox {
    /// Queues `bytes`, due at `due` (never before the reply queued before it).
    pub(super) fn push(&mut self, due: Instant, bytes: Vec<u8>) {
        let due = self.pending.back().map_or(due, |&(last, _)| due.max(last));
        self.pending.push_back((due, bytes));
    }

    /// The next reply if it is due at `now`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Vec<u8>> {
        match self.pending.front() {
            Some(&(due, _)) if due <= now => self.pending.pop_front().map(|(_, b)| b),
            _ => None,
        }
    }

    /// The next reply, due or not, with the time it is due.
    pub(super) fn pop(&mut self) -> Option<(Instant, Vec<u8>)> {
        self.pending.pop_front()
    }

    /// When the next reply is due.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.pending.front().map(|&(due, _)| due)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Waits until `at`, or forever without one.
pub(super) async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// `at` plus `latency`, saturating far in the future.
pub(super) fn after(at: Instant, latency: Duration) -> Instant {
    at.checked_add(latency)
        .unwrap_or_else(|| at + Duration::from_secs(86_400 * 365))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_arrived_with_the_chunk_that_ended_it() {
        let start = Instant::now();
        let mut arrivals = Arrivals::new(start);
        let (t1, t2) = (
            start + Duration::from_millis(10),
            start + Duration::from_millis(20),
        );
        arrivals.read(6, t1); // "NOOP\r\n"
        arrivals.read(8, t2); // "RSET\r\nNO"
        arrivals.consume(6);
        assert_eq!(arrivals.last(), t1);
        arrivals.consume(6);
        assert_eq!(arrivals.last(), t2);
        arrivals.read(4, start + Duration::from_millis(30)); // "OP\r\n"
        arrivals.consume(6);
        assert_eq!(arrivals.last(), start + Duration::from_millis(30));
    }

    #[test]
    fn replies_leave_in_order() {
        let start = Instant::now();
        let mut outbox = Outbox::default();
        outbox.push(start + Duration::from_millis(20), b"a".to_vec());
        outbox.push(start + Duration::from_millis(10), b"b".to_vec());
        assert_eq!(outbox.pop_due(start + Duration::from_millis(15)), None);
        assert_eq!(outbox.next_due(), Some(start + Duration::from_millis(20)));
        let now = start + Duration::from_millis(20);
        assert_eq!(outbox.pop_due(now), Some(b"a".to_vec()));
        assert_eq!(outbox.pop_due(now), Some(b"b".to_vec()));
        assert!(outbox.is_empty());
    }
}

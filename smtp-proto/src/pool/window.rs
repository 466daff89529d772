//! Counts over a sliding window of time, kept small: events closer together than a grain are
//! recorded as one, so the record holds at most `span / GRAIN + 1` entries however fast they
//! come.

use alloc::collections::VecDeque;
use core::time::Duration;

use crate::client::time::Instant;

/// Events closer together than this (from the first of them) share one entry.
pub(crate) const GRAIN: Duration = Duration::from_millis(10);

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// The first event of the entry.
    first: Instant,
    /// The last: the entry leaves the window a span after it, so that no event leaves early.
    last: Instant,
    count: u32,
}

/// How many events happened within the last `span`.
#[derive(Debug)]
pub(crate) struct Window {
    span: Duration,
    entries: VecDeque<Entry>,
    total: u64,
}

impl Window {
    pub(crate) fn new(span: Duration) -> Self {
        Self {
            span,
            entries: VecDeque::new(),
            total: 0,
        }
    }

    /// Forgets events a whole span before `now`.
    fn prune(&mut self, now: Instant) {
        while let Some(entry) = self.entries.front() {
            if now.saturating_duration_since(entry.last) < self.span {
                break;
            }
            self.total -= u64::from(entry.count);
            self.entries.pop_front();
        }
    }

    /// `count` events at `now`.
    pub(crate) fn add(&mut self, now: Instant, count: u32) {
        self.prune(now);
        self.total += u64::from(count);
        match self.entries.back_mut() {
            Some(entry) if now.saturating_duration_since(entry.first) < GRAIN => {
                entry.last = entry.last.max(now);
                entry.count = entry.count.saturating_add(count);
            }
            _ => self.entries.push_back(Entry {
                first: now,
                last: now,
                count,
            }),
        }
    }

    /// Takes back `count` of the events recorded at `at`, if they are still in the window.
    pub(crate) fn remove(&mut self, at: Instant, count: u32) {
        let entry = self
            .entries
            .iter_mut()
            .find(|e| e.first <= at && at <= e.last);
        if let Some(entry) = entry {
            let taken = entry.count.min(count);
            entry.count -= taken;
            self.total -= u64::from(taken);
        }
    }

    /// How many events within the span before `now`.
    pub(crate) fn total(&mut self, now: Instant) -> u64 {
        self.prune(now);
        self.total
    }

    /// The first instant from `now` on at which the window holds at most `max` events, as the
    /// oldest leave it.
    pub(crate) fn when_at_most(&self, now: Instant, max: u64) -> Instant {
        let mut total = self.total;
        let mut at = now;
        for entry in &self.entries {
            if total <= max {
                break;
            }
            total -= u64::from(entry.count);
            at = at.max(entry.last.saturating_add(self.span));
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_duration(Duration::from_millis(ms))
    }

    #[test]
    fn events_leave_a_span_after_the_last_of_their_grain() {
        let mut window = Window::new(Duration::from_secs(1));
        window.add(at(0), 1);
        window.add(at(5), 1);
        window.add(at(20), 1);
        assert_eq!(window.total(at(999)), 3);
        // The first two share a grain ending at 5 ms: neither leaves before 1.005 s.
        assert_eq!(window.total(at(1_004)), 3);
        assert_eq!(window.total(at(1_005)), 1);
        assert_eq!(window.total(at(1_020)), 0);
    }

    #[test]
    fn when_at_most_is_when_enough_of_the_oldest_have_left() {
        let mut window = Window::new(Duration::from_secs(1));
        for i in 0..10 {
            window.add(at(i * 100), 1);
        }
        assert_eq!(window.when_at_most(at(950), 10), at(950));
        assert_eq!(window.when_at_most(at(950), 9), at(1_000));
        assert_eq!(window.when_at_most(at(950), 7), at(1_200));
        assert_eq!(
            window.when_at_most(at(1_150), 9),
            at(1_150),
            "one left already"
        );
        assert_eq!(window.when_at_most(at(950), 0), at(1_900));
    }

    #[test]
    fn events_taken_back_no_longer_count() {
        let mut window = Window::new(Duration::from_secs(1));
        window.add(at(0), 2);
        window.add(at(50), 1);
        window.remove(at(0), 1);
        window.remove(at(30), 1);
        assert_eq!(window.total(at(100)), 2, "nothing was recorded at 30 ms");
        window.remove(at(50), 5);
        assert_eq!(window.total(at(100)), 1);
    }

    #[test]
    fn the_record_stays_small_however_fast_the_events() {
        let mut window = Window::new(Duration::from_secs(1));
        for i in 0..100_000 {
            window.add(at(i / 50), 1);
        }
        assert!(window.entries.len() <= 101, "{}", window.entries.len());
        assert_eq!(window.total(at(1_999)), 50_000, "50 a millisecond");
    }
}

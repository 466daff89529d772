//! Pacing learned from a server that throttles: when it refuses a message for its sending rate,
//! what it accepted over the last second becomes the pool's rate for a while.

use core::time::Duration;

use super::policy::{Limiter, Rate};
use crate::client::time::Instant;
use crate::wire::reply::Reply;

const SECOND: Duration = Duration::from_secs(1);

/// Whether a reply refuses a message for the server's sending rate: a `4yz` whose text says
/// so, as Amazon SES's `454 4.7.0 Throttling failure: Maximum sending rate exceeded.` does (or
/// "rate limit", "rate exceeded", "throttled"). No RFC names this refusal; its wording is the
/// only sign, and reading it only changes how fast the pool sends, never a verdict.
pub(crate) fn is_throttling(reply: &Reply) -> bool {
    if !reply.is_transient() {
        return false;
    }
    let text = reply.first_text().to_ascii_lowercase();
    let has = |word: &[u8]| text.windows(word.len()).any(|w| w == word);
    has(b"throttl") || (has(b"rate") && (has(b"exceed") || has(b"limit")))
}

/// Messages accepted over the last second, in two one-second buckets, and the rate learned at
/// the last throttling.
#[derive(Debug)]
pub(crate) struct Pace {
    bucket_start: Instant,
    current: u32,
    previous: u32,
    learned: Option<Learned>,
}

#[derive(Debug)]
struct Learned {
    per_second: u32,
    limiter: Limiter,
    at: Instant,
    until: Instant,
}

impl Pace {
    pub(crate) fn new() -> Self {
        Self {
            bucket_start: Instant::ZERO,
            current: 0,
            previous: 0,
            learned: None,
        }
    }

    /// Moves the buckets on to the second that holds `now`.
    fn roll(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.bucket_start);
        if elapsed >= 2 * SECOND {
            (self.previous, self.current, self.bucket_start) = (0, 0, now);
        } else if elapsed >= SECOND {
            self.previous = self.current;
            self.current = 0;
            self.bucket_start = self.bucket_start.saturating_add(SECOND);
        }
    }

    /// A message counting `weight` (its recipients) was accepted at `now`.
    pub(crate) fn accepted(&mut self, now: Instant, weight: u32) {
        self.roll(now);
        self.current = self.current.saturating_add(weight);
        self.raise_while_fresh(now);
    }

    /// About how many were accepted over the second before `now`: the current bucket and the
    /// part of the previous one still within that second.
    fn last_second(&self, now: Instant) -> u32 {
        let into = now.saturating_duration_since(self.bucket_start).min(SECOND);
        let left = SECOND.saturating_sub(into).as_millis();
        let from_previous = u128::from(self.previous) * left / SECOND.as_millis();
        self.current
            .saturating_add(u32::try_from(from_previous).unwrap_or(u32::MAX))
    }

    /// Nine tenths of what was accepted over the second before `now`, at least one.
    fn estimate(&self, now: Instant) -> u32 {
        let nine_tenths = u64::from(self.last_second(now)) * 9 / 10;
        u32::try_from(nine_tenths).unwrap_or(u32::MAX).max(1)
    }

    /// The lesson of the last second, if any: reports of the burst that taught it may still
    /// come (another connection's acceptances reported after this one's refusal).
    fn fresh_lesson(&mut self, now: Instant) -> Option<&mut Learned> {
        self.learned
            .as_mut()
            .filter(|l| l.until > now && now.saturating_duration_since(l.at) < SECOND)
    }

    /// While the lesson is fresh, acceptances reported late raise the rate to what they show.
    fn raise_while_fresh(&mut self, now: Instant) {
        let estimate = self.estimate(now);
        if let Some(learned) = self.fresh_lesson(now)
            && estimate > learned.per_second
        {
            learned.per_second = estimate;
            learned.limiter = Limiter::new(Rate::per_second(estimate));
        }
    }

    /// The server refused a message for its sending rate at `now`: pace at nine tenths of
    /// what it accepted over the last second (or of the rate already learned, if lower), at
    /// least one a second, until `hold` after the last such refusal. Refusals within a second
    /// of the last lesson (the rest of the same burst) do not lower it again.
    pub(crate) fn throttled(&mut self, now: Instant, hold: Duration) {
        self.roll(now);
        let until = now.saturating_add(hold);
        if let Some(learned) = self.fresh_lesson(now) {
            learned.until = until;
            return self.raise_while_fresh(now);
        }
        let ceiling = self
            .learned
            .as_ref()
            .filter(|l| l.until > now)
            .map_or(u32::MAX, |l| l.per_second);
        let per_second = self.estimate(now).min(ceiling);
        self.learned = Some(Learned {
            per_second,
            limiter: Limiter::new(Rate::per_second(per_second)),
            at: now,
            until,
        });
    }

    /// The rate learned, while it holds.
    pub(crate) fn limiter(&mut self, now: Instant) -> Option<&mut Limiter> {
        self.learned
            .as_mut()
            .filter(|l| l.until > now)
            .map(|l| &mut l.limiter)
    }

    /// When the learned rate admits one more message, while it holds.
    pub(crate) fn next_admission(&self, now: Instant) -> Option<Instant> {
        self.learned
            .as_ref()
            .filter(|l| l.until > now)
            .map(|l| l.limiter.next_admission(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::reply::ReplyCode;

    fn reply(code: u16, text: &str) -> Reply {
        let code = ReplyCode::new(code).expect("a reply code");
        Reply::new(code, [text]).expect("one line")
    }

    #[test]
    fn throttling_is_told_by_a_transient_reply_that_says_so() {
        for (code, text) in [
            (
                454,
                "4.7.0 Throttling failure: Maximum sending rate exceeded.",
            ),
            (451, "4.7.1 Rate limit exceeded, try again later"),
            (421, "4.7.0 Message rate limit reached"),
        ] {
            assert!(is_throttling(&reply(code, text)), "{code} {text}");
        }
        for (code, text) in [
            (451, "4.3.0 Temporary failure: try again later"),
            (454, "4.7.0 Daily message quota exceeded."),
            (554, "5.7.1 Sending rate exceeded"),
            (250, "2.0.0 Ok: queued at a high rate"),
        ] {
            assert!(!is_throttling(&reply(code, text)), "{code} {text}");
        }
    }

    #[test]
    fn the_rate_learned_is_nine_tenths_of_the_last_second_and_holds_for_a_while() {
        let at = |ms| Instant::from_duration(Duration::from_millis(ms));
        let hold = Duration::from_secs(60);
        let mut pace = Pace::new();
        for i in 0..30 {
            pace.accepted(at(i * 50), 1);
        }
        // One every 50 ms: 20 in the second before 1.5 s.
        pace.throttled(at(1_500), hold);
        assert_eq!(pace.learned.as_ref().map(|l| l.per_second), Some(18));
        // The rest of the same burst only extends the hold.
        pace.throttled(at(1_900), hold);
        assert_eq!(pace.learned.as_ref().map(|l| l.per_second), Some(18));
        // Throttled again later, with less accepted meanwhile: lower still.
        for i in 0..10 {
            pace.accepted(at(2_000 + i * 100), 1);
        }
        pace.throttled(at(3_000), hold);
        assert_eq!(pace.learned.as_ref().map(|l| l.per_second), Some(9));
        assert!(pace.next_admission(at(3_000)).is_some());
        // Gone once the hold has passed without another refusal.
        assert!(pace.next_admission(at(63_001)).is_none());
        assert!(pace.limiter(at(63_001)).is_none());
    }

    #[test]
    fn acceptances_reported_after_a_fresh_lesson_raise_it() {
        let at = |ms| Instant::from_duration(Duration::from_millis(ms));
        let hold = Duration::from_secs(60);
        let mut pace = Pace::new();
        // One connection's refusal comes first: nothing accepted yet.
        pace.throttled(at(100), hold);
        assert_eq!(pace.learned.as_ref().map(|l| l.per_second), Some(1));
        // Another connection's acceptances of the same burst come next.
        for i in 0..20 {
            pace.accepted(at(110 + i), 1);
        }
        assert_eq!(pace.learned.as_ref().map(|l| l.per_second), Some(18));
        // A second later the lesson is settled: acceptances no longer raise it.
        for i in 0..30 {
            pace.accepted(at(1_200 + i), 1);
        }
        assert_eq!(pace.learned.as_ref().map(|l| l.per_second), Some(18));
    }
}

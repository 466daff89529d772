//! Pacing learned from a server that throttles: when it refuses a message for its sending rate,
//! what it accepted over the last second becomes the pool's rate, probed upwards while it holds
//! messages back.

use alloc::collections::VecDeque;
use core::time::Duration;

use super::policy::{Limiter, Rate};
use crate::client::time::Instant;
use crate::wire::reply::Reply;

const SECOND: Duration = Duration::from_secs(1);

/// Acceptances closer together than this are recorded as one, so the record of the last second
/// holds at most a hundred entries however fast the server takes messages.
const GRAIN: Duration = Duration::from_millis(10);

/// Whether a reply refuses a message for the server's sending rate: a `4yz` whose text says
/// so, as Amazon SES's `454 4.7.0 Throttling failure: Maximum sending rate exceeded.` does (or
/// "rate limit", "rate exceeded", "throttled"). No RFC names this refusal; its wording is the
/// only sign, and reading it only changes how fast the pool sends, never a verdict.
pub(crate) fn is_throttling(reply: &Reply) -> bool {
    if !reply.is_transient() {
        return false;
    }
    let words = || {
        reply
            .lines()
            .iter()
            .flat_map(|line| line.text().split(|b| !b.is_ascii_alphabetic()))
            .map(<[u8]>::to_ascii_lowercase)
    };
    let starts = |prefix: &[u8]| words().any(|w| w.starts_with(prefix));
    starts(b"throttl") || (words().any(|w| w == b"rate") && (starts(b"exceed") || starts(b"limit")))
}

/// What the server accepted over the last second, and the rate learned at the last throttling.
#[derive(Debug)]
pub(crate) struct Pace {
    /// Acceptances within the last second, oldest first: when, and how many (by recipient).
    recent: VecDeque<(Instant, u32)>,
    learned: Option<Learned>,
}

#[derive(Debug)]
struct Learned {
    per_second: u32,
    /// The most the late acceptances of a fresh lesson may raise it to: the rate learned
    /// before, if any.
    ceiling: u32,
    limiter: Limiter,
    hold: Duration,
    /// When it was learned.
    at: Instant,
    /// When it ends, or is probed upwards.
    until: Instant,
    /// Whether it held a message back since `until` was last set.
    held_back: bool,
}

impl Pace {
    pub(crate) fn new() -> Self {
        Self {
            recent: VecDeque::new(),
            learned: None,
        }
    }

    /// Forgets acceptances older than a second before `now`.
    fn prune(&mut self, now: Instant) {
        while self
            .recent
            .front()
            .is_some_and(|&(at, _)| now.saturating_duration_since(at) >= SECOND)
        {
            self.recent.pop_front();
        }
    }

    /// A message counting `weight` (its recipients) was accepted at `now`.
    pub(crate) fn accepted(&mut self, now: Instant, weight: u32) {
        self.prune(now);
        match self.recent.back_mut() {
            Some((at, count)) if now.saturating_duration_since(*at) < GRAIN => {
                *count = count.saturating_add(weight);
            }
            _ => self.recent.push_back((now, weight)),
        }
        self.raise_while_fresh(now);
    }

    /// Nine tenths of what was accepted over the last second, at least one.
    fn estimate(&self) -> u32 {
        let accepted: u64 = self.recent.iter().map(|&(_, n)| u64::from(n)).sum();
        u32::try_from(accepted * 9 / 10).unwrap_or(u32::MAX).max(1)
    }

    /// The lesson of the last second, if any: reports of the burst that taught it may still
    /// come (another connection's acceptances reported after this one's refusal).
    fn fresh_lesson(&mut self, now: Instant) -> Option<&mut Learned> {
        self.learned
            .as_mut()
            .filter(|l| l.until > now && now.saturating_duration_since(l.at) < SECOND)
    }

    /// While the lesson is fresh, acceptances reported late raise the rate to what they show,
    /// never above the rate learned before it.
    fn raise_while_fresh(&mut self, now: Instant) {
        let estimate = self.estimate();
        if let Some(learned) = self.fresh_lesson(now) {
            let target = estimate.min(learned.ceiling);
            if target > learned.per_second {
                learned.per_second = target;
                learned.limiter.set_rate(Rate::per_second(target), now);
            }
        }
    }

    /// The server refused a message for its sending rate at `now`: pace at nine tenths of
    /// what it accepted over the last second (or of the rate already learned, if lower), at
    /// least one a second, for `hold`. Refusals within a second of the last lesson (the rest
    /// of the same burst) do not lower it again.
    pub(crate) fn throttled(&mut self, now: Instant, hold: Duration) {
        self.prune(now);
        self.tick(now);
        let until = now.saturating_add(hold);
        if let Some(learned) = self.fresh_lesson(now) {
            learned.until = until;
            return self.raise_while_fresh(now);
        }
        let estimate = self.estimate();
        match self.learned.as_mut() {
            Some(learned) => {
                let ceiling = learned.per_second;
                learned.per_second = estimate.min(ceiling);
                learned.ceiling = ceiling;
                learned
                    .limiter
                    .set_rate(Rate::per_second(learned.per_second), now);
                (learned.hold, learned.at, learned.until) = (hold, now, until);
                learned.held_back = false;
            }
            None => {
                self.learned = Some(Learned {
                    per_second: estimate,
                    ceiling: u32::MAX,
                    limiter: Limiter::new(Rate::per_second(estimate)),
                    hold,
                    at: now,
                    until,
                    held_back: false,
                });
            }
        }
    }

    /// At the end of its hold, a learned rate that still held messages back is raised by a
    /// tenth (at least one a second) and held again, probing towards the server's limit; one
    /// that held nothing back is dropped. Call it whenever time moves.
    pub(crate) fn tick(&mut self, now: Instant) {
        let Some(learned) = self.learned.as_mut().filter(|l| l.until <= now) else {
            return;
        };
        if !learned.held_back {
            self.learned = None;
            return;
        }
        let rate = learned.per_second;
        let raised = u32::try_from(u64::from(rate) * 11 / 10).unwrap_or(u32::MAX);
        learned.per_second = raised.max(rate.saturating_add(1));
        learned
            .limiter
            .set_rate(Rate::per_second(learned.per_second), now);
        learned.until = now.saturating_add(learned.hold);
        learned.held_back = false;
    }

    /// The learned rate kept a message from starting.
    pub(crate) fn held_back(&mut self) {
        if let Some(learned) = self.learned.as_mut() {
            learned.held_back = true;
        }
    }

    /// The learned rate, if one holds.
    pub(crate) fn limiter(&mut self) -> Option<&mut Limiter> {
        self.learned.as_mut().map(|l| &mut l.limiter)
    }

    /// When the learned rate admits one more message, or its hold ends (to be probed), if one
    /// holds.
    pub(crate) fn next_admission(&self, now: Instant) -> Option<Instant> {
        self.learned
            .as_ref()
            .map(|l| l.limiter.next_admission(now).min(l.until.max(now)))
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

    fn at(ms: u64) -> Instant {
        Instant::from_duration(Duration::from_millis(ms))
    }

    fn rate(pace: &Pace) -> Option<u32> {
        pace.learned.as_ref().map(|l| l.per_second)
    }

    const HOLD: Duration = Duration::from_secs(60);

    #[test]
    fn throttling_is_told_by_a_transient_reply_that_says_so() {
        for (code, text) in [
            (
                454,
                "4.7.0 Throttling failure: Maximum sending rate exceeded.",
            ),
            (451, "4.7.1 Rate limit exceeded, try again later"),
            (421, "4.7.0 Message rate limited"),
        ] {
            assert!(is_throttling(&reply(code, text)), "{code} {text}");
        }
        for (code, text) in [
            (451, "4.3.0 Temporary failure: try again later"),
            (454, "4.7.0 Daily message quota exceeded."),
            (554, "5.7.1 Sending rate exceeded"),
            (250, "2.0.0 Ok: queued at a high rate"),
            (
                451,
                "4.3.0 Could not generate a separate limit exceeded report",
            ),
        ] {
            assert!(!is_throttling(&reply(code, text)), "{code} {text}");
        }
    }

    #[test]
    fn the_rate_learned_is_nine_tenths_of_the_last_second() {
        let mut pace = Pace::new();
        for i in 0..30 {
            pace.accepted(at(i * 50), 1);
        }
        // One every 50 ms: 20 in the second up to 1.499 s (0.5 s to 1.45 s).
        pace.throttled(at(1_499), HOLD);
        assert_eq!(rate(&pace), Some(18));
        // The rest of the same burst does not lower it.
        pace.throttled(at(1_900), HOLD);
        assert_eq!(rate(&pace), Some(18));
        // Throttled again later, with less accepted meanwhile: lower still.
        for i in 0..10 {
            pace.accepted(at(2_000 + i * 100), 1);
        }
        pace.throttled(at(2_999), HOLD);
        assert_eq!(rate(&pace), Some(9));
    }

    #[test]
    fn acceptances_reported_after_a_fresh_lesson_raise_it_up_to_the_rate_before() {
        let mut pace = Pace::new();
        // One connection's refusal comes first: nothing accepted yet.
        pace.throttled(at(100), HOLD);
        assert_eq!(rate(&pace), Some(1));
        // Another connection's acceptances of the same burst come next.
        for i in 0..20 {
            pace.accepted(at(110 + i), 1);
        }
        assert_eq!(rate(&pace), Some(18));
        // A second later the lesson is settled: acceptances no longer raise it.
        for i in 0..30 {
            pace.accepted(at(1_200 + i), 1);
        }
        assert_eq!(rate(&pace), Some(18));
        // A new lesson may not be raised above the rate learned before it.
        pace.throttled(at(5_000), HOLD);
        assert_eq!(rate(&pace), Some(1), "nothing accepted in the last second");
        for i in 0..40 {
            pace.accepted(at(5_010 + i), 1);
        }
        assert_eq!(rate(&pace), Some(18));
    }

    #[test]
    fn a_rate_that_holds_messages_back_is_probed_upwards_and_one_that_does_not_ends() {
        let mut pace = Pace::new();
        for i in 0..10 {
            pace.accepted(at(i), 1);
        }
        pace.throttled(at(100), HOLD);
        assert_eq!(rate(&pace), Some(9));
        pace.held_back();
        pace.tick(at(60_100));
        assert_eq!(rate(&pace), Some(10), "a tenth more, at least one");
        assert!(pace.next_admission(at(60_100)).is_some());
        // Nothing held back through the next hold: the rate is dropped.
        pace.tick(at(120_100));
        assert_eq!(rate(&pace), None);
        assert!(pace.next_admission(at(120_100)).is_none());
    }

    #[test]
    fn the_record_of_acceptances_stays_small_however_fast_the_server() {
        let mut pace = Pace::new();
        for i in 0..100_000 {
            pace.accepted(at(i / 50), 1);
        }
        assert!(pace.recent.len() <= 101, "{}", pace.recent.len());
        assert_eq!(pace.estimate(), 45_000, "50 a millisecond");
    }
}

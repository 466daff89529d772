//! Pacing learned from a server that throttles: when it refuses a message for its sending rate,
//! what it accepted over the last second becomes the pool's rate, probed upwards while it holds
//! messages back.

use core::time::Duration;

use super::window::Window;
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

/// How long an admission counts against a learned rate: the server's second and a twentieth
/// more, so that messages whose way to the server takes a little longer than their
/// predecessors' (a larger body, a slower connection) do not crowd into its window.
const ADMISSION_SPAN: Duration = Duration::from_millis(1_050);

/// How long after a lesson the reports of the burst that taught it may still raise it.
const FRESH: Duration = SECOND;

/// What the server accepted over the last second, what the pool started over the last
/// [`ADMISSION_SPAN`], and the rate learned at the last throttling.
///
/// A server that throttles (Amazon SES) counts what it accepted over a sliding second, across
/// every connection, and refuses what would go over its limit. At a refusal, what it accepted
/// over the last second is that limit, as the pool's reports show it: the learned rate is a
/// window of the same second, so that no more messages start within any [`ADMISSION_SPAN`]
/// than the server accepted in its second. Messages then reach the server at the rate it
/// allows, whatever the round-trip time and however many connections carry them.
#[derive(Debug)]
pub(crate) struct Pace {
    accepted: Window,
    admitted: Window,
    learned: Option<Learned>,
}

#[derive(Debug)]
struct Learned {
    /// Messages (by recipient) per window.
    per_window: u32,
    /// The most the late acceptances of a fresh lesson may raise it to: the rate learned
    /// before, if any.
    ceiling: u32,
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
            accepted: Window::new(SECOND),
            admitted: Window::new(ADMISSION_SPAN),
            learned: None,
        }
    }

    /// A message counting `weight` (its recipients) was accepted at `now`.
    pub(crate) fn accepted(&mut self, now: Instant, weight: u32) {
        self.accepted.add(now, weight);
        self.raise_while_fresh(now);
    }

    /// What was accepted over the last second, at least one.
    fn estimate(&mut self, now: Instant) -> u32 {
        let accepted = self.accepted.total(now);
        u32::try_from(accepted).unwrap_or(u32::MAX).max(1)
    }

    /// While the lesson is fresh, acceptances reported late (another connection's, of the
    /// burst that taught it) raise the rate to what they show, never above the rate learned
    /// before it.
    fn raise_while_fresh(&mut self, now: Instant) {
        let estimate = self.estimate(now);
        if let Some(learned) = self.learned.as_mut().filter(|l| l.is_fresh(now)) {
            learned.per_window = learned.per_window.max(estimate.min(learned.ceiling));
        }
    }

    /// The server refused a message for its sending rate at `now`: from now on, no more
    /// messages start within a window than it accepted over the last second, for `hold`.
    /// Refusals within a second of the last lesson (the rest of the same burst) only extend
    /// it. A later refusal sets it to what was accepted over the last second again: lower if
    /// the server now takes less (another sender shares its limit), the same otherwise.
    pub(crate) fn throttled(&mut self, now: Instant, hold: Duration) {
        self.tick(now);
        let until = now.saturating_add(hold);
        let estimate = self.estimate(now);
        match self.learned.as_mut() {
            Some(learned) if learned.is_fresh(now) => learned.until = until,
            Some(learned) => {
                let ceiling = learned.per_window;
                learned.per_window = estimate.min(ceiling);
                learned.ceiling = ceiling;
                (learned.hold, learned.at, learned.until) = (hold, now, until);
                learned.held_back = false;
            }
            None => {
                self.learned = Some(Learned {
                    per_window: estimate,
                    ceiling: u32::MAX,
                    hold,
                    at: now,
                    until,
                    held_back: false,
                });
            }
        }
        self.raise_while_fresh(now);
    }

    /// At the end of its hold, a learned rate that still held messages back is raised by a
    /// twentieth (at least one) and held again, probing towards the server's limit; one that
    /// held nothing back is dropped. Call it whenever time moves.
    pub(crate) fn tick(&mut self, now: Instant) {
        let Some(learned) = self.learned.as_mut().filter(|l| l.until <= now) else {
            return;
        };
        if !learned.held_back {
            self.learned = None;
            return;
        }
        let rate = learned.per_window;
        learned.per_window = rate.saturating_add((rate / 20).max(1));
        learned.ceiling = u32::MAX;
        learned.until = now.saturating_add(learned.hold);
        learned.held_back = false;
    }

    /// Whether the learned rate, if any, lets a message counting `weight` start at `now`. A
    /// message heavier than the whole window starts when the window is empty.
    pub(crate) fn admits(&self, now: Instant, weight: u32) -> bool {
        self.next_admission(now, weight).is_none_or(|at| at <= now)
    }

    /// A message counting `weight` starts at `now`.
    pub(crate) fn admit(&mut self, now: Instant, weight: u32) {
        self.admitted.add(now, weight);
    }

    /// A message counting `weight` that started at `started` was refused for the rate: the
    /// server did not count it, so neither does the window.
    pub(crate) fn refused(&mut self, started: Instant, weight: u32) {
        self.admitted.remove(started, weight);
    }

    /// The learned rate kept a message from starting.
    pub(crate) fn held_back(&mut self) {
        if let Some(learned) = self.learned.as_mut() {
            learned.held_back = true;
        }
    }

    /// The rate learned, in messages (by recipient) a second, if one holds.
    pub(crate) fn learned(&self) -> Option<u32> {
        self.learned.as_ref().map(|l| l.per_window)
    }

    /// When the learned rate admits a message counting `weight`, or its hold ends (to be
    /// probed), if one holds.
    pub(crate) fn next_admission(&self, now: Instant, weight: u32) -> Option<Instant> {
        let learned = self.learned.as_ref()?;
        let room = u64::from(learned.per_window.saturating_sub(weight));
        let admission = self.admitted.when_at_most(now, room);
        Some(admission.min(learned.until.max(now)))
    }
}

impl Learned {
    fn is_fresh(&self, now: Instant) -> bool {
        self.until > now && now.saturating_duration_since(self.at) < FRESH
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
        pace.learned()
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
    fn the_rate_learned_is_what_the_server_accepted_over_its_last_second() {
        let mut pace = Pace::new();
        for i in 0..30 {
            pace.accepted(at(i * 50), 1);
        }
        // One every 50 ms: 20 in the second up to 1.499 s (0.5 s to 1.45 s).
        pace.throttled(at(1_499), HOLD);
        assert_eq!(rate(&pace), Some(20));
        // The rest of the same burst does not lower it.
        pace.throttled(at(1_900), HOLD);
        assert_eq!(rate(&pace), Some(20));
        // Throttled again later, with less accepted meanwhile (another sender shares the
        // limit): lower.
        for i in 0..10 {
            pace.accepted(at(3_000 + i * 100), 1);
        }
        pace.throttled(at(3_999), HOLD);
        assert_eq!(rate(&pace), Some(10));
        // Throttled with as much accepted as the rate allows: the same, no ratchet downwards.
        for i in 0..10 {
            pace.accepted(at(5_000 + i * 100), 1);
        }
        pace.throttled(at(5_999), HOLD);
        assert_eq!(rate(&pace), Some(10));
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
        assert_eq!(rate(&pace), Some(20));
        // A second later the lesson is settled: acceptances no longer raise it.
        for i in 0..30 {
            pace.accepted(at(1_200 + i), 1);
        }
        assert_eq!(rate(&pace), Some(20));
        // A new lesson may not be raised above the rate learned before it.
        pace.throttled(at(5_000), HOLD);
        assert_eq!(rate(&pace), Some(1), "nothing accepted in the last second");
        for i in 0..40 {
            pace.accepted(at(5_010 + i), 1);
        }
        assert_eq!(rate(&pace), Some(20));
    }

    #[test]
    fn no_more_start_within_a_window_than_the_server_accepted_in_its_second() {
        let mut pace = Pace::new();
        for i in 0..10 {
            pace.admit(at(i), 1);
            pace.accepted(at(300 + i), 1);
        }
        pace.throttled(at(320), HOLD);
        assert_eq!(rate(&pace), Some(10));
        assert!(!pace.admits(at(320), 1), "ten started within the window");
        // The first admission leaves the window 1.05 s after it started.
        assert_eq!(pace.next_admission(at(320), 1), Some(at(1_059)));
        assert!(pace.admits(at(1_059), 1));
        // A message heavier than the window waits for it to empty.
        assert_eq!(pace.next_admission(at(320), 50), Some(at(1_059)));
    }

    #[test]
    fn a_rate_that_holds_messages_back_is_probed_upwards_and_one_that_does_not_ends() {
        let mut pace = Pace::new();
        for i in 0..40 {
            pace.accepted(at(i), 1);
        }
        pace.throttled(at(100), HOLD);
        assert_eq!(rate(&pace), Some(40));
        pace.held_back();
        pace.tick(at(60_100));
        assert_eq!(rate(&pace), Some(42), "a twentieth more, at least one");
        assert!(pace.next_admission(at(60_100), 1).is_some());
        // Nothing held back through the next hold: the rate is dropped.
        pace.tick(at(120_100));
        assert_eq!(rate(&pace), None);
        assert!(pace.next_admission(at(120_100), 1).is_none());
    }
}

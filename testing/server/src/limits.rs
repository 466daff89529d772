//! The limits the server enforces the way Amazon SES does, the sliding windows that count what
//! was taken within the last second over all connections, and what the server counted.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Limits the server enforces the way Amazon SES does, and the time it takes to answer.
///
/// [`Limits::none`] (the default) enforces nothing and answers at once; [`Limits::ses`] gives
/// the limits of an Amazon SES production account. Every limit is off while it is `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// After this many messages on a connection, the next MAIL gets
    /// `421 4.4.2 Maximum message count per session reached` and the connection closes.
    /// Postfix-like servers count the messages they took; with [`Personality::Ses`] every
    /// transaction that reached the end of its data counts, refused or throttled ones too, as
    /// SES counts them.
    ///
    /// [`Personality::Ses`]: crate::Personality::Ses
    pub messages_per_session: Option<usize>,
    /// A connection beyond this many open at once is greeted with
    /// `421 Too many concurrent SMTP connections` (`421 4.7.0 ...` when Postfix-like) and
    /// closed. A refused connection does not hold a place while it closes.
    pub connections: Option<usize>,
    /// Beyond this many messages within any one second (a sliding window over all
    /// connections), the end of the data gets
    /// `454 Throttling failure: Maximum sending rate exceeded.` and the message is dropped.
    pub per_second: Option<usize>,
    /// The account's maximum send rate, in recipients per second over all connections, as SES
    /// counts it: a message whose recipients would take the count of recipients accepted
    /// within the last second (a sliding window) over this rate gets
    /// `454 Throttling failure: Maximum sending rate exceeded.` at the end of its data and is
    /// dropped. A message with more recipients than the whole rate is taken only when nothing
    /// was taken within the last second, so that it can be delivered at all.
    pub recipients_per_second: Option<usize>,
    /// At most this many recipients per message. SES takes any number of RCPT commands and
    /// refuses the message at the end of its data with
    /// `554 Transaction failed: Recipient count exceeds 50.` (the limit in the text); a
    /// Postfix-like server refuses each RCPT beyond the limit with
    /// `452 4.5.3 Error: too many recipients`.
    pub recipients_per_message: Option<usize>,
    /// A session that sends nothing for this long, while no reply of the server is pending,
    /// gets `451 4.4.2 Timeout waiting for data from client.` (SES) or
    /// `421 4.4.2 localhost Error: timeout exceeded` (Postfix-like) and is closed.
    pub idle_timeout: Option<Duration>,
    /// Added to every reply, to stand for the distance to the server: a reply to input that
    /// arrived at `t` is written at `t + latency`, the round trip a client far away sees. Later
    /// replies are not held up beyond their own input's arrival plus the latency, so pipelined
    /// commands are answered after one latency, not one each. The greeting (counted from the
    /// connection, or from the end of the handshake with implicit TLS), every step of AUTH and
    /// the `220` to STARTTLS are delayed too; the TLS handshake is not. Zero by default.
    pub latency: Duration,
}

impl Limits {
    /// No limits, no latency.
    pub fn none() -> Self {
        Self::default()
    }

    /// The limits of an Amazon SES production account: a maximum send rate of 14 recipients
    /// per second (SES's default out of the sandbox; the sandbox allows 1), 50 recipients per
    /// message (SES's fixed quota), 300 messages per session (SES ends a session after "some
    /// hundreds"), 10 connections at once (SES refuses connections beyond a number it does not
    /// publish), and a 10 s idle timeout. No latency.
    pub fn ses() -> Self {
        Self {
            messages_per_session: Some(300),
            connections: Some(10),
            per_second: None,
            recipients_per_second: Some(14),
            recipients_per_message: Some(50),
            idle_timeout: Some(Duration::from_secs(10)),
            latency: Duration::ZERO,
        }
    }

    /// These limits, with `messages_per_session` set.
    pub fn messages_per_session(mut self, messages: usize) -> Self {
        self.messages_per_session = Some(messages);
        self
    }

    /// These limits, with `connections` set.
    pub fn connections(mut self, connections: usize) -> Self {
        self.connections = Some(connections);
        self
    }

    /// These limits, with `per_second` set.
    pub fn per_second(mut self, messages: usize) -> Self {
        self.per_second = Some(messages);
        self
    }

    /// These limits, with `recipients_per_second` (the account's maximum send rate) set.
    pub fn recipients_per_second(mut self, recipients: usize) -> Self {
        self.recipients_per_second = Some(recipients);
        self
    }

    /// These limits, with `recipients_per_message` set.
    pub fn recipients_per_message(mut self, recipients: usize) -> Self {
        self.recipients_per_message = Some(recipients);
        self
    }

    /// These limits, with `idle_timeout` set.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// These limits, with `latency` set.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }
}

/// What was taken within the last second: each entry is a time and a weight (one per message,
/// or its recipients), oldest first.
#[derive(Debug, Default)]
struct Window {
    entries: VecDeque<(Instant, usize)>,
    total: usize,
}

impl Window {
    /// Forgets what was taken a second or more before `now`.
    fn slide(&mut self, now: Instant) {
        while let Some(&(at, weight)) = self.entries.front() {
            if now.saturating_duration_since(at) < Duration::from_secs(1) {
                break;
            }
            self.entries.pop_front();
            self.total -= weight;
        }
    }

    /// Whether `weight` more fits under `max` (or the window is empty).
    fn fits(&self, weight: usize, max: usize) -> bool {
        self.total == 0 || self.total + weight <= max
    }

    fn push(&mut self, now: Instant, weight: usize) {
        self.entries.push_back((now, weight));
        self.total += weight;
    }
}

/// The sending rates over all connections: messages and recipients within the last second.
#[derive(Debug, Default)]
pub(super) struct Rates {
    messages: Window,
    recipients: Window,
}

impl Rates {
    /// Whether a message with `recipients` may be taken at `now` under `limits`; if so it is
    /// counted in both windows.
    pub(super) fn admit(&mut self, limits: &Limits, now: Instant, recipients: usize) -> bool {
        self.messages.slide(now);
        self.recipients.slide(now);
        let messages_fit = limits
            .per_second
            .is_none_or(|max| self.messages.total < max);
        let recipients_fit = limits
            .recipients_per_second
            .is_none_or(|max| self.recipients.fits(recipients, max));
        if !(messages_fit && recipients_fit) {
            return false;
        }
        if limits.per_second.is_some() {
            self.messages.push(now, 1);
        }
        if limits.recipients_per_second.is_some() {
            self.recipients.push(now, recipients);
        }
        true
    }
}

/// What a server has counted since it started, read with [`TestServer::stats`].
///
/// [`TestServer::stats`]: crate::TestServer::stats
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Messages stored (those in [`TestServer::received`]): answered `250 Ok <id>`, or stored
    /// before a fault's action.
    ///
    /// [`TestServer::received`]: crate::TestServer::received
    pub accepted: usize,
    /// Messages refused with `454 Throttling failure: Maximum sending rate exceeded.`
    /// ([`Limits::per_second`], [`Limits::recipients_per_second`]).
    ///
    /// [`Limits::per_second`]: crate::Limits::per_second
    /// [`Limits::recipients_per_second`]: crate::Limits::recipients_per_second
    pub throttled: usize,
    /// Sessions ended with `421 4.4.2 Maximum message count per session reached`
    /// ([`Limits::messages_per_session`]).
    ///
    /// [`Limits::messages_per_session`]: crate::Limits::messages_per_session
    pub session_caps: usize,
    /// Connections greeted with `421 Too many concurrent SMTP connections` and closed
    /// ([`Limits::connections`]).
    ///
    /// [`Limits::connections`]: crate::Limits::connections
    pub refused_connections: usize,
    /// The most connections open at once, not counting those refused for
    /// [`Limits::connections`].
    ///
    /// [`Limits::connections`]: crate::Limits::connections
    pub peak_connections: usize,
    /// Sessions closed after the client stayed silent for [`Limits::idle_timeout`].
    ///
    /// [`Limits::idle_timeout`]: crate::Limits::idle_timeout
    pub idle_timeouts: usize,
    /// Connections accepted, refused ones included.
    pub connections: usize,
}

/// The counters behind [`Stats`], shared by every connection.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) accepted: AtomicUsize,
    pub(super) throttled: AtomicUsize,
    pub(super) session_caps: AtomicUsize,
    pub(super) refused_connections: AtomicUsize,
    pub(super) peak_connections: AtomicUsize,
    pub(super) idle_timeouts: AtomicUsize,
    pub(super) connections: AtomicUsize,
}

impl Counters {
    /// Counts one more.
    pub(super) fn add(counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::SeqCst);
    }

    pub(super) fn snapshot(&self) -> Stats {
        let read = |counter: &AtomicUsize| counter.load(Ordering::SeqCst);
        Stats {
            accepted: read(&self.accepted),
            throttled: read(&self.throttled),
            session_caps: read(&self.session_caps),
            refused_connections: read(&self.refused_connections),
            peak_connections: read(&self.peak_connections),
            idle_timeouts: read(&self.idle_timeouts),
            connections: read(&self.connections),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_counts_recipients_within_the_last_second() {
        let limits = Limits::none().recipients_per_second(3);
        let mut rates = Rates::default();
        let start = Instant::now();
        assert!(rates.admit(&limits, start, 2));
        assert!(!rates.admit(&limits, start, 2), "4 recipients over 3");
        assert!(rates.admit(&limits, start + Duration::from_millis(500), 1));
        assert!(!rates.admit(&limits, start + Duration::from_millis(999), 1));
        // The first message leaves the window exactly one second after it was taken.
        assert!(rates.admit(&limits, start + Duration::from_secs(1), 2));
        assert!(!rates.admit(&limits, start + Duration::from_secs(1), 1));
    }

    #[test]
    fn a_message_larger_than_the_rate_is_taken_into_an_empty_window() {
        let limits = Limits::none().recipients_per_second(2);
        let mut rates = Rates::default();
        let start = Instant::now();
        assert!(rates.admit(&limits, start, 5));
        assert!(!rates.admit(&limits, start + Duration::from_millis(900), 1));
        assert!(rates.admit(&limits, start + Duration::from_secs(1), 1));
    }

    #[test]
    fn messages_per_second_count_messages() {
        let limits = Limits::none().per_second(2);
        let mut rates = Rates::default();
        let start = Instant::now();
        assert!(rates.admit(&limits, start, 10));
        assert!(rates.admit(&limits, start, 10));
        assert!(!rates.admit(&limits, start, 1));
    }
}

//! What a pool of connections may do: how many connections, how long they live, how fast
//! messages go, and how often a message is tried; with defaults for Amazon SES.

use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use super::window::Window;
use crate::client::time::Instant;

/// A rate of messages shared by every connection of a pool: one message per `interval` on
/// average, with bursts of at most [`burst`](Self::burst) after a pause, so that over any
/// window of time `t` at most `t / interval + burst` messages start, and never more than a
/// second's worth within any 1.02 s (Amazon SES counts its maximum send rate over a sliding
/// second, and takes messages at slightly varying delays). A message counts once per
/// recipient (as SES counts) when the pool knows its recipients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    interval: Duration,
    burst: u32,
}

impl Rate {
    /// `messages` per second (at least 1), in bursts of up to a tenth of a second's worth (at
    /// least 1) after a pause: `per_second(50)` lets 5 go at once, then one every 20 ms, and
    /// never more than 50 in any 1.02 s. Once that second's window holds messages back, they
    /// go evenly again, without a burst. Small bursts keep messages evenly spread, as a server
    /// that counts its rate over a sliding second (Amazon SES) needs when it takes them at
    /// slightly varying delays: a burst taken a little late is still in its window when the
    /// next one arrives.
    pub fn per_second(messages: u32) -> Self {
        let messages = messages.max(1);
        Self {
            interval: Duration::from_secs(1) / messages,
            burst: (messages / 10).max(1),
        }
    }

    /// One message per `interval`, never two at once.
    pub fn every(interval: Duration) -> Self {
        Self { interval, burst: 1 }
    }

    /// The time between two messages.
    pub fn interval(self) -> Duration {
        self.interval
    }

    /// How many messages may start at once after a pause.
    pub fn burst(self) -> u32 {
        self.burst
    }
}

/// The window over which a [`Rate`] lets at most a second's worth start: a second, and a
/// fiftieth more, so that messages the server takes at slightly varying delays (a burst of
/// connections busy at once, a slower one) still fall into its second no more than it allows.
const SECOND_AND_MARGIN: Duration = Duration::from_millis(1_020);

/// Admits messages at a [`Rate`], exactly: each admission is decided when it is made, for all
/// connections together (the generic cell rate algorithm), and a window of the last second
/// keeps any second to a second's worth.
#[derive(Debug)]
pub(crate) struct Limiter {
    rate: Rate,
    /// When the next message would be due if messages went out evenly.
    due: Instant,
    /// What started within the last second.
    second: Window,
    /// How many may start within any second.
    per_second: u64,
    /// Whether the window of the last second, not the schedule, last held a message back.
    window_held: bool,
}

impl Limiter {
    pub(crate) fn new(rate: Rate) -> Self {
        let per_second = Duration::from_secs(1).as_nanos() / rate.interval.as_nanos().max(1);
        Self {
            rate,
            due: Instant::ZERO,
            second: Window::new(SECOND_AND_MARGIN),
            per_second: u64::try_from(per_second).unwrap_or(u64::MAX).max(1),
            window_held: false,
        }
    }

    /// Whether a message counting `weight` times may start at `now`; if so it is counted as
    /// started, `weight` slots of the schedule.
    pub(crate) fn admit(&mut self, now: Instant, weight: u32) -> bool {
        if self.hold(now, weight) {
            return false;
        }
        self.second.add(now, weight);
        let slack = self.slack();
        let late = now.saturating_duration_since(self.due);
        let start = if core::mem::take(&mut self.window_held) {
            // The window held it: the schedule goes on evenly from now, without the burst it
            // saved up meanwhile, which would start as the window's oldest leave it and crowd
            // into the server's second with them.
            self.due.max(now.saturating_add(slack))
        } else if late <= self.rate.interval / 20 {
            // Checked a little late (a timer fires a millisecond after the instant it was
            // set for): the schedule goes on from when the message was due, so that such
            // delays do not add up and the rate holds on average.
            self.due
        } else {
            // After a longer pause (no connection was free, or no message waited) it starts
            // again from now, with a burst to spend.
            now
        };
        self.due = start.saturating_add(self.rate.interval * weight);
        true
    }

    /// Whether a message counting `weight` must wait at `now`; notes whether the window of
    /// the last second, rather than the schedule, is what holds it.
    pub(crate) fn hold(&mut self, now: Instant, weight: u32) -> bool {
        let scheduled = self.scheduled();
        let window = self.window_allows(now, weight);
        if scheduled.max(window) <= now {
            return false;
        }
        self.window_held |= window > now && window >= scheduled;
        true
    }

    /// How far a burst may run ahead of the even schedule: `burst - 1` slots.
    fn slack(&self) -> Duration {
        self.rate.interval * self.rate.burst.saturating_sub(1)
    }

    /// When the schedule lets one more message start.
    fn scheduled(&self) -> Instant {
        Instant::from_duration(self.due.as_duration().saturating_sub(self.slack()))
    }

    /// When the window of the last second has room for a message counting `weight`; a
    /// message heavier than a second's worth waits for an empty window.
    fn window_allows(&self, now: Instant, weight: u32) -> Instant {
        let room = self.per_second.saturating_sub(u64::from(weight));
        self.second.when_at_most(now, room)
    }

    /// The time between two messages of the rate.
    pub(crate) fn interval(&self) -> Duration {
        self.rate.interval
    }

    /// When a message counting `weight` may start: `now` or later.
    pub(crate) fn next_admission_of(&self, now: Instant, weight: u32) -> Instant {
        self.scheduled()
            .max(self.window_allows(now, weight))
            .max(now)
    }
}

/// When a pool opens, reuses and retires connections, how fast it sends, and how often it tries
/// a message. [`PoolPolicy::default`] suits most servers; [`PoolPolicy::ses`] Amazon SES.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolPolicy {
    /// The most connections open at once. Default 4; [`ses`](Self::ses) 100. Within it,
    /// the pool opens one more when messages wait that the rate would let start, no open
    /// connection is free and those still opening cannot take them all; with no rate known,
    /// it opens at most twice as many at once as are open (a slow start, so that a server
    /// that throttles meets a small first burst). Connections that idle for
    /// [`idle_timeout`](Self::idle_timeout) while another is free retire. When a connection
    /// fails to open while others are open (SES: `421 Too many concurrent SMTP
    /// connections`), the pool stays at the count it had for
    /// [`limit_cooldown`](Self::limit_cooldown).
    pub max_connections: usize,
    /// Retire a connection (QUIT) after this many messages; `None` for no limit. When a server
    /// ends a session with `421` saying that its count per session was reached (SES:
    /// `Maximum message count per session reached`, after a few hundred), or ends two
    /// sessions with `421` after the same number of transactions, the pool retires
    /// connections at that count for [`limit_cooldown`](Self::limit_cooldown). Transactions
    /// the server refused count, as SES counts them.
    pub max_messages_per_connection: Option<usize>,
    /// How many messages one connection is given at a time, pipelined, when its server offers
    /// PIPELINING (RFC 2920). Default 32. A connection to a server that does not pipeline
    /// (SES) is given one message at a time, so that the rate admits each as it starts.
    pub batch: usize,
    /// QUIT a connection that had nothing to do for this long. Default 60 s.
    pub idle_timeout: Duration,
    /// Before reusing a connection that idled this long, check it with NOOP. Default 10 s.
    pub check_after_idle: Duration,
    /// Messages per second over all connections, counted by recipient; `None` for no limit.
    /// SES accounts have a maximum send rate in recipients per second (1 in the sandbox, 14 or
    /// more in production).
    pub rate: Option<Rate>,
    /// When the server refuses a message for its sending rate (SES: `454 Throttling failure:
    /// Maximum sending rate exceeded.`), learn its rate: what it accepted over the last
    /// second, as the reports show it. From then on, no more messages start within any 1.05 s
    /// than that, on all connections (and within [`rate`](Self::rate), if set), so that they
    /// reach the server at the rate it takes whatever the round-trip time. The refused
    /// message goes again as soon as the pace admits it (once; a second refusal waits for
    /// the [`retry_delays`](Self::retry_delays)). A later refusal sets the rate again to what
    /// was accepted over the last second. After each
    /// [`limit_cooldown`](Self::limit_cooldown), a rate that still kept messages waiting is
    /// raised by a twentieth and held again; one that kept none waiting ends. Default on:
    /// without it, a server that throttles refuses most of a large batch again at each retry.
    pub pace_on_throttling: bool,
    /// How long to wait before each new try of a deferred message (a `4yz`, such as SES's
    /// `454 Throttling failure`); after the last, the message is given up with its last reply.
    /// Default 5 s, 10 s, 30 s, as AWS advises.
    pub retry_delays: Vec<Duration>,
    /// Send a message again after an unknown outcome (no reply to its end of data). Off by
    /// default: the server may have delivered it, and a second send may deliver it twice.
    pub resend_unknown: bool,
    /// How many times a message may come back not attempted (its connection failed before the
    /// server answered it) before it is given up. Default 5.
    pub max_not_attempted: u32,
    /// How many times in a row connections may fail to open, leaving none open or opening,
    /// before the messages waiting for one are given up. Default 5; every failed open (but one
    /// refused for the server's load while others are open) makes the pool wait 1 s, 2 s,
    /// 4 s ... (at most 30 s) before the next. Messages delayed for a retry keep their own
    /// tries. A permanent failure (a certificate or credentials refused) gives the waiting
    /// messages up at once, unless a connection is open.
    pub max_connect_failures: u32,
    /// How long the pool keeps to the connection count at which a server refused one more, and
    /// to a rate learned from throttling ([`pace_on_throttling`](Self::pace_on_throttling)).
    /// Default 60 s.
    pub limit_cooldown: Duration,
    /// Refuse messages with more recipients than this when they are submitted; `None` for no
    /// limit. SES takes at most 50.
    pub max_recipients: Option<usize>,
}

impl Default for PoolPolicy {
    fn default() -> Self {
        Self {
            max_connections: 4,
            max_messages_per_connection: None,
            batch: 32,
            idle_timeout: Duration::from_secs(60),
            check_after_idle: Duration::from_secs(10),
            rate: None,
            pace_on_throttling: true,
            retry_delays: vec![
                Duration::from_secs(5),
                Duration::from_secs(10),
                Duration::from_secs(30),
            ],
            resend_unknown: false,
            max_not_attempted: 5,
            max_connect_failures: 5,
            limit_cooldown: Duration::from_secs(60),
            max_recipients: None,
        }
    }
}

impl PoolPolicy {
    /// Defaults for Amazon SES: at most 50 recipients per message, up to 100 connections,
    /// connections retired after 100 messages (SES ends sessions after a few hundred), the
    /// default retry delays of 5, 10 and 30 s.
    ///
    /// SES does not pipeline: a message costs four round trips (MAIL, RCPT, DATA, the end of
    /// the data), so one connection carries at most `1 / (4 × RTT)` messages a second, about
    /// three at 80 ms. The ceiling of 100 connections carries 200 a second (a common quota)
    /// with room to spare at that distance; the pool opens only as many as the work and the
    /// rate need, since it opens more only while every connection is busy and the rate
    /// admits more.
    ///
    /// Without [`rate`](Self::rate), the pool learns the account's maximum send rate from
    /// SES's first `454 Throttling failure` ([`pace_on_throttling`](Self::pace_on_throttling)):
    /// some messages of the first burst are refused and go again under the learned pace.
    /// Set `rate` to the account's maximum send rate (`Rate::per_second(1)` in the sandbox) to
    /// be refused none. SES also limits messages per day and 40 MB per message, which the
    /// server enforces.
    pub fn ses() -> Self {
        Self {
            max_connections: 100,
            max_messages_per_connection: Some(100),
            max_recipients: Some(50),
            ..Self::default()
        }
    }

    /// The policy for `endpoint`: [`ses`](Self::ses) for Amazon SES, the default otherwise.
    pub fn for_endpoint(endpoint: &crate::endpoint::Endpoint) -> Self {
        if endpoint.is_ses() {
            Self::ses()
        } else {
            Self::default()
        }
    }

    /// The wait before try number `attempt + 1` of a message deferred `attempt` times, or
    /// `None` when it is to be given up.
    pub(crate) fn retry_delay(&self, attempt: u32) -> Option<Duration> {
        let index = usize::try_from(attempt).ok()?.checked_sub(1)?;
        self.retry_delays.get(index).copied()
    }

    /// The wait before opening a connection after `failures` failed in a row.
    pub(crate) fn connect_backoff(&self, failures: u32) -> Duration {
        let seconds = 1u64 << failures.saturating_sub(1).min(5);
        Duration::from_secs(seconds.min(30))
    }
}

//! The pool's state: messages waiting, in flight or delayed, connections and what each does,
//! and every transition, decided from time and from what the driver reports.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;

use core::time::Duration;

use super::attempt::Attempt;
use super::pace::Pace;
use super::policy::{Limiter, PoolPolicy};
use super::{ConnId, Decision, JobId};
use crate::client::report::{TransactionReport, Verdict};
use crate::client::time::Instant;

#[derive(Debug)]
pub(super) enum ConnState {
    /// Opening since the instant given.
    Opening(Instant),
    /// Ready for work since the instant given.
    Ready(Instant),
    /// Sending a batch.
    Busy,
    Checking,
    Retiring,
}

#[derive(Debug)]
pub(super) struct Conn {
    pub(super) id: ConnId,
    pub(super) state: ConnState,
    /// Whether its server pipelines (RFC 2920): then it is given whole batches, otherwise
    /// one message at a time, each admitted by the rate when it starts.
    pub(super) pipelining: bool,
    /// Messages given to it.
    pub(super) given: usize,
    /// Transactions the server saw on it to their end (delivered, bounced, deferred or
    /// unknown): what a server counts against its cap per session.
    pub(super) transactions: usize,
    /// Messages given and not yet reported.
    pub(super) in_flight: BTreeSet<JobId>,
}

#[derive(Debug)]
pub(super) struct Job<R> {
    /// What it counts for against the rate: its recipients (Amazon SES counts those).
    pub(super) weight: u32,
    /// Connections that failed to open while it waited for one.
    pub(super) waited: u32,
    deferred: u32,
    /// Refusals for the sending rate that it went again after at once, under the pace.
    throttled: u32,
    /// When it last started.
    pub(super) started: Instant,
    not_attempted: u32,
    report: Option<R>,
}

/// How a message ended, waiting to be handed out as a decision.
#[derive(Debug)]
pub(super) enum End<R> {
    /// With its last report, or none if it never reached a server.
    Finished(Option<R>),
    /// Its connection ended without its report.
    Vanished,
}

/// A pool of connections to one server: see the [module docs](super). `R` is what the driver
/// keeps of each try (a [`TransactionReport`]); the last one comes back with the message's
/// [`Decision::Finish`].
///
/// Every submitted message ends in exactly one [`Decision::Finish`]. Messages the server
/// deferred (a `4yz`) are tried again after the policy's delays, on whichever connection is
/// free; messages whose session failed under them (not attempted, a `421`, a connection lost
/// before the end of the data) go again at once, on another connection; unknown ones only if
/// the policy says so.
#[derive(Debug)]
pub struct Pool<R = TransactionReport> {
    pub(super) policy: PoolPolicy,
    pub(super) limiter: Option<Limiter>,
    /// The rate learned from a server that throttles.
    pub(super) pace: Pace,
    pub(super) now: Instant,
    pub(super) jobs: BTreeMap<JobId, Job<R>>,
    pub(super) ready: VecDeque<JobId>,
    pub(super) delayed: BTreeSet<(Instant, JobId)>,
    pub(super) conns: Vec<Conn>,
    pub(super) next_job: u64,
    pub(super) next_conn: u64,
    pub(super) finished: VecDeque<(JobId, End<R>)>,
    pub(super) connect_failures: u32,
    pub(super) next_open_at: Instant,
    /// A server refused a connection beyond this many, until the instant given.
    pub(super) limit: Option<(usize, Instant)>,
    /// Messages per connection a server allowed before it ended a session with `421`, until
    /// the instant given.
    pub(super) learned_max: Option<(usize, Instant)>,
    /// How many transactions the last session a server closed with a plain `421` carried.
    pub(super) last_closed_after: Option<usize>,
    /// Whether the server's last connection to open pipelines; `None` before one opened.
    pub(super) pipelining: Option<bool>,
    /// How long connections took to open, on average (the last weighing a quarter).
    pub(super) open_time: Option<Duration>,
    pub(super) closing: bool,
}

impl<R> Pool<R> {
    /// An empty pool: no connection is opened before a message is submitted.
    pub fn new(policy: PoolPolicy) -> Self {
        Self {
            limiter: policy.rate.map(Limiter::new),
            pace: Pace::new(),
            policy,
            now: Instant::ZERO,
            jobs: BTreeMap::new(),
            ready: VecDeque::new(),
            delayed: BTreeSet::new(),
            conns: Vec::new(),
            next_job: 0,
            next_conn: 0,
            finished: VecDeque::new(),
            connect_failures: 0,
            next_open_at: Instant::ZERO,
            limit: None,
            learned_max: None,
            last_closed_after: None,
            pipelining: None,
            open_time: None,
            closing: false,
        }
    }

    /// The policy the pool follows.
    pub fn policy(&self) -> &PoolPolicy {
        &self.policy
    }

    /// Queues a message with one recipient; it goes out as soon as a connection and the rate
    /// allow.
    pub fn submit(&mut self, now: Instant) -> JobId {
        self.submit_weighted(now, 1)
    }

    /// Queues a message that counts `recipients` times against the rate, as Amazon SES counts
    /// its sending rate in recipients.
    pub fn submit_weighted(&mut self, now: Instant, recipients: u32) -> JobId {
        self.observe(now);
        let id = JobId(self.next_job);
        self.next_job += 1;
        let job = Job {
            weight: recipients.max(1),
            waited: 0,
            deferred: 0,
            throttled: 0,
            started: Instant::ZERO,
            not_attempted: 0,
            report: None,
        };
        self.jobs.insert(id, job);
        self.ready.push_back(id);
        id
    }

    /// How many submitted messages are not finished yet.
    pub fn unfinished(&self) -> usize {
        self.jobs.len()
    }

    /// How many connections are open or opening.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Retires each connection as soon as it has nothing to do; messages already submitted
    /// still finish (delayed ones after their delay, on connections opened for them).
    pub fn close(&mut self) {
        self.closing = true;
    }

    /// What to do now, if anything. Call it until it answers `None`, after every report and
    /// submission, and again at [`next_deadline`](Self::next_deadline).
    pub fn poll(&mut self, now: Instant) -> Option<Decision<R>> {
        self.observe(now);
        if let Some((job, end)) = self.finished.pop_front() {
            return Some(match end {
                End::Finished(report) => Decision::Finish { job, report },
                End::Vanished => Decision::Vanished { job },
            });
        }
        while let Some(&(due, job)) = self.delayed.first() {
            if due > self.now {
                break;
            }
            self.delayed.pop_first();
            self.ready.push_back(job);
        }
        if let Some(decision) = self.use_ready_connection() {
            return Some(decision);
        }
        self.open_if_needed()
    }

    /// When to call [`poll`](Self::poll) again if nothing else happens first: a delayed message
    /// falls due, the rate admits one more, a connection may be opened (after a backoff, at
    /// the end of a hold on the connection count, or when one still opening has taken too
    /// long), or one has idled long enough to retire.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut deadlines = Vec::new();
        if let Some(&(due, _)) = self.delayed.first() {
            deadlines.push(due);
        }
        deadlines.extend(self.next_retirement());
        if !self.ready.is_empty() {
            if self.can_take_work() {
                deadlines.extend(self.next_admission());
            }
            deadlines.extend(self.next_open());
        }
        deadlines.into_iter().filter(|&d| d > self.now).min()
    }

    /// Message `job`, sent on `conn`, came to `attempt` (see [`Attempt::of`]); `report` is kept
    /// as its last. Decides whether it is done or goes again.
    pub fn reported(
        &mut self,
        now: Instant,
        conn: ConnId,
        job: JobId,
        attempt: Attempt,
        report: R,
    ) {
        self.observe(now);
        let now = self.now;
        let (weight, started) = self
            .jobs
            .get(&job)
            .map_or((1, now), |j| (j.weight, j.started));
        let throttled = attempt.throttled && attempt.verdict == Verdict::Deferred;
        if self.policy.pace_on_throttling {
            if attempt.verdict == Verdict::Delivered {
                self.pace.accepted(now, weight);
            }
            if throttled {
                self.pace.throttled(now, self.policy.limit_cooldown);
                self.pace.refused(started, weight);
            }
        }
        let session_failed = attempt.session_failed;
        let reached_server = !session_failed && attempt.verdict != Verdict::NotAttempted;
        if let Some(c) = self.conn_mut(conn) {
            c.in_flight.remove(&job);
            c.transactions += usize::from(reached_server);
        }
        let policy = &self.policy;
        let Some(entry) = self.jobs.get_mut(&job) else {
            return;
        };
        let mut at_once = || {
            entry.not_attempted += 1;
            (entry.not_attempted <= policy.max_not_attempted).then_some(now)
        };
        let again = match attempt.verdict {
            Verdict::Delivered | Verdict::Bounced => None,
            Verdict::Unknown if !policy.resend_unknown => None,
            // Its connection failed first, or the session (not the message) was refused:
            // again at once, on whichever connection is free.
            Verdict::NotAttempted => at_once(),
            Verdict::Deferred if session_failed && !throttled => at_once(),
            // Refused for the rate with the session intact: the pool paces from now on, so
            // the first such refusal goes again as soon as the pace admits it, not after a
            // retry delay that would leave the connections idle.
            Verdict::Deferred
                if throttled
                    && !session_failed
                    && policy.pace_on_throttling
                    && entry.throttled == 0 =>
            {
                entry.throttled += 1;
                Some(now)
            }
            _ => {
                entry.deferred += 1;
                policy
                    .retry_delay(entry.deferred)
                    .map(|d| now.saturating_add(d))
            }
        };
        entry.report = Some(report);
        match again {
            Some(due) if due <= now => self.ready.push_front(job),
            Some(due) => {
                self.delayed.insert((due, job));
            }
            None => self.finish(job),
        }
    }

    /// Takes message `job` out of the pool without a [`Decision::Finish`]: the driver finished
    /// it itself (its connection refused to queue it, as invalid for that server).
    pub fn withdraw(&mut self, job: JobId) {
        self.jobs.remove(&job);
        self.ready.retain(|&j| j != job);
        self.delayed.retain(|&(_, j)| j != job);
        for conn in &mut self.conns {
            conn.in_flight.remove(&job);
        }
    }

    /// The cap on messages per connection learned from a `421`, while it holds.
    pub(super) fn per_connection_learned(&self) -> Option<usize> {
        self.learned_max
            .filter(|&(_, until)| self.now < until)
            .map(|(max, _)| max)
    }

    /// Messages a connection was given but never reported go again first, as not attempted.
    pub(super) fn requeue_unreported(&mut self, jobs: BTreeSet<JobId>) {
        for job in jobs.into_iter().rev() {
            let Some(entry) = self.jobs.get_mut(&job) else {
                continue;
            };
            entry.not_attempted += 1;
            if entry.not_attempted <= self.policy.max_not_attempted {
                self.ready.push_front(job);
            } else {
                self.finish(job);
            }
        }
    }

    pub(super) fn finish(&mut self, job: JobId) {
        if let Some(entry) = self.jobs.remove(&job) {
            self.finished.push_back((job, End::Finished(entry.report)));
        }
    }

    pub(super) fn conn_mut(&mut self, conn: ConnId) -> Option<&mut Conn> {
        self.conns.iter_mut().find(|c| c.id == conn)
    }

    pub(super) fn remove(&mut self, conn: ConnId) -> Option<Conn> {
        let index = self.conns.iter().position(|c| c.id == conn)?;
        Some(self.conns.swap_remove(index))
    }

    pub(super) fn observe(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.pace.tick(self.now);
    }
}

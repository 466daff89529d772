//! The pool's state: messages waiting, in flight or delayed, connections and what each does,
//! and every transition, decided from time and from what the driver reports.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;

use super::pace::{Pace, is_throttling};
use super::policy::{Limiter, PoolPolicy};
use super::{ConnId, Decision, JobId};
use crate::client::report::{Outcome, TransactionReport, Verdict};
use crate::client::time::Instant;

#[derive(Debug)]
enum ConnState {
    Opening,
    /// Ready for work since the instant given.
    Ready(Instant),
    /// Sending a batch.
    Busy,
    Checking,
    Retiring,
}

#[derive(Debug)]
struct Conn {
    id: ConnId,
    state: ConnState,
    /// Messages given to it.
    given: usize,
    /// Messages the server completed on it (delivered or bounced).
    completed: usize,
    /// Messages given and not yet reported.
    in_flight: BTreeSet<JobId>,
}

#[derive(Debug)]
struct Job<R> {
    /// What it counts for against the rate: its recipients (Amazon SES counts those).
    weight: u32,
    /// Connections that failed to open while it waited for one.
    waited: u32,
    deferred: u32,
    not_attempted: u32,
    report: Option<R>,
}

/// How a message ended, waiting to be handed out as a decision.
#[derive(Debug)]
enum End<R> {
    /// With its last report, or none if it never reached a server.
    Finished(Option<R>),
    /// Its connection ended without its report.
    Vanished,
}

/// What the pool needs to know of a message's report to decide its fate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attempt {
    /// The message's verdict.
    pub verdict: Verdict,
    /// Whether the session failed under the message rather than the server refusing it: a
    /// `421`, or a lost connection, a timeout or a malformed reply before the end of the data.
    /// That says nothing of the message, which goes again at once on another connection.
    pub session_failed: bool,
    /// Whether the server deferred the message for its sending rate (SES's `454 Throttling
    /// failure`): see [`PoolPolicy::pace_on_throttling`]. Such a message waits for its retry
    /// delay even when the server also ended the session.
    pub throttled: bool,
}

impl Attempt {
    /// What a report says.
    pub fn of(report: &TransactionReport) -> Self {
        let session_failed = matches!(report.outcome, Outcome::Interrupted(_))
            || report.reply().is_some_and(|r| r.is_service_closing());
        Self {
            verdict: report.verdict,
            session_failed,
            throttled: report.verdict == Verdict::Deferred
                && report.reply().is_some_and(is_throttling),
        }
    }

    /// An attempt that came to `verdict`, the session intact and no throttling: for drivers
    /// that decide verdicts themselves, and for tests.
    pub fn new(verdict: Verdict) -> Self {
        Self {
            verdict,
            session_failed: false,
            throttled: false,
        }
    }

    /// The same, with the session failed under the message.
    pub fn with_session_failed(mut self) -> Self {
        self.session_failed = true;
        self
    }

    /// The same, deferred for the server's sending rate.
    pub fn with_throttled(mut self) -> Self {
        self.throttled = true;
        self
    }
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
    policy: PoolPolicy,
    limiter: Option<Limiter>,
    /// The rate learned from a server that throttles.
    pace: Pace,
    now: Instant,
    jobs: BTreeMap<JobId, Job<R>>,
    ready: VecDeque<JobId>,
    delayed: BTreeSet<(Instant, JobId)>,
    conns: Vec<Conn>,
    next_job: u64,
    next_conn: u64,
    finished: VecDeque<(JobId, End<R>)>,
    connect_failures: u32,
    next_open_at: Instant,
    /// A server refused a connection beyond this many, until the instant given.
    limit: Option<(usize, Instant)>,
    /// Messages per connection a server allowed before it ended a session with `421`, until
    /// the instant given.
    learned_max: Option<(usize, Instant)>,
    closing: bool,
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
    /// falls due, the rate admits one more, a connection may be opened again, or one has idled
    /// long enough to retire.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut deadlines = Vec::new();
        if let Some(&(due, _)) = self.delayed.first() {
            deadlines.push(due);
        }
        let any_ready_conn = self
            .conns
            .iter()
            .any(|c| matches!(c.state, ConnState::Ready(_)));
        if !self.ready.is_empty() {
            if let (Some(limiter), true) = (&self.limiter, any_ready_conn) {
                deadlines.push(limiter.next_admission(self.now));
            }
            if any_ready_conn {
                deadlines.extend(self.pace.next_admission(self.now));
            }
            if self.wants_connection() {
                deadlines.push(self.next_open_at);
                if let Some((_, until)) = self.limit {
                    deadlines.push(until);
                }
            }
        } else {
            for conn in &self.conns {
                if let ConnState::Ready(since) = conn.state {
                    deadlines.push(since.saturating_add(self.policy.idle_timeout));
                }
            }
        }
        deadlines.into_iter().filter(|&d| d > self.now).min()
    }

    /// Connection `conn` is ready: greeting, EHLO, TLS and AUTH are done.
    pub fn opened(&mut self, now: Instant, conn: ConnId) {
        self.observe(now);
        self.connect_failures = 0;
        if let Some(c) = self.conn_mut(conn) {
            c.state = ConnState::Ready(now);
        }
    }

    /// Connection `conn` could not be opened. `permanent` when trying again cannot help (a
    /// certificate refused, credentials refused): the waiting messages are then given up if no
    /// connection is left. A server that refuses a connection while others are open is taken
    /// to be at its limit of connections.
    pub fn open_failed(&mut self, now: Instant, conn: ConnId, permanent: bool) {
        self.observe(now);
        self.remove(conn);
        self.connect_failures += 1;
        let alive = self.conns.len();
        if alive > 0 && !permanent {
            self.limit = Some((alive, now.saturating_add(self.policy.limit_cooldown)));
        }
        self.next_open_at = now.saturating_add(self.policy.connect_backoff(self.connect_failures));
        if alive > 0 {
            return;
        }
        // Each message waiting for a connection counts the failures it waited through, and is
        // given up after the policy's number (or at once for a permanent failure); messages
        // still delayed for a retry, or submitted later, have their own counts.
        let max = if permanent {
            1
        } else {
            self.policy.max_connect_failures
        };
        let mut given_up = Vec::new();
        for &job in &self.ready {
            if let Some(entry) = self.jobs.get_mut(&job) {
                entry.waited += 1;
                if entry.waited >= max {
                    given_up.push(job);
                }
            }
        }
        self.ready.retain(|job| !given_up.contains(job));
        for job in given_up {
            self.finish(job);
        }
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
        let weight = self.jobs.get(&job).map_or(1, |j| j.weight);
        let throttled = attempt.throttled && attempt.verdict == Verdict::Deferred;
        if self.policy.pace_on_throttling {
            if attempt.verdict == Verdict::Delivered {
                self.pace.accepted(now, weight);
            }
            if throttled {
                self.pace.throttled(now, self.policy.limit_cooldown);
            }
        }
        let done_by_server = matches!(attempt.verdict, Verdict::Delivered | Verdict::Bounced);
        if let Some(c) = self.conn_mut(conn) {
            c.in_flight.remove(&job);
            c.completed += usize::from(done_by_server);
        }
        let session_failed = attempt.session_failed;
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

    /// Connection `conn` sent its batch and its session is still usable.
    pub fn batch_done(&mut self, now: Instant, conn: ConnId) {
        self.observe(now);
        let requeue = match self.conn_mut(conn) {
            Some(c) => {
                c.state = ConnState::Ready(now);
                core::mem::take(&mut c.in_flight)
            }
            None => BTreeSet::new(),
        };
        self.requeue_unreported(requeue);
    }

    /// Connection `conn`'s session failed (after reporting every message of its batch).
    /// `closed_by_server` when it ended with `421`: after messages completed on it, later
    /// connections are retired before that many.
    pub fn lost(&mut self, now: Instant, conn: ConnId, closed_by_server: bool) {
        self.observe(now);
        let Some(c) = self.remove(conn) else {
            return;
        };
        if closed_by_server && c.completed > 0 {
            // For a while: a 421 for another reason (maintenance, a restart) must not cap every
            // later connection for good.
            let until = now.saturating_add(self.policy.limit_cooldown);
            let learned = self
                .per_connection_learned()
                .map_or(c.completed, |m| m.min(c.completed));
            self.learned_max = Some((learned, until));
        }
        self.requeue_unreported(c.in_flight);
    }

    /// Connection `conn` ended without reporting every message it was given (its task
    /// failed): those may have been delivered, so they are not sent again
    /// ([`Decision::Vanished`]).
    pub fn vanished(&mut self, now: Instant, conn: ConnId) {
        self.observe(now);
        let Some(c) = self.remove(conn) else {
            return;
        };
        for job in c.in_flight {
            if self.jobs.remove(&job).is_some() {
                self.finished.push_back((job, End::Vanished));
            }
        }
    }

    /// The NOOP check of `conn` passed (`ok`) or failed; a failed connection is dropped.
    pub fn checked(&mut self, now: Instant, conn: ConnId, ok: bool) {
        self.observe(now);
        if ok {
            if let Some(c) = self.conn_mut(conn) {
                c.state = ConnState::Ready(now);
            }
        } else {
            self.remove(conn);
        }
    }

    /// Connection `conn` is closed after a retirement.
    pub fn retired(&mut self, conn: ConnId) {
        self.remove(conn);
    }

    /// Gives work to a ready connection, checks or retires one; the first that applies.
    /// The cap on messages per connection learned from a `421`, while it holds.
    fn per_connection_learned(&self) -> Option<usize> {
        self.learned_max
            .filter(|&(_, until)| self.now < until)
            .map(|(max, _)| max)
    }

    fn use_ready_connection(&mut self) -> Option<Decision<R>> {
        let per_connection = match (
            self.policy.max_messages_per_connection,
            self.per_connection_learned(),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let now = self.now;
        for index in 0..self.conns.len() {
            let ConnState::Ready(since) = self.conns[index].state else {
                continue;
            };
            let conn = &mut self.conns[index];
            let allowance = per_connection.map_or(usize::MAX, |max| max.saturating_sub(conn.given));
            let idle_too_long = now.saturating_duration_since(since) >= self.policy.idle_timeout;
            if allowance == 0 || (self.ready.is_empty() && (idle_too_long || self.closing)) {
                conn.state = ConnState::Retiring;
                return Some(Decision::Retire(conn.id));
            }
            if self.ready.is_empty() {
                continue;
            }
            if now.saturating_duration_since(since) >= self.policy.check_after_idle {
                conn.state = ConnState::Checking;
                return Some(Decision::Check(conn.id));
            }
            let wanted = self
                .policy
                .batch
                .max(1)
                .min(allowance)
                .min(self.ready.len());
            let mut admitted = 0;
            while admitted < wanted {
                let job = self.ready.get(admitted).and_then(|j| self.jobs.get(j));
                let weight = job.map_or(1, |j| j.weight);
                // Both rates must admit the message before either counts it.
                let learned_allows = self.pace.next_admission(now).is_none_or(|at| at <= now);
                if !learned_allows {
                    self.pace.held_back();
                    break;
                }
                if !self.limiter.as_mut().is_none_or(|l| l.admit(now, weight)) {
                    break;
                }
                if let Some(learned) = self.pace.limiter() {
                    learned.admit(now, weight);
                }
                admitted += 1;
            }
            if admitted == 0 {
                return None;
            }
            let jobs: Vec<JobId> = self.ready.drain(..admitted).collect();
            for job in &jobs {
                if let Some(entry) = self.jobs.get_mut(job) {
                    entry.waited = 0;
                }
            }
            let conn = &mut self.conns[index];
            conn.given += jobs.len();
            conn.in_flight.extend(jobs.iter().copied());
            conn.state = ConnState::Busy;
            return Some(Decision::Send {
                conn: conn.id,
                jobs,
            });
        }
        None
    }

    /// Whether waiting messages want one more connection than are open or opening.
    fn wants_connection(&self) -> bool {
        let max = match self.limit {
            Some((count, until)) if self.now < until => count.min(self.policy.max_connections),
            _ => self.policy.max_connections,
        };
        let opening = self
            .conns
            .iter()
            .filter(|c| matches!(c.state, ConnState::Opening))
            .count();
        let free = self
            .conns
            .iter()
            .any(|c| matches!(c.state, ConnState::Ready(_)));
        !free
            && self.conns.len() < max.max(1)
            && self.ready.len() > opening * self.policy.batch.max(1)
    }

    fn open_if_needed(&mut self) -> Option<Decision<R>> {
        if self.ready.is_empty() || !self.wants_connection() || self.now < self.next_open_at {
            return None;
        }
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        self.conns.push(Conn {
            id,
            state: ConnState::Opening,
            given: 0,
            completed: 0,
            in_flight: BTreeSet::new(),
        });
        Some(Decision::Open(id))
    }

    /// Messages a connection was given but never reported go again first, as not attempted.
    fn requeue_unreported(&mut self, jobs: BTreeSet<JobId>) {
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

    fn finish(&mut self, job: JobId) {
        if let Some(entry) = self.jobs.remove(&job) {
            self.finished.push_back((job, End::Finished(entry.report)));
        }
    }

    fn conn_mut(&mut self, conn: ConnId) -> Option<&mut Conn> {
        self.conns.iter_mut().find(|c| c.id == conn)
    }

    fn remove(&mut self, conn: ConnId) -> Option<Conn> {
        let index = self.conns.iter().position(|c| c.id == conn)?;
        Some(self.conns.swap_remove(index))
    }

    fn observe(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.pace.tick(self.now);
    }
}

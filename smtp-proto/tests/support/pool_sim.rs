//! A simulated Amazon SES for the pool's policy tests, in virtual time: it ends sessions with
//! `421` after N transactions, refuses connections beyond a limit (`421 Too many concurrent
//! SMTP connections`) and throttles above a rate over a sliding second (`454 Throttling
//! failure`). With a round-trip time and no pipelining it is SES as it is: one command at a
//! time, four round trips a message, five to open a session.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::time::Duration;

use smtp_sansio::Instant;
use smtp_sansio::Verdict;
use smtp_sansio::pool::{Attempt, ConnId, Decision, JobId, Loss, OpenFailure, Pool, PoolPolicy};

/// The simulated server.
#[derive(Default)]
pub struct Ses {
    pub max_connections: usize,
    pub per_session: usize,
    /// Messages taken per second, beyond which `454`.
    pub throttle: Option<usize>,
    /// The round-trip time; zero for the fast pipelining server of the older tests (a batch
    /// takes 10 ms and 2 ms a message, a connection 50 ms to open).
    pub rtt: Duration,
    /// Whether it offers PIPELINING; without it, a message costs four round trips.
    pub pipelining: bool,
    /// Whether its `421` at the cap per session says so, as SES's does.
    pub cap_wording: bool,
    /// How many messages it refused for the rate.
    pub throttled: usize,
    /// How many sessions it opened.
    pub sessions: usize,
    /// Messages whose reply is lost (the connection dies after their data).
    pub lose_reply_of: BTreeSet<JobId>,
    pub open: BTreeMap<ConnId, usize>,
    /// Accepted within the last two seconds, by when the server took them.
    pub taken: VecDeque<Instant>,
    pub delivered: BTreeMap<JobId, usize>,
    pub delivery_times: Vec<Instant>,
}

/// The reports of a batch so far, and how many messages its connection had been given with it.
pub type Batch = (Vec<(JobId, Attempt)>, usize);

/// One connection's queue of batches at the server.
#[derive(Default)]
pub struct Line {
    pub given: usize,
    pub answered_at: Instant,
    pub closed: Option<Loss>,
    /// Whether the pool has been told how the session ended.
    pub told: bool,
}

pub enum Event {
    Opened(ConnId),
    /// A message of a batch (by number) reaches the end of its data at the server.
    Arrive(ConnId, u64, JobId),
    /// The reports of a batch.
    Reports(ConnId, u64),
    Checked(ConnId),
    Retired(ConnId),
}

/// Runs the pool until every message is finished; returns each message's final verdict and
/// the instants at which each message was tried.
pub struct Run {
    pub pool: Pool<Attempt>,
    pub ses: Ses,
    pub now: Instant,
    pub events: BinaryHeap<Reverse<(Instant, u64)>>,
    pub pending: BTreeMap<u64, Event>,
    pub seq: u64,
    pub finished: BTreeMap<JobId, Option<Attempt>>,
    pub tries: BTreeMap<JobId, Vec<Instant>>,
    pub peak_connections: usize,
    /// What each batch (by number) came to so far.
    pub batches: BTreeMap<u64, Batch>,
    /// Per connection: messages given so far, when its last batch is answered, and how its
    /// session ended, if it did.
    pub lines: BTreeMap<ConnId, Line>,
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

impl Run {
    pub fn new(policy: PoolPolicy, ses: Ses) -> Self {
        Self {
            pool: Pool::new(policy),
            ses,
            now: Instant::ZERO,
            events: BinaryHeap::new(),
            pending: BTreeMap::new(),
            seq: 0,
            finished: BTreeMap::new(),
            tries: BTreeMap::new(),
            peak_connections: 0,
            batches: BTreeMap::new(),
            lines: BTreeMap::new(),
        }
    }

    pub fn at(&mut self, delay: Duration, event: Event) {
        self.seq += 1;
        self.events
            .push(Reverse((self.now.saturating_add(delay), self.seq)));
        self.pending.insert(self.seq, event);
    }

    pub fn submit(&mut self, count: usize) -> Vec<JobId> {
        (0..count).map(|_| self.pool.submit(self.now)).collect()
    }

    /// Carries out decisions and events until nothing is left to do.
    pub fn run(&mut self) {
        self.run_until(Instant::from_duration(Duration::MAX));
    }

    /// The same, stopping before anything due after `limit`.
    pub fn run_until(&mut self, limit: Instant) {
        loop {
            while let Some(decision) = self.pool.poll(self.now) {
                self.decide(decision);
            }
            let next_event = self.events.peek().map(|Reverse((t, _))| *t);
            let next = match (next_event, self.pool.next_deadline()) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => return,
                },
            };
            if next > limit {
                self.now = self.now.max(limit);
                return;
            }
            self.now = self.now.max(next);
            while let Some(Reverse((t, seq))) = self.events.peek().copied() {
                if t > self.now {
                    break;
                }
                self.events.pop();
                let event = self.pending.remove(&seq).expect("scheduled");
                self.happen(event);
            }
        }
    }

    pub fn decide(&mut self, decision: Decision<Attempt>) {
        match decision {
            Decision::Open(conn) => {
                let set_up = match self.ses.rtt.is_zero() {
                    true => ms(50),
                    false => self.ses.rtt * 5,
                };
                self.at(set_up, Event::Opened(conn))
            }
            Decision::Send { conn, jobs } => self.send(conn, jobs),
            Decision::Check(conn) => self.at(ms(5), Event::Checked(conn)),
            Decision::Retire(conn) => self.at(ms(5), Event::Retired(conn)),
            Decision::Finish { job, report } => {
                assert!(
                    self.finished.insert(job, report).is_none(),
                    "finished twice"
                );
            }
            other => panic!("unknown decision {other:?}"),
        }
        if self.now.as_duration() >= Duration::from_secs(1) {
            self.peak_connections = self.peak_connections.max(self.pool.connections());
        }
    }

    /// When the `i`th message of a batch started at `start` reaches the end of its data at
    /// the server, and when the whole batch has been answered.
    fn timing(&self, start: Instant, i: usize, count: usize) -> (Instant, Instant) {
        let rtt = self.ses.rtt;
        let (at, took) = if rtt.is_zero() {
            (ms(10 + 2 * i as u64), ms(10 + 2 * count as u64))
        } else if self.ses.pipelining {
            // MAIL, RCPT and DATA in one flight, the body in the next.
            let at = rtt * 3 / 2 + rtt * i as u32 / 4;
            (at, at + rtt / 2)
        } else {
            (rtt * (4 * i as u32) + rtt * 7 / 2, rtt * 4 * count as u32)
        };
        (start.saturating_add(at), start.saturating_add(took))
    }

    /// Whether the server's rate lets one more message be taken now; prunes what is too old
    /// to matter.
    fn rate_allows(&mut self) -> bool {
        let Some(max) = self.ses.throttle else {
            return true;
        };
        let now = self.now;
        while self
            .ses
            .taken
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= ms(1000))
        {
            self.ses.taken.pop_front();
        }
        self.ses.taken.len() < max
    }

    /// The server takes a batch, as its timing says: each message when it reaches the end of
    /// its data, the reports when the batch is answered. A batch given while another is under
    /// way on the same connection starts when that one is answered.
    pub fn send(&mut self, conn: ConnId, jobs: Vec<JobId>) {
        let count = jobs.len();
        self.seq += 1;
        let number = self.seq;
        let now = self.now;
        let line = self.lines.entry(conn).or_default();
        line.given += count;
        let start = line.answered_at.max(now);
        self.batches.insert(number, (Vec::new(), line.given));
        for (i, job) in jobs.into_iter().enumerate() {
            let (at, _) = self.timing(start, i, count);
            self.at(
                at.saturating_duration_since(now),
                Event::Arrive(conn, number, job),
            );
        }
        let (_, answered) = self.timing(start, count.saturating_sub(1), count);
        self.lines.entry(conn).or_default().answered_at = answered;
        self.at(
            answered.saturating_duration_since(now),
            Event::Reports(conn, number),
        );
    }

    /// A message reaches the server now.
    fn arrive(&mut self, conn: ConnId, number: u64, job: JobId) {
        let now = self.now;
        if self.lines.get(&conn).is_some_and(|l| l.told) {
            // The pool was told the session ended: this batch was taken back.
            return;
        }
        self.tries.entry(job).or_default().push(now);
        let transactions = self.ses.open.get(&conn).copied().unwrap_or(0);
        let cap_loss = match self.ses.cap_wording {
            true => Loss::SessionCap,
            false => Loss::Closed,
        };
        let (per_session, closed_already) = (
            self.ses.per_session,
            self.lines.get(&conn).is_some_and(|l| l.closed.is_some()),
        );
        let (attempt, closes) = if closed_already {
            (Attempt::new(Verdict::NotAttempted), None)
        } else if transactions >= per_session {
            // 421 Maximum message count per session reached, to MAIL.
            let attempt = Attempt::new(Verdict::Deferred).with_session_failed();
            (attempt, Some(cap_loss))
        } else {
            *self.ses.open.entry(conn).or_default() += 1;
            if !self.rate_allows() {
                self.ses.throttled += 1;
                (Attempt::new(Verdict::Deferred).with_throttled(), None)
            } else {
                self.ses.taken.push_back(now);
                *self.ses.delivered.entry(job).or_default() += 1;
                self.ses.delivery_times.push(now);
                if self.ses.lose_reply_of.remove(&job) {
                    (Attempt::new(Verdict::Unknown), Some(Loss::Failed))
                } else {
                    (Attempt::new(Verdict::Delivered), None)
                }
            }
        };
        if let Some(batch) = self.batches.get_mut(&number) {
            batch.0.push((job, attempt));
        }
        if closes.is_some() {
            self.lines.entry(conn).or_default().closed = closes;
        }
    }

    pub fn happen(&mut self, event: Event) {
        let now = self.now;
        match event {
            Event::Opened(conn) if self.ses.open.len() >= self.ses.max_connections => {
                // 421 Too many concurrent SMTP connections.
                self.pool.open_failed(now, conn, OpenFailure::Full);
            }
            Event::Opened(conn) => {
                self.ses.open.insert(conn, 0);
                self.ses.sessions += 1;
                self.pool
                    .opened(now, conn, self.ses.pipelining || self.ses.rtt.is_zero());
            }
            Event::Arrive(conn, number, job) => self.arrive(conn, number, job),
            Event::Reports(conn, number) => {
                let (reports, received) = self.batches.remove(&number).unwrap_or_default();
                let line = self.lines.entry(conn).or_default();
                if line.told {
                    return;
                }
                let closed = line.closed;
                line.told = closed.is_some();
                for (job, attempt) in reports {
                    self.pool.reported(now, conn, job, attempt, attempt);
                }
                if let Some(loss) = closed {
                    self.ses.open.remove(&conn);
                    self.pool.lost(now, conn, loss);
                } else {
                    self.pool.batch_done(now, conn, received);
                }
            }
            Event::Checked(conn) => {
                let alive = self.ses.open.contains_key(&conn);
                self.pool.checked(now, conn, alive);
            }
            Event::Retired(conn) => {
                self.ses.open.remove(&conn);
                self.pool.retired(conn);
            }
        }
    }

    pub fn verdicts(&self) -> HashMap<Option<Verdict>, usize> {
        let mut counts = HashMap::new();
        for report in self.finished.values() {
            *counts.entry(report.map(|a| a.verdict)).or_default() += 1;
        }
        counts
    }

    /// How many tries after `after` the server refused: tries then, less deliveries then.
    pub fn refused_after(&self, after: Instant) -> usize {
        let tries = self
            .tries
            .values()
            .flatten()
            .filter(|&&t| t > after)
            .count();
        let delivered = self.ses.delivery_times.iter().filter(|&&t| t > after);
        tries - delivered.count()
    }
}

pub fn ses(max_connections: usize, per_session: usize) -> Ses {
    Ses {
        max_connections,
        per_session,
        cap_wording: true,
        ..Ses::default()
    }
}

/// Amazon SES as it answers: no pipelining, `rtt` away, `rate` recipients a second over all
/// connections, at most `connections` at once, 200 messages a session.
pub fn real_ses(rtt: Duration, rate: usize, connections: usize) -> Ses {
    Ses {
        throttle: Some(rate),
        rtt,
        pipelining: false,
        ..ses(connections, 200)
    }
}

impl Run {
    /// Messages a second from the first submission to the last delivery.
    pub fn achieved(&self) -> f64 {
        let last = self.ses.delivery_times.iter().max().copied();
        let secs = last.map_or(0.0, |t| t.as_duration().as_secs_f64());
        self.ses.delivery_times.len() as f64 / secs
    }
}

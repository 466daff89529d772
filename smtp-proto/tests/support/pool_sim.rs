//! A simulated Amazon SES for the pool's policy tests, in virtual time: it ends sessions with
//! `421` after N messages, refuses connections beyond a limit (`421 Too many concurrent SMTP
//! connections`) and throttles above a rate (`454 Throttling failure`).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::time::Duration;

use smtp_sansio::Instant;
use smtp_sansio::Verdict;
use smtp_sansio::pool::{Attempt, ConnId, Decision, JobId, Pool, PoolPolicy};

/// The simulated server.
#[derive(Default)]
pub struct Ses {
    pub max_connections: usize,
    pub per_session: usize,
    /// Messages taken per second, beyond which `454`.
    pub throttle: Option<usize>,
    /// Messages whose reply is lost (the connection dies after their data).
    pub lose_reply_of: BTreeSet<JobId>,
    pub open: BTreeMap<ConnId, usize>,
    pub taken: VecDeque<Instant>,
    pub delivered: BTreeMap<JobId, usize>,
    pub delivery_times: Vec<Instant>,
}

pub enum Event {
    Opened(ConnId),
    Reports(ConnId, Vec<(JobId, Attempt)>, bool),
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
            Decision::Open(conn) => self.at(ms(50), Event::Opened(conn)),
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

    /// The server takes a pipelined batch: 10 ms, then 2 ms per message.
    pub fn send(&mut self, conn: ConnId, jobs: Vec<JobId>) {
        let mut reports = Vec::new();
        let mut closed = false;
        for (i, job) in jobs.into_iter().enumerate() {
            let at = self.now.saturating_add(ms(10 + 2 * i as u64));
            self.tries.entry(job).or_default().push(at);
            let attempt = |verdict, session_failed| match session_failed {
                true => Attempt::new(verdict).with_session_failed(),
                false => Attempt::new(verdict),
            };
            if closed {
                reports.push((job, attempt(Verdict::NotAttempted, false)));
                continue;
            }
            let count = self.ses.open.get(&conn).copied().unwrap_or(0);
            if count >= self.ses.per_session {
                // 421 Maximum message count per session reached.
                reports.push((job, attempt(Verdict::Deferred, true)));
                closed = true;
                continue;
            }
            while self
                .ses
                .taken
                .front()
                .is_some_and(|&t| at.saturating_duration_since(t) >= ms(1000))
            {
                self.ses.taken.pop_front();
            }
            if self
                .ses
                .throttle
                .is_some_and(|max| self.ses.taken.len() >= max)
            {
                reports.push((job, Attempt::new(Verdict::Deferred).with_throttled()));
                continue;
            }
            self.ses.taken.push_back(at);
            *self.ses.open.entry(conn).or_default() += 1;
            *self.ses.delivered.entry(job).or_default() += 1;
            self.ses.delivery_times.push(at);
            if self.ses.lose_reply_of.remove(&job) {
                reports.push((job, attempt(Verdict::Unknown, false)));
                closed = true;
                continue;
            }
            reports.push((job, attempt(Verdict::Delivered, false)));
        }
        let took = ms(10 + 2 * reports.len() as u64);
        self.at(took, Event::Reports(conn, reports, closed));
    }

    pub fn happen(&mut self, event: Event) {
        let now = self.now;
        match event {
            Event::Opened(conn) if self.ses.open.len() >= self.ses.max_connections => {
                // 421 Too many concurrent SMTP connections.
                self.pool.open_failed(now, conn, false);
            }
            Event::Opened(conn) => {
                self.ses.open.insert(conn, 0);
                self.pool.opened(now, conn);
            }
            Event::Reports(conn, reports, closed) => {
                for (job, attempt) in reports {
                    self.pool.reported(now, conn, job, attempt, attempt);
                }
                if closed {
                    self.ses.open.remove(&conn);
                    self.pool.lost(now, conn, true);
                } else {
                    self.pool.batch_done(now, conn);
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
        ..Ses::default()
    }
}

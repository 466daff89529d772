//! What the pool does next with its connections: which ready connection gets which messages
//! under the rates, when one is checked or retired, and when one more is opened.
//!
//! The connection count follows the work: one more opens when messages wait that the rate
//! would let start now, no open connection is free to take them, and those still opening
//! cannot take them all. So a rate (given, or learned from throttling) that keeps messages
//! waiting keeps connections free and the count where it is, and connections that wait on
//! round trips (a distant server that does not pipeline) are added until the rate binds or
//! [`PoolPolicy::max_connections`](super::PoolPolicy::max_connections) is reached.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use core::time::Duration;

use super::state::{Conn, ConnState, Pool};
use super::{ConnId, Decision, JobId};
use crate::client::time::Instant;

/// How many connections may be opening at once while no rate is known (none given, none
/// learned): then up to as many more as are open, so that the count doubles each time a
/// generation opens, as TCP's slow start does. A server that throttles meets a small first
/// burst; one that does not is reached at full width after a few connection set-ups.
const FIRST_OPENINGS: usize = 4;

/// How long a connection still opening counts as one that will take messages soon, before
/// any has opened; after that, twice the longest any took to open (at least this long too).
/// Past it, messages that wait for it get another connection (a greeting that never comes
/// must not hold them for the whole greeting timeout).
const OPEN_GRACE: Duration = Duration::from_secs(1);

/// When the pool may open one more connection.
enum OpenGate {
    Now,
    At(Instant),
    Never,
}

impl<R> Pool<R> {
    /// Gives work to a ready connection, or checks or retires one: the first that applies.
    /// Work goes to the connection that was last busy, so that those a rate leaves free idle
    /// on and retire after the idle timeout.
    pub(super) fn use_ready_connection(&mut self) -> Option<Decision<R>> {
        if let Some(retire) = self.retire_one() {
            return Some(retire);
        }
        if self.ready.is_empty() {
            return None;
        }
        if !self.rate_admits_now() {
            let weight = self.weight_of(0);
            if !self.pace.admits(self.now, weight) {
                self.pace.held_back();
            }
            if let Some(limiter) = self.limiter.as_mut() {
                limiter.hold(self.now, weight);
            }
            return None;
        }
        let (index, room) = self.connection_for_work()?;
        let now = self.now;
        let allowance = self.allowance(self.conns[index].given);
        let conn = &mut self.conns[index];
        if let ConnState::Ready(since) = conn.state
            && now.saturating_duration_since(since) >= self.policy.check_after_idle
        {
            conn.state = ConnState::Checking;
            return Some(Decision::Check(conn.id));
        }
        let wanted = room.min(allowance).min(self.ready.len());
        let admitted = self.admit(wanted);
        if admitted == 0 {
            return None;
        }
        let jobs: Vec<JobId> = self.ready.drain(..admitted).collect();
        for job in &jobs {
            if let Some(entry) = self.jobs.get_mut(job) {
                entry.waited = 0;
                entry.started = now;
            }
        }
        let conn = &mut self.conns[index];
        conn.given += jobs.len();
        conn.in_flight.extend(jobs.iter().copied());
        conn.state = ConnState::Busy;
        Some(Decision::Send {
            conn: conn.id,
            jobs,
        })
    }

    /// The connection to give work to, and how many messages it may take: the ready one that
    /// was last busy, with room for a batch (one message to a server that does not pipeline);
    /// or, with none ready, a pipelining one whose batch is half reported, topped up so that
    /// its pipeline does not run dry before its next batch (RFC 2920 §3.1).
    fn connection_for_work(&self) -> Option<(usize, usize)> {
        let batch = self.policy.batch.max(1);
        let window = |c: &Conn| if c.pipelining { batch } else { 1 };
        let ready = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match c.state {
                ConnState::Ready(since) => Some((since, i)),
                _ => None,
            })
            .max();
        if let Some((_, index)) = ready {
            return Some((index, window(&self.conns[index])));
        }
        self.conns.iter().enumerate().find_map(|(i, c)| {
            let in_flight = c.in_flight.len();
            let busy = matches!(c.state, ConnState::Busy) && c.pipelining && batch > 1;
            let room = (batch - in_flight.min(batch)).min(self.allowance(c.given));
            (busy && in_flight <= batch / 2 && room > 0).then_some((i, room))
        })
    }

    /// How many more messages a connection given `given` may carry: the policy's cap per
    /// connection, or one learned from the server's `421`s, whichever is lower.
    fn allowance(&self, given: usize) -> usize {
        let cap = match (
            self.policy.max_messages_per_connection,
            self.per_connection_learned(),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        cap.map_or(usize::MAX, |max| max.saturating_sub(given))
    }

    /// Retires a ready connection that is used up (its cap of messages reached), or idle for
    /// the idle timeout with nothing for it to do (nothing waits, or another connection is
    /// free too), or not needed now that the pool closes.
    fn retire_one(&mut self) -> Option<Decision<R>> {
        let free = self
            .conns
            .iter()
            .filter(|c| matches!(c.state, ConnState::Ready(_)))
            .count();
        let unneeded = self.ready.is_empty() || free > 1;
        let (now, idle_timeout) = (self.now, self.policy.idle_timeout);
        let index = self.conns.iter().position(|c| {
            let ConnState::Ready(since) = c.state else {
                return false;
            };
            let idle_too_long = now.saturating_duration_since(since) >= idle_timeout;
            self.allowance(c.given) == 0
                || (self.ready.is_empty() && self.closing)
                || (idle_too_long && unneeded)
        })?;
        let conn = &mut self.conns[index];
        conn.state = ConnState::Retiring;
        Some(Decision::Retire(conn.id))
    }

    /// When a free connection will have idled for the idle timeout, if it would then retire.
    pub(super) fn next_retirement(&self) -> Option<Instant> {
        let free: Vec<Instant> = self
            .conns
            .iter()
            .filter_map(|c| match c.state {
                ConnState::Ready(since) => Some(since),
                _ => None,
            })
            .collect();
        if !self.ready.is_empty() && free.len() < 2 {
            return None;
        }
        let oldest = free.into_iter().min()?;
        Some(oldest.saturating_add(self.policy.idle_timeout))
    }

    /// Counts up to `wanted` messages from the front of the queue as started, as far as the
    /// given rate and the learned one both admit them; returns how many.
    fn admit(&mut self, wanted: usize) -> usize {
        let now = self.now;
        let mut admitted = 0;
        while admitted < wanted {
            let weight = self.weight_of(admitted);
            // Both rates must admit the message before either counts it.
            if !self.pace.admits(now, weight) {
                self.pace.held_back();
                break;
            }
            if !self.limiter.as_mut().is_none_or(|l| l.admit(now, weight)) {
                break;
            }
            if self.policy.pace_on_throttling {
                self.pace.admit(now, weight);
            }
            admitted += 1;
        }
        admitted
    }

    /// What the `index`th waiting message counts for against the rates.
    fn weight_of(&self, index: usize) -> u32 {
        let job = self.ready.get(index).and_then(|j| self.jobs.get(j));
        job.map_or(1, |j| j.weight)
    }

    /// Whether a connection could take work now, as the rates allow.
    pub(super) fn can_take_work(&self) -> bool {
        self.connection_for_work().is_some()
    }

    /// When the rates let the first waiting message start, if either holds it back.
    pub(super) fn next_admission(&self) -> Option<Instant> {
        let weight = self.weight_of(0);
        let given = self
            .limiter
            .as_ref()
            .map(|l| l.next_admission_of(self.now, weight));
        let learned = self.pace.next_admission(self.now, weight);
        given.max(learned)
    }

    /// Whether the rates would let the first waiting message start now.
    fn rate_admits_now(&self) -> bool {
        self.next_admission().is_none_or(|at| at <= self.now)
    }

    /// When the pool may next open a connection for the messages waiting, if it may.
    pub(super) fn next_open(&self) -> Option<Instant> {
        match self.open_gate() {
            OpenGate::Now => Some(self.now),
            OpenGate::At(at) => Some(at),
            OpenGate::Never => None,
        }
    }

    fn open_gate(&self) -> OpenGate {
        if self.ready.is_empty() || self.can_take_work() {
            return OpenGate::Never;
        }
        let held = match self.limit {
            Some((count, until)) if self.now < until && count < self.policy.max_connections => {
                Some((count, until))
            }
            _ => None,
        };
        let max = held.map_or(self.policy.max_connections, |(count, _)| count);
        if self.conns.len() >= max.max(1) {
            // At the end of a hold on the count, the pool may try one more.
            return held.map_or(OpenGate::Never, |(_, until)| OpenGate::At(until));
        }
        if !self.rate_admits_now() && !self.conns.is_empty() {
            // The rate, not the connections, is what the messages wait for. (With none at all,
            // one opens now, to be ready when the rate admits the first.)
            return OpenGate::Never;
        }
        let grace = self
            .open_time
            .map_or(OPEN_GRACE, |t| (t * 2).max(OPEN_GRACE));
        let fresh: Vec<Instant> = self
            .conns
            .iter()
            .filter_map(|c| match c.state {
                ConnState::Opening(since) if self.now.saturating_duration_since(since) < grace => {
                    Some(since)
                }
                _ => None,
            })
            .collect();
        let stale_at = fresh.iter().min().map(|&since| since.saturating_add(grace));
        let per_connection = match self.pipelining {
            Some(true) => self.policy.batch.max(1),
            _ => 1,
        };
        let covered = self.ready.len() <= fresh.len().saturating_mul(per_connection);
        if covered || fresh.len() >= self.openings_allowed() {
            return stale_at.map_or(OpenGate::Never, OpenGate::At);
        }
        if self.now < self.next_open_at {
            return OpenGate::At(self.next_open_at);
        }
        OpenGate::Now
    }

    /// How many connections may be opening at once: as many as a second of the rate (given
    /// or learned) can use, or, with no rate known, the slow start of [`FIRST_OPENINGS`].
    fn openings_allowed(&self) -> usize {
        let per_second = |interval: Duration| {
            let nanos = interval.as_nanos().max(1);
            usize::try_from(1_000_000_000 / nanos).unwrap_or(usize::MAX)
        };
        let given = self.limiter.as_ref().map(|l| per_second(l.interval()));
        let learned = self.pace.learned().map(|n| n as usize);
        match given.into_iter().chain(learned).min() {
            Some(rate) => rate.max(1),
            None => {
                let open = self
                    .conns
                    .iter()
                    .filter(|c| !matches!(c.state, ConnState::Opening(_)))
                    .count();
                (2 * open).max(FIRST_OPENINGS)
            }
        }
    }

    pub(super) fn open_if_needed(&mut self) -> Option<Decision<R>> {
        if !matches!(self.open_gate(), OpenGate::Now) {
            return None;
        }
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        self.conns.push(Conn {
            id,
            state: ConnState::Opening(self.now),
            pipelining: self.pipelining.unwrap_or(false),
            given: 0,
            transactions: 0,
            in_flight: BTreeSet::new(),
        });
        Some(Decision::Open(id))
    }
}

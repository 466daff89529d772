//! What a pool's connections report: opened, failed to open, done with what they were given,
//! lost, vanished, checked, retired; and what each changes.

use super::ConnId;
use super::attempt::{Loss, OpenFailure};
use super::state::{ConnState, End, Pool};
use crate::client::time::Instant;
use alloc::collections::BTreeSet;
use alloc::vec::Vec;

impl<R> Pool<R> {
    /// Connection `conn` is ready: greeting, EHLO, TLS and AUTH are done. `pipelining` when
    /// its server offers PIPELINING (RFC 2920): such a connection is given batches of
    /// [`PoolPolicy::batch`](super::PoolPolicy::batch) messages, any other one message at a time, so that each message
    /// is admitted by the rate when it starts and reported as soon as it ends.
    pub fn opened(&mut self, now: Instant, conn: ConnId, pipelining: bool) {
        self.observe(now);
        self.connect_failures = 0;
        self.pipelining = Some(pipelining);
        if let Some(c) = self.conn_mut(conn) {
            if let ConnState::Opening(since) = c.state {
                // A moving average: one slow open does not stretch the grace for good.
                let took = now.saturating_duration_since(since);
                self.open_time = Some(self.open_time.map_or(took, |t| (t * 3 + took) / 4));
            }
            if let Some(c) = self.conn_mut(conn) {
                c.state = ConnState::Ready(now);
                c.pipelining = pipelining;
            }
        }
    }

    /// Connection `conn` could not be opened, as `failure` says
    /// ([`OpenFailure`]; the dispatcher reads it from the error).
    ///
    /// A server that refuses one more connection for its load ([`OpenFailure::Full`]), or
    /// any transient failure while another connection is open, is taken to be at its limit
    /// of connections: the pool keeps to the count it has for
    /// [`limit_cooldown`](super::PoolPolicy::limit_cooldown). Any other failure backs off before the
    /// next open (1 s, 2 s, 4 s ... at most 30 s). When none is left open or opening, each
    /// message waiting for a connection counts the failure, and is given up after
    /// [`max_connect_failures`](super::PoolPolicy::max_connect_failures); a permanent failure (a
    /// certificate or credentials refused) gives them up at once unless a connection is open.
    pub fn open_failed(&mut self, now: Instant, conn: ConnId, failure: OpenFailure) {
        self.observe(now);
        self.remove(conn);
        let alive = self.conns.len();
        let open = self
            .conns
            .iter()
            .filter(|c| !matches!(c.state, ConnState::Opening(_)))
            .count();
        let at_limit = match failure {
            OpenFailure::Full => alive > 0,
            OpenFailure::Transient => open > 0,
            OpenFailure::Permanent => false,
        };
        if at_limit {
            // The others (open or still opening) are as many as the server takes: keep to
            // that for a while, without backing off.
            self.limit = Some((alive, now.saturating_add(self.policy.limit_cooldown)));
            return;
        }
        self.connect_failures += 1;
        self.next_open_at = now.saturating_add(self.policy.connect_backoff(self.connect_failures));
        let permanent = failure == OpenFailure::Permanent;
        let count_it = if permanent { open == 0 } else { alive == 0 };
        if !count_it {
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

    /// Connection `conn` reported every message of the first `received` it was given, and its
    /// session is still usable. If it was given no more than those, it is ready, and any of
    /// them it did not report go again first (not attempted); if more are on their way to it
    /// (a [`Decision::Send`](super::Decision::Send) it had not yet received), it is still busy with them.
    pub fn batch_done(&mut self, now: Instant, conn: ConnId, received: usize) {
        self.observe(now);
        let requeue = match self.conn_mut(conn) {
            Some(c) if c.given <= received => {
                c.state = ConnState::Ready(now);
                core::mem::take(&mut c.in_flight)
            }
            _ => BTreeSet::new(),
        };
        self.requeue_unreported(requeue);
    }

    /// Connection `conn`'s session failed (after reporting every message of its batch), as
    /// `loss` says ([`Loss::of_reply`] reads it from the reply that ended it). A cap per
    /// session is learned from [`Loss::SessionCap`], or from [`Loss::Closed`] after the same
    /// number of transactions twice: later connections are then retired before that many.
    pub fn lost(&mut self, now: Instant, conn: ConnId, loss: Loss) {
        self.observe(now);
        let Some(c) = self.remove(conn) else {
            return;
        };
        let count = c.transactions;
        let learn = match loss {
            Loss::SessionCap => count > 0,
            Loss::Closed => {
                let again = count > 0 && self.last_closed_after == Some(count);
                self.last_closed_after = Some(count);
                again
            }
            Loss::Failed => false,
        };
        if learn {
            // For a while: a server's cap may change, and a 421 for another reason
            // (maintenance, a restart) must not cap every later connection for good.
            let until = now.saturating_add(self.policy.limit_cooldown);
            let learned = self
                .per_connection_learned()
                .map_or(count, |m| m.min(count));
            self.learned_max = Some((learned, until));
        }
        self.requeue_unreported(c.in_flight);
    }

    /// Connection `conn` ended without reporting every message it was given (its task
    /// failed): those may have been delivered, so they are not sent again
    /// ([`Decision::Vanished`](super::Decision::Vanished)).
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
        } else if let Some(c) = self.remove(conn) {
            self.requeue_unreported(c.in_flight);
        }
    }

    /// Connection `conn` is closed after a retirement.
    pub fn retired(&mut self, conn: ConnId) {
        if let Some(c) = self.remove(conn) {
            self.requeue_unreported(c.in_flight);
        }
    }
}

//! Handing results to the application: each message's report and each query's reply, kept by
//! id until taken.

use super::error::Error;
use super::event::{QueryId, TransactionId};
use super::report::TransactionReport;
use super::{Client, Phase};
use crate::wire::reply::Reply;

impl Client {
    /// Whether message `id` is settled: its report is ready for
    /// [`take_report`](Self::take_report) (or was taken). Every queued message settles, when
    /// its transaction ends or when the session fails.
    pub fn is_settled(&self, id: TransactionId) -> bool {
        self.txns.is_settled(id)
    }

    /// Whether every message queued up to and including `id` is settled: for a batch, pass the
    /// last id [`send_batch`](Self::send_batch) returned.
    pub fn is_settled_through(&self, id: TransactionId) -> bool {
        self.txns.is_settled_through(id)
    }

    /// How many messages are queued or under way, not yet settled.
    pub fn unsettled(&self) -> usize {
        self.txns.live()
    }

    /// Takes the report of settled message `id`. `None` before it is settled, and after the
    /// report was taken once. The client keeps every report until it is taken, so a driver
    /// that queues messages takes each report in time.
    pub fn take_report(&mut self, id: TransactionId) -> Option<TransactionReport> {
        self.txns.take(id)
    }

    /// Whether query `id` is finished: its reply came, or the session ended without it.
    /// [`take_reply`](Self::take_reply) then says which.
    pub fn is_answered(&self, id: QueryId) -> bool {
        self.queries.is_answered(id)
            || self.error.is_some()
            || (self.phase == Phase::Closed && self.queries.exists(id))
    }

    /// Takes the reply to query `id`: `None` while it is pending (and after it was taken);
    /// the session's error if the session ended without answering it.
    pub fn take_reply(&mut self, id: QueryId) -> Option<Result<Reply, Error>> {
        if let Some(reply) = self.queries.take(id) {
            return Some(Ok(reply));
        }
        if !self.queries.exists(id) || self.queries.is_answered(id) {
            return None;
        }
        match &self.error {
            Some(error) => Some(Err(error.clone())),
            None if self.phase == Phase::Closed => Some(Err(Error::ConnectionLost {
                stage: super::error::Stage::Query,
                cause: super::error::Disconnect::Closed,
            })),
            None => None,
        }
    }
}

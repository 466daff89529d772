//! A pooled connection's messages in flight: what its orders gave it, queued in its session as
//! they come, each reported as soon as the session settles it. An order may come while the
//! previous one's messages are still under way, so that a pipelining server's pipeline never
//! runs dry between orders.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use bytes::Bytes;

use super::Error;
use super::dispatch::ConnEvent;
use crate::client::Client;
use crate::client::error::{Disconnect, Error as SessionError, Stage, UsageError};
use crate::client::event::TransactionId;
use crate::client::transaction::Envelope;
use crate::pool::JobId;

/// The messages one connection carries, from [`Order::Send`](super::Order::Send) to their
/// reports. `T` is what the driver keeps with each message (its tracing span, say).
///
/// The connection's loop: [`queue`](Self::queue) each order's messages as the order comes
/// (without waiting for the earlier ones), drive the session until
/// [`any_settled`](Self::any_settled), then report [`events`](Self::events) (the settled
/// messages' reports and, once nothing is in flight, whether the session is ready for more).
/// Wait for the next order only when nothing is in flight.
#[derive(Debug)]
pub struct InFlight<T> {
    pending: VecDeque<(JobId, TransactionId, T)>,
    /// Messages received in orders so far, queued or not.
    received: usize,
}

impl<T> Default for InFlight<T> {
    fn default() -> Self {
        Self {
            pending: VecDeque::new(),
            received: 0,
        }
    }
}

impl<T> InFlight<T> {
    /// Queues an order's messages on `client`, each with its tag, behind those already in
    /// flight. Returns the events to report at once (a message the session refused to queue,
    /// as invalid for it; or the session's failure), and the ids of the messages queued with
    /// their tags, for the driver to route each one's transcript.
    pub fn queue(
        &mut self,
        client: &mut Client,
        messages: Vec<(JobId, Envelope, Bytes, T)>,
    ) -> (Vec<ConnEvent>, Vec<(TransactionId, &T)>) {
        self.received += messages.len();
        let (jobs, rest): (Vec<JobId>, Vec<_>) = messages
            .into_iter()
            .map(|(job, envelope, body, tag)| (job, ((envelope, body), tag)))
            .unzip();
        let (batch, tags): (Vec<_>, Vec<T>) = rest.into_iter().unzip();
        let events = match client.send_batch(batch) {
            Ok(ids) => {
                let start = self.pending.len();
                let queued = jobs.into_iter().zip(ids).zip(tags);
                self.pending
                    .extend(queued.map(|((job, id), tag)| (job, id, tag)));
                let new = self.pending.range(start..);
                return (Vec::new(), new.map(|(_, id, tag)| (*id, tag)).collect());
            }
            // One message is invalid for this session: it is finished with the error; the
            // others of the order were not queued and go back to the pool unreported.
            Err(error) => match Error::from(error) {
                Error::Usage(UsageError::InBatch { index, error }) => jobs
                    .get(index)
                    .map(|&job| ConnEvent::Refused(job, Error::Usage(*error)))
                    .into_iter()
                    .collect(),
                // The session had failed or closed: nothing of the order went out.
                _ => Vec::new(),
            },
        };
        (events, Vec::new())
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Whether the session settled a message in flight, or has nothing more to do: the
    /// condition to drive the session until.
    pub fn any_settled(&self, client: &Client) -> bool {
        client.error().is_some() || self.pending.iter().any(|(_, id, _)| client.is_settled(*id))
    }

    /// The reports of the messages the session settled, as events, with their tags.
    pub fn take_settled(&mut self, client: &mut Client) -> Vec<(ConnEvent, T)> {
        let mut events = Vec::new();
        let mut still = VecDeque::with_capacity(self.pending.len());
        for (job, id, tag) in self.pending.drain(..) {
            if !client.is_settled(id) {
                still.push_back((job, id, tag));
                continue;
            }
            let event = match client.take_report(id) {
                Some(report) => ConnEvent::Report(job, report),
                None => ConnEvent::Vanished,
            };
            events.push((event, tag));
        }
        self.pending = still;
        events
    }

    /// What to report after driving the session: the settled messages' reports, with their
    /// tags, then, once nothing is in flight, [`idle_event`](Self::idle_event) (untagged).
    pub fn events(&mut self, client: &mut Client) -> Vec<(ConnEvent, Option<T>)> {
        let mut events: Vec<(ConnEvent, Option<T>)> = self
            .take_settled(client)
            .into_iter()
            .map(|(event, tag)| (event, Some(tag)))
            .collect();
        if self.is_empty() {
            events.push((self.idle_event(client), None));
        }
        events
    }

    /// What to report once nothing is in flight: the session's failure, or that every message
    /// of the orders so far is reported and the session is ready for more.
    pub fn idle_event(&self, client: &Client) -> ConnEvent {
        match client.error() {
            Some(error) => ConnEvent::Lost(error.clone()),
            // Closed without an error (after QUIT): no more can go out on it.
            None if client.is_closed() => ConnEvent::Lost(SessionError::ConnectionLost {
                stage: Stage::Idle,
                cause: Disconnect::Closed,
            }),
            None => ConnEvent::BatchDone {
                received: self.received,
            },
        }
    }
}

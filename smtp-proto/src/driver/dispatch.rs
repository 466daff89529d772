//! A mailer's bookkeeping, shared by the adapters: the pool's decisions turned into orders for
//! connections, each message kept (envelope, body, who waits for it) until it is finished.
//! An adapter's mailer only carries the orders out and reports what came of them.

use alloc::string::ToString;
use alloc::vec::Vec;
use std::collections::HashMap;

use bytes::Bytes;

use super::{Clock, Error};
use crate::client::Client;
use crate::client::config::Config;
use crate::client::error::{Error as SessionError, UsageError};
use crate::client::report::TransactionReport;
use crate::client::transaction::Envelope;
use crate::pool::{Attempt, ConnId, Decision, JobId, Loss, OpenFailure, Pool, PoolPolicy};

/// What a mailer does next, from [`Dispatcher::next_order`]. `W` is how the mailer answers
/// the caller waiting for a message (a channel's sending half, say).
#[derive(Debug)]
#[non_exhaustive]
pub enum Order<W> {
    /// Open connection `conn`: connect and run the session to ready, then report
    /// [`ConnEvent::Opened`] or [`ConnEvent::OpenFailed`].
    Open(ConnId),
    /// Queue these messages on `conn`, behind any it still carries, and report each as its
    /// session settles it ([`InFlight`](super::InFlight) does the bookkeeping).
    Send {
        /// The connection.
        conn: ConnId,
        /// The messages, in order.
        messages: Vec<(JobId, Envelope, Bytes)>,
    },
    /// Check `conn` with NOOP, then report [`ConnEvent::Checked`].
    Check(ConnId),
    /// QUIT `conn` and close it, then report [`ConnEvent::Retired`].
    Retire(ConnId),
    /// A message is finished: hand `result` to whoever waits for it.
    Finished {
        /// Who waits.
        waiter: W,
        /// Its last report, or why it never reached a server.
        result: Result<TransactionReport, Error>,
    },
}

/// What became of an order a connection carried out, for [`Dispatcher::handle`].
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnEvent {
    /// The session is ready; `pipelining` when its server offers PIPELINING (see
    /// [`ConnEvent::opened`]).
    Opened {
        /// Whether the server pipelines (RFC 2920).
        pipelining: bool,
    },
    /// The connection or its session could not be opened.
    OpenFailed(Error),
    /// A message of the batch came to this report.
    Report(JobId, TransactionReport),
    /// A message of the batch could not be queued on this session: it is finished with the
    /// error.
    Refused(JobId, Error),
    /// Every message of the orders so far is reported, and the session is ready for more:
    /// `received` says how many messages those orders held, so that an order still on its
    /// way to the connection is not taken for reported.
    BatchDone {
        /// How many messages the connection received in orders, in all.
        received: usize,
    },
    /// The session failed.
    Lost(SessionError),
    /// The NOOP check passed (`true`) or failed.
    Checked(bool),
    /// The connection was closed after QUIT.
    Retired,
    /// The connection's task ended without a final event (it failed, or its batch came back
    /// without every report): what it was sending may have been delivered.
    Vanished,
}

impl ConnEvent {
    /// The event for a session that is ready, with the capabilities its server announced
    /// (after TLS).
    pub fn opened(capabilities: Option<&crate::wire::ehlo::Capabilities>) -> Self {
        Self::Opened {
            pipelining: capabilities.is_some_and(|c| c.pipelining()),
        }
    }

    /// Whether the connection is gone after this.
    pub fn ends_connection(&self) -> bool {
        matches!(
            self,
            Self::OpenFailed(_)
                | Self::Lost(_)
                | Self::Checked(false)
                | Self::Retired
                | Self::Vanished
        )
    }
}

struct Waiting<W> {
    envelope: Envelope,
    body: Bytes,
    waiter: W,
}

/// A pool of connections ([`Pool`]) with the messages it carries: the bookkeeping a mailer
/// needs, turning the pool's decisions into [`Order`]s for connections and what connections
/// report ([`ConnEvent`]) back into the pool.
pub struct Dispatcher<W> {
    pool: Pool,
    clock: Clock,
    config: Config,
    messages: HashMap<JobId, Waiting<W>>,
    /// Why the last connection could not be opened, for messages that never reached a server.
    last_failure: Option<Error>,
    /// Messages a session refused to queue, to hand back.
    refusals: Vec<(W, Error)>,
    closing: bool,
}

impl<W> core::fmt::Debug for Dispatcher<W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("pool", &self.pool)
            .field("messages", &self.messages.len())
            .finish_non_exhaustive()
    }
}

impl<W> Dispatcher<W> {
    /// A dispatcher following `policy`, checking messages against `config` (the configuration
    /// every connection's session uses).
    pub fn new(policy: PoolPolicy, config: Config) -> Self {
        Self {
            pool: Pool::new(policy),
            clock: Clock::starting_at(std::time::Instant::now()),
            config,
            messages: HashMap::new(),
            last_failure: None,
            refusals: Vec::new(),
            closing: false,
        }
    }

    /// Takes a message to send; `waiter` gets its result in [`Order::Finished`]. A message that
    /// cannot be sent (no recipients, more than the policy's
    /// [`max_recipients`](PoolPolicy::max_recipients), an invalid body), or one submitted after
    /// [`close`](Self::close), is handed back with the reason at once.
    pub fn submit(&mut self, envelope: Envelope, body: Bytes, waiter: W) -> Result<(), (W, Error)> {
        if self.closing {
            return Err((waiter, Error::Usage(UsageError::Closed)));
        }
        if let Some(max) = self.pool.policy().max_recipients
            && envelope.recipients.len() > max
        {
            return Err((waiter, Error::Usage(UsageError::TooManyRecipients { max })));
        }
        if let Err(e) = Client::check_message(&self.config, &envelope, &body) {
            return Err((waiter, Error::Usage(e)));
        }
        let recipients = u32::try_from(envelope.recipients.len()).unwrap_or(u32::MAX);
        let job = self.pool.submit_weighted(self.clock.now(), recipients);
        let waiting = Waiting {
            envelope,
            body,
            waiter,
        };
        self.messages.insert(job, waiting);
        Ok(())
    }

    /// The next order, if any. Call it until it answers `None` after every submission and
    /// report, and again at [`next_deadline`](Self::next_deadline).
    pub fn next_order(&mut self) -> Option<Order<W>> {
        if let Some((waiter, error)) = self.refusals.pop() {
            return Some(Order::Finished {
                waiter,
                result: Err(error),
            });
        }
        loop {
            let decision = self.pool.poll(self.clock.now())?;
            if let Some(order) = self.order(decision) {
                return Some(order);
            }
        }
    }

    /// The order for a decision of the pool; `None` for a message already handed back.
    fn order(&mut self, decision: Decision) -> Option<Order<W>> {
        Some(match decision {
            Decision::Open(conn) => Order::Open(conn),
            Decision::Send { conn, jobs } => Order::Send {
                conn,
                messages: jobs
                    .into_iter()
                    .filter_map(|job| {
                        let waiting = self.messages.get(&job)?;
                        Some((job, waiting.envelope.clone(), waiting.body.clone()))
                    })
                    .collect(),
            },
            Decision::Check(conn) => Order::Check(conn),
            Decision::Retire(conn) => Order::Retire(conn),
            Decision::Vanished { job } => Order::Finished {
                waiter: self.messages.remove(&job)?.waiter,
                result: Err(Error::ReportLost),
            },
            Decision::Finish { job, report } => {
                let waiting = self.messages.remove(&job)?;
                let never_sent = || Error::NotSent {
                    cause: self
                        .last_failure
                        .as_ref()
                        .map_or("no connection".into(), ToString::to_string),
                    transient: self.last_failure.as_ref().is_none_or(Error::is_transient),
                };
                let result = report.ok_or_else(never_sent);
                Order::Finished {
                    waiter: waiting.waiter,
                    result,
                }
            }
        })
    }

    /// Who waits for message `job`, until it is finished: how a mailer reaches what it keeps
    /// with each message (its tracing span, say) when an [`Order::Send`] names the message.
    pub fn waiter(&self, job: JobId) -> Option<&W> {
        self.messages.get(&job).map(|waiting| &waiting.waiter)
    }

    /// When to ask for orders again if nothing else happens first.
    pub fn next_deadline(&self) -> Option<std::time::Instant> {
        self.pool.next_deadline().map(|at| self.clock.deadline(at))
    }

    /// What came of an order on connection `conn`. Then ask for orders again.
    pub fn handle(&mut self, conn: ConnId, event: ConnEvent) {
        let now = self.clock.now();
        match event {
            ConnEvent::Opened { pipelining } => {
                self.last_failure = None;
                self.pool.opened(now, conn, pipelining);
            }
            ConnEvent::OpenFailed(error) => {
                let failure = match &error {
                    Error::Smtp(SessionError::ServiceClosing(_)) => OpenFailure::Full,
                    e if !e.is_transient() => OpenFailure::Permanent,
                    _ => OpenFailure::Transient,
                };
                self.last_failure = Some(error);
                self.pool.open_failed(now, conn, failure);
            }
            ConnEvent::Report(job, report) => {
                let attempt = Attempt::of(&report);
                self.pool.reported(now, conn, job, attempt, report);
            }
            ConnEvent::Refused(job, error) => {
                self.pool.withdraw(job);
                if let Some(waiting) = self.messages.remove(&job) {
                    self.refusals.push((waiting.waiter, error));
                }
            }
            ConnEvent::BatchDone { received } => self.pool.batch_done(now, conn, received),
            ConnEvent::Lost(error) => {
                let reply = match &error {
                    SessionError::ServiceClosing(reply) => Some(reply),
                    _ => None,
                };
                self.pool.lost(now, conn, Loss::of_reply(reply));
            }
            ConnEvent::Checked(ok) => self.pool.checked(now, conn, ok),
            ConnEvent::Retired => self.pool.retired(conn),
            ConnEvent::Vanished => self.pool.vanished(now, conn),
        }
    }

    /// Takes no more messages; connections are retired once idle. Messages already submitted
    /// still finish.
    pub fn close(&mut self) {
        self.closing = true;
        self.pool.close();
    }

    /// Whether everything is finished and every connection closed: after
    /// [`close`](Self::close), the mailer may stop.
    pub fn is_done(&self) -> bool {
        self.messages.is_empty() && self.pool.connections() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiter_is_reachable_until_its_message_is_finished() {
        let id = crate::ClientId::parse("client.example").expect("valid");
        let config = Config::new(id, crate::TlsMode::InsecurePlaintext);
        let mut dispatcher = Dispatcher::new(PoolPolicy::default(), config);
        let from = crate::Mailbox::parse("a@example.com").expect("valid");
        let to = crate::Mailbox::parse("b@example.net").expect("valid");
        let body = Bytes::from_static(b"Hi\r\n");
        let submitted = dispatcher.submit(Envelope::new(from, [to]), body, "caller");
        assert!(submitted.is_ok());
        let Some(Order::Open(conn)) = dispatcher.next_order() else {
            panic!("a connection opens first");
        };
        dispatcher.handle(conn, ConnEvent::Opened { pipelining: true });
        let Some(Order::Send { messages, .. }) = dispatcher.next_order() else {
            panic!("the message goes out on it");
        };
        let job = messages[0].0;
        assert_eq!(dispatcher.waiter(job), Some(&"caller"));
        let refused = Error::Usage(UsageError::NoRecipients);
        dispatcher.handle(conn, ConnEvent::Refused(job, refused));
        assert!(matches!(
            dispatcher.next_order(),
            Some(Order::Finished {
                waiter: "caller",
                result: Err(_)
            })
        ));
        assert_eq!(dispatcher.waiter(job), None);
    }
}

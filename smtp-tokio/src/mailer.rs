//! A pool of sessions behind one handle: what an application keeps for its lifetime.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use smtp_sansio::driver::{ConnEvent, Dispatcher, InFlight, Order};
use smtp_sansio::pool::{ConnId, JobId, PoolPolicy};
use smtp_sansio::{Envelope, TransactionReport, UsageError};
use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument, Span};

use crate::{Error, Options, connect, trace};

type Answer = oneshot::Sender<Result<TransactionReport, Error>>;

/// Who waits for a message, and the message's span: opened when the message is given, in the
/// caller's span, and closed when its result is handed over.
struct Waiter {
    answer: Answer,
    span: Span,
}

impl Waiter {
    fn new(answer: Answer, envelope: &Envelope) -> Self {
        let span = trace::message_span(envelope.recipients.len());
        Self { answer, span }
    }

    /// Hands the message's result over, logging it in the message's span.
    fn finish(self, result: Result<TransactionReport, Error>) {
        trace::finished(&self.span, &result);
        let _ = self.answer.send(result);
    }
}

enum Input {
    Submit(Envelope, Bytes, Waiter),
    Event(ConnId, ConnEvent),
    /// Stop taking messages; the sender, if any, hears when everything is finished.
    Close(Option<oneshot::Sender<()>>),
}

enum Command {
    /// Send these messages, each logged within its span.
    Send(Vec<(JobId, Envelope, Bytes)>, Vec<Span>),
    Check,
    Retire,
}

/// Closes the mailer when the last clone of its handle is dropped.
#[derive(Debug)]
struct Handle {
    inputs: mpsc::UnboundedSender<Input>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.inputs.send(Input::Close(None));
    }
}

/// Sends mail through a pool of connections to one server, from any number of tasks.
///
/// Cheap to clone (`Send + Sync`): keep one for the application's lifetime. Connections open as
/// messages come (up to [`PoolPolicy::max_connections`]), are reused (RSET between
/// transactions, a NOOP check after idling), and are retired after a number of messages, an
/// idle timeout or a `421`. Deferred messages are sent again after the policy's delays
/// (5, 10 and 30 s by default, as AWS advises), messages the server never saw at once on
/// another connection; unknown ones are never sent twice unless the policy says so. Every
/// decision is the core's ([`smtp_sansio::pool`]); this type only carries them out.
///
/// With a `tracing` subscriber, each message has a span (`message`, under the target `smtp`,
/// opened in the caller's span) holding a span for each try (`attempt`) with that message's
/// part of the redacted transcript, what came of each try (`tried`) and its result (`finished`,
/// or `not sent`), all at DEBUG; each connection has a span (`connection`, INFO) with the
/// session's own lines and how it ended.
///
/// ```no_run
/// use smtp_tokio::{Endpoint, Mailer, Options};
/// use smtp_tokio::smtp_sansio::{ClientId, Credentials, Envelope, Mailbox, Verdict};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// // Amazon SES over STARTTLS: the pool follows SES's limits (PoolPolicy::ses).
/// let mut options = Options::new(Endpoint::ses("us-east-1", 587)?, ClientId::parse("client.example")?);
/// options.config.credentials = Some(Credentials::password("AKIA...", "secret")?);
/// let mailer = Mailer::new(options);
/// let envelope = Envelope::new(Mailbox::parse("a@example.com")?, [Mailbox::parse("b@example.net")?]);
/// let report = mailer.send(envelope, "Subject: hi\r\n\r\nHello\r\n".into()).await?;
/// assert_eq!(report.verdict, Verdict::Delivered);
/// mailer.close().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Mailer {
    handle: Arc<Handle>,
}

impl Mailer {
    /// A mailer for `options`, with the pool policy its endpoint calls for
    /// ([`PoolPolicy::for_endpoint`]: Amazon SES's limits for an SES endpoint). Must be called
    /// within a tokio runtime; nothing connects before the first message.
    pub fn new(options: Options) -> Self {
        let policy = PoolPolicy::for_endpoint(&options.endpoint);
        Self::with_policy(options, policy)
    }

    /// A mailer for `options` following `policy`.
    pub fn with_policy(options: Options, policy: PoolPolicy) -> Self {
        let (inputs, receiver) = mpsc::unbounded_channel();
        let dispatcher = Dispatcher::new(policy, options.config.clone());
        tokio::spawn(dispatch(dispatcher, options, receiver, inputs.clone()));
        Self {
            handle: Arc::new(Handle { inputs }),
        }
    }

    /// Sends one message and returns its final report, after every try the policy allows: its
    /// [`Verdict`](smtp_sansio::Verdict) says what became of it. An error means it was never
    /// sent: it is invalid, the mailer is closed, or no connection could be opened.
    pub async fn send(&self, envelope: Envelope, body: Bytes) -> Result<TransactionReport, Error> {
        self.submit(envelope, body)
            .await
            .unwrap_or_else(|| Err(Error::Usage(UsageError::Closed)))
    }

    /// Sends several messages over the pooled connections, pipelined where the server allows,
    /// and returns each one's result in input order.
    pub async fn send_all(
        &self,
        messages: impl IntoIterator<Item = (Envelope, Bytes)>,
    ) -> Vec<Result<TransactionReport, Error>> {
        let waiting: Vec<_> = messages
            .into_iter()
            .map(|(envelope, body)| self.enqueue(envelope, body))
            .collect();
        let mut results = Vec::with_capacity(waiting.len());
        for receiver in waiting {
            let result = receiver
                .await
                .unwrap_or(Err(Error::Usage(UsageError::Closed)));
            results.push(result);
        }
        results
    }

    /// Takes no more messages, lets those already given finish, QUITs every connection, and
    /// returns when all are closed.
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.handle.inputs.send(Input::Close(Some(done))).is_ok() {
            let _ = closed.await;
        }
    }

    async fn submit(
        &self,
        envelope: Envelope,
        body: Bytes,
    ) -> Option<Result<TransactionReport, Error>> {
        self.enqueue(envelope, body).await.ok()
    }

    fn enqueue(
        &self,
        envelope: Envelope,
        body: Bytes,
    ) -> oneshot::Receiver<Result<TransactionReport, Error>> {
        let (answer, result) = oneshot::channel();
        let waiter = Waiter::new(answer, &envelope);
        let _ = self
            .handle
            .inputs
            .send(Input::Submit(envelope, body, waiter));
        result
    }
}

/// Carries out the dispatcher's orders: spawns connections, hands them work, answers callers.
async fn dispatch(
    mut dispatcher: Dispatcher<Waiter>,
    options: Options,
    mut inputs: mpsc::UnboundedReceiver<Input>,
    events: mpsc::UnboundedSender<Input>,
) {
    let mut conns: HashMap<ConnId, mpsc::UnboundedSender<Command>> = HashMap::new();
    let mut closers = Vec::new();
    let mut closing = false;
    loop {
        while let Some(order) = dispatcher.next_order() {
            let command = match order {
                Order::Open(conn) => {
                    let (commands, receiver) = mpsc::unbounded_channel();
                    conns.insert(conn, commands);
                    let span = tracing::info_span!(target: "smtp", "connection", ?conn, host = %options.endpoint.host);
                    let work = connection(conn, options.clone(), receiver, events.clone());
                    tokio::spawn(work.instrument(span));
                    continue;
                }
                Order::Send { conn, messages } => {
                    // The mailer's span for each message, to log its tries within.
                    let span = |job| dispatcher.waiter(job).map(|w: &Waiter| w.span.clone());
                    let spans = if trace::enabled() {
                        let spans = messages.iter().map(|(job, ..)| span(*job));
                        spans.map(|s| s.unwrap_or_else(Span::none)).collect()
                    } else {
                        Vec::new()
                    };
                    (conn, Command::Send(messages, spans))
                }
                Order::Check(conn) => (conn, Command::Check),
                Order::Retire(conn) => (conn, Command::Retire),
                Order::Finished { waiter, result } => {
                    waiter.finish(result);
                    continue;
                }
                _ => continue,
            };
            let (conn, command) = command;
            // A connection's task reports how it ended before it stops taking orders, so an
            // order that cannot be handed over is answered by that last event: the pool takes
            // the order's messages back (not attempted) or, if the task failed, vanished.
            if let Some(commands) = conns.get(&conn) {
                let _ = commands.send(command);
            }
        }
        if closing && dispatcher.is_done() {
            closers.into_iter().for_each(|done: oneshot::Sender<()>| {
                let _ = done.send(());
            });
            return;
        }
        let deadline = dispatcher.next_deadline();
        let wake = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            input = inputs.recv() => match input {
                Some(Input::Submit(envelope, body, waiter)) => {
                    if let Err((waiter, error)) = dispatcher.submit(envelope, body, waiter) {
                        waiter.finish(Err(error));
                    }
                }
                Some(Input::Event(conn, event)) => {
                    if event.ends_connection() {
                        conns.remove(&conn);
                    }
                    dispatcher.handle(conn, event);
                }
                Some(Input::Close(done)) => {
                    closers.extend(done);
                    closing = true;
                    dispatcher.close();
                }
                None => return,
            },
            () = wake => {}
        }
    }
}

/// Reports a connection's events; if the connection's task ends without a final one (it
/// panicked), reports [`ConnEvent::Vanished`] when dropped.
struct Reporter {
    conn: ConnId,
    events: mpsc::UnboundedSender<Input>,
    ended: bool,
}

impl Reporter {
    fn report(&mut self, event: ConnEvent) {
        self.ended |= event.ends_connection();
        let _ = self.events.send(Input::Event(self.conn, event));
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        if !self.ended {
            let _ = self
                .events
                .send(Input::Event(self.conn, ConnEvent::Vanished));
        }
    }
}

/// One pooled connection: opens its session, then carries out commands until it is retired or
/// its session fails, reporting each outcome.
async fn connection(
    conn: ConnId,
    options: Options,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Input>,
) {
    let mut reporter = Reporter {
        conn,
        events,
        ended: false,
    };
    let mut report = |event| reporter.report(event);
    let mut session = match connect(options).await {
        Ok(session) => session,
        Err(error) => return report(ConnEvent::OpenFailed(error)),
    };
    report(ConnEvent::opened(session.capabilities()));
    let mut flight: InFlight<Option<Span>> = InFlight::default();
    loop {
        // Orders already waiting are queued at once, behind what is in flight, so that a
        // pipelining server's pipeline does not run dry; with nothing in flight, wait for one.
        let command = match commands.try_recv() {
            Ok(command) => Some(command),
            Err(_) if flight.is_empty() => match commands.recv().await {
                Some(command) => Some(command),
                None => return,
            },
            Err(_) => None,
        };
        match command {
            Some(Command::Send(messages, spans)) => {
                let mut spans = spans.into_iter();
                let tagged = messages
                    .into_iter()
                    .map(|(job, envelope, body)| (job, envelope, body, spans.next()))
                    .collect();
                let (refused, queued) = flight.queue(&mut session.client, tagged);
                for (id, span) in queued {
                    session.spans.open(id, span.as_ref());
                }
                refused.into_iter().for_each(&mut report);
            }
            Some(Command::Check) => {
                let ok = session.noop().await.is_ok();
                report(ConnEvent::Checked(ok));
                if !ok {
                    return;
                }
                continue;
            }
            Some(Command::Retire) => {
                let _ = session.quit().await;
                return report(ConnEvent::Retired);
            }
            None => {}
        }
        if !flight.is_empty() {
            session.drive(|client| flight.any_settled(client)).await;
        }
        for (event, span) in flight.events(&mut session.client) {
            if let ConnEvent::Report(_, tried) = &event {
                trace::tried(span.as_ref().and_then(Option::as_ref), conn, tried);
            }
            let ends = event.ends_connection();
            report(event);
            if ends {
                return;
            }
        }
    }
}

//! The client session: the whole SMTP conversation as a sans-IO state machine.

mod auth;
mod body;
pub(crate) mod config;
pub(crate) mod error;
pub(crate) mod event;
mod ledger;
pub(crate) mod oauth;
mod phase;
mod pump;
mod queue;
pub(crate) mod report;
mod results;
#[cfg(feature = "crypto")]
mod scram;
pub(crate) mod time;
pub(crate) mod transaction;
pub(crate) mod transmission;
mod verdict;

use alloc::collections::VecDeque;

use self::auth::Sasl;
use self::config::{Config, TlsMode};
use self::error::{Disconnect, Error, ProtocolError, Stage, UsageError};
use self::event::{Action, Event, QueryId, TlsInfo, TransactionId};
use self::ledger::{Ledger, Queries};
use self::time::Instant;
use self::transaction::Txn;
use self::transmission::Outbox;
use crate::wire::command::Command;
use crate::wire::decoder::ReplyDecoder;
use crate::wire::ehlo::Capabilities;

/// Where the session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Implicit TLS: the handshake comes before anything else.
    TlsFirst,
    /// Waiting for the `220` greeting.
    Greeting,
    /// EHLO, LHLO or HELO sent.
    Hello,
    /// STARTTLS sent.
    StartTls,
    /// The driver is running the TLS handshake.
    Handshake,
    /// The SASL exchange is running.
    Auth,
    /// Established: application work goes out.
    Ready,
    /// QUIT is queued or sent.
    Quitting,
    /// Closed cleanly.
    Closed,
}

/// A reply the client waits for, with its deadline.
#[derive(Clone, Copy, Debug)]
struct Expect {
    what: Expected,
    deadline: Instant,
    /// Whether the command's bytes were handed to the driver: a reply to a command still in
    /// the output buffer cannot be genuine (SECURITY.md B14).
    sent: bool,
    /// The octets sent for it (command and any message data), counted until its reply.
    bytes: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expected {
    Greeting,
    Hello,
    Helo,
    StartTls,
    Auth,
    Mail(TransactionId),
    Rcpt(TransactionId, usize),
    Data(TransactionId),
    Bdat {
        id: TransactionId,
        last: bool,
    },
    DataEnd {
        id: TransactionId,
        rcpt: Option<usize>,
    },
    Rset {
        query: Option<QueryId>,
    },
    Query(QueryId),
    Quit,
}

impl Expected {
    /// The transaction the reply belongs to, if any.
    fn transaction(self) -> Option<TransactionId> {
        match self {
            Self::Mail(id)
            | Self::Rcpt(id, _)
            | Self::Data(id)
            | Self::Bdat { id, .. }
            | Self::DataEnd { id, .. } => Some(id),
            _ => None,
        }
    }

    /// Whether the reply answers the end of a message's data.
    fn is_end_of_data(self) -> bool {
        matches!(self, Self::DataEnd { .. } | Self::Bdat { last: true, .. })
    }

    fn stage(self) -> Stage {
        match self {
            Self::Greeting => Stage::Greeting,
            Self::Hello => Stage::Ehlo,
            Self::Helo => Stage::Helo,
            Self::StartTls => Stage::StartTls,
            Self::Auth => Stage::Auth,
            Self::Mail(_) => Stage::Mail,
            Self::Rcpt(..) => Stage::Rcpt,
            Self::Data(_) => Stage::Data,
            Self::Bdat { .. } => Stage::Bdat,
            Self::DataEnd { .. } => Stage::DataEnd,
            Self::Rset { .. } => Stage::Rset,
            Self::Query(_) => Stage::Query,
            Self::Quit => Stage::Quit,
        }
    }
}

/// Application work, in the order it was asked for.
#[derive(Debug)]
enum Op {
    Transaction(TransactionId),
    Rset { query: Option<QueryId> },
    Query(QueryId, Command),
    Quit,
}

/// The client side of one SMTP session, without IO.
///
/// Create it when the connection opens, then loop: ask [`next_action`](Self::next_action)
/// what to do, do it, and report back through the `handle_*` methods. Queue messages with
/// [`send`](Self::send), [`send_batch`](Self::send_batch) or
/// [`send_streamed`](Self::send_streamed) at any time; they go out once the session is
/// established, pipelined when the server allows.
///
/// The client owns every result. Each message gets exactly one report, whatever happens to
/// the connection: [`is_settled`](Self::is_settled) says when it is ready and
/// [`take_report`](Self::take_report) hands it over, with the message's
/// [`Verdict`](crate::Verdict) and each recipient's. A failed session settles every message it
/// still held, then returns its error, the same every time, from every call.
///
/// ```
/// use smtp_sansio::{
///     Action, Client, ClientId, Config, Disconnect, Envelope, Event, Instant, Mailbox, TlsMode,
///     Verdict,
/// };
///
/// let config = Config::new(ClientId::parse("client.example")?, TlsMode::InsecurePlaintext);
/// let mut client = Client::new(Instant::ZERO, config);
/// let envelope = Envelope::new(Mailbox::parse("a@example.com")?, [Mailbox::parse("b@example.com")?]);
/// client.send(envelope, "Subject: hi\r\n\r\nHello\r\n".into())?;
/// client.quit()?;
///
/// // A scripted server, standing in for the socket.
/// let mut server = vec![
///     &b"220 mx ESMTP\r\n"[..],
///     b"250 mx\r\n",
///     b"250 ok\r\n",
///     b"250 ok\r\n",
///     b"354 go\r\n",
///     b"250 Ok 0100019ac1b2\r\n",
///     b"221 bye\r\n",
/// ]
/// .into_iter();
/// let now = Instant::ZERO;
/// loop {
///     match client.next_action(now)? {
///         Action::Transmit { data, .. } => { /* write `data` to the socket */ let _ = data; }
///         Action::Receive { .. } => match server.next() {
///             Some(bytes) => client.handle_input(now, bytes),
///             None => client.handle_connection_lost(now, Disconnect::Closed),
///         },
///         Action::UpgradeTls { .. } => unreachable!("plaintext session"),
///         Action::Event(Event::Settled(id)) => {
///             let report = client.take_report(id).expect("settled");
///             assert_eq!(report.verdict, Verdict::Delivered);
///         }
///         Action::Event(_) => {}
///         Action::Idle => break,
///         Action::Close => break,
///         _ => {}
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Client {
    config: Config,
    decoder: ReplyDecoder,
    now: Instant,
    phase: Phase,
    caps: Option<Capabilities>,
    tls: Option<TlsInfo>,
    out: Outbox,
    out_deadline: Instant,
    write_deadline: Option<Instant>,
    handshake_deadline: Instant,
    expected: VecDeque<Expect>,
    unacknowledged: usize,
    group_open: bool,
    events: VecDeque<Event>,
    ops: VecDeque<Op>,
    txns: Ledger,
    queries: Queries,
    emitting: Option<TransactionId>,
    /// The latest transaction whose MAIL went out.
    last_started: Option<TransactionId>,
    sasl: Option<Sasl>,
    sasl_cancelled: Option<ProtocolError>,
    quit_queued: bool,
    quit_error: Option<Error>,
    error: Option<Error>,
}

impl Client {
    /// A session on a connection that has just opened at `now`. For implicit TLS the first
    /// action is [`Action::UpgradeTls`]; otherwise the client waits for the greeting.
    pub fn new(now: Instant, config: Config) -> Self {
        let implicit = config.tls == TlsMode::Implicit;
        let mut client = Self {
            decoder: ReplyDecoder::new(config.reply_limits),
            now,
            phase: if implicit {
                Phase::TlsFirst
            } else {
                Phase::Greeting
            },
            caps: None,
            tls: None,
            out: Outbox::default(),
            out_deadline: now,
            write_deadline: None,
            handshake_deadline: now.saturating_add(config.timeouts.tls_handshake),
            expected: VecDeque::new(),
            unacknowledged: 0,
            group_open: false,
            events: VecDeque::new(),
            ops: VecDeque::new(),
            txns: Ledger::default(),
            queries: Queries::default(),
            emitting: None,
            last_started: None,
            sasl: None,
            sasl_cancelled: None,
            quit_queued: false,
            quit_error: None,
            error: None,
            config,
        };
        if !implicit {
            client.expect(Expected::Greeting, client.config.timeouts.greeting);
        }
        client
    }

    /// Takes the next event that has happened, and nothing else: no IO is handed out and no
    /// deadline passes. Call it when you stop driving before [`next_action`](Self::next_action)
    /// asked for IO (the request you drove for is done, or the session has failed), so the
    /// transcript lines and settlings up to now reach your log instead of waiting for the
    /// next drive.
    pub fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// What the driver should do next. Call it after every `handle_*` call and after queueing
    /// work, until it answers [`Action::Receive`], [`Action::Idle`] or [`Action::Close`].
    ///
    /// Events come first, so a failed session still reports every queued message before it
    /// returns its error. After a fatal error every call returns that error.
    pub fn next_action(&mut self, now: Instant) -> Result<Action, Error> {
        self.observe(now);
        self.write_deadline = None;
        let mut pumped = false;
        loop {
            if let Some(event) = self.events.pop_front() {
                return Ok(Action::Event(event));
            }
            if let Some(error) = &self.error {
                return Err(error.clone());
            }
            if self.phase == Phase::Closed {
                return Ok(Action::Close);
            }
            if !self.out.is_empty() {
                let deadline = self.out_deadline;
                self.write_deadline = Some(deadline);
                self.mark_handed_out();
                return Ok(Action::Transmit {
                    data: self.out.take(),
                    deadline,
                });
            }
            if matches!(self.phase, Phase::TlsFirst | Phase::Handshake) {
                return Ok(Action::UpgradeTls {
                    deadline: self.handshake_deadline,
                });
            }
            if pumped {
                break;
            }
            self.pump();
            pumped = true;
        }
        Ok(match self.expected.front() {
            Some(expect) => Action::Receive {
                deadline: expect.deadline,
            },
            None => Action::Idle,
        })
    }

    /// Feeds bytes read from the connection. Replies are matched to commands in order; what
    /// does not fit is a fatal protocol error.
    pub fn handle_input(&mut self, now: Instant, input: &[u8]) {
        self.observe(now);
        if self.error.is_some() || self.phase == Phase::Closed || input.is_empty() {
            return;
        }
        if matches!(self.phase, Phase::TlsFirst | Phase::Handshake) {
            return self.fail(ProtocolError::InputDuringTlsHandshake.into());
        }
        self.decoder.feed(input);
        self.take_replies();
    }

    /// The server closed the connection: shorthand for
    /// [`handle_connection_lost`](Self::handle_connection_lost) with [`Disconnect::Closed`].
    pub fn handle_eof(&mut self, now: Instant) {
        self.handle_connection_lost(now, Disconnect::Closed);
    }

    /// The connection is gone or unusable: a read found the end of the stream, a read or write
    /// failed (reset, broken pipe, a TLS record error), or the TLS handshake failed. Call it for
    /// every such IO outcome, whatever the action was; a driver then closes the socket.
    ///
    /// After QUIT this is the clean end. Otherwise the session fails with
    /// [`Error::ConnectionLost`] (or [`Error::TlsHandshake`]) and every message it held is
    /// settled: unknown if its end of data went out unanswered, deferred if it was under way
    /// (the server answered one of its commands, or one waited for a reply), not attempted
    /// otherwise (RFC 5321 §3.8).
    pub fn handle_connection_lost(&mut self, now: Instant, cause: Disconnect) {
        self.observe(now);
        if self.error.is_some() || self.phase == Phase::Closed {
            return;
        }
        let stage = match self.expected.front() {
            Some(expect) => expect.what.stage(),
            None if matches!(self.phase, Phase::TlsFirst | Phase::Handshake) => Stage::TlsHandshake,
            None => Stage::Idle,
        };
        // The handshake's failure shows during it, or (TLS 1.3 refusing the client's
        // certificate, RFC 8446 §4.4.2.4) while the first reply over TLS is awaited; later, the
        // same words are a failure of the TLS layer like any other.
        let handshake = matches!(stage, Stage::TlsHandshake | Stage::Greeting | Stage::Ehlo);
        match cause {
            Disconnect::TlsHandshake(reason) if handshake => self.fail(Error::TlsHandshake(reason)),
            // RFC 5321 §4.1.1.10: the server closes after its reply to QUIT, or instead of it.
            _ if stage == Stage::Quit => self.closed(),
            Disconnect::TlsHandshake(reason) => self.fail(Error::ConnectionLost {
                stage,
                cause: Disconnect::Tls(reason),
            }),
            cause => self.fail(Error::ConnectionLost { stage, cause }),
        }
    }

    /// The deadline the driver was given has passed. A call before any deadline is a no-op;
    /// after one, the session fails with [`Error::Timeout`], except that a QUIT without answer
    /// simply closes (SECURITY.md F3, F8).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.observe(now);
        if self.error.is_some() || self.phase == Phase::Closed {
            return;
        }
        let front = self.expected.front().copied();
        let write_late = self.write_deadline.is_some_and(|d| self.now >= d);
        let handshake_late = matches!(self.phase, Phase::TlsFirst | Phase::Handshake)
            && self.now >= self.handshake_deadline;
        match front {
            Some(e) if e.what == Expected::Quit && (self.now >= e.deadline || write_late) => {
                self.closed()
            }
            Some(e) if self.now >= e.deadline || write_late => {
                self.fail(Error::Timeout(e.what.stage()))
            }
            _ if handshake_late => self.fail(Error::Timeout(Stage::TlsHandshake)),
            // Message data goes out with no reply expected until its end: a write that missed
            // its deadline is a timeout all the same (RFC 5321 §4.5.3.2.5).
            None if write_late => self.fail(Error::Timeout(Stage::Body)),
            _ => {}
        }
    }

    /// The TLS handshake the client asked for with [`Action::UpgradeTls`] is done. Everything
    /// learned before it is forgotten and EHLO is sent again (RFC 3207 §4.2).
    pub fn handle_tls_established(
        &mut self,
        now: Instant,
        info: TlsInfo,
    ) -> Result<(), UsageError> {
        self.observe(now);
        if !matches!(self.phase, Phase::TlsFirst | Phase::Handshake) || self.error.is_some() {
            return Err(UsageError::UnexpectedDriverEvent("tls handshake"));
        }
        self.on_tls_established(info);
        Ok(())
    }

    /// The server's capabilities from the latest EHLO (after TLS, the post-TLS ones only).
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.caps.as_ref()
    }

    /// What the driver reported of the TLS handshake, if TLS is up.
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }

    /// Whether greeting, EHLO, TLS and AUTH are done and messages go out.
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready && self.error.is_none()
    }

    /// The error that ended the session, if it failed.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// Whether the session ended cleanly (after QUIT); [`next_action`](Self::next_action) then
    /// answers [`Action::Close`].
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed && self.error.is_none()
    }

    /// The earliest deadline the driver must watch: the oldest outstanding reply's, the TLS
    /// handshake's, or the last transmission's.
    pub fn next_deadline(&self) -> Option<Instant> {
        let handshake = matches!(self.phase, Phase::TlsFirst | Phase::Handshake)
            .then_some(self.handshake_deadline);
        [
            self.expected.front().map(|e| e.deadline),
            handshake,
            self.write_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn observe(&mut self, now: Instant) {
        // Time never goes backwards, whatever the driver passes.
        self.now = self.now.max(now);
    }
}

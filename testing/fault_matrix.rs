//! The fault matrix of RFC 5321 §3.8 (with RFC 2920 pipelining and RFC 3030 chunking), shared
//! by both adapters' tests (included with `#[path]`): the cases, the bodies, the verdict each
//! message must get, and the checks of what the server stored. The adapters' test files only
//! run the sessions and hand what came out to [`Case::judge`].
//!
//! The model (message j of the batch, the fault on message k; see `report.rs`):
//!
//! - j < k: delivered.
//! - j == k: a `421` anywhere is deferred; a malformed reply, an end of stream or a reset is
//!   deferred before the end of the data went out and unknown after: at `DataEnd`, and in M3
//!   (pipelining with chunking) at every point, since `BDAT ... LAST` went out with MAIL.
//! - j > k: not attempted, except in M3 after a fault other than `421`: their `BDAT ... LAST`
//!   went out pipelined before the fault, so unknown.
//! - A fault at the greeting or at EHLO fails `connect`: every message counts as not attempted.

#![allow(dead_code, unreachable_pub)]

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use smtp_sansio::driver::{Error, Options};
use smtp_sansio::{
    ClientId, Disconnect, Endpoint, Envelope, Mailbox, Outcome, ProtocolError, Reply, Stage,
    Timeouts, TlsMode, TransactionReport, Verdict,
};
use smtp_test_server::{Fault, FaultAction, FaultPoint, Received, ServerOptions};

/// The session error of the faulty connection, as the client records it.
pub type SessionError = smtp_sansio::Error;

/// The server's offer: M1 plain, M2 PIPELINING, M3 PIPELINING and CHUNKING, M4 CHUNKING.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    pub name: &'static str,
    pub pipelining: bool,
    pub chunking: bool,
}

pub const M1: Mode = Mode::new("M1 plain", false, false);
pub const M2: Mode = Mode::new("M2 pipelining", true, false);
pub const M3: Mode = Mode::new("M3 pipelining+chunking", true, true);
pub const M4: Mode = Mode::new("M4 chunking", false, true);

impl Mode {
    const fn new(name: &'static str, pipelining: bool, chunking: bool) -> Self {
        Self {
            name,
            pipelining,
            chunking,
        }
    }
}

/// One cell of the matrix: a fresh server in `mode` with the fault at `point` doing `action`
/// on message `faulty` (from 1) of a batch of `batch` messages, on the first connection only.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub number: usize,
    pub mode: Mode,
    pub point: FaultPoint,
    pub action: FaultAction,
    pub batch: usize,
    pub faulty: usize,
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, m, p, a) = (self.number, self.mode.name, self.point, self.action);
        let (k, b) = (self.faulty, self.batch);
        write!(f, "case {n} [{m}, {p:?}, {a:?}, message {k} of {b}]")
    }
}

/// Every case: per mode and action, the greeting and EHLO with a batch of 3, then each point of
/// the transaction with a batch of 1 and with the fault on each message of a batch of 3.
pub fn cases() -> Vec<Case> {
    use {FaultAction::*, FaultPoint::*};
    let mut cases = Vec::new();
    for mode in [M1, M2, M3, M4] {
        let body = if mode.chunking { Bdat } else { Data };
        for action in [Reply421, Malformed, Eof, Reset] {
            let case = |point, batch, faulty| Case {
                number: 0,
                mode,
                point,
                action,
                batch,
                faulty,
            };
            cases.extend([case(Greeting, 3, 1), case(Ehlo, 3, 1)]);
            for point in [Mail, Rcpt, body, DataEnd] {
                let batch_of_3 = (1..=3).map(|faulty| case(point, 3, faulty));
                cases.extend([case(point, 1, 1)].into_iter().chain(batch_of_3));
            }
        }
    }
    for (number, case) in (1..).zip(&mut cases) {
        case.number = number;
    }
    cases
}

/// A healthy plaintext server without AUTH, offering PIPELINING and CHUNKING.
pub fn healthy_server() -> ServerOptions {
    server_options(M3, None)
}

/// A plaintext server without AUTH, with the given offer and fault.
pub fn server_options(mode: Mode, fault: Option<Fault>) -> ServerOptions {
    ServerOptions {
        starttls: false,
        auth: None,
        pipelining: mode.pipelining,
        chunking: mode.chunking,
        fault,
        ..ServerOptions::default()
    }
}

/// Plaintext to 127.0.0.1:`port`, 5 s for every wait, BDAT chunks of 64 octets.
pub fn client_options<T: Default, P>(port: u16) -> Options<T, P> {
    let endpoint = Endpoint::with_mode("127.0.0.1", port, TlsMode::InsecurePlaintext);
    let client_id = ClientId::parse("client.example").expect("a valid client id");
    let mut options = Options::new(endpoint, client_id);
    options.config.timeouts = Timeouts::uniform(Duration::from_secs(5));
    options.config.bdat_chunk_size = 64;
    options
}

/// Message `j` of test `tag`: about 200 octets of CRLF lines, told apart by its subject.
pub fn body(tag: &str, j: usize) -> Bytes {
    let mut text = format!("Subject: {tag} message {j}\r\n\r\n");
    for line in 1..=4 {
        text += &format!("filler line {line} of {tag} message {j}, padding\r\n");
    }
    text.into()
}

/// Message `j` of test `tag`, to two recipients of its own.
pub fn message(tag: &str, j: usize) -> (Envelope, Bytes) {
    let tag_addr = tag.replace(' ', "-");
    let rcpt = |r| format!("rcpt{r}-{tag_addr}-m{j}@example.net");
    let to = [1, 2].map(|r| Mailbox::parse(&rcpt(r)).expect("valid"));
    let from = Mailbox::parse("sender@example.com").expect("valid");
    (Envelope::new(from, to), body(tag, j))
}

/// Options for a host that cannot resolve (RFC 6761 reserves `.invalid`).
pub fn unresolvable_options<T: Default, P>() -> Options<T, P> {
    let mut options = client_options(25);
    options.endpoint = Endpoint::with_mode("no-such-host.invalid", 25, TlsMode::InsecurePlaintext);
    options
}

/// A batch whose message at index 1 is invalid (no recipients): `send_all` must refuse it whole.
pub fn invalid_batch() -> [(Envelope, Bytes); 3] {
    let from = Mailbox::parse("sender@example.com").expect("valid");
    let invalid = Envelope::new(from, Vec::<Mailbox>::new());
    let [first, _, third] = [1, 2, 3].map(|j| message("invalid", j));
    [first, (invalid, body("invalid", 2)), third]
}

/// What the faulty connection gave: `connect`'s error, or what `send_all` gave, then the
/// session's error, and what `noop` and `quit` on the failed session returned.
#[derive(Debug)]
pub enum FirstRun {
    ConnectFailed(Error),
    Sent {
        reports: Result<Vec<TransactionReport>, Error>,
        error: Option<SessionError>,
        noop: Result<Reply, Error>,
        quit: Result<(), Error>,
    },
}

/// What the retry on a new connection gave: `connect`, `send_all` and `quit`'s first error, or
/// the reports in the order of [`Case::retryable_messages`].
pub type Retry = Result<Vec<TransactionReport>, Error>;

impl Case {
    pub fn server_options(&self) -> ServerOptions {
        let fault = Fault::new(self.point, self.action).on_message(self.faulty);
        server_options(self.mode, Some(fault))
    }

    pub fn message(&self, j: usize) -> (Envelope, Bytes) {
        message(&format!("case {}", self.number), j)
    }

    /// The whole batch, messages 1 to `batch`.
    pub fn messages(&self) -> Vec<(Envelope, Bytes)> {
        (1..=self.batch).map(|j| self.message(j)).collect()
    }

    fn connect_fails(&self) -> bool {
        matches!(self.point, FaultPoint::Greeting | FaultPoint::Ehlo)
    }

    /// The model: the verdict message `j` must get on the faulty connection.
    pub fn expected(&self, j: usize) -> Verdict {
        use Verdict::*;
        use std::cmp::Ordering::*;
        let (m3, reply_421) = (self.mode == M3, self.action == FaultAction::Reply421);
        match j.cmp(&self.faulty) {
            _ if self.connect_fails() => NotAttempted,
            Less => Delivered,
            Greater if m3 && !reply_421 => Unknown,
            Greater => NotAttempted,
            Equal if reply_421 => Deferred,
            Equal if m3 || self.point == FaultPoint::DataEnd => Unknown,
            Equal => Deferred,
        }
    }

    /// Whether the session's error is the one the fault's action causes: `421` gives
    /// `ServiceClosing(421)`, an end of stream `ConnectionLost { cause: Closed }`, a reset
    /// `ConnectionLost { cause: Reset }`, a malformed reply `Protocol(Reply(_))`.
    fn error_matches(&self, error: &SessionError) -> bool {
        use FaultAction::*;
        match (self.action, error) {
            (Reply421, SessionError::ServiceClosing(reply)) => reply.code().get() == 421,
            (Eof, SessionError::ConnectionLost { cause, .. }) => *cause == Disconnect::Closed,
            (Reset, SessionError::ConnectionLost { cause, .. }) => *cause == Disconnect::Reset,
            (Malformed, SessionError::Protocol(ProtocolError::Reply(_))) => true,
            _ => false,
        }
    }

    /// The verdict of each message on the faulty connection: not attempted for all when
    /// `connect` failed or `send_all` returned an error.
    pub fn first_verdicts(&self, first: &FirstRun) -> Vec<Verdict> {
        let verdicts = |reports: &[TransactionReport]| reports.iter().map(|r| r.verdict).collect();
        match first {
            FirstRun::Sent { reports: Ok(r), .. } => verdicts(r),
            _ => vec![Verdict::NotAttempted; self.batch],
        }
    }

    /// The messages (numbers from 1) to send again on a new connection: those deferred or not
    /// attempted, never those unknown.
    pub fn retryable_messages(&self, first: &FirstRun) -> Vec<usize> {
        let verdicts = self.first_verdicts(first);
        let retryable = |j: &usize| verdicts[j - 1].is_retryable();
        (1..=verdicts.len()).filter(retryable).collect()
    }

    /// Every way what came out differs from the model, one line each, naming the case.
    /// `retry` is what the retry of [`retryable_messages`](Self::retryable_messages) gave
    /// (`None` if there was nothing to retry), `received` what the server stored over both
    /// connections.
    pub fn judge(
        &self,
        first: &FirstRun,
        retry: Option<&Retry>,
        received: &[Received],
    ) -> Vec<String> {
        let mut out = Vec::new();
        let mut fail = |what: String| out.push(format!("{self}: {what}"));
        self.judge_first(first, &mut fail);
        let verdicts = self.first_verdicts(first);
        let mut delivered: Vec<bool> = verdicts.iter().map(|&v| v == Verdict::Delivered).collect();
        let retried = self.retryable_messages(first);
        match retry {
            None if retried.is_empty() => {}
            None => fail("the retry did not run".into()),
            Some(Err(e)) => fail(format!("the retry of {retried:?} failed: {e:?}")),
            Some(Ok(reports)) if reports.len() != retried.len() => {
                let n = reports.len();
                fail(format!("{n} reports for the retry of {retried:?}"));
            }
            Some(Ok(reports)) => {
                for (&j, report) in retried.iter().zip(reports) {
                    delivered[j - 1] = report.verdict == Verdict::Delivered;
                    if !delivered[j - 1] {
                        let (v, o) = (report.verdict, &report.outcome);
                        fail(format!("retried message {j}: {v}, not delivered: {o:?}"));
                    }
                }
            }
        }
        let bodies: Vec<Bytes> = (1..=self.batch).map(|j| self.message(j).1).collect();
        for (j, body) in (1..).zip(&bodies) {
            let stored = received.iter().filter(|m| m.data == body[..]).count();
            let (delivered, unknown) = (delivered[j - 1], verdicts[j - 1] == Verdict::Unknown);
            if stored > 1 {
                fail(format!("message {j} stored {stored} times (a duplicate)"));
            } else if delivered && stored != 1 {
                fail(format!("message {j} delivered but not stored"));
            } else if !delivered && !unknown && stored != 0 {
                let verdict = verdicts[j - 1];
                fail(format!("message {j} stored but reported {verdict}"));
            }
        }
        let strangers = received
            .iter()
            .filter(|m| !bodies.iter().any(|b| m.data == b[..]));
        for m in strangers {
            fail(format!("stored a body never sent: {:?}", m.data));
        }
        out
    }

    /// The faulty connection: the error, the verdicts and outcomes against the model.
    fn judge_first(&self, first: &FirstRun, fail: &mut impl FnMut(String)) {
        let action = self.action;
        let (reports, error, noop, quit) = match first {
            FirstRun::ConnectFailed(e) if !self.connect_fails() => {
                return fail(format!("connect failed: {e:?}"));
            }
            FirstRun::ConnectFailed(Error::Smtp(e)) if self.error_matches(e) => return,
            FirstRun::ConnectFailed(e) => {
                return fail(format!("connect: {e:?}, not the error of {action:?}"));
            }
            FirstRun::Sent {
                reports,
                error,
                noop,
                quit,
            } => (reports, error, noop, quit),
        };
        if self.connect_fails() {
            fail("connect succeeded (expected an error)".into());
        }
        if !error.as_ref().is_some_and(|e| self.error_matches(e)) {
            fail(format!("session error {error:?}, not that of {action:?}"));
        }
        let later = [
            ("noop", noop.as_ref().map(drop)),
            ("quit", quit.as_ref().map(drop)),
        ];
        for (call, got) in later {
            if !matches!((got, error), (Err(Error::Smtp(e)), Some(s)) if e == s) {
                fail(format!("{call} after the failure: {got:?}"));
            }
        }
        match reports {
            Ok(reports) if reports.len() == self.batch => {
                for (j, report) in (1..).zip(reports) {
                    self.judge_report(j, report, error.as_ref(), fail);
                }
            }
            Ok(reports) => fail(format!("{} reports for {}", reports.len(), self.batch)),
            Err(e) => fail(format!("send_all: {e:?}")),
        }
    }

    /// Message `j`'s report: its verdict, each recipient's, and the outcome behind them.
    fn judge_report(
        &self,
        j: usize,
        report: &TransactionReport,
        error: Option<&SessionError>,
        fail: &mut impl FnMut(String),
    ) {
        let (expected, verdict, outcome) = (self.expected(j), report.verdict, &report.outcome);
        if verdict != expected {
            let what = format!("verdict {verdict} (expected {expected}), outcome {outcome:?}");
            return fail(format!("message {j}: MODEL MISMATCH {what}"));
        }
        for (r, recipient) in (1..).zip(&report.recipients) {
            if recipient.verdict != verdict {
                let theirs = recipient.verdict;
                fail(format!(
                    "message {j} recipient {r}: {theirs}, not {verdict}"
                ));
            }
        }
        let is_421 = |r: &Reply| r.code().get() == 421;
        let first_rcpt = report.recipients.first().and_then(|r| r.reply.as_ref());
        let reply_421 = self.action == FaultAction::Reply421;
        let fits = match (outcome, expected) {
            (Outcome::Accepted(reply), Verdict::Delivered) => reply.is_positive_completion(),
            (Outcome::Interrupted(SessionError::ServiceClosing(reply)), Verdict::Deferred)
                if reply_421 && self.point == FaultPoint::Rcpt =>
            {
                is_421(reply) && first_rcpt.is_some_and(is_421)
            }
            (Outcome::Rejected { stage, reply }, Verdict::Deferred) if reply_421 => {
                Some(*stage) == stage_of(self.point) && is_421(reply)
            }
            (Outcome::Interrupted(e), Verdict::Deferred) => !reply_421 && Some(e) == error,
            (Outcome::Unknown(e), Verdict::Unknown) => Some(e) == error,
            (Outcome::NotAttempted, Verdict::NotAttempted) => true,
            _ => false,
        };
        if !fits {
            let rcpt = format!("first recipient's reply {first_rcpt:?}");
            fail(format!(
                "message {j}: outcome {outcome:?} unfit for {expected}, {rcpt}"
            ));
        }
    }
}

/// The stage a `421` at `point` refuses the message at.
fn stage_of(point: FaultPoint) -> Option<Stage> {
    match point {
        FaultPoint::Mail => Some(Stage::Mail),
        FaultPoint::Data => Some(Stage::Data),
        FaultPoint::Bdat => Some(Stage::Bdat),
        FaultPoint::DataEnd => Some(Stage::DataEnd),
        _ => None,
    }
}

/// Fails with every mismatch of every case, after printing how long the matrix took.
pub fn report(adapter: &str, cases: usize, mismatches: Vec<String>, elapsed: Duration) {
    eprintln!("{adapter}: {cases} cases in {elapsed:.2?}");
    let (count, list) = (mismatches.len(), mismatches.join("\n"));
    if count > 0 {
        panic!("{count} mismatches with the model:\n{list}");
    }
}

/// Checks the reports of a healthy batch of `count` messages of test `tag` against the input
/// and what the server stored: in input order, each delivered to its own recipients, each
/// stored once under the id its report names.
pub fn check_batch(tag: &str, count: usize, reports: &[TransactionReport], received: &[Received]) {
    assert_eq!(reports.len(), count, "one report per message");
    assert_eq!(received.len(), count, "every message stored: {received:?}");
    for (j, report) in (1..).zip(reports) {
        let (envelope, body) = message(tag, j);
        assert_eq!(report.verdict, Verdict::Delivered, "{j}: {report:?}");
        let paths = report.recipients.iter().map(|r| &r.path);
        let own = paths.eq(envelope.recipients.iter().map(|r| &r.path));
        assert!(own, "{j}: {report:?}");
        let stored: Vec<_> = received.iter().filter(|m| m.data == body[..]).collect();
        assert_eq!(stored.len(), 1, "message {j} stored once");
        assert_eq!(report.message_id(), Some(stored[0].id.as_str()), "{j}");
    }
}

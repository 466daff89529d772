//! A transcript harness for `Client`: server bytes in, exact client bytes and events out, run
//! with the server's bytes fed whole, byte by byte and in random segments.

use core::time::Duration;

use smtp_sansio::Escaped;
use smtp_sansio::{
    Action, Client, Config, Error, Event, Instant, Reply, TlsInfo, TransactionReport,
    TranscriptLine,
};

use super::Lcg;

/// One step of a scenario.
#[derive(Clone, Copy, Debug)]
pub enum Step<'a> {
    /// The server sends these bytes.
    Server(&'a [u8]),
    /// The client must have sent exactly these bytes since the last `Client` step.
    Client(&'a [u8]),
    /// The client must have asked for the TLS handshake; the driver completes it.
    Tls { verified: bool },
    /// The server closes the connection.
    Eof,
    /// The connection is reset (the driver saw `ECONNRESET`).
    Reset,
    /// Time passes by this many seconds, then the driver reports a timeout.
    Wait(u64),
    /// Forget what the client sent so far, unchecked (after a shared prelude).
    Skip,
}

/// How the server's bytes are cut into reads.
#[derive(Clone, Copy, Debug)]
pub enum Feed {
    Whole,
    Bytewise,
    Segments(u64),
}

pub const FEEDS: [Feed; 4] = [
    Feed::Whole,
    Feed::Bytewise,
    Feed::Segments(1),
    Feed::Segments(7),
];

/// What the application saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    Ready,
    Report(TransactionReport),
    Query(Reply),
    /// A transcript line and the message it belongs to.
    Transcript(TranscriptLine, Option<smtp_sansio::TransactionId>),
}

/// The result of playing a scenario.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Run {
    pub seen: Vec<Seen>,
    pub error: Option<Error>,
    pub closed: bool,
    /// Transmissions after the session became ready.
    pub writes_after_ready: usize,
    /// Everything the client sent after the last `Client` step.
    pub unchecked: Vec<u8>,
}

impl Run {
    pub fn reports(&self) -> Vec<&TransactionReport> {
        self.seen
            .iter()
            .filter_map(|s| match s {
                Seen::Report(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    pub fn report(&self) -> &TransactionReport {
        let reports = self.reports();
        assert_eq!(reports.len(), 1, "{:?}", self.seen);
        reports[0]
    }

    pub fn queries(&self) -> Vec<&Reply> {
        self.seen
            .iter()
            .filter_map(|s| match s {
                Seen::Query(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    pub fn is_ready(&self) -> bool {
        self.seen.contains(&Seen::Ready)
    }
}

struct Player {
    client: Client,
    now: Instant,
    sent: Vec<u8>,
    run: Run,
    upgrade_asked: bool,
}

impl Player {
    fn drive(&mut self) {
        loop {
            match self.client.next_action(self.now) {
                Ok(Action::Transmit { data, deadline }) => {
                    assert!(deadline >= self.now, "deadline in the past");
                    assert!(self.run.error.is_none(), "transmit after a fatal error");
                    if self.run.is_ready() {
                        self.run.writes_after_ready += 1;
                    }
                    self.sent.extend_from_slice(&data.into_bytes());
                }
                Ok(Action::Event(event)) => {
                    let seen = match event {
                        Event::Ready(_) => Seen::Ready,
                        Event::Settled(id) => {
                            assert!(self.client.is_settled(id));
                            let report = self.client.take_report(id).expect("a settled report");
                            assert_eq!(report.id, id);
                            assert_eq!(self.client.take_report(id), None, "taken once");
                            Seen::Report(report)
                        }
                        Event::Answered(id) => {
                            let reply = self.client.take_reply(id).expect("an answer");
                            Seen::Query(reply.expect("a reply"))
                        }
                        Event::Transcript {
                            line, transaction, ..
                        } => Seen::Transcript(line, transaction),
                        other => panic!("unknown event {other:?}"),
                    };
                    self.run.seen.push(seen);
                }
                Ok(Action::UpgradeTls { .. }) => {
                    self.upgrade_asked = true;
                    return;
                }
                Ok(Action::Receive { deadline }) => {
                    assert!(deadline >= self.now, "receive deadline in the past");
                    return;
                }
                Ok(Action::Idle) => return,
                Ok(Action::Close) => {
                    self.run.closed = true;
                    return;
                }
                Ok(other) => panic!("unknown action {other:?}"),
                Err(error) => {
                    if let Some(previous) = &self.run.error {
                        assert_eq!(previous, &error, "errors are sticky");
                    }
                    self.run.error = Some(error);
                    return;
                }
            }
        }
    }
}

fn pieces(bytes: &[u8], feed: Feed) -> Vec<&[u8]> {
    match feed {
        Feed::Whole => vec![bytes],
        Feed::Bytewise => bytes.chunks(1).collect(),
        Feed::Segments(seed) => {
            let mut rng = Lcg::new(seed);
            let mut out = Vec::new();
            let mut rest = bytes;
            while !rest.is_empty() {
                let (head, tail) = rest.split_at((1 + rng.below(9)).min(rest.len()));
                out.push(head);
                rest = tail;
            }
            out
        }
    }
}

/// Plays `steps` against a new client, fed as `feed` says.
pub fn play_with(config: Config, setup: &dyn Fn(&mut Client), steps: &[Step], feed: Feed) -> Run {
    let mut player = Player {
        client: Client::new(Instant::ZERO, config),
        now: Instant::ZERO,
        sent: Vec::new(),
        run: Run::default(),
        upgrade_asked: false,
    };
    setup(&mut player.client);
    player.drive();
    for (index, step) in steps.iter().enumerate() {
        match *step {
            Step::Server(bytes) => {
                for piece in pieces(bytes, feed) {
                    player.client.handle_input(player.now, piece);
                    player.drive();
                }
            }
            Step::Client(expected) => {
                assert_eq!(
                    Escaped(&player.sent).to_string(),
                    Escaped(expected).to_string(),
                    "client bytes at step {index} ({feed:?})"
                );
                player.sent.clear();
            }
            Step::Tls { verified } => {
                assert!(
                    player.upgrade_asked,
                    "TLS handshake not requested at step {index}"
                );
                player.upgrade_asked = false;
                player
                    .client
                    .handle_tls_established(player.now, TlsInfo::new(verified))
                    .expect("handshake expected");
                player.drive();
            }
            Step::Eof => {
                player.client.handle_eof(player.now);
                player.drive();
            }
            Step::Reset => {
                let reset = smtp_sansio::Disconnect::Reset;
                player.client.handle_connection_lost(player.now, reset);
                player.drive();
            }
            Step::Skip => player.sent.clear(),
            Step::Wait(seconds) => {
                player.now = player.now.saturating_add(Duration::from_secs(seconds));
                player.client.handle_timeout(player.now);
                player.drive();
            }
        }
    }
    player.run.unchecked = player.sent;
    player.run
}

/// Plays the scenario under every feeding strategy, asserts they agree, returns the result.
pub fn play(config: &Config, setup: impl Fn(&mut Client), steps: &[Step]) -> Run {
    let first = play_with(config.clone(), &setup, steps, FEEDS[0]);
    for feed in &FEEDS[1..] {
        let other = play_with(config.clone(), &setup, steps, *feed);
        assert_eq!(other, first, "fed {feed:?}");
    }
    first
}

/// A configuration for `client.example` in the given mode.
pub fn config(tls: smtp_sansio::TlsMode) -> Config {
    Config::new(
        smtp_sansio::ClientId::parse("client.example").expect("valid"),
        tls,
    )
}

/// The same with password credentials `user` / `pass`.
pub fn config_with_password(tls: smtp_sansio::TlsMode) -> Config {
    let mut config = config(tls);
    config.credentials = Some(smtp_sansio::Credentials::password("user", "pass").expect("valid"));
    config
}

/// An envelope from `a@example.com` to the given local parts at `example.net`.
pub fn envelope(to: &[&str]) -> smtp_sansio::Envelope {
    let from = smtp_sansio::Mailbox::parse("a@example.com").expect("valid");
    let to = to
        .iter()
        .map(|local| smtp_sansio::Mailbox::parse(&format!("{local}@example.net")).expect("valid"));
    smtp_sansio::Envelope::new(from, to)
}

/// Queues one message to `b@example.net` with a short body.
pub fn one_message(client: &mut Client) {
    client
        .send(
            envelope(&["b"]),
            bytes::Bytes::from_static(b"Subject: t\r\n\r\nHello\r\n"),
        )
        .expect("queued");
}

/// The steps that bring a session in `mode` to ready, ending with `ehlo` as the (last) EHLO
/// reply. What the client sent before that reply is skipped; what it sends in answer to it is
/// left for the next `Client` step.
pub fn established(mode: smtp_sansio::TlsMode, ehlo: &'static [u8]) -> Vec<Step<'static>> {
    use smtp_sansio::TlsMode;
    let mut steps = match mode {
        TlsMode::Implicit => vec![Step::Tls { verified: true }, Step::Server(b"220 mx\r\n")],
        TlsMode::StartTls | TlsMode::StartTlsOpportunistic => vec![
            Step::Server(b"220 mx\r\n"),
            Step::Server(b"250-mx\r\n250 STARTTLS\r\n"),
            Step::Server(b"220 go ahead\r\n"),
            Step::Tls { verified: true },
        ],
        _ => vec![Step::Server(b"220 mx\r\n")],
    };
    steps.push(Step::Skip);
    steps.push(Step::Server(ehlo));
    steps
}

/// The modes with TLS, for running a case in each (SECURITY.md G10).
pub const TLS_MODES: [smtp_sansio::TlsMode; 2] = [
    smtp_sansio::TlsMode::StartTls,
    smtp_sansio::TlsMode::Implicit,
];

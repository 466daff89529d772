//! The IO loop around the core: one session on one connection.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use native_tls::{HandshakeError, TlsConnector};
use smtp_proto::{
    Action, Client, ClientId, Config, Endpoint, Envelope, Event, Reply, StreamedBody, TlsInfo,
    TransactionId, TransactionReport, TranscriptLine, Transmission,
};

use crate::error::Error;
use crate::stream::Stream;
use crate::tls::TlsOptions;

/// How much the adapter reads at once; the core holds what it needs of it.
const READ_SIZE: usize = 16 * 1024;

/// Everything needed to open a session.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where to connect and how to encrypt. Its TLS mode overrides `config.tls`.
    pub endpoint: Endpoint,
    /// The core's configuration: client name, credentials, timeouts, policies.
    pub config: Config,
    /// Which certificates to trust.
    pub tls: TlsOptions,
}

impl Options {
    /// Options with the core's defaults and the platform's roots of trust.
    pub fn new(endpoint: Endpoint, client_id: ClientId) -> Self {
        let config = Config::new(client_id, endpoint.tls);
        Self {
            endpoint,
            config,
            tls: TlsOptions::default(),
        }
    }
}

/// An open SMTP session. Send messages with [`send`](Self::send) and friends, then
/// [`quit`](Self::quit).
pub struct Session {
    client: Client,
    stream: Option<Stream>,
    connector: Option<TlsConnector>,
    endpoint: Endpoint,
    epoch: Instant,
    buf: Box<[u8]>,
    gathered: Vec<u8>,
    reports: Vec<TransactionReport>,
    queries: Vec<Reply>,
    transcript: Vec<TranscriptLine>,
    closed: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("endpoint", &self.endpoint)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// Connects, then runs greeting, EHLO, TLS and AUTH; returns once messages can be sent.
pub fn connect(options: Options) -> Result<Session, Error> {
    let epoch = Instant::now();
    let connector = tls_connector(&options)?;
    let deadline = epoch + options.config.timeouts.greeting;
    let tcp = open(&options.endpoint, deadline)?;
    start(tcp, options, connector, epoch)
}

/// Runs the session over a TCP connection the caller opened (through a proxy or a tunnel, say),
/// exactly as [`connect`] would after connecting: `options.endpoint.host` is the name the
/// certificate must match, and implicit TLS still begins with the handshake (SECURITY.md G9).
pub fn connect_over(tcp: TcpStream, options: Options) -> Result<Session, Error> {
    let connector = tls_connector(&options)?;
    start(tcp, options, connector, Instant::now())
}

/// The TLS connector, built before any IO so that a bad configuration fails first.
fn tls_connector(options: &Options) -> Result<Option<TlsConnector>, Error> {
    let needs_tls = options.endpoint.tls != smtp_proto::TlsMode::InsecurePlaintext;
    needs_tls.then(|| options.tls.connector()).transpose()
}

/// Connects to the first address of the endpoint that answers before `deadline`.
fn open(endpoint: &Endpoint, deadline: Instant) -> Result<TcpStream, Error> {
    let addresses = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(|_| Error::InvalidHostName(endpoint.host.clone()))?;
    let mut last_error = None;
    for address in addresses {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(Error::ConnectTimeout);
        }
        match TcpStream::connect_timeout(&address, remaining) {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last_error = Some(e),
        }
    }
    Err(match last_error {
        Some(e) if e.kind() == ErrorKind::TimedOut => Error::ConnectTimeout,
        Some(e) => Error::Io(e),
        None => Error::InvalidHostName(endpoint.host.clone()),
    })
}

/// Runs greeting, EHLO, TLS and AUTH on an open connection; the session's clock starts at
/// `epoch`.
fn start(
    tcp: TcpStream,
    options: Options,
    connector: Option<TlsConnector>,
    epoch: Instant,
) -> Result<Session, Error> {
    let Options {
        endpoint,
        mut config,
        ..
    } = options;
    config.tls = endpoint.tls;
    tcp.set_nodelay(true)?;
    let mut session = Session {
        client: Client::new(smtp_proto::Instant::ZERO, config),
        stream: Some(Stream::Plain(tcp)),
        connector,
        endpoint,
        epoch,
        buf: vec![0; READ_SIZE].into_boxed_slice(),
        gathered: Vec::new(),
        reports: Vec::new(),
        queries: Vec::new(),
        transcript: Vec::new(),
        closed: false,
    };
    session.drive(|s| s.client.is_ready())?;
    Ok(session)
}

impl Session {
    /// Sends one message and waits for its report. A refused message is a report, not an error;
    /// an error means the session failed. A body whose lines all end in CRLF is written from
    /// `body` itself, without a copy (see [`Client::send`](smtp_proto::Client::send)).
    pub fn send(&mut self, envelope: Envelope, body: Bytes) -> Result<TransactionReport, Error> {
        let id = self.client.send(envelope, body)?;
        self.drive(|s| s.has_report(id))?;
        self.take_report(id)
    }

    /// Sends several messages, pipelined when the server allows, and waits for all reports.
    pub fn send_all(
        &mut self,
        messages: impl IntoIterator<Item = (Envelope, Bytes)>,
    ) -> Result<Vec<TransactionReport>, Error> {
        let mut wanted = 0;
        for (envelope, body) in messages {
            self.client.send(envelope, body)?;
            wanted += 1;
        }
        // Reports arrive only for queued messages, so counting them is enough: checking each id
        // on every step would cost time quadratic in the batch.
        let before = self.reports.len();
        self.drive(|s| s.reports.len() - before >= wanted)?;
        let mut reports: Vec<TransactionReport> = self.reports.drain(before..).collect();
        reports.sort_by_key(|r| r.id);
        Ok(reports)
    }

    /// Sends a message whose body is read from `body`, in pieces, with constant memory.
    pub fn send_reader<R: Read>(
        &mut self,
        envelope: Envelope,
        mut body: R,
        declared: StreamedBody,
    ) -> Result<TransactionReport, Error> {
        let id = self.client.send_streamed(envelope, declared)?;
        let mut finished = false;
        loop {
            while !finished && self.client.body_room(id) > 0 {
                let mut piece = vec![0; self.client.body_room(id).min(READ_SIZE)];
                let n = body.read(&mut piece)?;
                if n == 0 {
                    self.client.finish_body(id)?;
                    finished = true;
                } else {
                    piece.truncate(n);
                    self.client.push_body(id, piece.into())?;
                }
            }
            self.drive(|s| s.has_report(id) || (!finished && s.client.body_room(id) > 0))?;
            if self.has_report(id) {
                return self.take_report(id);
            }
        }
    }

    /// Sends NOOP and returns the reply.
    pub fn noop(&mut self) -> Result<Reply, Error> {
        self.client.noop()?;
        self.drive(|s| !s.queries.is_empty())?;
        Ok(self.queries.remove(0))
    }

    /// Sends QUIT, waits for the reply (or the end of the connection) and closes, with a TLS
    /// close_notify first (RFC 8314 §3.4).
    pub fn quit(mut self) -> Result<(), Error> {
        self.client.quit()?;
        self.drive(|s| s.closed)
    }

    /// The server's capabilities (after TLS, the post-TLS ones).
    pub fn capabilities(&self) -> Option<&smtp_proto::Capabilities> {
        self.client.capabilities()
    }

    /// The redacted transcript recorded so far (with [`Config::transcript`] on), emptied.
    pub fn take_transcript(&mut self) -> Vec<TranscriptLine> {
        std::mem::take(&mut self.transcript)
    }

    /// Whether the connection is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.client.tls().is_some()
    }

    fn has_report(&self, id: TransactionId) -> bool {
        self.reports.iter().any(|r| r.id == id)
    }

    fn take_report(&mut self, id: TransactionId) -> Result<TransactionReport, Error> {
        match self.reports.iter().position(|r| r.id == id) {
            Some(index) => Ok(self.reports.remove(index)),
            None => Err(Error::Usage(smtp_proto::UsageError::Closed)),
        }
    }

    fn now(&self) -> smtp_proto::Instant {
        smtp_proto::Instant::from_duration(self.epoch.elapsed())
    }

    /// The time left before `deadline`, or `None` if it has passed. Socket timeouts are set
    /// from this before every call, so the deadline stays absolute.
    fn remaining(&self, deadline: smtp_proto::Instant) -> Option<Duration> {
        let left = deadline.as_duration().saturating_sub(self.epoch.elapsed());
        (!left.is_zero()).then_some(left)
    }

    /// Runs the core's actions until `done` holds, the client has nothing to do, or the
    /// session ends.
    fn drive(&mut self, mut done: impl FnMut(&Self) -> bool) -> Result<(), Error> {
        loop {
            if done(self) {
                return Ok(());
            }
            let action = match self.client.next_action(self.now()) {
                Ok(action) => action,
                Err(error) => return Err(self.fail(error)),
            };
            match action {
                Action::Transmit { data, deadline } => self.transmit(data, deadline)?,
                Action::Receive { deadline } => self.receive(deadline)?,
                Action::UpgradeTls { deadline } => self.upgrade(deadline)?,
                Action::Event(Event::Transaction(report)) => self.reports.push(report),
                Action::Event(Event::QueryReply(reply)) => self.queries.push(reply),
                Action::Event(Event::Transcript(line)) => self.transcript.push(line),
                Action::Event(_) => {}
                Action::Close => {
                    self.shutdown();
                    self.closed = true;
                    return Ok(());
                }
                _ => return Ok(()),
            }
        }
    }

    /// Writes a whole transmission before `deadline`, the caller's body buffers included
    /// without gathering them into one buffer first.
    fn transmit(
        &mut self,
        mut data: Transmission,
        deadline: smtp_proto::Instant,
    ) -> Result<(), Error> {
        while !data.is_empty() {
            let (Some(left), Some(stream)) = (self.remaining(deadline), self.stream.as_mut())
            else {
                self.client.handle_timeout(self.now());
                return Ok(());
            };
            stream.tcp().set_write_timeout(Some(left))?;
            match stream.write_some(&data, &mut self.gathered) {
                Ok(0) => return Err(Error::Io(ErrorKind::WriteZero.into())),
                Ok(n) => data.advance(n),
                Err(e) if is_timeout(&e) => {
                    self.client.handle_timeout(self.now());
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io(e)),
            }
        }
        if let Some(Stream::Tls(s)) = self.stream.as_mut() {
            s.flush()?;
        }
        Ok(())
    }

    fn receive(&mut self, deadline: smtp_proto::Instant) -> Result<(), Error> {
        let (Some(left), Some(stream)) = (self.remaining(deadline), self.stream.as_mut()) else {
            self.client.handle_timeout(self.now());
            return Ok(());
        };
        stream.tcp().set_read_timeout(Some(left))?;
        let read = match stream {
            Stream::Plain(s) => s.read(&mut self.buf),
            Stream::Tls(s) => s.read(&mut self.buf),
        };
        let now = self.now();
        match read {
            Ok(0) => self.client.handle_eof(now),
            Ok(n) => self.client.handle_input(now, &self.buf[..n]),
            Err(e) if is_timeout(&e) => self.client.handle_timeout(now),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => self.client.handle_eof(now),
            Err(e) => return Err(Error::Io(e)),
        }
        Ok(())
    }

    fn upgrade(&mut self, deadline: smtp_proto::Instant) -> Result<(), Error> {
        let (Some(Stream::Plain(tcp)), Some(connector)) =
            (self.stream.take(), self.connector.as_ref())
        else {
            return Err(Error::TlsConfig(
                "tls requested on a connection without tls".into(),
            ));
        };
        let Some(left) = self.remaining(deadline) else {
            self.client.handle_timeout(self.now());
            return Ok(());
        };
        tcp.set_read_timeout(Some(left))?;
        tcp.set_write_timeout(Some(left))?;
        match connector.connect(&self.endpoint.host, tcp) {
            Ok(tls) => {
                self.stream = Some(Stream::Tls(Box::new(tls)));
                // native-tls verified the chain and the host name, or the handshake failed.
                self.client
                    .handle_tls_established(self.now(), TlsInfo::new(true))?;
                Ok(())
            }
            Err(HandshakeError::WouldBlock(_)) => {
                self.client.handle_timeout(self.now());
                Ok(())
            }
            Err(HandshakeError::Failure(_)) if self.remaining(deadline).is_none() => {
                self.client.handle_timeout(self.now());
                Ok(())
            }
            Err(HandshakeError::Failure(e)) => Err(Error::TlsHandshake(e.to_string())),
        }
    }

    fn fail(&mut self, error: smtp_proto::Error) -> Error {
        self.shutdown();
        let error = Error::Smtp(error);
        if error.greeting_timeout() && self.endpoint.looks_like_implicit_tls() {
            return Error::NoGreetingOnImplicitPort(self.endpoint.port);
        }
        error
    }

    fn shutdown(&mut self) {
        if let Some(stream) = self.stream.take() {
            // Closing never waits long on a server that stopped reading.
            let _ = stream.tcp().set_write_timeout(Some(Duration::from_secs(5)));
            match stream {
                Stream::Plain(s) => {
                    let _ = s.shutdown(std::net::Shutdown::Both);
                }
                Stream::Tls(mut s) => {
                    let _ = s.shutdown();
                }
            }
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

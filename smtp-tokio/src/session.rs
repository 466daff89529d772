//! The IO loop around the core: one session on one connection.

use std::time::Duration;

use bytes::Bytes;
use rustls_pki_types::ServerName;
use smtp_proto::{
    Action, Client, ClientId, Config, Envelope, Event, Reply, StreamedBody, TlsInfo, TransactionId,
    TransactionReport, TranscriptLine, Transmission,
};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;

use crate::error::Error;
use crate::stream::Stream;
use crate::tls::TlsOptions;
use smtp_proto::Endpoint;

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
    /// Options with the core's defaults and the default roots of trust.
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
    server_name: ServerName<'static>,
    endpoint: Endpoint,
    epoch: Instant,
    buf: Box<[u8]>,
    reports: Vec<TransactionReport>,
    queries: Vec<Reply>,
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
pub async fn connect(options: Options) -> Result<Session, Error> {
    let epoch = Instant::now();
    let tls = prepare_tls(&options)?;
    let deadline = epoch + options.config.timeouts.greeting;
    let address = (options.endpoint.host.as_str(), options.endpoint.port);
    let tcp = timeout_at(deadline, TcpStream::connect(address))
        .await
        .map_err(|_| Error::ConnectTimeout)??;
    start(tcp, options, tls, epoch).await
}

/// Runs the session over a TCP connection the caller opened (through a proxy or a tunnel, say),
/// exactly as [`connect`] would after connecting: `options.endpoint.host` is the name the
/// certificate must match, and implicit TLS still begins with the handshake (SECURITY.md G9).
pub async fn connect_over(tcp: TcpStream, options: Options) -> Result<Session, Error> {
    let tls = prepare_tls(&options)?;
    start(tcp, options, tls, Instant::now()).await
}

/// What the TLS handshake needs, built before any IO so that a bad configuration fails first.
struct PreparedTls {
    connector: Option<TlsConnector>,
    server_name: ServerName<'static>,
}

fn prepare_tls(options: &Options) -> Result<PreparedTls, Error> {
    let host = &options.endpoint.host;
    let needs_tls = options.endpoint.tls != smtp_proto::TlsMode::InsecurePlaintext;
    Ok(PreparedTls {
        connector: needs_tls.then(|| options.tls.connector()).transpose()?,
        server_name: ServerName::try_from(host.clone())
            .map_err(|_| Error::InvalidHostName(host.clone()))?,
    })
}

/// Runs greeting, EHLO, TLS and AUTH on an open connection; the session's clock starts at
/// `epoch`.
async fn start(
    tcp: TcpStream,
    options: Options,
    tls: PreparedTls,
    epoch: Instant,
) -> Result<Session, Error> {
    let Options {
        endpoint,
        mut config,
        ..
    } = options;
    config.tls = endpoint.tls;
    config.transcript = tracing::enabled!(target: "smtp", tracing::Level::DEBUG);
    tcp.set_nodelay(true)?;
    let mut session = Session {
        client: Client::new(smtp_proto::Instant::ZERO, config),
        stream: Some(Stream::Plain(tcp)),
        connector: tls.connector,
        server_name: tls.server_name,
        endpoint,
        epoch,
        buf: vec![0; READ_SIZE].into_boxed_slice(),
        reports: Vec::new(),
        queries: Vec::new(),
        closed: false,
    };
    session.drive(|s| s.client.is_ready()).await?;
    Ok(session)
}

impl Session {
    /// Sends one message and waits for its report. A refused message is a report, not an error;
    /// an error means the session failed. A body whose lines all end in CRLF is written from
    /// `body` itself, without a copy (see [`Client::send`](smtp_proto::Client::send)).
    pub async fn send(
        &mut self,
        envelope: Envelope,
        body: Bytes,
    ) -> Result<TransactionReport, Error> {
        let id = self.client.send(envelope, body)?;
        self.drive(|s| s.has_report(id)).await?;
        self.take_report(id)
    }

    /// Sends several messages, pipelined when the server allows, and waits for all reports.
    pub async fn send_all(
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
        self.drive(|s| s.reports.len() - before >= wanted).await?;
        let mut reports: Vec<TransactionReport> = self.reports.drain(before..).collect();
        reports.sort_by_key(|r| r.id);
        Ok(reports)
    }

    /// Sends a message whose body is read from `body`, in pieces, with constant memory.
    pub async fn send_reader<R: AsyncRead + Unpin>(
        &mut self,
        envelope: Envelope,
        mut body: R,
        declared: StreamedBody,
    ) -> Result<TransactionReport, Error> {
        let id = self.client.send_streamed(envelope, declared)?;
        let mut finished = false;
        loop {
            while !finished && self.client.body_room(id) > 0 {
                let room = self.client.body_room(id).min(READ_SIZE);
                let mut piece = vec![0; room];
                let n = body.read(&mut piece).await?;
                if n == 0 {
                    self.client.finish_body(id)?;
                    finished = true;
                } else {
                    piece.truncate(n);
                    self.client.push_body(id, piece.into())?;
                }
            }
            self.drive(|s| s.has_report(id) || (!finished && s.client.body_room(id) > 0))
                .await?;
            if self.has_report(id) {
                return self.take_report(id);
            }
        }
    }

    /// Sends NOOP and returns the reply.
    pub async fn noop(&mut self) -> Result<Reply, Error> {
        self.client.noop()?;
        self.drive(|s| !s.queries.is_empty()).await?;
        Ok(self.queries.remove(0))
    }

    /// Sends QUIT, waits for the reply (or the end of the connection) and closes, with a TLS
    /// close_notify first (RFC 8314 §3.4).
    pub async fn quit(mut self) -> Result<(), Error> {
        self.client.quit()?;
        self.drive(|s| s.closed).await
    }

    /// The server's capabilities (after TLS, the post-TLS ones).
    pub fn capabilities(&self) -> Option<&smtp_proto::Capabilities> {
        self.client.capabilities()
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

    fn deadline(&self, at: smtp_proto::Instant) -> Instant {
        self.epoch + at.as_duration()
    }

    /// Runs the core's actions until `done` holds, the client has nothing to do, or the
    /// session ends.
    async fn drive(&mut self, mut done: impl FnMut(&Self) -> bool) -> Result<(), Error> {
        loop {
            if done(self) {
                return Ok(());
            }
            let action = match self.client.next_action(self.now()) {
                Ok(action) => action,
                Err(error) => return Err(self.fail(error).await),
            };
            match action {
                Action::Transmit { data, deadline } => self.transmit(data, deadline).await?,
                Action::Receive { deadline } => self.receive(deadline).await?,
                Action::UpgradeTls { deadline } => self.upgrade(deadline).await?,
                Action::Event(event) => self.on_event(event),
                Action::Close => {
                    self.shutdown().await;
                    self.closed = true;
                    return Ok(());
                }
                _ => return Ok(()),
            }
        }
    }

    /// Writes a transmission with vectored writes, so commands and the caller's body buffers go
    /// out together without being gathered into one buffer first. While the connection takes no
    /// more, whatever the server sends is read and passed to the core, so a server that answers
    /// before it has read everything never waits on us (RFC 2920 §3.1, SECURITY.md F11).
    async fn transmit(
        &mut self,
        mut data: Transmission,
        deadline: smtp_proto::Instant,
    ) -> Result<(), Error> {
        let at = self.deadline(deadline);
        let epoch = self.epoch;
        let (client, buf) = (&mut self.client, &mut self.buf[..]);
        let mut on_input = |input: &[u8]| {
            feed(
                client,
                smtp_proto::Instant::from_duration(epoch.elapsed()),
                input,
            );
            // Writing the rest is pointless once the session has failed or ended.
            client.error().is_none() && !input.is_empty()
        };
        let Some(stream) = self.stream.as_mut() else {
            return Err(Error::Usage(smtp_proto::UsageError::Closed));
        };
        let written = timeout_at(at, stream.transmit(&mut data, buf, &mut on_input)).await;
        match written {
            Ok(Ok(())) => Ok(()),
            // The server is gone; what it said before leaving has reached the core.
            Ok(Err(e)) if self.client.error().is_some() => {
                tracing::debug!(target: "smtp", "write after the session ended: {e}");
                Ok(())
            }
            // TLS ended without close_notify while we wrote: the connection is gone.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                self.client.handle_eof(self.now());
                Ok(())
            }
            Ok(Err(e)) => Err(Error::Io(e)),
            Err(_) => {
                self.client.handle_timeout(self.now());
                Ok(())
            }
        }
    }

    async fn receive(&mut self, deadline: smtp_proto::Instant) -> Result<(), Error> {
        let at = self.deadline(deadline);
        let buf = &mut self.buf[..];
        let Some(stream) = self.stream.as_mut() else {
            return Err(Error::Usage(smtp_proto::UsageError::Closed));
        };
        let read = timeout_at(at, stream.read(buf)).await;
        let now = self.now();
        match read {
            Err(_) => self.client.handle_timeout(now),
            Ok(Ok(n)) => feed(&mut self.client, now, &self.buf[..n]),
            // A reset or a TLS record error: the connection is gone.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                self.client.handle_eof(now)
            }
            Ok(Err(e)) => return Err(Error::Io(e)),
        }
        Ok(())
    }

    async fn upgrade(&mut self, deadline: smtp_proto::Instant) -> Result<(), Error> {
        let (Some(Stream::Plain(tcp)), Some(connector)) =
            (self.stream.take(), self.connector.clone())
        else {
            return Err(Error::TlsConfig(
                "tls requested on a connection without tls".into(),
            ));
        };
        let at = self.deadline(deadline);
        match timeout_at(at, connector.connect(self.server_name.clone(), tcp)).await {
            Ok(Ok(tls)) => {
                self.stream = Some(Stream::Tls(Box::new(tls)));
                // rustls verified the chain and the host name, or the handshake failed.
                self.client
                    .handle_tls_established(self.now(), TlsInfo::new(true))?;
                Ok(())
            }
            Ok(Err(e)) => Err(Error::TlsHandshake(e)),
            Err(_) => {
                self.client.handle_timeout(self.now());
                Ok(())
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Transaction(report) => {
                tracing::debug!(target: "smtp", id = ?report.id, outcome = ?report.outcome, "message");
                self.reports.push(report);
            }
            Event::QueryReply(reply) => self.queries.push(reply),
            Event::Transcript(TranscriptLine::Sent(line)) => {
                tracing::debug!(target: "smtp", "C: {line}")
            }
            Event::Transcript(TranscriptLine::Received(line)) => {
                tracing::debug!(target: "smtp", "S: {line}")
            }
            Event::Ready(_) => tracing::debug!(target: "smtp", "session ready"),
            _ => {}
        }
    }

    async fn fail(&mut self, error: smtp_proto::Error) -> Error {
        self.shutdown().await;
        let error = Error::Smtp(error);
        if error.greeting_timeout() && self.endpoint.looks_like_implicit_tls() {
            return Error::NoGreetingOnImplicitPort(self.endpoint.port);
        }
        error
    }

    async fn shutdown(&mut self) {
        if let Some(stream) = self.stream.take() {
            // Closing never waits long on a server that stopped reading.
            let _ = tokio::time::timeout(Duration::from_secs(5), stream.close()).await;
        }
    }
}

/// Hands what one read brought to the core: input, or (when empty) the end of the stream.
fn feed(client: &mut Client, now: smtp_proto::Instant, input: &[u8]) {
    if input.is_empty() {
        client.handle_eof(now);
    } else {
        client.handle_input(now, input);
    }
}

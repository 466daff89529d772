//! A session on one connection: the application's calls, each a request to the core followed
//! by driving IO until the core says the request is done.

use std::any::Any;

use bytes::Bytes;
use rustls_pki_types::ServerName;
use smtp_sansio::driver::{self, Clock};
use smtp_sansio::{Client, Endpoint, Envelope, Reply, StreamedBody, TransactionReport};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpStream, lookup_host};
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;

use crate::credentials::{refresh, refused};
use crate::drive::READ_SIZE;
use crate::stream::{Connection, Stream};
use crate::trace::MessageSpans;
use crate::{Error, Options};

/// An open SMTP session. Send messages with [`send`](Self::send) and friends, then
/// [`quit`](Self::quit).
///
/// Every message gets a report with its [`Verdict`](smtp_sansio::Verdict), even when the
/// connection fails under it: a send returns `Ok(report)` whenever the message was queued, and
/// the report says whether it was delivered, deferred, bounced, unknown or not attempted. Once
/// the session has failed ([`error`](Self::error)), every later call returns that error.
///
/// With a `tracing` subscriber, each message sent has a span (`message`, under the target
/// `smtp`, in the current span) holding its part of the redacted transcript at DEBUG; the
/// session's own lines (greeting, EHLO, TLS, AUTH, RSET, QUIT) are logged in the current span.
pub struct Session {
    pub(crate) client: Client,
    pub(crate) stream: Option<Stream>,
    pub(crate) connector: Option<TlsConnector>,
    pub(crate) server_name: ServerName<'static>,
    pub(crate) endpoint: Endpoint,
    pub(crate) clock: Clock,
    pub(crate) buf: Box<[u8]>,
    /// Whether the implicit-TLS handshake met a plaintext SMTP greeting instead.
    pub(crate) plaintext_greeting: bool,
    /// Where each message's transcript is logged.
    pub(crate) spans: MessageSpans,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("endpoint", &self.endpoint)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// Connects, then runs greeting, EHLO, TLS and AUTH; returns once messages can be sent. With
/// a [`credentials_provider`](smtp_sansio::driver::Options::credentials_provider), asks it
/// first (for at most the greeting timeout).
pub async fn connect(mut options: Options) -> Result<Session, Error> {
    let tls = prepare_tls(&options)?;
    refresh(&mut options).await?;
    let epoch = Instant::now();
    let greeting = smtp_sansio::Instant::from_duration(options.config.timeouts.greeting);
    let deadline = Instant::from_std(Clock::starting_at(epoch.into_std()).deadline(greeting));
    let host = options.endpoint.host.clone();
    let addresses = timeout_at(
        deadline,
        lookup_host((host.as_str(), options.endpoint.port)),
    )
    .await
    .map_err(|_| Error::ConnectTimeout)?
    .map_err(|source| Error::Resolve {
        host: host.clone(),
        source,
    })?;
    let mut last_error = None;
    for address in addresses {
        match timeout_at(deadline, TcpStream::connect(address)).await {
            Ok(Ok(tcp)) => {
                tcp.set_nodelay(true).map_err(Error::Connect)?;
                return start(Box::new(tcp), options, tls, epoch).await;
            }
            Ok(Err(e)) => last_error = Some(e),
            Err(_) => return Err(Error::ConnectTimeout),
        }
    }
    Err(match last_error {
        Some(e) => Error::Connect(e),
        None => Error::Resolve {
            host,
            source: std::io::ErrorKind::NotFound.into(),
        },
    })
}

/// Runs the session over a connection the caller opened, exactly as [`connect`] does once it
/// has connected: greeting, EHLO, TLS and AUTH, then messages.
///
/// Use it when [`connect`] cannot reach the server itself: through a SOCKS5 proxy (see the
/// `socks5_proxy` example) or an HTTP `CONNECT` tunnel, over a Unix socket, or over a pipe in
/// memory in tests. `stream` is any byte stream to the server; the session owns it from here
/// and closes it at the end. `options.endpoint.host` is still the name the certificate must
/// match and the SNI sent, `options.endpoint.port` still chooses the hints for a TLS mode that
/// does not fit, and `options.endpoint.tls` still decides the encryption: implicit TLS begins
/// with the handshake, STARTTLS is still required (SECURITY.md G9). Only resolving and
/// connecting are skipped, so the greeting timeout counts from this call.
///
/// A `tokio::net::TcpStream` gets `TCP_NODELAY`, as [`connect`] sets it; on any other stream
/// over TCP (a proxy's, say) set it on the socket underneath, or pipelined commands may wait
/// on Nagle's algorithm.
pub async fn connect_over<S>(stream: S, mut options: Options) -> Result<Session, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let tls = prepare_tls(&options)?;
    refresh(&mut options).await?;
    let epoch = Instant::now();
    if let Some(tcp) = (&stream as &dyn Any).downcast_ref::<TcpStream>() {
        tcp.set_nodelay(true).map_err(Error::Connect)?;
    }
    start(Box::new(stream), options, tls, epoch).await
}

/// What the TLS handshake needs, built before any IO so that a bad configuration fails first.
struct PreparedTls {
    connector: Option<TlsConnector>,
    server_name: ServerName<'static>,
}

fn prepare_tls(options: &Options) -> Result<PreparedTls, Error> {
    let host = &options.endpoint.host;
    let needs_tls = options.endpoint.tls != smtp_sansio::TlsMode::InsecurePlaintext;
    Ok(PreparedTls {
        connector: needs_tls.then(|| options.tls.connector()).transpose()?,
        server_name: ServerName::try_from(host.clone())
            .map_err(|_| Error::InvalidHostName(host.clone()))?,
    })
}

/// Runs greeting, EHLO, TLS and AUTH on an open connection; the session's clock starts at
/// `epoch`.
async fn start(
    stream: Box<dyn Connection>,
    options: Options,
    tls: PreparedTls,
    epoch: Instant,
) -> Result<Session, Error> {
    let Options {
        endpoint,
        mut config,
        credentials_provider,
        ..
    } = options;
    config.tls = endpoint.tls;
    // STARTTLS on a port that expects implicit TLS never gets a greeting: say so within seconds.
    config.timeouts.greeting = endpoint.greeting_wait(config.timeouts.greeting);
    config.transcript = tracing::enabled!(target: "smtp", tracing::Level::DEBUG);
    // A fresh SCRAM nonce for every connection, from the platform: the core has no randomness
    // (RFC 5802 §5.1), and options cloned for a pool must not repeat one.
    let mut random = [0u8; 18];
    let drawn = getrandom::getrandom(&mut random).is_ok();
    config.sasl_nonce = drawn.then(|| driver::sasl_nonce(&random));
    let mut session = Session {
        client: Client::new(smtp_sansio::Instant::ZERO, config),
        stream: Some(Stream::Plain(stream)),
        connector: tls.connector,
        server_name: tls.server_name,
        endpoint,
        clock: Clock::starting_at(epoch.into_std()),
        buf: vec![0; READ_SIZE].into_boxed_slice(),
        plaintext_greeting: false,
        spans: MessageSpans::default(),
    };
    session.drive(Client::is_ready).await;
    if session.plaintext_greeting {
        let port = session.endpoint.port;
        return Err(Error::PlaintextGreeting { port });
    }
    let ready = session.client.is_ready();
    driver::check(&session.client, &session.endpoint, ready)
        .inspect_err(|e| refused(credentials_provider.as_ref(), e))?;
    Ok(session)
}

impl Session {
    /// Sends one message and returns its report once the client has settled it: delivered,
    /// refused, or (if the session failed under it) unknown, deferred or not attempted. An
    /// error means the message could not be queued: it is invalid, or the session had already
    /// failed. A body whose lines all end in CRLF is written from `body` itself, without a
    /// copy (see [`Client::send`]).
    pub async fn send(
        &mut self,
        envelope: Envelope,
        body: Bytes,
    ) -> Result<TransactionReport, Error> {
        let id = self.client.send(envelope, body)?;
        self.spans.open(id, None);
        self.drive(|c| c.is_settled(id)).await;
        driver::take_report(&mut self.client, id)
    }

    /// Sends several messages, pipelined when the server allows, and returns their reports in
    /// input order. The batch is checked whole first: if one message is invalid, none is sent.
    /// If the session fails part-way, the reports say which messages were delivered and which
    /// to send again; [`error`](Self::error) says why.
    pub async fn send_all(
        &mut self,
        messages: impl IntoIterator<Item = (Envelope, Bytes)>,
    ) -> Result<Vec<TransactionReport>, Error> {
        self.send_all_within(messages, &[]).await
    }

    /// [`send_all`](Self::send_all), logging message `i` within `spans[i]` (the mailer's span
    /// for it), if there is one.
    pub(crate) async fn send_all_within(
        &mut self,
        messages: impl IntoIterator<Item = (Envelope, Bytes)>,
        spans: &[tracing::Span],
    ) -> Result<Vec<TransactionReport>, Error> {
        let ids = self.client.send_batch(messages)?;
        for (i, &id) in ids.iter().enumerate() {
            self.spans.open(id, spans.get(i));
        }
        if let Some(&last) = ids.last() {
            self.drive(|c| c.is_settled_through(last)).await;
        }
        driver::take_reports(&mut self.client, &ids)
    }

    /// Sends a message whose body is read from `body`, in pieces, with constant memory. If
    /// reading fails, the message is cancelled ([`Client::cancel`]) and the read error
    /// returned; with DATA already under way that also ends the session.
    pub async fn send_reader<R: AsyncRead + Unpin>(
        &mut self,
        envelope: Envelope,
        mut body: R,
        declared: StreamedBody,
    ) -> Result<TransactionReport, Error> {
        let id = self.client.send_streamed(envelope, declared)?;
        self.spans.open(id, None);
        let mut finished = false;
        while !self.client.is_settled(id) {
            while !finished && self.client.body_room(id) > 0 {
                let mut piece = vec![0; self.client.body_room(id).min(READ_SIZE)];
                let n = match body.read(&mut piece).await {
                    Ok(n) => n,
                    Err(e) => return Err(self.abandon(id, e).await),
                };
                if n == 0 {
                    self.client.finish_body(id)?;
                    finished = true;
                } else {
                    piece.truncate(n);
                    self.client.push_body(id, piece.into())?;
                }
            }
            let idle = self
                .drive(|c| c.is_settled(id) || (!finished && c.body_room(id) > 0))
                .await;
            if idle && !self.client.is_settled(id) && (finished || self.client.body_room(id) == 0) {
                // The client waits for a body that will not come: give the message up.
                let stalled = std::io::Error::other("the body stalled");
                return Err(self.abandon(id, stalled).await);
            }
        }
        driver::take_report(&mut self.client, id)
    }

    /// Cancels message `id` after its body source failed with `error`, and settles it.
    async fn abandon(&mut self, id: smtp_sansio::TransactionId, error: std::io::Error) -> Error {
        if self.client.cancel(id).is_ok() {
            self.drive(|c| c.is_settled(id)).await;
            let _ = self.client.take_report(id);
        }
        Error::BodyRead(error)
    }

    /// Sends NOOP and returns the reply (RFC 5321 §4.1.1.9).
    pub async fn noop(&mut self) -> Result<Reply, Error> {
        let id = self.client.noop()?;
        self.drive(|c| c.is_answered(id)).await;
        driver::take_reply(&mut self.client, &self.endpoint, id)
    }

    /// Sends QUIT, waits for the reply (or the end of the connection) and closes, with a TLS
    /// close_notify first (RFC 8314 §3.4).
    pub async fn quit(mut self) -> Result<(), Error> {
        self.client.quit()?;
        self.drive(Client::is_closed).await;
        driver::check(&self.client, &self.endpoint, self.client.is_closed())
    }

    /// The server's capabilities (after TLS, the post-TLS ones).
    pub fn capabilities(&self) -> Option<&smtp_sansio::Capabilities> {
        self.client.capabilities()
    }

    /// Whether the connection is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.client.tls().is_some()
    }

    /// The error that ended the session, if it failed: why the messages it still held were
    /// reported deferred, unknown or not attempted. Every later call returns it.
    pub fn error(&self) -> Option<&smtp_sansio::Error> {
        self.client.error()
    }
}

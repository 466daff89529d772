//! A scripted SMTP server for testing SMTP clients.
//!
//! It speaks enough SMTP to exercise a client for real: STARTTLS or implicit TLS with a
//! certificate generated at start (a CA and a `localhost`/`127.0.0.1` certificate it signed),
//! AUTH PLAIN and LOGIN (only over TLS), PIPELINING, CHUNKING, SIZE (enforced), and
//! Amazon-SES-like `250 Ok <message id>` replies, or Amazon SES's whole personality
//! ([`ServerOptions::ses`]). It listens on loopback addresses only (127.0.0.1 by default), runs
//! in the tokio runtime it is started from, and stops when its [`TestServer`] is dropped.
//!
//! ```no_run
//! use smtp_test_server::{ServerOptions, TestServer};
//!
//! # async fn run() -> std::io::Result<()> {
//! let server = TestServer::start(ServerOptions::default()).await?;
//! // Connect a client to server.addr() with STARTTLS, trusting server.ca_pem() and logging in
//! // as `demo` / `demo-password` (the defaults), send, then look at what arrived:
//! for message in server.received() {
//!     println!("{} from {} to {:?}", message.id, message.from, message.to);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Replies
//!
//! It keeps the transaction state the way Postfix does, with Postfix's replies:
//!
//! - MAIL opens a transaction; another MAIL while it is open gets
//!   `503 5.5.1 Error: nested MAIL command`. The transaction ends with an accepted message, RSET,
//!   EHLO, HELO or STARTTLS.
//! - A reverse-path whose local part starts with `tempfail` gets
//!   `451 4.3.0 Temporary failure: try again later`, one starting with `reject` gets
//!   `550 5.7.1 Sender rejected`; neither opens a transaction.
//! - RCPT outside a transaction gets `503 5.5.1 Error: need MAIL command`. A recipient whose
//!   local part starts with `reject` gets `550`, `tempfail` gets `450`.
//! - DATA outside a transaction gets `503 5.5.1 Error: need RCPT command`, DATA without an
//!   accepted recipient `554 5.5.1 Error: no valid recipients`.
//! - A BDAT chunk without an accepted recipient is read, then refused with
//!   `554 5.5.1 Error: no valid recipients`; the transaction stays open until RSET, so later
//!   chunks are refused the same way.
//!
//! # Faults
//!
//! [`ServerOptions::fault`] makes it misbehave on purpose, once per connection, on the first
//! [`Fault::connections`] connections it accepts (so a client that retries on a new connection
//! meets a healthy server). Messages are counted on each connection by their MAIL commands,
//! whatever the replies; the fault hits message [`Fault::message`]. At its [`FaultPoint`]:
//!
//! - [`Greeting`](FaultPoint::Greeting): instead of the `220` greeting (after the handshake
//!   with implicit TLS);
//! - [`Ehlo`](FaultPoint::Ehlo): instead of the reply to the first EHLO, HELO or LHLO;
//! - [`Mail`](FaultPoint::Mail), [`Rcpt`](FaultPoint::Rcpt), [`Data`](FaultPoint::Data):
//!   instead of the reply to the message's MAIL, first RCPT, DATA;
//! - [`DataEnd`](FaultPoint::DataEnd): after the message's whole body (the final dot, or the
//!   `BDAT ... LAST` chunk), instead of the final reply;
//! - [`Bdat`](FaultPoint::Bdat): after the octets of the message's first BDAT chunk, instead
//!   of its reply; if that chunk is the LAST one, as at `DataEnd`.
//!
//! the server does its [`FaultAction`] and the connection ends:
//!
//! - [`Reply421`](FaultAction::Reply421): replies
//!   `421 4.4.2 localhost closing transmission channel` and closes;
//! - [`Malformed`](FaultAction::Malformed): replies `2x0 garbled` and closes;
//! - [`Eof`](FaultAction::Eof): closes without replying;
//! - [`Reset`](FaultAction::Reset): waits 50 ms, so that earlier replies arrive, then aborts
//!   the TCP connection with a reset (no TLS close_notify, no FIN);
//! - [`Reply`](FaultAction::Reply): sends the given bytes exactly as they are, whatever they
//!   are, and closes: a script for any hostile or broken reply.
//!
//! A hostile reply to MAIL, for example: a multi-line reply that starts as `250` and ends as
//! `354`, as if DATA had already been taken. Every line of a reply carries the same code
//! (RFC 5321 §4.2.1), so a client must refuse it as malformed and never send the body:
//!
//! ```no_run
//! use smtp_test_server::{Fault, FaultAction, FaultPoint, ServerOptions, TestServer};
//!
//! # async fn run() -> std::io::Result<()> {
//! let hostile = FaultAction::Reply("250-2.1.0 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
//! let server = TestServer::start(ServerOptions {
//!     fault: Some(Fault::new(FaultPoint::Mail, hostile)),
//!     ..ServerOptions::default()
//! })
//! .await?;
//! # Ok(())
//! # }
//! ```
//!
//! (`examples/hostile.rs` runs a client against such a server.)
//!
//! A clean close sends TLS close_notify when TLS is on, shuts down the sending side and reads
//! until the client closes, so that commands the client pipelined do not turn it into a reset.
//! At the end of a body with accepted recipients, `Reply421` refuses the message, `Reply`
//! stores it first only if its bytes start with `2` (it claims the message was taken), and the
//! other actions store it first (it was accepted and the reply got lost). A fault on a chunk
//! that is not the last stores nothing. The connection is recorded in
//! [`TestServer::connections`] before it closes.
//!
//! # Amazon SES
//!
//! [`Limits`] make it behave like Amazon SES under load: a session ends with `421` after N
//! messages, connections beyond a count are greeted with `421` and closed, messages beyond the
//! account's sending rate (recipients per second over all connections, a sliding one-second
//! window) get `454 Throttling failure` at the end of their data and are dropped, messages
//! with too many recipients are refused, a silent session is closed, and every reply can be
//! delayed by a latency that stands for the distance to the server. [`ServerOptions::ses`]
//! adds SES's personality ([`Personality::Ses`]): its greeting, EHLO reply and reply texts,
//! with [`Limits::ses`]. [`TestServer::stats`] counts what a benchmark needs:
//!
//! ```no_run
//! use std::time::Duration;
//! use smtp_test_server::{Limits, ServerOptions, TestServer};
//!
//! # async fn run() -> std::io::Result<()> {
//! // SES in the sandbox, 40 ms away: one recipient per second.
//! let limits = Limits::ses()
//!     .recipients_per_second(1)
//!     .latency(Duration::from_millis(40));
//! let server = TestServer::start(ServerOptions::ses().with_limits(limits)).await?;
//! // ... send through server.addr() ...
//! let stats = server.stats();
//! println!("{} taken, {} throttled", stats.accepted, stats.throttled);
//! # Ok(())
//! # }
//! ```
//!
//! `examples/ses_server.rs` runs it as a process of its own, for benchmarks.

#![forbid(unsafe_code)]

mod cert;
mod conn;
mod dialogue;
mod fault;
mod limits;
mod options;
mod replies;
mod sasl;
#[cfg(feature = "tracing")]
pub mod spans;
mod timing;

pub use fault::{Fault, FaultAction, FaultPoint};
pub use limits::{Limits, Stats};
pub use options::ServerOptions;
pub use replies::Personality;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// A message the server accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Received {
    /// The id in the `250 Ok <id>` reply.
    pub id: String,
    /// The reverse-path, without angle brackets.
    pub from: String,
    /// The accepted recipients.
    pub to: Vec<String>,
    /// The message as the receiver sees it: dot-stuffing removed, no terminator.
    pub data: Vec<u8>,
    /// Whether the session was encrypted.
    pub tls: bool,
    /// The authenticated user, if any.
    pub user: Option<String>,
}

/// What the server saw of one connection, recorded when it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionRecord {
    /// Whether the connection ran TLS.
    pub tls: bool,
    /// The server name the client sent in its TLS ClientHello (SNI), if any.
    pub sni: Option<String>,
    /// Whether the client ended TLS with a close_notify alert before closing (RFC 8314 §3.4),
    /// rather than just closing the TCP connection.
    pub close_notify: bool,
}

/// A running server. Stops when dropped.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    ca_pem: String,
    client: Option<(String, String)>,
    received: Arc<Mutex<Vec<Received>>>,
    connections: Arc<Mutex<Vec<ConnectionRecord>>>,
    stats: Arc<limits::Counters>,
    task: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    options: ServerOptions,
    acceptor: TlsAcceptor,
    received: Arc<Mutex<Vec<Received>>>,
    connections: Arc<Mutex<Vec<ConnectionRecord>>>,
    counter: AtomicU64,
    /// Connections open now, not counting those refused for `Limits::connections`.
    open: AtomicUsize,
    /// What was taken within the last second, for the sending rates.
    rates: Mutex<limits::Rates>,
    stats: Arc<limits::Counters>,
}

impl Shared {
    /// Whether a message with `recipients` may be taken now under the sending rates; if so it
    /// counts, if not it is counted as throttled.
    fn admit(&self, recipients: usize) -> bool {
        let limits = &self.options.limits;
        if limits.per_second.is_none() && limits.recipients_per_second.is_none() {
            return true;
        }
        let admitted = match self.rates.lock() {
            Ok(mut rates) => rates.admit(limits, std::time::Instant::now(), recipients),
            Err(_) => true,
        };
        if !admitted {
            limits::Counters::add(&self.stats.throttled);
        }
        admitted
    }
}

impl TestServer {
    /// Starts listening on an ephemeral port of 127.0.0.1.
    pub async fn start(options: ServerOptions) -> io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), options).await
    }

    /// Starts listening on `addr`, which must be a loopback address (port 0 for any free one);
    /// any other address is refused with [`io::ErrorKind::InvalidInput`].
    pub async fn start_on(addr: SocketAddr, options: ServerOptions) -> io::Result<Self> {
        if !addr.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{addr} is not a loopback address"),
            ));
        }
        let cert::Certificates {
            acceptor,
            ca_pem,
            client,
        } = cert::tls_acceptor(&options.certificate_name, options.client_certificates)
            .map_err(io::Error::other)?;
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new(Shared {
            options,
            acceptor,
            received: received.clone(),
            connections: connections.clone(),
            counter: AtomicU64::new(0),
            open: AtomicUsize::new(0),
            rates: Mutex::new(limits::Rates::default()),
            stats: Arc::default(),
        });
        let stats = shared.stats.clone();
        let accepting = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let counter = &accepting.stats.connections;
                let number = counter.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::spawn(conn::serve(accepting.clone(), tcp, number));
            }
        });
        Ok(Self {
            addr,
            ca_pem,
            client,
            received,
            connections,
            stats,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The PEM of the CA that signed its certificate: trust it to verify the server.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// With [`ServerOptions::client_certificates`], a client certificate the server accepts
    /// and its private key (PKCS #8), both as PEM: `(certificate, key)`.
    pub fn client_certificate_pem(&self) -> Option<(&str, &str)> {
        self.client.as_ref().map(|(c, k)| (c.as_str(), k.as_str()))
    }

    /// The messages accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The connections that have ended, in the order they ended.
    pub fn connections(&self) -> Vec<ConnectionRecord> {
        self.connections
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// How many connections it has accepted so far.
    pub fn accepted_connections(&self) -> usize {
        self.stats.connections.load(Ordering::SeqCst)
    }

    /// What it has counted so far: messages accepted and throttled, sessions ended by the
    /// per-session cap, connections refused, the most connections open at once.
    pub fn stats(&self) -> Stats {
        self.stats.snapshot()
    }
}

fn store(
    shared: &Shared,
    txn: dialogue::Transaction,
    data: Vec<u8>,
    tls: bool,
    user: &Option<String>,
) -> String {
    let n = shared.counter.fetch_add(1, Ordering::Relaxed);
    let id = shared.options.personality.message_id(n);
    limits::Counters::add(&shared.stats.accepted);
    let message = Received {
        id: id.clone(),
        from: txn.from.unwrap_or_default(),
        to: txn.to,
        data,
        tls,
        user: user.clone(),
    };
    if let Ok(mut received) = shared.received.lock() {
        received.push(message);
    }
    id
}

/// Compiles and runs the examples of this crate's README as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctests;

//! A scripted SMTP server for tests and demonstrations (cargo feature `test-server`).
//!
//! It speaks enough SMTP to exercise a client for real: STARTTLS or implicit TLS with a
//! certificate generated at start (a CA and a `localhost`/`127.0.0.1` certificate it signed),
//! AUTH PLAIN and LOGIN (only over TLS), PIPELINING, CHUNKING, SIZE, and Amazon-SES-like
//! `250 Ok <message id>` replies. Recipients whose local part starts with `reject` are refused
//! with `550`, `tempfail` with `450`. It listens on 127.0.0.1 only.

mod cert;
mod conn;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// What the server offers.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// TLS from the first byte (port 465 style) instead of plaintext with STARTTLS.
    pub implicit_tls: bool,
    /// Offer STARTTLS on plaintext connections.
    pub starttls: bool,
    /// Require AUTH with this user and password (offered only over TLS).
    pub auth: Option<(String, String)>,
    /// Offer PIPELINING.
    pub pipelining: bool,
    /// Offer CHUNKING (BDAT).
    pub chunking: bool,
    /// Advertise SIZE with this limit.
    pub size: u64,
    /// The DNS name the certificate is issued for (it also covers 127.0.0.1). Another name than
    /// the one the client dials makes the handshake fail (SECURITY.md G5).
    pub certificate_name: String,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            implicit_tls: false,
            starttls: true,
            auth: Some(("demo".into(), "demo-password".into())),
            pipelining: true,
            chunking: true,
            size: 35 * 1024 * 1024,
            certificate_name: "localhost".into(),
        }
    }
}

/// A message the server accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    received: Arc<Mutex<Vec<Received>>>,
    connections: Arc<Mutex<Vec<ConnectionRecord>>>,
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
}

impl TestServer {
    /// Starts listening on an ephemeral port of 127.0.0.1.
    pub async fn start(options: ServerOptions) -> io::Result<Self> {
        let (acceptor, ca_pem) =
            cert::tls_acceptor(&options.certificate_name).map_err(io::Error::other)?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new(Shared {
            options,
            acceptor,
            received: received.clone(),
            connections: connections.clone(),
            counter: AtomicU64::new(0),
        });
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    conn::serve(shared, Box::new(tcp)).await;
                });
            }
        });
        Ok(Self {
            addr,
            ca_pem,
            received,
            connections,
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
}

fn store(
    shared: &Shared,
    txn: conn::Transaction,
    data: Vec<u8>,
    tls: bool,
    user: &Option<String>,
) -> String {
    let n = shared.counter.fetch_add(1, Ordering::Relaxed);
    let id = format!("0100019a{n:08x}-test-000000");
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

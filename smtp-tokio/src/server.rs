//! A scripted SMTP server for tests and demonstrations (cargo feature `test-server`).
//!
//! It speaks enough SMTP to exercise a client for real: STARTTLS or implicit TLS with a
//! certificate generated at start (a CA and a `localhost`/`127.0.0.1` certificate it signed),
//! AUTH PLAIN and LOGIN (only over TLS), PIPELINING, CHUNKING, SIZE, and Amazon-SES-like
//! `250 Ok <message id>` replies. Recipients whose local part starts with `reject` are refused
//! with `550`, `tempfail` with `450`. It listens on 127.0.0.1 only.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, SanType,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use smtp_proto::wire::base64;

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

/// A running server. Stops when dropped.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    ca_pem: String,
    received: Arc<Mutex<Vec<Received>>>,
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
    counter: AtomicU64,
}

impl TestServer {
    /// Starts listening on an ephemeral port of 127.0.0.1.
    pub async fn start(options: ServerOptions) -> io::Result<Self> {
        let (acceptor, ca_pem) = tls_acceptor().map_err(io::Error::other)?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new(Shared {
            options,
            acceptor,
            received: received.clone(),
            counter: AtomicU64::new(0),
        });
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    let _ = serve(shared, Box::new(tcp)).await;
                });
            }
        });
        Ok(Self {
            addr,
            ca_pem,
            received,
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
}

fn tls_acceptor() -> Result<(TlsAcceptor, String), Box<dyn std::error::Error + Send + Sync>> {
    // Distinct names: OpenSSL takes a certificate whose subject equals its issuer for
    // self-signed.
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name = DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "smtp-tokio test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    let chain = vec![CertificateDer::from(cert.der().to_vec())];
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, private)?;
    Ok((TlsAcceptor::from(Arc::new(config)), ca_cert.pem()))
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

struct Conn {
    io: Box<dyn Io>,
    buf: Vec<u8>,
}

impl Conn {
    async fn line(&mut self) -> io::Result<Option<String>> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..end + 2).take(end).collect();
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            if self.buf.len() > 64 * 1024 || !self.fill().await? {
                return Ok(None);
            }
        }
    }

    async fn exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    async fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.io.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    async fn reply(&mut self, text: &str) -> io::Result<()> {
        self.io.write_all(text.as_bytes()).await?;
        self.io.write_all(b"\r\n").await?;
        // TLS keeps written data in its buffer until flushed.
        self.io.flush().await
    }
}

#[derive(Default)]
struct Transaction {
    from: Option<String>,
    to: Vec<String>,
    chunks: Vec<u8>,
}

fn path(argument: &str) -> String {
    let start = argument.find('<').map_or(0, |i| i + 1);
    let end = argument[start..]
        .find('>')
        .map_or(argument.len(), |i| start + i);
    argument[start..end].to_string()
}

async fn serve(shared: Arc<Shared>, tcp: Box<dyn Io>) -> io::Result<()> {
    let options = &shared.options;
    let mut tls = options.implicit_tls;
    let io: Box<dyn Io> = if tls {
        Box::new(shared.acceptor.accept(tcp).await?)
    } else {
        tcp
    };
    let mut conn = Conn {
        io,
        buf: Vec::new(),
    };
    let mut user: Option<String> = None;
    let mut txn = Transaction::default();
    conn.reply("220 localhost ESMTP smtp-tokio test server")
        .await?;
    while let Some(line) = conn.line().await? {
        let (verb, argument) = line.split_once(' ').unwrap_or((&line, ""));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                let mut lines = vec!["localhost".to_string(), format!("SIZE {}", options.size)];
                lines.extend(["8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"].map(String::from));
                if options.pipelining {
                    lines.push("PIPELINING".into());
                }
                if options.chunking {
                    lines.push("CHUNKING".into());
                }
                if !tls && options.starttls {
                    lines.push("STARTTLS".into());
                }
                if tls && options.auth.is_some() {
                    lines.push("AUTH PLAIN LOGIN".into());
                }
                let last = lines.len() - 1;
                let text: Vec<String> = lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| format!("250{}{l}", if i == last { ' ' } else { '-' }))
                    .collect();
                conn.reply(&text.join("\r\n")).await?;
            }
            "HELO" => conn.reply("250 localhost").await?,
            "STARTTLS" if !tls && options.starttls => {
                conn.reply("220 2.0.0 Ready to start TLS").await?;
                // Nothing sent before the handshake may be acted on after it (RFC 3207 §4.2).
                conn.buf.clear();
                let plain = std::mem::replace(&mut conn.io, Box::new(tokio::io::duplex(1).0));
                conn.io = Box::new(shared.acceptor.accept(plain).await?);
                tls = true;
                user = None;
                txn = Transaction::default();
            }
            "AUTH" if !tls => conn.reply("538 5.7.11 Encryption required").await?,
            "AUTH" => {
                let (mechanism, initial) = argument.split_once(' ').unwrap_or((argument, ""));
                let credentials = match mechanism.to_ascii_uppercase().as_str() {
                    "PLAIN" => {
                        let response = if initial.is_empty() {
                            conn.reply("334 ").await?;
                            conn.line().await?.unwrap_or_default()
                        } else {
                            initial.to_string()
                        };
                        base64::decode(response.as_bytes()).and_then(|plain| {
                            let mut fields = plain.split(|&b| b == 0).skip(1);
                            Some((fields.next()?.to_vec(), fields.next()?.to_vec()))
                        })
                    }
                    "LOGIN" => {
                        conn.reply("334 VXNlcm5hbWU6").await?;
                        let name = conn.line().await?.unwrap_or_default();
                        conn.reply("334 UGFzc3dvcmQ6").await?;
                        let password = conn.line().await?.unwrap_or_default();
                        base64::decode(name.as_bytes()).zip(base64::decode(password.as_bytes()))
                    }
                    _ => {
                        conn.reply("504 5.5.4 Unrecognized authentication type")
                            .await?;
                        continue;
                    }
                };
                let expected = options
                    .auth
                    .as_ref()
                    .map(|(u, p)| (u.as_bytes().to_vec(), p.as_bytes().to_vec()));
                if credentials.is_some() && credentials == expected {
                    user = options.auth.as_ref().map(|(u, _)| u.clone());
                    conn.reply("235 2.7.0 Authentication successful").await?;
                } else {
                    conn.reply("535 5.7.8 Authentication credentials invalid")
                        .await?;
                }
            }
            "MAIL" if options.auth.is_some() && user.is_none() => {
                conn.reply("530 5.7.0 Authentication required").await?;
            }
            "MAIL" => {
                txn = Transaction {
                    from: Some(path(argument)),
                    ..Transaction::default()
                };
                conn.reply("250 2.1.0 Ok").await?;
            }
            "RCPT" if txn.from.is_none() => {
                conn.reply("503 5.5.1 Error: need MAIL command").await?
            }
            "RCPT" => {
                let to = path(argument);
                if to.starts_with("reject") {
                    conn.reply("550 5.1.1 Recipient address rejected: User unknown")
                        .await?;
                } else if to.starts_with("tempfail") {
                    conn.reply("450 4.2.0 Recipient address rejected: try again later")
                        .await?;
                } else {
                    txn.to.push(to);
                    conn.reply("250 2.1.5 Ok").await?;
                }
            }
            "DATA" if txn.to.is_empty() => {
                conn.reply("554 5.5.1 Error: no valid recipients").await?
            }
            "DATA" => {
                conn.reply("354 End data with <CR><LF>.<CR><LF>").await?;
                let mut data = Vec::new();
                while let Some(line) = conn.line().await? {
                    if line == "." {
                        break;
                    }
                    data.extend_from_slice(line.strip_prefix('.').unwrap_or(&line).as_bytes());
                    data.extend_from_slice(b"\r\n");
                }
                let id = store(&shared, std::mem::take(&mut txn), data, tls, &user);
                conn.reply(&format!("250 Ok {id}")).await?;
            }
            "BDAT" => {
                let mut words = argument.split_ascii_whitespace();
                let size: usize = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                let last = words.next().is_some_and(|w| w.eq_ignore_ascii_case("LAST"));
                let chunk = conn.exact(size).await?;
                if txn.to.is_empty() {
                    conn.reply("503 5.5.1 Error: no valid recipients").await?;
                    continue;
                }
                txn.chunks.extend_from_slice(&chunk);
                if last {
                    let data = std::mem::take(&mut txn.chunks);
                    let id = store(&shared, std::mem::take(&mut txn), data, tls, &user);
                    conn.reply(&format!("250 Ok {id}")).await?;
                } else {
                    conn.reply(&format!("250 2.0.0 {size} octets received"))
                        .await?;
                }
            }
            "RSET" => {
                txn = Transaction::default();
                conn.reply("250 2.0.0 Ok").await?;
            }
            "NOOP" => conn.reply("250 2.0.0 Ok").await?,
            "QUIT" => {
                conn.reply("221 2.0.0 Bye").await?;
                break;
            }
            _ => {
                conn.reply("502 5.5.2 Error: command not recognized")
                    .await?
            }
        }
    }
    let _ = conn.io.shutdown().await;
    Ok(())
}

fn store(
    shared: &Shared,
    txn: Transaction,
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

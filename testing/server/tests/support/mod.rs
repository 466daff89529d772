//! A raw SMTP client for the SES-mode tests: commands written by hand, replies read back as
//! text with the time they arrived, STARTTLS by rustls trusting the server's CA.

#![allow(dead_code, unreachable_pub)]

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use smtp_test_server::{Limits, ServerOptions, TestServer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// How long a test waits for anything before it fails instead of hanging.
const HANG: Duration = Duration::from_secs(20);

/// `AUTH PLAIN` with the default user `demo` and password `demo-password`.
pub const AUTH_PLAIN: &str = "AUTH PLAIN AGRlbW8AZGVtby1wYXNzd29yZA==\r\n";

/// The SES personality in plaintext without AUTH, with these limits.
pub fn plain_ses(limits: Limits) -> ServerOptions {
    ServerOptions {
        starttls: false,
        auth: None,
        limits,
        ..ServerOptions::ses()
    }
}

pub async fn start(options: ServerOptions) -> TestServer {
    TestServer::start(options).await.expect("server starts")
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A client connection that writes text and reads replies.
pub struct Peer {
    stream: Box<dyn Stream>,
    buf: Vec<u8>,
    /// When the connection was opened.
    pub opened: Instant,
}

impl Peer {
    pub async fn connect(server: &TestServer) -> Self {
        let opened = Instant::now();
        let stream = TcpStream::connect(server.addr()).await.expect("connects");
        Self {
            stream: Box::new(stream),
            buf: Vec::new(),
            opened,
        }
    }

    /// Runs the TLS handshake on this connection (after `220` to STARTTLS), trusting the CA.
    pub async fn upgrade(&mut self, server: &TestServer) {
        let ca = CertificateDer::from_pem_slice(server.ca_pem().as_bytes()).expect("a PEM");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).expect("a CA");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let plain = std::mem::replace(&mut self.stream, Box::new(tokio::io::duplex(1).0));
        let name = ServerName::try_from("localhost").expect("a name");
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let stream = connector.connect(name, plain).await.expect("handshake");
        self.stream = Box::new(stream);
    }

    pub async fn send(&mut self, text: impl AsRef<[u8]>) {
        self.stream.write_all(text.as_ref()).await.expect("writes");
    }

    /// One whole reply, its lines with their CRLFs.
    pub async fn reply(&mut self) -> String {
        self.timed_reply().await.0
    }

    /// One whole reply, and when its last line arrived.
    pub async fn timed_reply(&mut self) -> (String, Instant) {
        let mut reply = String::new();
        loop {
            while !self.buf.windows(2).any(|w| w == b"\r\n") {
                let mut chunk = [0u8; 4096];
                let read = timeout(HANG, self.stream.read(&mut chunk)).await;
                let n = read.expect("a reply").expect("reads");
                assert!(n > 0, "the connection ended after {reply:?}");
                self.buf.extend_from_slice(&chunk[..n]);
            }
            let end = self.buf.windows(2).position(|w| w == b"\r\n").unwrap_or(0) + 2;
            let line: Vec<u8> = self.buf.drain(..end).collect();
            reply.push_str(&String::from_utf8_lossy(&line));
            if line.get(3) != Some(&b'-') {
                return (reply, Instant::now());
            }
        }
    }

    /// Sends `command` and returns the reply.
    pub async fn ask(&mut self, command: &str) -> String {
        self.send(command).await;
        self.reply().await
    }

    /// Everything until the end of the stream, or the error that ended it.
    pub async fn rest(&mut self) -> io::Result<Vec<u8>> {
        let mut rest = std::mem::take(&mut self.buf);
        let read = timeout(HANG, self.stream.read_to_end(&mut rest)).await;
        read.expect("the connection ends")?;
        Ok(rest)
    }

    /// Reads the greeting and says EHLO, on a plaintext session without AUTH.
    pub async fn hello(&mut self) {
        assert!(
            self.reply()
                .await
                .starts_with("220 email-smtp.amazonaws.com ESMTP ")
        );
        let ehlo = self.ask("EHLO client.example\r\n").await;
        assert!(ehlo.ends_with("250 Ok\r\n"), "{ehlo}");
    }

    /// Opens a transaction for `recipients` recipients and sends DATA, up to its `354`.
    pub async fn open_data(&mut self, recipients: usize) {
        assert_eq!(
            self.ask("MAIL FROM:<sender@example.com>\r\n").await,
            "250 Ok\r\n"
        );
        for i in 0..recipients {
            let rcpt = format!("RCPT TO:<r{i}@example.net>\r\n");
            assert_eq!(self.ask(&rcpt).await, "250 Ok\r\n");
        }
        assert_eq!(
            self.ask("DATA\r\n").await,
            "354 End data with <CR><LF>.<CR><LF>\r\n"
        );
    }

    /// Sends the message `body` (one line, no leading dot) and its final dot; the reply.
    pub async fn finish_data(&mut self, body: &str) -> String {
        self.ask(&format!("Subject: {body}\r\n\r\n{body}\r\n.\r\n"))
            .await
    }

    /// A whole message to `recipients` recipients; the reply to its end of data.
    pub async fn message(&mut self, recipients: usize, body: &str) -> String {
        self.open_data(recipients).await;
        self.finish_data(body).await
    }
}

/// The message whose body is `body` (as [`Peer::finish_data`] sent it), if it was stored.
pub fn stored(server: &TestServer, body: &str) -> bool {
    let data = format!("Subject: {body}\r\n\r\n{body}\r\n").into_bytes();
    server.received().iter().any(|m| m.data == data)
}

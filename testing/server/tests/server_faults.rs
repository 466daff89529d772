//! The test server's deliberate faults and Postfix-like replies, seen over raw TCP: commands
//! written by hand, replies and connection ends read back as bytes.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use smtp_test_server::{Fault, FaultAction, FaultPoint, ServerOptions, TestServer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(5);
/// A scripted reply that claims success: a multi-line reply whose lines disagree (`250`, then
/// `354`).
const HOSTILE: &str = "250-2.1.0 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n";
/// A scripted refusal, as two replies where one is due.
const REFUSAL: &str = "554 5.7.1 Scripted refusal\r\n250 2.0.0 Ok\r\n";
const ACTIONS: [FaultAction; 6] = [
    FaultAction::Reply421,
    FaultAction::Malformed,
    FaultAction::Eof,
    FaultAction::Reset,
    FaultAction::Reply(HOSTILE),
    FaultAction::Reply(REFUSAL),
];

/// Whether a fault doing `action` at the end of the data stores the message first.
fn stores(action: FaultAction) -> bool {
    match action {
        FaultAction::Reply421 => false,
        FaultAction::Reply(bytes) => bytes.starts_with('2'),
        _ => true,
    }
}

async fn server(fault: Option<Fault>) -> TestServer {
    TestServer::start(ServerOptions {
        starttls: false,
        auth: None,
        fault,
        ..Default::default()
    })
    .await
    .expect("server starts")
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A client connection that writes text and reads replies.
struct Peer {
    stream: Box<dyn Stream>,
    buf: Vec<u8>,
}

impl Peer {
    async fn connect(server: &TestServer) -> Self {
        let stream = TcpStream::connect(server.addr()).await.expect("connects");
        Self {
            stream: Box::new(stream),
            buf: Vec::new(),
        }
    }

    /// Connects with TLS from the first byte, trusting the server's CA.
    async fn connect_tls(server: &TestServer) -> Self {
        let ca = CertificateDer::from_pem_slice(server.ca_pem().as_bytes()).expect("a PEM");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).expect("a CA");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = TcpStream::connect(server.addr()).await.expect("connects");
        let name = ServerName::try_from("localhost").expect("a name");
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let stream = connector.connect(name, tcp).await.expect("handshake");
        Self {
            stream: Box::new(stream),
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, text: impl AsRef<[u8]>) {
        self.stream.write_all(text.as_ref()).await.expect("writes");
    }

    /// One whole reply, its lines with their CRLFs.
    async fn reply(&mut self) -> String {
        let mut reply = String::new();
        loop {
            while !self.buf.windows(2).any(|w| w == b"\r\n") {
                let mut chunk = [0u8; 4096];
                let read = timeout(LIMIT, self.stream.read(&mut chunk)).await;
                let n = read.expect("a reply in time").expect("reads");
                assert!(n > 0, "the connection ended after {reply:?}");
                self.buf.extend_from_slice(&chunk[..n]);
            }
            let end = self.buf.windows(2).position(|w| w == b"\r\n").unwrap_or(0) + 2;
            let line: Vec<u8> = self.buf.drain(..end).collect();
            reply.push_str(&String::from_utf8_lossy(&line));
            if line.get(3) != Some(&b'-') {
                return reply;
            }
        }
    }

    /// Everything until the end of the stream, or the error that ended it.
    async fn rest(&mut self) -> io::Result<Vec<u8>> {
        let mut rest = std::mem::take(&mut self.buf);
        let read = timeout(LIMIT, self.stream.read_to_end(&mut rest)).await;
        read.expect("the connection ends in time")?;
        Ok(rest)
    }
}

/// Checks how the connection ends after a fault doing `action`.
async fn expect_end(peer: &mut Peer, action: FaultAction) {
    let rest = peer.rest().await;
    match action {
        FaultAction::Reply421 => assert_eq!(
            rest.expect("a clean close"),
            b"421 4.4.2 localhost closing transmission channel\r\n"
        ),
        FaultAction::Malformed => assert_eq!(rest.expect("a clean close"), b"2x0 garbled\r\n"),
        FaultAction::Eof => assert_eq!(rest.expect("a clean close"), b""),
        FaultAction::Reset => {
            let error = rest.expect_err("a reset");
            assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "{error}");
        }
        FaultAction::Reply(bytes) => assert_eq!(rest.expect("a clean close"), bytes.as_bytes()),
        other => panic!("no check for {other:?}"),
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Body {
    Data,
    Bdat,
}

/// One command of a scripted session: where a fault would replace its reply (the point and
/// the message, 0 for any), what the client sends, and how the healthy reply starts.
struct Step {
    at: Option<(FaultPoint, usize)>,
    send: Vec<u8>,
    expect: &'static str,
}

fn step(at: Option<(FaultPoint, usize)>, send: impl Into<Vec<u8>>, expect: &'static str) -> Step {
    let send = send.into();
    Step { at, send, expect }
}

/// Message `m` as the server stores it.
fn content(m: usize) -> Vec<u8> {
    format!("Subject: {m}\r\n\r\n.leading dot\r\n").into_bytes()
}

/// A session sending two messages, each to two recipients, then QUIT.
fn script(body: Body) -> Vec<Step> {
    use FaultPoint::*;
    let mut steps = vec![
        step(Some((Greeting, 0)), "", "220 localhost"),
        step(
            Some((Ehlo, 0)),
            "EHLO client.example\r\n",
            "250-localhost\r\n",
        ),
    ];
    for m in 1..=2 {
        steps.push(step(
            Some((Mail, m)),
            "MAIL FROM:<a@example.com>\r\n",
            "250 2.1.0 Ok\r\n",
        ));
        steps.push(step(
            Some((Rcpt, m)),
            "RCPT TO:<b@example.net>\r\n",
            "250 2.1.5 Ok\r\n",
        ));
        steps.push(step(
            None,
            "RCPT TO:<c@example.net>\r\n",
            "250 2.1.5 Ok\r\n",
        ));
        let content = content(m);
        match body {
            Body::Data => {
                steps.push(step(Some((Data, m)), "DATA\r\n", "354 "));
                let stuffed = String::from_utf8_lossy(&content).replace("\n.", "\n..");
                steps.push(step(Some((DataEnd, m)), stuffed + ".\r\n", "250 Ok "));
            }
            Body::Bdat => {
                let (first, last) = content.split_at(5);
                let mut chunk = b"BDAT 5\r\n".to_vec();
                chunk.extend_from_slice(first);
                steps.push(step(
                    Some((Bdat, m)),
                    chunk,
                    "250 2.0.0 5 octets received\r\n",
                ));
                let mut chunk = format!("BDAT {} LAST\r\n", last.len()).into_bytes();
                chunk.extend_from_slice(last);
                steps.push(step(Some((DataEnd, m)), chunk, "250 Ok "));
            }
        }
    }
    steps.push(step(None, "QUIT\r\n", "221 2.0.0 Bye\r\n"));
    steps
}

/// Runs the script on one connection up to the fault (or to the end without one); returns
/// whether the fault struck.
async fn run_script(peer: &mut Peer, body: Body, fault: Option<Fault>) -> bool {
    for step in script(body) {
        peer.send(&step.send).await;
        let struck = fault.is_some_and(|f| {
            step.at
                .is_some_and(|(at, m)| at == f.at && (m == 0 || m == f.message))
        });
        if let (true, Some(fault)) = (struck, fault) {
            expect_end(peer, fault.action).await;
            return true;
        }
        let reply = peer.reply().await;
        assert!(
            reply.starts_with(step.expect),
            "{reply:?} for {:?}",
            step.send
        );
    }
    assert_eq!(peer.rest().await.expect("a clean close"), b"");
    false
}

/// The fault on the first connection, then a healthy second connection.
async fn check(fault: Fault, body: Body) {
    let context = format!("{fault:?} with {body:?}");
    let server = server(Some(fault)).await;
    let mut peer = Peer::connect(&server).await;
    assert!(run_script(&mut peer, body, Some(fault)).await, "{context}");
    let before = match fault.at {
        FaultPoint::Greeting | FaultPoint::Ehlo => 0,
        _ => fault.message - 1,
    };
    let stored = usize::from(fault.at == FaultPoint::DataEnd && stores(fault.action));
    let received = server.received();
    assert_eq!(received.len(), before + stored, "{context}");
    for (i, message) in received.iter().enumerate() {
        assert_eq!(message.data, content(i + 1), "{context}");
        assert_eq!(message.to, ["b@example.net", "c@example.net"], "{context}");
    }
    assert_eq!(server.connections().len(), 1, "{context}");

    let mut peer = Peer::connect(&server).await;
    assert!(!run_script(&mut peer, body, None).await, "{context}");
    assert_eq!(server.received().len(), before + stored + 2, "{context}");
    assert_eq!(server.accepted_connections(), 2, "{context}");
}

async fn matrix(at: FaultPoint, bodies: &[Body]) {
    for &body in bodies {
        for action in ACTIONS {
            for message in [1, 2] {
                check(Fault::new(at, action).on_message(message), body).await;
            }
        }
    }
}

#[tokio::test]
async fn greeting_faults() {
    matrix(FaultPoint::Greeting, &[Body::Data, Body::Bdat]).await;
}

#[tokio::test]
async fn ehlo_faults() {
    matrix(FaultPoint::Ehlo, &[Body::Data, Body::Bdat]).await;
}

#[tokio::test]
async fn mail_faults() {
    matrix(FaultPoint::Mail, &[Body::Data, Body::Bdat]).await;
}

#[tokio::test]
async fn rcpt_faults() {
    matrix(FaultPoint::Rcpt, &[Body::Data, Body::Bdat]).await;
}

#[tokio::test]
async fn data_faults() {
    matrix(FaultPoint::Data, &[Body::Data]).await;
}

#[tokio::test]
async fn data_end_faults() {
    matrix(FaultPoint::DataEnd, &[Body::Data, Body::Bdat]).await;
}

#[tokio::test]
async fn bdat_faults() {
    matrix(FaultPoint::Bdat, &[Body::Bdat]).await;
}

#[tokio::test]
async fn a_point_the_session_never_reaches_changes_nothing() {
    for (at, body) in [
        (FaultPoint::Bdat, Body::Data),
        (FaultPoint::Data, Body::Bdat),
    ] {
        let server = server(Some(Fault::new(at, FaultAction::Eof))).await;
        let mut peer = Peer::connect(&server).await;
        assert!(!run_script(&mut peer, body, None).await);
        assert_eq!(server.received().len(), 2);
    }
    let fault = Fault::new(FaultPoint::Mail, FaultAction::Eof).on_message(3);
    let server = server(Some(fault)).await;
    let mut peer = Peer::connect(&server).await;
    assert!(!run_script(&mut peer, Body::Data, None).await);
}

#[tokio::test]
async fn faults_hit_only_the_first_connections() {
    let fault = Fault::new(FaultPoint::Greeting, FaultAction::Reply421).on_connections(2);
    let server = server(Some(fault)).await;
    for _ in 0..2 {
        let mut peer = Peer::connect(&server).await;
        expect_end(&mut peer, FaultAction::Reply421).await;
    }
    let mut peer = Peer::connect(&server).await;
    assert!(!run_script(&mut peer, Body::Data, None).await);
    assert_eq!(server.accepted_connections(), 3);
    assert_eq!(server.received().len(), 2);
}

#[tokio::test]
async fn data_end_eof_stores_the_message_and_421_does_not() {
    for body in [Body::Data, Body::Bdat] {
        for (action, stored) in [(FaultAction::Eof, 1), (FaultAction::Reply421, 0)] {
            let fault = Fault::new(FaultPoint::DataEnd, action);
            let server = server(Some(fault)).await;
            let mut peer = Peer::connect(&server).await;
            assert!(run_script(&mut peer, body, Some(fault)).await);
            assert_eq!(server.received().len(), stored, "{action:?} with {body:?}");
        }
    }
}

#[tokio::test]
async fn a_scripted_reply_is_sent_as_given_and_stores_only_a_claimed_success() {
    for (reply, stored) in [
        ("250 2.0.0 Ok: queued as scripted\r\n", 1),
        ("250-2.0.0 Ok\r\n554 5.7.1 changed my mind\r\n", 1),
        ("550 5.7.1 Scripted refusal\r\n", 0),
        ("451 4.3.0 no final CRLF", 0),
        ("", 0),
    ] {
        for body in [Body::Data, Body::Bdat] {
            let fault = Fault::new(FaultPoint::DataEnd, FaultAction::Reply(reply));
            let server = server(Some(fault)).await;
            let mut peer = Peer::connect(&server).await;
            assert!(run_script(&mut peer, body, Some(fault)).await);
            assert_eq!(server.received().len(), stored, "{reply:?} with {body:?}");
        }
    }
}

#[tokio::test]
async fn a_scripted_greeting_replaces_the_220() {
    let greeting = "220-localhost ESMTP\r\n554 5.3.2 not today\r\n";
    let fault = Fault::new(FaultPoint::Greeting, FaultAction::Reply(greeting));
    let server = server(Some(fault)).await;
    let mut peer = Peer::connect(&server).await;
    assert_eq!(
        peer.rest().await.expect("a clean close"),
        greeting.as_bytes()
    );
    let mut peer = Peer::connect(&server).await;
    assert!(peer.reply().await.starts_with("220 localhost"));
}

/// A session up to an accepted MAIL and recipient.
async fn open_transaction(peer: &mut Peer) {
    assert!(peer.reply().await.starts_with("220 "));
    peer.send("EHLO client.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\n")
        .await;
    assert!(peer.reply().await.starts_with("250-localhost"));
    assert_eq!(peer.reply().await, "250 2.1.0 Ok\r\n");
    assert_eq!(peer.reply().await, "250 2.1.5 Ok\r\n");
}

#[tokio::test]
async fn a_bdat_fault_on_a_single_last_chunk_acts_at_the_end_of_data() {
    for (action, stored) in [(FaultAction::Reset, 1), (FaultAction::Reply421, 0)] {
        let server = server(Some(Fault::new(FaultPoint::Bdat, action))).await;
        let mut peer = Peer::connect(&server).await;
        open_transaction(&mut peer).await;
        peer.send("BDAT 4 LAST\r\nHi\r\n").await;
        expect_end(&mut peer, action).await;
        assert_eq!(server.received().len(), stored, "{action:?}");
    }
}

#[tokio::test]
async fn pipelined_commands_do_not_turn_a_clean_close_into_a_reset() {
    for action in ACTIONS {
        let server = server(Some(Fault::new(FaultPoint::Rcpt, action))).await;
        let mut peer = Peer::connect(&server).await;
        assert!(peer.reply().await.starts_with("220 "));
        peer.send("EHLO client.example\r\n").await;
        assert!(peer.reply().await.starts_with("250-localhost"));
        peer.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\n")
            .await;
        // More of the group arrives after the server has met the fault.
        tokio::time::sleep(Duration::from_millis(20)).await;
        peer.send("RCPT TO:<c@example.net>\r\nDATA\r\n").await;
        assert_eq!(peer.reply().await, "250 2.1.0 Ok\r\n");
        expect_end(&mut peer, action).await;
        assert_eq!(server.connections().len(), 1);
    }
}

#[tokio::test]
async fn nested_mail_is_refused_until_the_transaction_ends() {
    let server = server(None).await;
    let mut peer = Peer::connect(&server).await;
    open_transaction(&mut peer).await;
    peer.send("MAIL FROM:<a@example.com>\r\n").await;
    assert_eq!(
        peer.reply().await,
        "503 5.5.1 Error: nested MAIL command\r\n"
    );
    peer.send("RSET\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\n")
        .await;
    assert_eq!(peer.reply().await, "250 2.0.0 Ok\r\n");
    assert_eq!(peer.reply().await, "250 2.1.0 Ok\r\n");
    assert_eq!(peer.reply().await, "250 2.1.5 Ok\r\n");
    peer.send("BDAT 4 LAST\r\nHi\r\nMAIL FROM:<a@example.com>\r\n")
        .await;
    assert!(peer.reply().await.starts_with("250 Ok "));
    assert_eq!(peer.reply().await, "250 2.1.0 Ok\r\n");
}

#[tokio::test]
async fn a_refused_sender_opens_no_transaction() {
    for (sender, reply) in [
        (
            "tempfail@example.com",
            "451 4.3.0 Temporary failure: try again later\r\n",
        ),
        ("reject@example.com", "550 5.7.1 Sender rejected\r\n"),
    ] {
        let server = server(None).await;
        let mut peer = Peer::connect(&server).await;
        assert!(peer.reply().await.starts_with("220 "));
        peer.send(format!(
            "EHLO client.example\r\nMAIL FROM:<{sender}>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
        ))
        .await;
        assert!(peer.reply().await.starts_with("250-localhost"));
        assert_eq!(peer.reply().await, reply);
        assert_eq!(peer.reply().await, "503 5.5.1 Error: need MAIL command\r\n");
        assert_eq!(peer.reply().await, "503 5.5.1 Error: need RCPT command\r\n");
        peer.send("MAIL FROM:<a@example.com>\r\n").await;
        assert_eq!(peer.reply().await, "250 2.1.0 Ok\r\n");
    }
}

#[tokio::test]
async fn no_valid_recipients() {
    let server = server(None).await;
    let mut peer = Peer::connect(&server).await;
    assert!(peer.reply().await.starts_with("220 "));
    peer.send("EHLO client.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<reject@example.net>\r\nDATA\r\n")
        .await;
    assert!(peer.reply().await.starts_with("250-localhost"));
    assert_eq!(peer.reply().await, "250 2.1.0 Ok\r\n");
    assert!(peer.reply().await.starts_with("550 5.1.1 "));
    assert_eq!(
        peer.reply().await,
        "554 5.5.1 Error: no valid recipients\r\n"
    );
    // BDAT chunks are read and refused, and the transaction stays open until RSET.
    peer.send("BDAT 5\r\nHelloBDAT 2 LAST\r\n!!MAIL FROM:<a@example.com>\r\n")
        .await;
    assert_eq!(
        peer.reply().await,
        "554 5.5.1 Error: no valid recipients\r\n"
    );
    assert_eq!(
        peer.reply().await,
        "554 5.5.1 Error: no valid recipients\r\n"
    );
    assert_eq!(
        peer.reply().await,
        "503 5.5.1 Error: nested MAIL command\r\n"
    );
    peer.send("RSET\r\nMAIL FROM:<a@example.com>\r\n").await;
    assert_eq!(peer.reply().await, "250 2.0.0 Ok\r\n");
    assert_eq!(peer.reply().await, "250 2.1.0 Ok\r\n");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn faults_over_implicit_tls() {
    for (at, action) in [
        (FaultPoint::Greeting, FaultAction::Reply421),
        (FaultPoint::Mail, FaultAction::Eof),
        (FaultPoint::Mail, FaultAction::Reset),
        (FaultPoint::Mail, FaultAction::Reply(HOSTILE)),
    ] {
        let server = TestServer::start(ServerOptions {
            implicit_tls: true,
            auth: None,
            fault: Some(Fault::new(at, action)),
            ..Default::default()
        })
        .await
        .expect("server starts");
        let mut peer = Peer::connect_tls(&server).await;
        if at == FaultPoint::Mail {
            assert!(peer.reply().await.starts_with("220 "));
            peer.send("EHLO client.example\r\nMAIL FROM:<a@example.com>\r\n")
                .await;
            assert!(peer.reply().await.starts_with("250-localhost"));
        }
        expect_end(&mut peer, action).await;
        let connections = server.connections();
        assert_eq!(connections.len(), 1);
        assert!(connections[0].tls && !connections[0].close_notify);
    }
}

//! The adapter against the embedded test server, over real sockets and real TLS.

use std::time::Duration;

use smtp_test_server::{ConnectionRecord, ServerOptions, TestServer};
use smtp_tokio::smtp_sansio::{
    ClientId, Credentials, Envelope, Mailbox, Outcome, StreamedBody, Timeouts, TlsMode,
};
use smtp_tokio::{Endpoint, Error, Options, connect, connect_over};

fn options(server: &TestServer, mode: TlsMode) -> Options {
    let endpoint = Endpoint::with_mode("localhost", server.addr().port(), mode);
    let mut options = Options::new(endpoint, ClientId::parse("client.example").expect("valid"));
    options
        .tls
        .add_ca_pem(server.ca_pem().as_bytes())
        .expect("the server's CA");
    options.config.credentials =
        Some(Credentials::password("demo", "demo-password").expect("valid"));
    options.config.timeouts = Timeouts::uniform(Duration::from_secs(5));
    options
}

fn envelope(to: &[&str]) -> Envelope {
    let to = to.iter().map(|t| Mailbox::parse(t).expect("valid"));
    Envelope::new(Mailbox::parse("sender@example.com").expect("valid"), to)
}

#[tokio::test]
async fn starttls_auth_and_send() {
    let server = TestServer::start(ServerOptions::default())
        .await
        .expect("server");
    let mut session = connect(options(&server, TlsMode::StartTls))
        .await
        .expect("session");
    assert!(session.is_encrypted());
    let report = session
        .send(
            envelope(&["rcpt@example.net"]),
            "Subject: hi\r\n\r\n.dot\nbare lf\r\n".into(),
        )
        .await
        .expect("sent");
    assert!(report.is_delivered(), "{report:?}");
    let id = report.message_id().expect("SES-style id").to_string();
    session.quit().await.expect("quit");
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].id, id);
    assert_eq!(received[0].data, b"Subject: hi\r\n\r\n.dot\r\nbare lf\r\n");
    assert!(received[0].tls);
    assert_eq!(received[0].user.as_deref(), Some("demo"));
}

#[tokio::test]
async fn implicit_tls() {
    let server = TestServer::start(ServerOptions {
        implicit_tls: true,
        ..ServerOptions::default()
    })
    .await
    .expect("server");
    let mut session = connect(options(&server, TlsMode::Implicit))
        .await
        .expect("session");
    let report = session
        .send(envelope(&["a@example.net"]), "x\r\n".into())
        .await
        .expect("sent");
    assert!(report.is_delivered());
    session.quit().await.expect("quit");
    assert!(server.received()[0].tls);
}

#[tokio::test]
async fn pipelined_batch_with_chunking_and_per_recipient_outcomes() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("smtp=debug")
        .with_test_writer()
        .try_init();
    let server = TestServer::start(ServerOptions::default())
        .await
        .expect("server");
    let mut session = connect(options(&server, TlsMode::StartTls))
        .await
        .expect("session");
    let messages = (0..20).map(|i| {
        (
            envelope(&[
                "ok@example.net",
                "reject@example.net",
                "tempfail@example.net",
            ]),
            format!("Message {i}\r\n").into(),
        )
    });
    let reports = session.send_all(messages).await.expect("sent");
    assert_eq!(reports.len(), 20);
    for report in &reports {
        assert!(report.is_delivered(), "{report:?}");
        let accepted: Vec<bool> = report.recipients.iter().map(|r| r.is_delivered()).collect();
        assert_eq!(accepted, [true, false, false]);
        assert!(
            report.recipients[2]
                .reply
                .as_ref()
                .is_some_and(|r| r.is_transient())
        );
    }
    session.quit().await.expect("quit");
    let received = server.received();
    assert_eq!(received.len(), 20);
    assert!(received.iter().all(|m| m.to == ["ok@example.net"]));
}

#[tokio::test]
async fn streamed_body_from_a_reader() {
    let server = TestServer::start(ServerOptions {
        chunking: false,
        ..ServerOptions::default()
    })
    .await
    .expect("server");
    let mut session = connect(options(&server, TlsMode::StartTls))
        .await
        .expect("session");
    let line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n";
    let body = line.repeat(70_000);
    let report = session
        .send_reader(
            envelope(&["a@example.net"]),
            &body[..],
            StreamedBody::default(),
        )
        .await
        .expect("sent");
    assert!(report.is_delivered());
    session.quit().await.expect("quit");
    assert_eq!(server.received()[0].data.len(), body.len());
}

/// A body source that gives `good` octets of text, then fails.
struct FailingReader {
    good: usize,
}

impl tokio::io::AsyncRead for FailingReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.good == 0 {
            return std::task::Poll::Ready(Err(std::io::Error::other("disk on fire")));
        }
        let n = buf.remaining().min(self.good).min(40);
        buf.put_slice(&b"0123456789abcdefghijklmnopqrstuvwxyz\r\n\r\n"[..n]);
        self.good -= n;
        std::task::Poll::Ready(Ok(()))
    }
}

/// RFC 5321 §4.1.1.4: a body whose source fails after `354` can only be stopped by dropping the
/// connection; the session then fails with its cause for every later call, and the server
/// never stores a truncated message.
#[tokio::test]
async fn a_failed_body_source_under_data_drops_the_connection() {
    let server = TestServer::start(ServerOptions {
        chunking: false,
        ..ServerOptions::default()
    })
    .await
    .expect("server");
    let mut session = connect(options(&server, TlsMode::StartTls))
        .await
        .expect("session");
    let broken = FailingReader { good: 400_000 };
    let error = session
        .send_reader(
            envelope(&["a@example.net"]),
            broken,
            StreamedBody::default(),
        )
        .await
        .expect_err("the source failed");
    assert!(matches!(error, Error::BodyRead(_)), "{error:?}");
    let cancelled = smtp_tokio::smtp_sansio::Error::Cancelled;
    let next = session
        .send(envelope(&["b@example.net"]), "x\r\n".into())
        .await;
    assert_eq!(
        next.err(),
        Some(Error::Smtp(cancelled.clone())),
        "sticky, never \"session closed\""
    );
    assert_eq!(session.quit().await.err(), Some(Error::Smtp(cancelled)));
    assert!(server.received().is_empty(), "no truncated message");
}

/// RFC 3030 §2: with BDAT the chunks sent so far are discarded by RSET; the session goes on.
#[tokio::test]
async fn a_failed_body_source_under_bdat_resets_and_the_session_goes_on() {
    let server = TestServer::start(ServerOptions::default())
        .await
        .expect("server");
    let mut session = connect(options(&server, TlsMode::StartTls))
        .await
        .expect("session");
    let broken = FailingReader { good: 400_000 };
    let error = session
        .send_reader(
            envelope(&["a@example.net"]),
            broken,
            StreamedBody::default(),
        )
        .await
        .expect_err("the source failed");
    assert!(matches!(error, Error::BodyRead(_)), "{error:?}");
    assert_eq!(session.error(), None);
    let report = session
        .send(envelope(&["b@example.net"]), "x\r\n".into())
        .await
        .expect("sent");
    assert!(report.is_delivered(), "{report:?}");
    session.quit().await.expect("quit");
    let received = server.received();
    assert_eq!(received.len(), 1, "only the second message");
    assert_eq!(received[0].to, ["b@example.net"]);
}

#[tokio::test]
async fn a13_untrusted_certificate_fails_the_handshake() {
    let server = TestServer::start(ServerOptions::default())
        .await
        .expect("server");
    let mut untrusting = options(&server, TlsMode::StartTls);
    untrusting.tls = smtp_tokio::TlsOptions::default();
    untrusting.tls.webpki_roots = true;
    let error = connect(untrusting).await.expect_err("untrusted");
    assert!(
        matches!(error, Error::Smtp(smtp_sansio::Error::TlsHandshake(_))),
        "{error:?}"
    );
    assert!(server.received().is_empty());
}

/// SECURITY.md G3, F12: implicit TLS against a plaintext server fails in the handshake, on one
/// connection, never retried in clear.
#[tokio::test]
async fn g3_f12_implicit_tls_against_a_plaintext_server_fails_without_fallback() {
    let server = TestServer::start(ServerOptions::default())
        .await
        .expect("server");
    let error = connect(options(&server, TlsMode::Implicit))
        .await
        .expect_err("plaintext server");
    assert!(
        matches!(error, Error::PlaintextGreeting { .. }),
        "{error:?}"
    );
    last_connection(&server).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.connections().len(), 1);
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn g4_starttls_against_an_implicit_tls_server_times_out() {
    let server = TestServer::start(ServerOptions {
        implicit_tls: true,
        ..ServerOptions::default()
    })
    .await
    .expect("server");
    let mut opts = options(&server, TlsMode::StartTls);
    opts.config.timeouts = Timeouts::uniform(Duration::from_millis(300));
    let error = connect(opts).await.expect_err("no greeting");
    assert!(error.is_timeout(), "{error:?}");
}

#[tokio::test]
async fn wrong_password_is_an_auth_failure_with_the_reply() {
    let server = TestServer::start(ServerOptions::default())
        .await
        .expect("server");
    let mut opts = options(&server, TlsMode::StartTls);
    opts.config.credentials = Some(Credentials::password("demo", "wrong").expect("valid"));
    let error = connect(opts).await.expect_err("refused");
    assert_eq!(error.reply().map(|r| r.code().get()), Some(535));
}

#[tokio::test]
async fn refused_message_is_a_report_not_an_error() {
    let server = TestServer::start(ServerOptions::default())
        .await
        .expect("server");
    let mut session = connect(options(&server, TlsMode::StartTls))
        .await
        .expect("session");
    let report = session
        .send(envelope(&["reject@example.net"]), "x\r\n".into())
        .await
        .expect("report");
    assert!(
        matches!(
            report.outcome,
            Outcome::NoRecipientAccepted | Outcome::Rejected { .. }
        ),
        "{report:?}"
    );
    let next = session
        .send(envelope(&["ok@example.net"]), "y\r\n".into())
        .await
        .expect("report");
    assert!(next.is_delivered(), "the session goes on: {next:?}");
    session.quit().await.expect("quit");
}

/// The record of the server's next finished connection.
async fn last_connection(server: &TestServer) -> ConnectionRecord {
    for _ in 0..250 {
        if let Some(record) = server.connections().pop() {
            return record;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the connection did not end");
}

fn implicit_server(certificate_name: &str) -> ServerOptions {
    ServerOptions {
        implicit_tls: true,
        certificate_name: certificate_name.into(),
        ..ServerOptions::default()
    }
}

/// SECURITY.md G5 (RFC 4954 §14, RFC 8314 §5.3): SNI carries the host name the client dialled,
/// and a certificate from a trusted CA but for another name is refused.
#[tokio::test]
async fn g5_sni_is_the_dialled_name_and_the_certificate_must_match_it() {
    let server = TestServer::start(implicit_server("localhost"))
        .await
        .expect("server");
    let session = connect(options(&server, TlsMode::Implicit))
        .await
        .expect("session");
    session.quit().await.expect("quit");
    assert_eq!(
        last_connection(&server).await.sni.as_deref(),
        Some("localhost")
    );

    let other = TestServer::start(implicit_server("mx.other.example"))
        .await
        .expect("server");
    let error = connect(options(&other, TlsMode::Implicit))
        .await
        .expect_err("a certificate for another name");
    assert!(
        matches!(error, Error::Smtp(smtp_sansio::Error::TlsHandshake(_))),
        "{error:?}"
    );
    assert!(other.received().is_empty());
}

/// SECURITY.md G5: an IP address is checked against the certificate's IP entry and never sent
/// as SNI (RFC 6066 §3).
#[tokio::test]
async fn g5_no_sni_for_an_ip_address() {
    let server = TestServer::start(implicit_server("localhost"))
        .await
        .expect("server");
    let mut by_address = options(&server, TlsMode::Implicit);
    by_address.endpoint = Endpoint::with_mode("127.0.0.1", server.addr().port(), TlsMode::Implicit);
    let session = connect(by_address).await.expect("session");
    session.quit().await.expect("quit");
    let record = last_connection(&server).await;
    assert!(record.tls && record.sni.is_none(), "{record:?}");
}

/// SECURITY.md G8 (RFC 8314 §3.4): after QUIT the client ends TLS with close_notify, in both
/// TLS modes.
#[tokio::test]
async fn g8_close_notify_after_quit() {
    for mode in [TlsMode::StartTls, TlsMode::Implicit] {
        let server = TestServer::start(ServerOptions {
            implicit_tls: mode == TlsMode::Implicit,
            ..ServerOptions::default()
        })
        .await
        .expect("server");
        let session = connect(options(&server, mode)).await.expect("session");
        session.quit().await.expect("quit");
        let record = last_connection(&server).await;
        assert!(record.tls && record.close_notify, "{mode:?}: {record:?}");
    }
    // The control: a session dropped without QUIT just closes TCP, and the server sees that.
    let server = TestServer::start(implicit_server("localhost"))
        .await
        .expect("server");
    drop(
        connect(options(&server, TlsMode::Implicit))
            .await
            .expect("session"),
    );
    let record = last_connection(&server).await;
    assert!(record.tls && !record.close_notify, "{record:?}");
}

/// SECURITY.md G9: over a TCP connection the caller opened, implicit TLS still begins with the
/// handshake and STARTTLS is still required; against a plaintext server implicit TLS fails.
#[tokio::test]
async fn g9_a_caller_supplied_connection_still_gets_tls() {
    for mode in [TlsMode::Implicit, TlsMode::StartTls] {
        let server = TestServer::start(ServerOptions {
            implicit_tls: mode == TlsMode::Implicit,
            ..ServerOptions::default()
        })
        .await
        .expect("server");
        let tcp = tokio::net::TcpStream::connect(server.addr())
            .await
            .expect("tcp");
        let mut session = connect_over(tcp, options(&server, mode))
            .await
            .expect("session");
        assert!(session.is_encrypted());
        let report = session
            .send(envelope(&["rcpt@example.net"]), "Hi\r\n".into())
            .await
            .expect("sent");
        assert!(report.is_delivered(), "{report:?}");
        session.quit().await.expect("quit");
        assert!(server.received()[0].tls, "{mode:?}");
    }
    let plaintext = TestServer::start(ServerOptions::default())
        .await
        .expect("server");
    let tcp = tokio::net::TcpStream::connect(plaintext.addr())
        .await
        .expect("tcp");
    let error = connect_over(tcp, options(&plaintext, TlsMode::Implicit))
        .await
        .expect_err("plaintext server");
    assert!(
        matches!(error, Error::PlaintextGreeting { .. }),
        "{error:?}"
    );
}

//! The blocking adapter against the embedded test server and hostile servers, over real
//! sockets and real TLS.

use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use smtp_blocking::smtp_sansio::{
    ClientId, Credentials, Envelope, Mailbox, StreamedBody, Timeouts, TlsMode,
};
use smtp_blocking::{Endpoint, Error, Options, connect, connect_over};
use smtp_test_server::{ConnectionRecord, ServerOptions, TestServer};

/// The embedded server runs on its own runtime; the client under test is plain blocking code.
fn server(options: ServerOptions) -> (tokio::runtime::Runtime, TestServer) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime
        .block_on(TestServer::start(options))
        .expect("server");
    (runtime, server)
}

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

#[test]
fn starttls_auth_and_send() {
    let (_runtime, server) = server(ServerOptions::default());
    let mut session = connect(options(&server, TlsMode::StartTls)).expect("session");
    assert!(session.is_encrypted());
    let report = session
        .send(
            envelope(&["rcpt@example.net"]),
            "Subject: hi\r\n\r\n.dot\nbare lf\r\n".into(),
        )
        .expect("sent");
    assert!(report.is_delivered(), "{report:?}");
    let id = report.message_id().expect("SES-style id").to_string();
    session.quit().expect("quit");
    let received = server.received();
    assert_eq!(received[0].id, id);
    assert_eq!(received[0].data, b"Subject: hi\r\n\r\n.dot\r\nbare lf\r\n");
    assert_eq!(received[0].user.as_deref(), Some("demo"));
}

#[test]
fn implicit_tls_and_a_pipelined_batch() {
    let (_runtime, server) = server(ServerOptions {
        implicit_tls: true,
        ..ServerOptions::default()
    });
    let mut session = connect(options(&server, TlsMode::Implicit)).expect("session");
    let messages = (0..20).map(|i| {
        (
            envelope(&["ok@example.net", "reject@example.net"]),
            format!("Message {i}\r\n").into(),
        )
    });
    let reports = session.send_all(messages).expect("sent");
    assert!(
        reports
            .iter()
            .all(|r| r.is_delivered() && !r.recipients[1].is_delivered())
    );
    session.quit().expect("quit");
    assert_eq!(server.received().len(), 20);
}

#[test]
fn streamed_body_from_a_reader() {
    let (_runtime, server) = server(ServerOptions {
        chunking: false,
        ..ServerOptions::default()
    });
    let mut session = connect(options(&server, TlsMode::StartTls)).expect("session");
    let body = b"0123456789abcdefghijklmnopqrstuvwxyz\r\n".repeat(100_000);
    let report = session
        .send_reader(
            envelope(&["a@example.net"]),
            &body[..],
            StreamedBody::default(),
        )
        .expect("sent");
    assert!(report.is_delivered());
    session.quit().expect("quit");
    assert_eq!(server.received()[0].data, body);
}

/// A body source that gives `good` octets of text, then fails.
struct FailingReader {
    good: usize,
}

impl std::io::Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.good == 0 {
            return Err(std::io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.good).min(40);
        buf[..n].copy_from_slice(&b"0123456789abcdefghijklmnopqrstuvwxyz\r\n\r\n"[..n]);
        self.good -= n;
        Ok(n)
    }
}

/// RFC 5321 §4.1.1.4: a body whose source fails after `354` can only be stopped by dropping the
/// connection; the session then fails with its cause for every later call, and the server
/// never stores a truncated message.
#[test]
fn a_failed_body_source_under_data_drops_the_connection() {
    let (_runtime, server) = server(ServerOptions {
        chunking: false,
        ..ServerOptions::default()
    });
    let mut session = connect(options(&server, TlsMode::StartTls)).expect("session");
    let broken = FailingReader { good: 400_000 };
    let error = session
        .send_reader(
            envelope(&["a@example.net"]),
            broken,
            StreamedBody::default(),
        )
        .expect_err("the source failed");
    assert!(matches!(error, Error::BodyRead(_)), "{error:?}");
    let cancelled = smtp_blocking::smtp_sansio::Error::Cancelled;
    let next = session.send(envelope(&["b@example.net"]), "x\r\n".into());
    assert_eq!(
        next.err(),
        Some(Error::Smtp(cancelled.clone())),
        "sticky, never \"session closed\""
    );
    assert_eq!(session.quit().err(), Some(Error::Smtp(cancelled)));
    assert!(server.received().is_empty(), "no truncated message");
}

/// RFC 3030 §2: with BDAT the chunks sent so far are discarded by RSET; the session goes on.
#[test]
fn a_failed_body_source_under_bdat_resets_and_the_session_goes_on() {
    let (_runtime, server) = server(ServerOptions::default());
    let mut session = connect(options(&server, TlsMode::StartTls)).expect("session");
    let broken = FailingReader { good: 400_000 };
    let error = session
        .send_reader(
            envelope(&["a@example.net"]),
            broken,
            StreamedBody::default(),
        )
        .expect_err("the source failed");
    assert!(matches!(error, Error::BodyRead(_)), "{error:?}");
    assert_eq!(session.error(), None);
    let report = session
        .send(envelope(&["b@example.net"]), "x\r\n".into())
        .expect("sent");
    assert!(report.is_delivered(), "{report:?}");
    session.quit().expect("quit");
    let received = server.received();
    assert_eq!(received.len(), 1, "only the second message");
    assert_eq!(received[0].to, ["b@example.net"]);
}

#[test]
fn a13_untrusted_certificate_fails_the_handshake() {
    let (_runtime, server) = server(ServerOptions::default());
    let mut untrusting = options(&server, TlsMode::StartTls);
    untrusting.tls = smtp_blocking::TlsOptions::default();
    let error = connect(untrusting).expect_err("untrusted");
    assert!(
        matches!(error, Error::Smtp(smtp_sansio::Error::TlsHandshake(_))),
        "{error:?}"
    );
    assert!(server.received().is_empty());
}

/// SECURITY.md G3, F12: implicit TLS against a plaintext server fails in the handshake, on one
/// connection, never retried in clear.
#[test]
fn g3_f12_implicit_tls_against_a_plaintext_server_fails_without_fallback() {
    let (_runtime, server) = server(ServerOptions::default());
    let error = connect(options(&server, TlsMode::Implicit)).expect_err("plaintext server");
    assert!(
        matches!(error, Error::PlaintextGreeting { .. }),
        "{error:?}"
    );
    last_connection(&server);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.connections().len(), 1);
    assert!(server.received().is_empty());
}

#[test]
fn f2_slow_drip_server_times_out_on_the_absolute_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        if let Ok((mut socket, _)) = listener.accept() {
            for byte in b"220 a greeting that never ends".iter().cycle() {
                if socket.write_all(&[*byte]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    });
    let endpoint = Endpoint::with_mode("127.0.0.1", port, TlsMode::InsecurePlaintext);
    let mut options = Options::new(endpoint, ClientId::parse("client.example").expect("valid"));
    options.config.timeouts = Timeouts::uniform(Duration::from_millis(600));
    let started = Instant::now();
    let error = connect(options).expect_err("times out");
    assert!(error.is_timeout(), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "partial data never extends the deadline"
    );
}

#[test]
fn g4_starttls_against_an_implicit_tls_server_times_out() {
    let (_runtime, server) = server(ServerOptions {
        implicit_tls: true,
        ..ServerOptions::default()
    });
    let mut opts = options(&server, TlsMode::StartTls);
    opts.config.timeouts = Timeouts::uniform(Duration::from_millis(300));
    assert!(connect(opts).expect_err("no greeting").is_timeout());
}

/// The record of the server's next finished connection.
fn last_connection(server: &TestServer) -> ConnectionRecord {
    for _ in 0..250 {
        if let Some(record) = server.connections().pop() {
            return record;
        }
        std::thread::sleep(Duration::from_millis(20));
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
#[test]
fn g5_sni_is_the_dialled_name_and_the_certificate_must_match_it() {
    let (_runtime, server) = server(implicit_server("localhost"));
    let session = connect(options(&server, TlsMode::Implicit)).expect("session");
    session.quit().expect("quit");
    assert_eq!(last_connection(&server).sni.as_deref(), Some("localhost"));

    let (_other_runtime, other) = self::server(implicit_server("mx.other.example"));
    let error = connect(options(&other, TlsMode::Implicit)).expect_err("another name");
    assert!(
        matches!(error, Error::Smtp(smtp_sansio::Error::TlsHandshake(_))),
        "{error:?}"
    );
    assert!(other.received().is_empty());
}

/// SECURITY.md G5: an IP address is checked against the certificate's IP entry and never sent
/// as SNI (RFC 6066 §3).
#[test]
fn g5_no_sni_for_an_ip_address() {
    let (_runtime, server) = server(implicit_server("localhost"));
    let mut by_address = options(&server, TlsMode::Implicit);
    by_address.endpoint = Endpoint::with_mode("127.0.0.1", server.addr().port(), TlsMode::Implicit);
    connect(by_address).expect("session").quit().expect("quit");
    let record = last_connection(&server);
    assert!(record.tls && record.sni.is_none(), "{record:?}");
}

/// SECURITY.md G8 (RFC 8314 §3.4): after QUIT the client ends TLS with close_notify, in both
/// TLS modes; a session dropped without QUIT just closes TCP.
#[test]
fn g8_close_notify_after_quit() {
    for mode in [TlsMode::StartTls, TlsMode::Implicit] {
        let (_runtime, server) = server(ServerOptions {
            implicit_tls: mode == TlsMode::Implicit,
            ..ServerOptions::default()
        });
        connect(options(&server, mode))
            .expect("session")
            .quit()
            .expect("quit");
        let record = last_connection(&server);
        assert!(record.tls && record.close_notify, "{mode:?}: {record:?}");
    }
    let (_runtime, server) = server(implicit_server("localhost"));
    drop(connect(options(&server, TlsMode::Implicit)).expect("session"));
    let record = last_connection(&server);
    assert!(record.tls && !record.close_notify, "{record:?}");
}

/// SECURITY.md G9: over a TCP connection the caller opened, implicit TLS still begins with the
/// handshake and STARTTLS is still required; against a plaintext server implicit TLS fails.
#[test]
fn g9_a_caller_supplied_connection_still_gets_tls() {
    for mode in [TlsMode::Implicit, TlsMode::StartTls] {
        let (_runtime, server) = server(ServerOptions {
            implicit_tls: mode == TlsMode::Implicit,
            ..ServerOptions::default()
        });
        let tcp = std::net::TcpStream::connect(server.addr()).expect("tcp");
        let mut session = connect_over(tcp, options(&server, mode)).expect("session");
        assert!(session.is_encrypted());
        let report = session
            .send(envelope(&["rcpt@example.net"]), "Hi\r\n".into())
            .expect("sent");
        assert!(report.is_delivered(), "{report:?}");
        session.quit().expect("quit");
        assert!(server.received()[0].tls, "{mode:?}");
    }
    let (_runtime, plaintext) = server(ServerOptions::default());
    let tcp = std::net::TcpStream::connect(plaintext.addr()).expect("tcp");
    let error = connect_over(tcp, options(&plaintext, TlsMode::Implicit)).expect_err("plaintext");
    assert!(
        matches!(error, Error::PlaintextGreeting { .. }),
        "{error:?}"
    );
}

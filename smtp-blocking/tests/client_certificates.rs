//! Mutual TLS and SASL EXTERNAL (RFC 4422 Appendix A) against the embedded server requiring a
//! client certificate, STARTTLS (RFC 3207) and implicit TLS (RFC 8314).

use std::time::Duration;

use smtp_blocking::smtp_sansio::driver::ClientCertificate;
use smtp_blocking::smtp_sansio::{ClientId, Credentials, Envelope, Mailbox, Timeouts, TlsMode};
use smtp_blocking::{Endpoint, Options, connect};
use smtp_test_server::{ServerOptions, TestServer};

/// The embedded server runs on its own runtime; the client under test is plain blocking code.
fn mutual_tls_server(implicit_tls: bool) -> (tokio::runtime::Runtime, TestServer) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime
        .block_on(TestServer::start(ServerOptions {
            implicit_tls,
            auth: None,
            client_certificates: true,
            ..ServerOptions::default()
        }))
        .expect("server");
    (runtime, server)
}

fn options(server: &TestServer, mode: TlsMode, with_certificate: bool) -> Options {
    let endpoint = Endpoint::with_mode("localhost", server.addr().port(), mode);
    let mut options = Options::new(endpoint, ClientId::parse("client.example").expect("valid"));
    options
        .tls
        .add_ca_pem(server.ca_pem().as_bytes())
        .expect("ca");
    if with_certificate {
        let (cert, key) = server.client_certificate_pem().expect("made");
        let certificate = ClientCertificate::from_pem(cert.as_bytes(), key.as_bytes());
        options
            .tls
            .set_client_certificate(certificate.expect("pkcs8"))
            .expect("readable");
    }
    options.config.credentials = Some(Credentials::external());
    options.config.timeouts = Timeouts::uniform(Duration::from_secs(5));
    options
}

fn envelope() -> Envelope {
    let to = [Mailbox::parse("rcpt@example.net").expect("valid")];
    Envelope::new(Mailbox::parse("sender@example.com").expect("valid"), to)
}

#[test]
fn rfc4422_external_over_mutual_tls_is_the_certificate_identity() {
    for (implicit, mode) in [(false, TlsMode::StartTls), (true, TlsMode::Implicit)] {
        let (_runtime, server) = mutual_tls_server(implicit);
        let mut session = connect(options(&server, mode, true)).expect("session");
        let report = session
            .send(envelope(), "Subject: mtls\r\n\r\nHello\r\n".into())
            .expect("report");
        assert!(report.is_delivered(), "{mode:?}: {report:?}");
        session.quit().expect("quit");
        let received = server.received();
        assert_eq!(received.len(), 1, "{mode:?}");
        assert_eq!(received[0].user.as_deref(), Some("client.example"));
    }
}

#[test]
fn rfc8446_4_4_2_4_without_a_client_certificate_the_handshake_fails() {
    let (_runtime, server) = mutual_tls_server(true);
    let error = connect(options(&server, TlsMode::Implicit, false)).expect_err("refused");
    // TLS 1.3 sends the refusal after the handshake; it is the handshake's failure all the
    // same, and permanent (RFC 8446 §4.4.2.4).
    assert!(!error.is_transient(), "{error}");
    assert!(error.to_string().contains("tls handshake"), "{error}");
    assert!(server.received().is_empty());
}

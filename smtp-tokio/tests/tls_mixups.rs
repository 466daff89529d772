//! A TLS mode that does not fit the port fails within seconds, with an error that names the mode
//! the port expects (SECURITY.md G3, G4). The hints go by the endpoint's port, so each test
//! dials a listener on an ephemeral port of 127.0.0.1 through `connect_over` while its
//! endpoint names a well-known port.

use std::time::{Duration, Instant};

use smtp_tokio::smtp_sansio::{ClientId, TlsMode};
use smtp_tokio::{Endpoint, Error, Options, connect_over};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A listener that accepts one connection and sends `greeting` on it (nothing if empty), then
/// holds it open for a minute; and a client connection to it.
async fn server(greeting: &'static [u8]) -> TcpStream {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("listener");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.expect("accept");
        tcp.write_all(greeting).await.expect("greeting");
        let mut sink = [0; 1024];
        let held = async { while tcp.read(&mut sink).await.is_ok_and(|n| n > 0) {} };
        let _ = tokio::time::timeout(Duration::from_secs(60), held).await;
    });
    TcpStream::connect(addr).await.expect("tcp")
}

fn options(port: u16, mode: TlsMode) -> Options {
    let endpoint = Endpoint::with_mode("localhost", port, mode);
    Options::new(endpoint, ClientId::parse("client.example").expect("valid"))
}

/// STARTTLS against port 465, where the server waits for a ClientHello and never greets: the
/// greeting is awaited for at most `Endpoint::IMPLICIT_PORT_GREETING_WAIT` (here the shorter
/// configured timeout), then the error says the port expects implicit TLS.
#[tokio::test]
async fn g4_starttls_on_an_implicit_tls_port_fails_fast_with_a_hint() {
    let tcp = server(b"").await;
    let mut options = options(465, TlsMode::StartTls);
    options.config.timeouts.greeting = Duration::from_millis(300);
    let started = Instant::now();
    let error = connect_over(tcp, options).await.expect_err("no greeting");
    assert_eq!(error, Error::NoGreetingOnImplicitPort(465));
    assert!(started.elapsed() < Duration::from_secs(5));
    let message = error.to_string();
    assert!(
        message.contains("port 465 expects implicit tls (TlsMode::Implicit)"),
        "{message}"
    );
    assert!(!error.is_transient());
}

/// With the default 5-minute greeting timeout, the wait on port 465 is still only
/// `Endpoint::IMPLICIT_PORT_GREETING_WAIT`.
#[tokio::test]
async fn g4_the_default_greeting_timeout_is_cut_short_on_an_implicit_tls_port() {
    let tcp = server(b"").await;
    let options = options(465, TlsMode::StartTls);
    let most = Endpoint::IMPLICIT_PORT_GREETING_WAIT + Duration::from_secs(5);
    let error = tokio::time::timeout(most, connect_over(tcp, options))
        .await
        .expect("a prompt failure")
        .expect_err("no greeting");
    assert_eq!(error, Error::NoGreetingOnImplicitPort(465));
}

/// Implicit TLS against port 587, where the server greets in plaintext: the handshake fails at
/// once, and the error says the port expects STARTTLS instead of the TLS library's complaint.
#[tokio::test]
async fn g3_implicit_tls_on_a_starttls_port_names_starttls() {
    let tcp = server(b"220 mx ESMTP\r\n").await;
    let started = Instant::now();
    let error = connect_over(tcp, options(587, TlsMode::Implicit))
        .await
        .expect_err("a plaintext greeting");
    assert_eq!(error, Error::PlaintextGreeting { port: 587 });
    assert!(started.elapsed() < Duration::from_secs(5));
    let message = error.to_string();
    assert!(
        message.contains("plaintext smtp greeting: port 587 expects starttls (TlsMode::StartTls)"),
        "{message}"
    );
    assert!(!error.is_transient() && !error.is_timeout());
}

/// On a port without a well-known mode the hint still names STARTTLS, without a port.
#[tokio::test]
async fn g3_implicit_tls_on_another_port_still_names_starttls() {
    let tcp = server(b"220-mx ESMTP\r\n220 welcome\r\n").await;
    let error = connect_over(tcp, options(2525, TlsMode::Implicit))
        .await
        .expect_err("a plaintext greeting");
    assert_eq!(error, Error::PlaintextGreeting { port: 2525 });
    assert!(error.to_string().contains("TlsMode::StartTls"), "{error}");
}

/// Anything else that fails the handshake is still a handshake failure.
#[tokio::test]
async fn a_handshake_failure_that_is_no_smtp_greeting_stays_one() {
    let tcp = server(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    let error = connect_over(tcp, options(465, TlsMode::Implicit))
        .await
        .expect_err("not tls");
    assert!(
        matches!(
            error,
            Error::Smtp(smtp_tokio::smtp_sansio::Error::TlsHandshake(_))
        ),
        "{error:?}"
    );
}

//! Scripting a hostile reply: a server that answers MAIL with a multi-line reply which starts as
//! `250` and ends as `354`, as if it had already taken DATA. Every line of one reply carries the
//! same code (RFC 5321 §4.2.1), so the reply is malformed; a client that took its last line for
//! the go-ahead of DATA would send the message body where the server expects commands.
//!
//! First a raw TCP connection shows the bytes the server sends, then smtp-tokio, over a TCP
//! connection opened here, refuses the reply: it never sends the body, the session fails with
//! a protocol error ("multiline reply changed code from 250 to 354"), and the message is not
//! delivered.
//!
//! ```text
//! cargo run -p smtp-test-server --example hostile
//! ```

use std::time::Duration;

use smtp_test_server::{Fault, FaultAction, FaultPoint, ServerOptions, TestServer};
use smtp_tokio::smtp_sansio::{ClientId, Envelope, Mailbox, Timeouts, TlsMode};
use smtp_tokio::{Endpoint, Options, connect_over};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The reply the server sends to MAIL instead of `250 2.1.0 Ok`, then it closes.
const HOSTILE: &str = "250-2.1.0 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Plaintext without AUTH keeps the dialogue short; the fault hits every connection.
    let options = ServerOptions {
        starttls: false,
        auth: None,
        fault: Some(Fault::new(FaultPoint::Mail, FaultAction::Reply(HOSTILE)).on_connections(2)),
        ..ServerOptions::default()
    };
    let server = TestServer::start(options).await?;

    // 1. By hand: the commands as bytes, everything the server sends until it closes.
    let mut tcp = TcpStream::connect(server.addr()).await?;
    tcp.write_all(b"EHLO client.example\r\nMAIL FROM:<sender@example.com>\r\n")
        .await?;
    tcp.shutdown().await?;
    let mut seen = Vec::new();
    tcp.read_to_end(&mut seen).await?;
    println!("the server sent, until it closed:");
    for line in String::from_utf8_lossy(&seen).lines() {
        println!("  S: {line}");
    }

    // 2. The smtp-tokio client, over a TCP connection opened here.
    let endpoint = Endpoint::with_mode(
        "127.0.0.1",
        server.addr().port(),
        TlsMode::InsecurePlaintext,
    );
    let mut options = Options::new(endpoint, ClientId::parse("client.example")?);
    options.config.timeouts = Timeouts::uniform(Duration::from_secs(5));
    let tcp = TcpStream::connect(server.addr()).await?;
    let mut session = connect_over(tcp, options).await?;
    let envelope = Envelope::new(
        Mailbox::parse("sender@example.com")?,
        [Mailbox::parse("recipient@example.net")?],
    );
    let report = session
        .send(envelope, "Subject: hi\r\n\r\nHello\r\n".into())
        .await?;
    println!("smtp-tokio's verdict for the message: {}", report.verdict);
    let error = session.error().ok_or("the session should have failed")?;
    println!("smtp-tokio's session error: {error}");
    assert!(!report.is_delivered(), "a malformed reply never delivers");
    assert!(server.received().is_empty(), "the server took nothing");
    Ok(())
}

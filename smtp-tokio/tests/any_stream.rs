//! `connect_over` runs whole sessions over streams other than TCP: a Unix socket carried to the
//! embedded server (as a proxy would carry it), and a pipe in memory to a scripted server.

#![cfg(unix)]

use std::time::Duration;

use smtp_test_server::{ServerOptions, TestServer};
use smtp_tokio::smtp_sansio::{ClientId, Credentials, Envelope, Mailbox, Timeouts, TlsMode};
use smtp_tokio::{Endpoint, Options, connect_over};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

fn envelope() -> Envelope {
    let to = [Mailbox::parse("rcpt@example.net").expect("valid")];
    Envelope::new(Mailbox::parse("sender@example.com").expect("valid"), to)
}

/// STARTTLS, AUTH and a message over a Unix socket whose other end is relayed to the embedded
/// server: the TLS stream runs over the boxed stream, and the certificate is still checked
/// against the endpoint's host (SECURITY.md G9).
#[tokio::test]
async fn a_whole_starttls_session_over_a_unix_socket() {
    let server = TestServer::start(ServerOptions::default())
        .await
        .expect("server");
    let (ours, mut theirs) = tokio::net::UnixStream::pair().expect("socket pair");
    let mut tcp = tokio::net::TcpStream::connect(server.addr())
        .await
        .expect("tcp");
    let relay = tokio::spawn(async move {
        let _ = tokio::io::copy_bidirectional(&mut theirs, &mut tcp).await;
    });

    let endpoint = Endpoint::with_mode("localhost", server.addr().port(), TlsMode::StartTls);
    let mut options = Options::new(endpoint, ClientId::parse("client.example").expect("valid"));
    options
        .tls
        .add_ca_pem(server.ca_pem().as_bytes())
        .expect("the server's CA");
    options.config.credentials =
        Some(Credentials::password("demo", "demo-password").expect("valid"));
    options.config.timeouts = Timeouts::uniform(Duration::from_secs(5));

    let mut session = connect_over(ours, options).await.expect("session");
    assert!(session.is_encrypted());
    let body = "Subject: over a unix socket\r\n\r\n".to_string() + &"line\r\n".repeat(10_000);
    let report = session
        .send(envelope(), body.clone().into())
        .await
        .expect("report");
    assert!(report.is_delivered(), "{report:?}");
    let id = report.message_id().expect("queue id").to_string();
    session.quit().await.expect("quit");
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].id, id);
    assert!(received[0].tls);
    assert_eq!(received[0].data, body.as_bytes());
    relay.await.expect("relay");
}

/// A plaintext session over a pipe in memory, against a server scripted here.
#[tokio::test]
async fn a_whole_session_over_a_pipe_in_memory() {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(scripted_server(theirs));
    let endpoint = Endpoint::with_mode("mx.example", 25, TlsMode::InsecurePlaintext);
    let mut options = Options::new(endpoint, ClientId::parse("client.example").expect("valid"));
    options.config.timeouts = Timeouts::uniform(Duration::from_secs(5));

    let mut session = connect_over(ours, options).await.expect("session");
    assert!(!session.is_encrypted());
    let report = session
        .send(envelope(), "Subject: in memory\r\n\r\nHello\r\n".into())
        .await
        .expect("report");
    assert!(report.is_delivered(), "{report:?}");
    assert_eq!(report.message_id(), Some("4Bq7Xz1mQ"));
    session.quit().await.expect("quit");
    let commands = server.await.expect("server");
    assert_eq!(
        commands,
        [
            "EHLO client.example",
            "MAIL FROM:<sender@example.com>",
            "RCPT TO:<rcpt@example.net>",
            "DATA",
            "QUIT",
        ]
    );
}

/// Greets, answers EHLO, MAIL, RCPT, DATA (reading the body to its final dot) and QUIT, one
/// command at a time, and returns the commands it got.
async fn scripted_server(io: impl AsyncRead + AsyncWrite + Unpin) -> Vec<String> {
    let mut io = BufReader::new(io);
    let mut commands = Vec::new();
    io.write_all(b"220 mx.example ESMTP\r\n")
        .await
        .expect("greeting");
    let mut line = String::new();
    loop {
        line.clear();
        if io.read_line(&mut line).await.expect("command") == 0 {
            return commands;
        }
        let command = line.trim_end().to_string();
        let verb = command.split(' ').next().unwrap_or_default().to_string();
        commands.push(command);
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-mx.example\r\n250 8BITMIME\r\n",
            "MAIL" | "RCPT" => b"250 2.1.0 Ok\r\n",
            "DATA" => {
                io.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await
                    .expect("354");
                loop {
                    line.clear();
                    io.read_line(&mut line).await.expect("body");
                    if line == ".\r\n" || line.is_empty() {
                        break;
                    }
                }
                b"250 2.0.0 Ok: queued as 4Bq7Xz1mQ\r\n"
            }
            "QUIT" => {
                io.write_all(b"221 2.0.0 Bye\r\n").await.expect("221");
                return commands;
            }
            _ => b"502 5.5.2 Error: command not recognized\r\n",
        };
        io.write_all(reply).await.expect("reply");
    }
}

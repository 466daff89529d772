//! `connect_over` runs whole sessions over streams other than TCP: a Unix socket carried to the
//! embedded server (as a proxy would carry it), and a stream of the caller's own type, with its
//! own timeouts, to a scripted server.

#![cfg(unix)]

use std::io::{self, BufRead, BufReader, IoSlice, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use smtp_blocking::smtp_sansio::{ClientId, Credentials, Envelope, Mailbox, Timeouts, TlsMode};
use smtp_blocking::{Connection, Endpoint, Options, connect_over};
use smtp_test_server::{ServerOptions, TestServer};

fn envelope() -> Envelope {
    let to = [Mailbox::parse("rcpt@example.net").expect("valid")];
    Envelope::new(Mailbox::parse("sender@example.com").expect("valid"), to)
}

/// STARTTLS, AUTH and a message over a Unix socket whose other end is relayed to the embedded
/// server: native-tls runs over the boxed stream, and the certificate is still checked against
/// the endpoint's host (SECURITY.md G9).
#[test]
fn a_whole_starttls_session_over_a_unix_socket() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime
        .block_on(TestServer::start(ServerOptions::default()))
        .expect("server");
    let (ours, theirs) = UnixStream::pair().expect("socket pair");
    theirs.set_nonblocking(true).expect("nonblocking");
    let addr = server.addr();
    let relay = runtime.spawn(async move {
        let mut theirs = tokio::net::UnixStream::from_std(theirs).expect("tokio socket");
        let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
        let _ = tokio::io::copy_bidirectional(&mut theirs, &mut tcp).await;
    });

    let endpoint = Endpoint::with_mode("localhost", addr.port(), TlsMode::StartTls);
    let mut options = Options::new(endpoint, ClientId::parse("client.example").expect("valid"));
    options
        .tls
        .add_ca_pem(server.ca_pem().as_bytes())
        .expect("the server's CA");
    options.config.credentials =
        Some(Credentials::password("demo", "demo-password").expect("valid"));
    options.config.timeouts = Timeouts::uniform(Duration::from_secs(5));

    let mut session = connect_over(ours, options).expect("session");
    assert!(session.is_encrypted());
    let body = "Subject: over a unix socket\r\n\r\n".to_string() + &"line\r\n".repeat(10_000);
    let report = session
        .send(envelope(), body.clone().into())
        .expect("report");
    assert!(report.is_delivered(), "{report:?}");
    let id = report.message_id().expect("queue id").to_string();
    session.quit().expect("quit");
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].id, id);
    assert!(received[0].tls);
    assert_eq!(received[0].data, body.as_bytes());
    runtime.block_on(relay).expect("relay");
}

/// A stream type of the caller's own, such as a tunnel's: it forwards the timeouts to the
/// socket underneath and counts the timeouts set, which is how every deadline is kept.
struct Tunnel {
    socket: UnixStream,
    timeouts_set: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Read for Tunnel {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.read(buf)
    }
}

impl Write for Tunnel {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.socket.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.socket.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.socket.flush()
    }
}

impl Connection for Tunnel {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.timeouts_set
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.socket.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.timeouts_set
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.socket.set_write_timeout(timeout)
    }
}

/// A plaintext session over the caller's own stream type, against a server scripted here.
#[test]
fn a_whole_session_over_a_stream_of_the_callers_own_type() {
    let (ours, theirs) = UnixStream::pair().expect("socket pair");
    let server = std::thread::spawn(move || scripted_server(theirs));
    let timeouts_set = std::sync::Arc::default();
    let tunnel = Tunnel {
        socket: ours,
        timeouts_set: std::sync::Arc::clone(&timeouts_set),
    };
    let endpoint = Endpoint::with_mode("mx.example", 25, TlsMode::InsecurePlaintext);
    let mut options = Options::new(endpoint, ClientId::parse("client.example").expect("valid"));
    options.config.timeouts = Timeouts::uniform(Duration::from_secs(5));

    let mut session = connect_over(tunnel, options).expect("session");
    assert!(!session.is_encrypted());
    let report = session
        .send(envelope(), "Subject: tunnelled\r\n\r\nHello\r\n".into())
        .expect("report");
    assert!(report.is_delivered(), "{report:?}");
    assert_eq!(report.message_id(), Some("4Bq7Xz1mQ"));
    session.quit().expect("quit");
    let commands = server.join().expect("server");
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
    assert!(timeouts_set.load(std::sync::atomic::Ordering::Relaxed) >= 10);
}

/// Greets, answers EHLO, MAIL, RCPT, DATA (reading the body to its final dot) and QUIT, one
/// command at a time, and returns the commands it got.
fn scripted_server(socket: UnixStream) -> Vec<String> {
    let mut writer = socket.try_clone().expect("clone");
    let mut reader = BufReader::new(socket);
    let mut commands = Vec::new();
    writer
        .write_all(b"220 mx.example ESMTP\r\n")
        .expect("greeting");
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).expect("command") == 0 {
            return commands;
        }
        let command = line.trim_end().to_string();
        let verb = command.split(' ').next().unwrap_or_default().to_string();
        commands.push(command);
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-mx.example\r\n250 8BITMIME\r\n",
            "MAIL" | "RCPT" => b"250 2.1.0 Ok\r\n",
            "DATA" => {
                writer
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .expect("354");
                loop {
                    line.clear();
                    reader.read_line(&mut line).expect("body");
                    if line == ".\r\n" || line.is_empty() {
                        break;
                    }
                }
                b"250 2.0.0 Ok: queued as 4Bq7Xz1mQ\r\n"
            }
            "QUIT" => {
                writer.write_all(b"221 2.0.0 Bye\r\n").expect("221");
                return commands;
            }
            _ => b"502 5.5.2 Error: command not recognized\r\n",
        };
        writer.write_all(reply).expect("reply");
    }
}

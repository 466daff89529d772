//! SECURITY.md F11 over real sockets: a server that answers each command as soon as it reads it,
//! with long replies, while the client is still writing a large pipelined group. Unless the
//! driver reads while it writes, both sides end up waiting on full buffers (RFC 2920 §3.1).

use std::time::Duration;

use bytes::Bytes;
use smtp_tokio::smtp_sansio::{ClientId, Envelope, Mailbox, Timeouts, TlsMode};
use smtp_tokio::{Endpoint, Options, connect_over};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Small socket buffers on both ends, so that a few hundred kilobytes fill them.
const BUFFER: u32 = 16 * 1024;

fn small_socket() -> TcpSocket {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_send_buffer_size(BUFFER).expect("send buffer");
    socket.set_recv_buffer_size(BUFFER).expect("receive buffer");
    socket
}

/// Replies to every command the moment it is read, RCPT with a reply of about 500 octets, and
/// does not read on while a reply is still being written.
async fn eager_server(listener: TcpListener) -> std::io::Result<()> {
    let (socket, _) = listener.accept().await?;
    let (read, mut write) = socket.into_split();
    let mut read = BufReader::new(read);
    write.write_all(b"220 mx.example ESMTP\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut words = line.split_ascii_whitespace();
        let verb = words.next().unwrap_or_default().to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" => "250-mx.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n".to_string(),
            "RCPT" => format!("250 2.1.5 {}\r\n", "o".repeat(480)),
            "BDAT" => {
                let size: u64 = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                let mut chunk = (&mut read).take(size);
                tokio::io::copy(&mut chunk, &mut tokio::io::sink()).await?;
                if words.next().is_some() {
                    "250 2.0.0 Ok: queued as F11\r\n".to_string()
                } else {
                    "250 2.0.0 chunk received\r\n".to_string()
                }
            }
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => "250 2.0.0 Ok\r\n".to_string(),
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

#[tokio::test]
async fn f11_replies_are_read_while_a_large_group_is_written() {
    let listener = small_socket();
    listener
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind");
    let listener = listener.listen(1).expect("listen");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(eager_server(listener));

    let tcp: TcpStream = small_socket().connect(address).await.expect("connect");
    let endpoint = Endpoint::with_mode("127.0.0.1", address.port(), TlsMode::InsecurePlaintext);
    let mut options = Options::new(endpoint, ClientId::parse("client.example").expect("valid"));
    // No bound from the core: the whole message is one group, megabytes each way.
    options.config.max_unanswered_commands = usize::MAX;
    options.config.max_unacknowledged_bytes = usize::MAX;
    options.config.timeouts = Timeouts::uniform(Duration::from_secs(10));
    let mut session = connect_over(tcp, options).await.expect("session");

    let recipients =
        (0..3000).map(|i| Mailbox::parse(&format!("r{i}@example.net")).expect("valid"));
    let envelope = Envelope::new(Mailbox::parse("a@example.com").expect("valid"), recipients);
    let body = Bytes::from([&[b'x'; 998][..], b"\r\n"].concat().repeat(2000));
    let report = session.send(envelope, body).await.expect("no deadlock");
    assert!(report.is_delivered(), "{:?}", report.outcome);
    assert!(report.recipients.iter().all(|r| r.is_delivered()));
    session.quit().await.expect("quit");
    server.await.expect("server task").expect("server io");
}

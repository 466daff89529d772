//! One connection of the test server: the SMTP dialogue, TLS included.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use smtp_proto::wire::base64;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{ConnectionRecord, Shared, store};

pub(super) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

struct Conn {
    io: Box<dyn Io>,
    buf: Vec<u8>,
    tls: bool,
    sni: Option<String>,
}

impl Conn {
    /// Runs the TLS handshake on the connection and continues over TLS.
    async fn start_tls(&mut self, acceptor: &tokio_rustls::TlsAcceptor) -> io::Result<()> {
        let plain = std::mem::replace(&mut self.io, Box::new(tokio::io::duplex(1).0));
        let stream = acceptor.accept(plain).await?;
        self.sni = stream.get_ref().1.server_name().map(String::from);
        self.io = Box::new(stream);
        self.tls = true;
        Ok(())
    }

    async fn line(&mut self) -> io::Result<Option<String>> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..end + 2).take(end).collect();
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            if self.buf.len() > 64 * 1024 || !self.fill().await? {
                return Ok(None);
            }
        }
    }

    async fn exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    async fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.io.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    async fn reply(&mut self, text: &str) -> io::Result<()> {
        self.io.write_all(text.as_bytes()).await?;
        self.io.write_all(b"\r\n").await?;
        // TLS keeps written data in its buffer until flushed.
        self.io.flush().await
    }
}

#[derive(Default)]
pub(super) struct Transaction {
    pub(super) from: Option<String>,
    pub(super) to: Vec<String>,
    chunks: Vec<u8>,
}

/// Reads until the client closes: true if TLS ended with its close_notify (a clean end of
/// stream), false on a bare TCP close or after five seconds.
async fn closed_with_notify(io: &mut Box<dyn Io>) -> bool {
    let mut scratch = [0u8; 1024];
    let until_closed = async {
        loop {
            match io.read(&mut scratch).await {
                Ok(0) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), until_closed)
        .await
        .unwrap_or(false)
}

fn path(argument: &str) -> String {
    let start = argument.find('<').map_or(0, |i| i + 1);
    let end = argument[start..]
        .find('>')
        .map_or(argument.len(), |i| start + i);
    argument[start..end].to_string()
}

/// Serves one connection, then records how it ended.
pub(super) async fn serve(shared: Arc<Shared>, tcp: Box<dyn Io>) {
    let mut conn = Conn {
        io: tcp,
        buf: Vec::new(),
        tls: false,
        sni: None,
    };
    let ended = dialogue(&shared, &mut conn).await;
    // A client that ends TLS properly sends close_notify; one that drops the connection
    // mid-dialogue did not.
    let close_notify = conn.tls && ended.is_ok() && closed_with_notify(&mut conn.io).await;
    let record = ConnectionRecord {
        tls: conn.tls,
        sni: conn.sni.take(),
        close_notify,
    };
    if let Ok(mut connections) = shared.connections.lock() {
        connections.push(record);
    }
    let _ = conn.io.shutdown().await;
}

async fn dialogue(shared: &Shared, conn: &mut Conn) -> io::Result<()> {
    let options = &shared.options;
    if options.implicit_tls {
        conn.start_tls(&shared.acceptor).await?;
    }
    let mut user: Option<String> = None;
    let mut txn = Transaction::default();
    conn.reply("220 localhost ESMTP smtp-tokio test server")
        .await?;
    while let Some(line) = conn.line().await? {
        let (verb, argument) = line.split_once(' ').unwrap_or((&line, ""));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                let mut lines = vec!["localhost".to_string(), format!("SIZE {}", options.size)];
                lines.extend(["8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"].map(String::from));
                if options.pipelining {
                    lines.push("PIPELINING".into());
                }
                if options.chunking {
                    lines.push("CHUNKING".into());
                }
                if !conn.tls && options.starttls {
                    lines.push("STARTTLS".into());
                }
                if conn.tls && options.auth.is_some() {
                    lines.push("AUTH PLAIN LOGIN".into());
                }
                let last = lines.len() - 1;
                let text: Vec<String> = lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| format!("250{}{l}", if i == last { ' ' } else { '-' }))
                    .collect();
                conn.reply(&text.join("\r\n")).await?;
            }
            "HELO" => conn.reply("250 localhost").await?,
            "STARTTLS" if !conn.tls && options.starttls => {
                conn.reply("220 2.0.0 Ready to start TLS").await?;
                // Nothing sent before the handshake may be acted on after it (RFC 3207 §4.2).
                conn.buf.clear();
                conn.start_tls(&shared.acceptor).await?;
                user = None;
                txn = Transaction::default();
            }
            "AUTH" if !conn.tls => conn.reply("538 5.7.11 Encryption required").await?,
            "AUTH" => {
                let (mechanism, initial) = argument.split_once(' ').unwrap_or((argument, ""));
                let credentials = match mechanism.to_ascii_uppercase().as_str() {
                    "PLAIN" => {
                        let response = if initial.is_empty() {
                            conn.reply("334 ").await?;
                            conn.line().await?.unwrap_or_default()
                        } else {
                            initial.to_string()
                        };
                        base64::decode(response.as_bytes()).and_then(|plain| {
                            let mut fields = plain.split(|&b| b == 0).skip(1);
                            Some((fields.next()?.to_vec(), fields.next()?.to_vec()))
                        })
                    }
                    "LOGIN" => {
                        conn.reply("334 VXNlcm5hbWU6").await?;
                        let name = conn.line().await?.unwrap_or_default();
                        conn.reply("334 UGFzc3dvcmQ6").await?;
                        let password = conn.line().await?.unwrap_or_default();
                        base64::decode(name.as_bytes()).zip(base64::decode(password.as_bytes()))
                    }
                    _ => {
                        conn.reply("504 5.5.4 Unrecognized authentication type")
                            .await?;
                        continue;
                    }
                };
                let expected = options
                    .auth
                    .as_ref()
                    .map(|(u, p)| (u.as_bytes().to_vec(), p.as_bytes().to_vec()));
                if credentials.is_some() && credentials == expected {
                    user = options.auth.as_ref().map(|(u, _)| u.clone());
                    conn.reply("235 2.7.0 Authentication successful").await?;
                } else {
                    conn.reply("535 5.7.8 Authentication credentials invalid")
                        .await?;
                }
            }
            "MAIL" if options.auth.is_some() && user.is_none() => {
                conn.reply("530 5.7.0 Authentication required").await?;
            }
            "MAIL" => {
                txn = Transaction {
                    from: Some(path(argument)),
                    ..Transaction::default()
                };
                conn.reply("250 2.1.0 Ok").await?;
            }
            "RCPT" if txn.from.is_none() => {
                conn.reply("503 5.5.1 Error: need MAIL command").await?
            }
            "RCPT" => {
                let to = path(argument);
                if to.starts_with("reject") {
                    conn.reply("550 5.1.1 Recipient address rejected: User unknown")
                        .await?;
                } else if to.starts_with("tempfail") {
                    conn.reply("450 4.2.0 Recipient address rejected: try again later")
                        .await?;
                } else {
                    txn.to.push(to);
                    conn.reply("250 2.1.5 Ok").await?;
                }
            }
            "DATA" if txn.to.is_empty() => {
                conn.reply("554 5.5.1 Error: no valid recipients").await?
            }
            "DATA" => {
                conn.reply("354 End data with <CR><LF>.<CR><LF>").await?;
                let mut data = Vec::new();
                while let Some(line) = conn.line().await? {
                    if line == "." {
                        break;
                    }
                    data.extend_from_slice(line.strip_prefix('.').unwrap_or(&line).as_bytes());
                    data.extend_from_slice(b"\r\n");
                }
                let id = store(shared, std::mem::take(&mut txn), data, conn.tls, &user);
                conn.reply(&format!("250 Ok {id}")).await?;
            }
            "BDAT" => {
                let mut words = argument.split_ascii_whitespace();
                let size: usize = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                let last = words.next().is_some_and(|w| w.eq_ignore_ascii_case("LAST"));
                let chunk = conn.exact(size).await?;
                if txn.to.is_empty() {
                    conn.reply("503 5.5.1 Error: no valid recipients").await?;
                    continue;
                }
                txn.chunks.extend_from_slice(&chunk);
                if last {
                    let data = std::mem::take(&mut txn.chunks);
                    let id = store(shared, std::mem::take(&mut txn), data, conn.tls, &user);
                    conn.reply(&format!("250 Ok {id}")).await?;
                } else {
                    conn.reply(&format!("250 2.0.0 {size} octets received"))
                        .await?;
                }
            }
            "RSET" => {
                txn = Transaction::default();
                conn.reply("250 2.0.0 Ok").await?;
            }
            "NOOP" => conn.reply("250 2.0.0 Ok").await?,
            "QUIT" => {
                conn.reply("221 2.0.0 Bye").await?;
                break;
            }
            _ => {
                conn.reply("502 5.5.2 Error: command not recognized")
                    .await?
            }
        }
    }
    Ok(())
}

//! One connection of the test server: reading and writing, TLS, and how the connection ends.

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::fault::{self, Fault, FaultAction, FaultPoint};
use super::{ConnectionRecord, Shared, dialogue};

pub(super) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// How a dialogue ended.
pub(super) enum End {
    /// After QUIT, or when the client closed the connection.
    Closed,
    /// At a fault: the server does this action and closes.
    Fault(FaultAction),
}

pub(super) struct Conn {
    io: Box<dyn Io>,
    buf: Vec<u8>,
    pub(super) tls: bool,
    /// Whether the client presented a certificate the server verified.
    pub(super) client_certificate: bool,
    sni: Option<String>,
    /// The fault armed for this connection, if it is one of those the fault hits.
    fault: Option<Fault>,
    /// MAIL commands received so far, whatever their replies.
    pub(super) messages: usize,
    /// Messages taken (stored) on this connection.
    pub(super) taken: usize,
    /// Whether more connections than `Limits::connections` are open with this one.
    pub(super) over_limit: bool,
}

impl Conn {
    /// Runs the TLS handshake on the connection and continues over TLS.
    pub(super) async fn start_tls(
        &mut self,
        acceptor: &tokio_rustls::TlsAcceptor,
    ) -> io::Result<()> {
        let plain = std::mem::replace(&mut self.io, Box::new(tokio::io::duplex(1).0));
        let stream = acceptor.accept(plain).await?;
        self.sni = stream.get_ref().1.server_name().map(String::from);
        self.client_certificate = stream.get_ref().1.peer_certificates().is_some();
        self.io = Box::new(stream);
        self.tls = true;
        Ok(())
    }

    /// Forgets what the client sent and the server has not read yet.
    pub(super) fn discard_buffered(&mut self) {
        self.buf.clear();
    }

    /// The next line, without its CRLF, or None at the end of the stream.
    pub(super) async fn line(&mut self) -> io::Result<Option<String>> {
        let line = self.raw_line().await?;
        Ok(line.map(|line| String::from_utf8_lossy(&line).into_owned()))
    }

    /// The next line as bytes, without its CRLF, or None at the end of the stream (or past 64 KiB
    /// without a CRLF).
    pub(super) async fn raw_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..end + 2).take(end).collect();
                return Ok(Some(line));
            }
            if self.buf.len() > 64 * 1024 || !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// Exactly `n` octets.
    pub(super) async fn exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
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

    /// Writes a reply; `text` has no final CRLF.
    pub(super) async fn reply(&mut self, text: &str) -> io::Result<()> {
        self.io.write_all(text.as_bytes()).await?;
        self.io.write_all(b"\r\n").await?;
        // TLS keeps written data in its buffer until flushed.
        self.io.flush().await
    }

    /// The action of the armed fault if it is due at `point` now.
    pub(super) fn fault(&self, point: FaultPoint) -> Option<FaultAction> {
        let fault = self.fault?;
        let due = match point {
            FaultPoint::Greeting | FaultPoint::Ehlo => true,
            _ => fault.message == self.messages,
        };
        (fault.at == point && due).then_some(fault.action)
    }
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

/// The stream again, with a second handle to its socket through which a reset can be forced
/// even when the stream itself ends up inside TLS.
fn with_raw_handle(tcp: TcpStream) -> io::Result<(TcpStream, Option<std::net::TcpStream>)> {
    let std = tcp.into_std()?;
    let raw = std.try_clone().ok();
    Ok((TcpStream::from_std(std)?, raw))
}

/// Serves the `number`-th accepted connection (counted from 1), then records how it ended.
pub(super) async fn serve(shared: Arc<Shared>, tcp: TcpStream, number: usize) {
    let _ = tcp.set_nodelay(true);
    let open = shared.open.fetch_add(1, Ordering::SeqCst) + 1;
    let _open = OpenGuard(&shared);
    let over_limit = shared
        .options
        .limits
        .connections
        .is_some_and(|max| open > max);
    let fault = shared.options.fault.filter(|f| number <= f.connections);
    let (tcp, raw) = match fault {
        Some(f) if f.action == FaultAction::Reset => match with_raw_handle(tcp) {
            Ok(split) => split,
            Err(_) => return,
        },
        _ => (tcp, None),
    };
    let mut conn = Conn {
        io: Box::new(tcp),
        buf: Vec::new(),
        tls: false,
        client_certificate: false,
        sni: None,
        fault,
        messages: 0,
        taken: 0,
        over_limit,
    };
    let ended = dialogue::run(&shared, &mut conn).await;
    if let Ok(End::Fault(action)) = ended {
        // Recorded before the close, so that a client which has seen the close finds it.
        record(&shared, &mut conn, false);
        fault::act(conn.io, action, raw).await;
        return;
    }
    // A client that ends TLS properly sends close_notify; one that drops the connection
    // mid-dialogue did not.
    let close_notify = conn.tls && ended.is_ok() && closed_with_notify(&mut conn.io).await;
    record(&shared, &mut conn, close_notify);
    let _ = conn.io.shutdown().await;
}

/// Counts a connection as open until it is dropped.
struct OpenGuard<'a>(&'a Shared);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

fn record(shared: &Shared, conn: &mut Conn, close_notify: bool) {
    let record = ConnectionRecord {
        tls: conn.tls,
        sni: conn.sni.take(),
        close_notify,
    };
    if let Ok(mut connections) = shared.connections.lock() {
        connections.push(record);
    }
}

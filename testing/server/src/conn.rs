//! One connection of the test server: reading and writing, TLS, and how the connection ends.

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::fault::{self, Fault, FaultAction, FaultPoint};
use super::timing::{Arrivals, Outbox, after, until};
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
    /// Messages counted toward `Limits::messages_per_session`: those stored, or with SES
    /// every one that reached the end of its data.
    pub(super) taken: usize,
    /// Whether more connections than `Limits::connections` are open with this one.
    pub(super) over_limit: bool,
    /// When the input read so far arrived.
    arrivals: Arrivals,
    /// Replies made and not yet due.
    outbox: Outbox,
    /// Added to every reply (`Limits::latency`).
    latency: Duration,
    /// `Limits::idle_timeout`.
    idle: Option<Duration>,
    /// When the client last sent something or the server last wrote, for the idle timeout.
    active: Instant,
    /// Whether the dialogue ended because the client stayed silent for the idle timeout.
    pub(super) idled: bool,
}

impl Conn {
    /// Runs the TLS handshake on the connection and continues over TLS.
    pub(super) async fn start_tls(
        &mut self,
        acceptor: &tokio_rustls::TlsAcceptor,
    ) -> io::Result<()> {
        // The reply to STARTTLS goes out, at its time, before the handshake.
        self.flush_all().await?;
        let plain = std::mem::replace(&mut self.io, Box::new(tokio::io::duplex(1).0));
        let stream = acceptor.accept(plain).await?;
        self.sni = stream.get_ref().1.server_name().map(String::from);
        self.client_certificate = stream.get_ref().1.peer_certificates().is_some();
        self.io = Box::new(stream);
        self.tls = true;
        // The next reply (the greeting with implicit TLS) counts from the end of the handshake.
        self.arrivals = Arrivals::new(Instant::now());
        self.active = Instant::now();
        Ok(())
    }

    /// Forgets what the client sent and the server has not read yet.
    pub(super) fn discard_buffered(&mut self) {
        self.buf.clear();
        self.arrivals = Arrivals::new(self.arrivals.last());
    }

    /// Takes the first `n` buffered octets.
    fn consume(&mut self, n: usize) -> Vec<u8> {
        self.arrivals.consume(n);
        self.buf.drain(..n).collect()
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
                let mut line = self.consume(end + 2);
                line.truncate(end);
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
        Ok(self.consume(n))
    }

    /// Reads more input, writing the replies that fall due meanwhile. False at the end of the
    /// stream; an error of kind `TimedOut`, with `idled` set, after the idle timeout.
    async fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            self.write_due().await?;
            let next_reply = self.outbox.next_due();
            // Silence counts only while the client has every reply it waits for.
            let idle_at = self
                .idle
                .filter(|_| self.outbox.is_empty())
                .map(|idle| after(self.active, idle));
            tokio::select! {
                read = self.io.read(&mut chunk) => {
                    let n = read?;
                    let now = Instant::now();
                    self.arrivals.read(n, now);
                    self.active = now;
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n > 0);
                }
                () = until(next_reply) => {}
                () = until(idle_at) => {
                    self.idled = true;
                    return Err(io::ErrorKind::TimedOut.into());
                }
            }
        }
    }

    /// Makes a reply to the input consumed last, written one latency after that input arrived;
    /// `text` has no final CRLF.
    pub(super) async fn reply(&mut self, text: &str) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(text.len() + 2);
        bytes.extend_from_slice(text.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        self.outbox
            .push(after(self.arrivals.last(), self.latency), bytes);
        self.write_due().await
    }

    /// Writes the replies that are due.
    async fn write_due(&mut self) -> io::Result<()> {
        let mut wrote = false;
        while let Some(bytes) = self.outbox.pop_due(Instant::now()) {
            self.io.write_all(&bytes).await?;
            wrote = true;
        }
        if wrote {
            // TLS keeps written data in its buffer until flushed.
            self.io.flush().await?;
            self.active = Instant::now();
        }
        Ok(())
    }

    /// Writes every reply made, each at its time.
    pub(super) async fn flush_all(&mut self) -> io::Result<()> {
        while let Some((due, bytes)) = self.outbox.pop() {
            tokio::time::sleep_until(due).await;
            self.io.write_all(&bytes).await?;
            self.io.flush().await?;
        }
        self.active = Instant::now();
        Ok(())
    }

    /// Writes every reply made, then waits until a reply to the input consumed last would be
    /// due: where a fault's action stands for that reply.
    async fn settle(&mut self) -> io::Result<()> {
        self.flush_all().await?;
        tokio::time::sleep_until(after(self.arrivals.last(), self.latency)).await;
        Ok(())
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
    let accepted = Instant::now();
    let limits = shared.options.limits;
    let open = shared.open.fetch_add(1, Ordering::SeqCst) + 1;
    let over_limit = limits.connections.is_some_and(|max| open > max);
    // A connection refused for the limit gives its place back at once.
    let _open = if over_limit {
        shared.open.fetch_sub(1, Ordering::SeqCst);
        None
    } else {
        shared
            .stats
            .peak_connections
            .fetch_max(open, Ordering::SeqCst);
        Some(OpenGuard(&shared))
    };
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
        arrivals: Arrivals::new(accepted),
        outbox: Outbox::default(),
        latency: limits.latency,
        idle: limits.idle_timeout,
        active: accepted,
        idled: false,
    };
    let ended = match dialogue::run(&shared, &mut conn).await {
        Err(_) if conn.idled => {
            shared.stats.idle_timeouts.fetch_add(1, Ordering::SeqCst);
            let idle = shared.options.personality.replies().idle;
            Ok(End::Fault(FaultAction::Reply(idle)))
        }
        ended => ended,
    };
    if let Ok(End::Fault(action)) = ended {
        // Recorded before the close, so that a client which has seen the close finds it.
        record(&shared, &mut conn, false);
        if conn.settle().await.is_ok() {
            fault::act(conn.io, action, raw).await;
        }
        return;
    }
    let flushed = conn.flush_all().await.is_ok();
    // A client that ends TLS properly sends close_notify; one that drops the connection
    // mid-dialogue did not.
    let close_notify =
        conn.tls && ended.is_ok() && flushed && closed_with_notify(&mut conn.io).await;
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

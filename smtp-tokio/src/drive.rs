//! The IO loop: the core's actions carried out over tokio, every IO outcome handed back.

use std::io;
use std::time::Duration;

use smtp_sansio::driver::{Io, looks_like_smtp_reply, next_io};
use smtp_sansio::{ChannelBinding, Client, Disconnect, TlsInfo, TlsMode, Transmission};
use tokio::time::{timeout, timeout_at};

use crate::session::Session;
use crate::stream::{Connection, FirstOctets, Recorder, Stream};

/// How much the adapter reads at once; the core holds what it needs of it.
pub(crate) const READ_SIZE: usize = 16 * 1024;

/// The most reads taken after a failed write to collect what the server said before it left.
const MAX_DRAIN_READS: usize = 64;

/// How long those reads may wait for data already on its way.
const DRAIN_WAIT: Duration = Duration::from_millis(100);

impl Session {
    /// Carries out the core's actions until `done` holds or the core waits for the application
    /// (true then) or for nothing more (the session ended). Every IO outcome goes back into the
    /// core, which decides everything; after a failure or a clean end the socket is closed.
    pub(crate) async fn drive(&mut self, done: impl Fn(&Client) -> bool) -> bool {
        let mut idle = false;
        while !done(&self.client) {
            let spans = &mut self.spans;
            match next_io(&mut self.client, self.clock.now(), |e| spans.log(e)) {
                Io::Transmit { data, deadline } => self.transmit(data, deadline).await,
                Io::Receive { deadline } => self.receive(deadline).await,
                Io::UpgradeTls { deadline } => self.upgrade(deadline).await,
                Io::Stop { idle: waiting } => {
                    idle = waiting;
                    break;
                }
                _ => break,
            }
        }
        // What came with the last read (the rest of a batch's replies, a 421) is logged now.
        while let Some(event) = self.client.next_event() {
            self.spans.log(&event);
        }
        if self.client.error().is_some() || self.client.is_closed() {
            if self.stream.is_some() {
                crate::trace::ended(self.client.error());
            }
            self.shutdown().await;
        }
        idle
    }

    /// Writes a transmission with vectored writes, reading what the server sends meanwhile
    /// (RFC 2920 §3.1, SECURITY.md F11). A failed write first collects what the server said
    /// before it left, then reports the lost connection.
    async fn transmit(&mut self, mut data: Transmission, deadline: smtp_sansio::Instant) {
        let at = self.clock.deadline(deadline);
        loop {
            let clock = self.clock;
            let (client, buf) = (&mut self.client, &mut self.buf[..]);
            let Some(stream) = self.stream.as_mut() else {
                return;
            };
            let mut on_input = |input: &[u8]| {
                feed(client, clock.now(), input);
                // Writing the rest is pointless once the session has failed or ended.
                client.error().is_none() && !input.is_empty()
            };
            let written = stream.transmit(&mut data, buf, &mut on_input);
            match timeout_at(at.into(), written).await {
                Ok(Ok(())) => return,
                Ok(Err(e)) => {
                    self.drain().await;
                    return self.lost(&e);
                }
                Err(_) => {
                    self.client.handle_timeout(self.clock.now());
                    if self.client.error().is_some() {
                        return;
                    }
                    // Early by the client's clock: the same data, written on.
                }
            }
        }
    }

    async fn receive(&mut self, deadline: smtp_sansio::Instant) {
        let at = self.clock.deadline(deadline);
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let read = timeout_at(at.into(), stream.read(&mut self.buf)).await;
        let now = self.clock.now();
        match read {
            Ok(Ok(n)) => feed(&mut self.client, now, &self.buf[..n]),
            Ok(Err(e)) => self.lost(&e),
            // Before the deadline (it cannot be, with tokio's timer) this is a no-op.
            Err(_) => self.client.handle_timeout(now),
        }
    }

    /// Runs the TLS handshake. For implicit TLS the first octets read are kept: if the
    /// handshake fails on a server that greeted in plaintext, the session says so
    /// ([`Error::PlaintextGreeting`](crate::Error::PlaintextGreeting)).
    async fn upgrade(&mut self, deadline: smtp_sansio::Instant) {
        let (Some(Stream::Plain(plain)), Some(connector)) =
            (self.stream.take(), self.connector.clone())
        else {
            let reason = "tls requested on a connection without tls".to_string();
            let now = self.clock.now();
            return self
                .client
                .handle_connection_lost(now, Disconnect::TlsHandshake(reason));
        };
        let at = self.clock.deadline(deadline);
        let first = FirstOctets::default();
        let implicit = self.endpoint.tls == TlsMode::Implicit;
        let io: Box<dyn Connection> = if implicit {
            Box::new(Recorder::new(plain, first.clone()))
        } else {
            plain
        };
        let handshake = connector.connect(self.server_name.clone(), io);
        match timeout_at(at.into(), handshake).await {
            Ok(Ok(tls)) => {
                // rustls verified the chain and the host name, or the handshake failed.
                let info = TlsInfo::new(true);
                let info = match channel_binding(tls.get_ref().1) {
                    Some(binding) => info.with_channel_binding(binding),
                    None => info,
                };
                self.stream = Some(Stream::Tls(Box::new(tls)));
                let _ = self.client.handle_tls_established(self.clock.now(), info);
            }
            Ok(Err(e)) => {
                // rustls reports certificate, name and protocol failures as InvalidData.
                let cause = if implicit && looks_like_smtp_reply(&first.get()) {
                    self.plaintext_greeting = true;
                    let port = self.endpoint.port;
                    Disconnect::TlsHandshake(crate::Error::PlaintextGreeting { port }.to_string())
                } else if e.kind() == io::ErrorKind::InvalidData {
                    Disconnect::TlsHandshake(e.to_string())
                } else {
                    Disconnect::from_io(&e)
                };
                self.client.handle_connection_lost(self.clock.now(), cause);
            }
            Err(_) => self.client.handle_timeout(self.clock.now()),
        }
    }

    /// After a failed write: what the server sent before it left (replies to earlier messages,
    /// a 421) is readable now or within [`DRAIN_WAIT`]; hand it to the core.
    async fn drain(&mut self) {
        let until = tokio::time::Instant::now() + DRAIN_WAIT;
        for _ in 0..MAX_DRAIN_READS {
            let Some(stream) = self.stream.as_mut() else {
                return;
            };
            match timeout_at(until, stream.read(&mut self.buf)).await {
                Ok(Ok(n)) if n > 0 => self.client.handle_input(self.clock.now(), &self.buf[..n]),
                _ => return,
            }
            if self.client.error().is_some() {
                return;
            }
        }
    }

    /// A read, write or handshake failed: the connection is gone.
    fn lost(&mut self, error: &io::Error) {
        let now = self.clock.now();
        self.client
            .handle_connection_lost(now, Disconnect::from_io(error));
    }

    /// Closes the connection, TLS with a close_notify first (RFC 8314 §3.4); never waits long
    /// on a server that stopped reading.
    pub(crate) async fn shutdown(&mut self) {
        if let Some(stream) = self.stream.take() {
            let _ = timeout(Duration::from_secs(5), stream.close()).await;
        }
    }
}

/// Hands what one read brought to the core: input, or (when empty) the end of the stream.
fn feed(client: &mut Client, now: smtp_sansio::Instant, input: &[u8]) {
    if input.is_empty() {
        client.handle_connection_lost(now, Disconnect::Closed);
    } else {
        client.handle_input(now, input);
    }
}

/// RFC 9266 `tls-exporter` channel binding, for SCRAM's `-PLUS` mechanisms: TLS 1.3 only (for
/// TLS 1.2 the exporter does not bind the handshake without extended master secret).
fn channel_binding(conn: &rustls::ClientConnection) -> Option<ChannelBinding> {
    if conn.protocol_version() != Some(rustls::ProtocolVersion::TLSv1_3) {
        return None;
    }
    let data = conn
        .export_keying_material(vec![0; 32], b"EXPORTER-Channel-Binding", None)
        .ok()?;
    Some(ChannelBinding::tls_exporter(data))
}

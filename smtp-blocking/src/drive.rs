//! The IO loop: the core's actions carried out over blocking sockets, every IO outcome handed
//! back.

use std::io::{self, ErrorKind, Write};
use std::time::Duration;

use bytes::Buf;
use native_tls::HandshakeError;
use smtp_sansio::driver::{Io, looks_like_smtp_reply, next_io};
use smtp_sansio::{ChannelBinding, Client, Disconnect, TlsInfo, TlsMode, Transmission};

use crate::session::Session;
use crate::stream::{Connection, FirstOctets, Recorder, Stream};

/// How much the adapter reads at once; the core holds what it needs of it.
pub(crate) const READ_SIZE: usize = 16 * 1024;

/// The most reads taken after a failed write to collect what the server said before it left.
const MAX_DRAIN_READS: usize = 64;

/// How long each of those reads may wait for data already on its way.
const DRAIN_WAIT: Duration = Duration::from_millis(100);

impl Session {
    /// Carries out the core's actions until `done` holds or the core waits for the application
    /// (true then) or for nothing more (the session ended). Every IO outcome goes back into the
    /// core, which decides everything; after a failure or a clean end the socket is closed.
    pub(crate) fn drive(&mut self, done: impl Fn(&Client) -> bool) -> bool {
        let mut idle = false;
        while !done(&self.client) {
            let spans = &mut self.spans;
            match next_io(&mut self.client, self.clock.now(), |e| spans.log(e)) {
                Io::Transmit { data, deadline } => self.transmit(data, deadline),
                Io::Receive { deadline } => self.receive(deadline),
                Io::UpgradeTls { deadline } => self.upgrade(deadline),
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
            self.shutdown();
        }
        idle
    }

    /// Writes a whole transmission before `deadline`, the caller's body buffers included
    /// without gathering them into one buffer first. A socket timeout that fires before the
    /// deadline (timers round to ticks) only means writing on; a failed write first collects
    /// what the server said before it left, then reports the lost connection.
    fn transmit(&mut self, mut data: Transmission, deadline: smtp_sansio::Instant) {
        while !data.is_empty() {
            let (Some(left), Some(stream)) = (self.clock.remaining(deadline), self.stream.as_mut())
            else {
                return self.client.handle_timeout(self.clock.now());
            };
            let written = match stream.connection().set_write_timeout(Some(left)) {
                Ok(()) => stream.write_some(&data, &mut self.gathered),
                Err(e) => Err(e),
            };
            match written {
                Ok(0) => return self.lost(&ErrorKind::WriteZero.into()),
                Ok(n) => data.advance(n),
                Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.drain();
                    return self.lost(&e);
                }
            }
        }
        if let Some(Stream::Tls(s)) = self.stream.as_mut()
            && let Err(e) = s.flush()
        {
            self.lost(&e);
        }
    }

    fn receive(&mut self, deadline: smtp_sansio::Instant) {
        let (Some(left), Some(stream)) = (self.clock.remaining(deadline), self.stream.as_mut())
        else {
            return self.client.handle_timeout(self.clock.now());
        };
        let read = match stream.connection().set_read_timeout(Some(left)) {
            Ok(()) => stream.read(&mut self.buf),
            Err(e) => Err(e),
        };
        let now = self.clock.now();
        match read {
            Ok(0) => self.client.handle_connection_lost(now, Disconnect::Closed),
            Ok(n) => self.client.handle_input(now, &self.buf[..n]),
            // Early (a no-op: the core then asks to read again) or on time.
            Err(e) if is_timeout(&e) => self.client.handle_timeout(now),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => self.lost(&e),
        }
    }

    /// Runs the TLS handshake. For implicit TLS the first octets read are kept: if the
    /// handshake fails on a server that greeted in plaintext, the session says so
    /// ([`Error::PlaintextGreeting`](crate::Error::PlaintextGreeting)).
    fn upgrade(&mut self, deadline: smtp_sansio::Instant) {
        let (Some(Stream::Plain(plain)), Some(connector)) =
            (self.stream.take(), self.connector.as_ref())
        else {
            let reason = "tls requested on a connection without tls".to_string();
            let now = self.clock.now();
            return self
                .client
                .handle_connection_lost(now, Disconnect::TlsHandshake(reason));
        };
        let Some(left) = self.clock.remaining(deadline) else {
            return self.client.handle_timeout(self.clock.now());
        };
        let first = FirstOctets::default();
        let implicit = self.endpoint.tls == TlsMode::Implicit;
        let io: Box<dyn Connection> = if implicit {
            Box::new(Recorder::new(plain, first.clone()))
        } else {
            plain
        };
        let mut handshake = match set_timeouts(&io, Some(left)) {
            Ok(()) => connector.connect(&self.endpoint.host, io),
            Err(e) => return self.lost(&e),
        };
        loop {
            let now = self.clock.now();
            match handshake {
                Ok(tls) => {
                    // native-tls verified the chain and the host name, or the handshake failed.
                    // RFC 5929 `tls-server-end-point`, for SCRAM's -PLUS mechanisms.
                    let info = match tls.tls_server_end_point() {
                        Ok(Some(hash)) => TlsInfo::new(true)
                            .with_channel_binding(ChannelBinding::tls_server_end_point(hash)),
                        _ => TlsInfo::new(true),
                    };
                    self.stream = Some(Stream::Tls(Box::new(tls)));
                    let _ = self.client.handle_tls_established(now, info);
                    return;
                }
                // A socket timeout: go on until the deadline.
                Err(HandshakeError::WouldBlock(mid)) => {
                    let left = self.clock.remaining(deadline);
                    if left.is_none() || set_timeouts(mid.get_ref(), left).is_err() {
                        return self.client.handle_timeout(now);
                    }
                    handshake = mid.handshake();
                }
                Err(HandshakeError::Failure(_))
                    if implicit && looks_like_smtp_reply(&first.get()) =>
                {
                    self.plaintext_greeting = true;
                    let port = self.endpoint.port;
                    let hint = crate::Error::PlaintextGreeting { port }.to_string();
                    return self
                        .client
                        .handle_connection_lost(now, Disconnect::TlsHandshake(hint));
                }
                Err(HandshakeError::Failure(e)) => {
                    let cause = match underlying_io(&e) {
                        // The connection failed under the handshake.
                        Some(io) if !is_timeout(io) => Disconnect::from_io(io),
                        // The handshake cannot resume after this: the deadline has passed, or
                        // its timer fired a little early.
                        Some(_) if self.clock.remaining(deadline).is_none() => {
                            return self.client.handle_timeout(now);
                        }
                        Some(_) => Disconnect::Io("tls handshake timed out".into()),
                        None => Disconnect::TlsHandshake(e.to_string()),
                    };
                    return self.client.handle_connection_lost(now, cause);
                }
            }
        }
    }

    /// After a failed write: what the server sent before it left (replies to earlier messages,
    /// a 421) is readable now or within [`DRAIN_WAIT`]; hand it to the core. (Under TLS, a
    /// failed write may leave nothing readable; those messages are then reported unknown.)
    fn drain(&mut self) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        if stream
            .connection()
            .set_read_timeout(Some(DRAIN_WAIT))
            .is_err()
        {
            return;
        }
        for _ in 0..MAX_DRAIN_READS {
            match stream.read(&mut self.buf) {
                Ok(n) if n > 0 => self.client.handle_input(self.clock.now(), &self.buf[..n]),
                _ => break,
            }
            if self.client.error().is_some() {
                break;
            }
        }
    }

    /// A read, write or handshake failed: the connection is gone.
    fn lost(&mut self, error: &io::Error) {
        let now = self.clock.now();
        let cause = Disconnect::from_io(error);
        self.client.handle_connection_lost(now, cause);
    }

    /// Closes the connection, TLS with a close_notify first (RFC 8314 §3.4); never waits long
    /// on a server that stopped reading.
    pub(crate) fn shutdown(&mut self) {
        if let Some(stream) = self.stream.take() {
            let _ = stream
                .connection()
                .set_write_timeout(Some(Duration::from_secs(5)));
            stream.close();
        }
    }
}

fn set_timeouts(connection: &dyn Connection, left: Option<Duration>) -> io::Result<()> {
    let left = left.ok_or(ErrorKind::TimedOut)?;
    connection.set_read_timeout(Some(left))?;
    connection.set_write_timeout(Some(left))
}

/// The IO error under a failed handshake, if the connection itself failed.
fn underlying_io(error: &native_tls::Error) -> Option<&io::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<io::Error>() {
            return Some(io);
        }
        source = current.source();
    }
    None
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

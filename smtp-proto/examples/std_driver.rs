//! A complete driver for the sans-IO client over `std::net::TcpStream`: plaintext, blocking,
//! no TLS library, nothing but the core and `std`. It illustrates the chapter
//! `smtp_sansio::guide` ("Writing a driver").
//!
//! It runs one session: connect, send two messages (one with its body held whole, one streamed
//! piece by piece through the client's backpressure), QUIT, and print each message's verdict.
//! With no arguments it talks to a tiny scripted SMTP responder it starts on 127.0.0.1; given
//! `HOST PORT [FROM TO]` it talks to that server instead, in plaintext. It exits with 1 unless
//! every message was delivered and the session ended cleanly.
//!
//! `cargo run -p smtp-sansio --example std_driver [-- HOST PORT [FROM TO]]`

use std::io::{self, ErrorKind, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use smtp_sansio::bytes::{Buf, Bytes};
use smtp_sansio::driver::{Clock, log_line};
use smtp_sansio::{
    Action, Client, ClientId, Config, Disconnect, Envelope, Error, Event, Instant, Mailbox,
    StreamedBody, TlsMode, TransactionId, Transmission, Verdict,
};

/// How much one read takes; the client keeps what it needs of it (it is the only buffer).
const READ_SIZE: usize = 16 * 1024;
/// The most segments one vectored write takes.
const MAX_SLICES: usize = 64;
/// The streamed message: a header, then the same line 18,000 times (about 1 MB).
const HEADER: &[u8] = b"Subject: streamed\r\n\r\n";
const LINE: &[u8] = b"The quick brown fox jumps over the lazy dog. 0123456789\r\n";
const STREAMED_SIZE: usize = HEADER.len() + LINE.len() * 18_000;
/// The most of a streamed body the client holds at once.
const BODY_BUFFER: usize = 64 * 1024;
/// After a failed write: how long to wait for what the server said before it left.
const DRAIN_WAIT: Duration = Duration::from_millis(100);

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("std_driver: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the session; true if every message was delivered and the session closed cleanly.
fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (host, port, from, to) = match args.as_slice() {
        [] => ("127.0.0.1".into(), responder::start()?, None, None),
        [host, port] => (host.clone(), port.parse()?, None, None),
        [host, port, from, to] => (host.clone(), port.parse()?, Some(from), Some(to)),
        _ => return Err("usage: std_driver [HOST PORT [FROM TO]]".into()),
    };
    let from = Mailbox::parse(from.map_or("sender@example.com", String::as_str))?;
    let to = Mailbox::parse(to.map_or("recipient@example.net", String::as_str))?;

    let mut config = Config::new(
        ClientId::parse("client.example")?,
        TlsMode::InsecurePlaintext,
    );
    config.max_body_buffer = BODY_BUFFER;
    config.transcript = true;
    // The clock starts before connecting: connecting counts against the greeting's deadline.
    let clock = Clock::starting_at(std::time::Instant::now());
    let tcp = connect(&host, port, &clock, config.timeouts.greeting)?;
    let mut client = Client::new(Instant::ZERO, config);

    // Work can be queued at once: it goes out when the session is established.
    let whole = Bytes::from_static(b"Subject: whole\r\n\r\nA body held whole.\r\n");
    let first = client.send(Envelope::new(from.clone(), [to.clone()]), whole)?;
    let declared = StreamedBody::default().with_size(STREAMED_SIZE as u64);
    let second = client.send_streamed(Envelope::new(from, [to]), declared)?;
    client.quit()?;

    let mut driver = Driver {
        client,
        tcp,
        clock,
        buf: vec![0; READ_SIZE],
    };
    let mut body = BodySource { sent: 0 };
    let names = [
        (first, "message 1 (whole body)"),
        (second, "message 2 (streamed)"),
    ];
    let mut delivered = 0;
    let ended = loop {
        match driver.step() {
            Step::Continue => {}
            Step::Settled(id) => {
                let Some(report) = driver.client.take_report(id) else {
                    continue;
                };
                let name = names
                    .iter()
                    .find(|(i, _)| *i == id)
                    .map_or("?", |(_, n)| *n);
                match report.reply() {
                    Some(reply) => println!("{name}: {}: {reply}", report.verdict),
                    None => println!("{name}: {}", report.verdict),
                }
                delivered += usize::from(report.verdict == Verdict::Delivered);
            }
            // The client has sent everything it holds and waits for the application: here,
            // always for more of the streamed body. No deadline runs meanwhile.
            Step::Idle => {
                let client = &mut driver.client;
                // Nothing more to give: the message could only wait forever. Give it up, or
                // if it cannot be cancelled, end the session: either way it settles.
                if !body.feed(client, second) && client.cancel(second).is_err() {
                    let stalled = Disconnect::Io("idle with nothing to push".into());
                    client.handle_connection_lost(driver.clock.now(), stalled);
                }
            }
            Step::Ended(result) => break result,
        }
    };
    if let Err(e) = &ended {
        println!("session failed: {e}");
    }
    Ok(ended.is_ok() && delivered == names.len())
}

/// Connects to the first address that answers before the greeting's deadline.
fn connect(host: &str, port: u16, clock: &Clock, timeout: Duration) -> io::Result<TcpStream> {
    let deadline = Instant::from_duration(timeout);
    let mut last = io::Error::new(ErrorKind::NotFound, "no address");
    for address in (host, port).to_socket_addrs()? {
        let Some(left) = clock.remaining(deadline) else {
            return Err(ErrorKind::TimedOut.into());
        };
        match TcpStream::connect_timeout(&address, left) {
            Ok(tcp) => {
                tcp.set_nodelay(true)?;
                return Ok(tcp);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// What the application has to do after one step of the driver.
enum Step {
    /// Nothing: ask again.
    Continue,
    /// A message is settled: its report waits in the client.
    Settled(TransactionId),
    /// The client waits for the application.
    Idle,
    /// The session is over, cleanly or with its error; the socket is closed.
    Ended(Result<(), Error>),
}

struct Driver {
    client: Client,
    tcp: TcpStream,
    clock: Clock,
    buf: Vec<u8>,
}

impl Driver {
    /// Asks the client for its next action and carries it out; every IO outcome goes back in.
    fn step(&mut self) -> Step {
        let action = match self.client.next_action(self.clock.now()) {
            Ok(action) => action,
            // Sticky: every call would return it again. Every message was settled before it.
            Err(e) => return self.close(Err(e)),
        };
        match action {
            Action::Transmit { data, deadline } => self.transmit(data, deadline),
            Action::Receive { deadline } => self.receive(deadline),
            // This driver has no TLS library: the configuration never asks for TLS, but if
            // the client did, the handshake "failed" and the session ends.
            Action::UpgradeTls { .. } => self.lost(Disconnect::TlsHandshake("no tls".into())),
            Action::Event(Event::Settled(id)) => return Step::Settled(id),
            // Other events (and any added later) only inform: asking again always progresses.
            Action::Event(event) => {
                if let Some(line) = log_line(&event) {
                    println!("{line}");
                }
            }
            Action::Idle => return Step::Idle,
            Action::Close => return self.close(Ok(())),
            // An action added after this driver was written: IO it cannot do. Ignoring it
            // could spin or skip work; ending the session settles every message instead.
            other => self.lost(Disconnect::Io(format!("unsupported action {other:?}"))),
        }
        Step::Continue
    }

    /// Writes all of `data` before `deadline`, vectored, without copying the body segments.
    /// Nothing else is asked of the client until it is written: transmissions go out whole
    /// and in order.
    fn transmit(&mut self, mut data: Transmission, deadline: Instant) {
        while data.has_remaining() {
            // The socket timeout is what is left of the absolute deadline, before every call.
            let Some(left) = self.clock.remaining(deadline) else {
                // Passed: this ends the session, and the rest of `data` with it.
                return self.client.handle_timeout(self.clock.now());
            };
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let count = data.chunks_vectored(&mut slices);
            let written = match self.tcp.set_write_timeout(Some(left)) {
                Ok(()) => self.tcp.write_vectored(&slices[..count]),
                Err(e) => Err(e),
            };
            match written {
                Ok(0) => return self.lost(Disconnect::from_io(&ErrorKind::WriteZero.into())),
                Ok(n) => data.advance(n),
                // A timer may fire a little early: keep the data and write on; the check
                // above decides when the deadline has really passed.
                Err(e) if is_timeout(&e) || e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.drain();
                    return self.lost(Disconnect::from_io(&e));
                }
            }
        }
    }

    /// Reads once before `deadline` and hands over what came, or how the read ended.
    fn receive(&mut self, deadline: Instant) {
        let Some(left) = self.clock.remaining(deadline) else {
            // Already passed (`set_read_timeout(Some(Duration::ZERO))` would be an error).
            return self.client.handle_timeout(self.clock.now());
        };
        let read = match self.tcp.set_read_timeout(Some(left)) {
            Ok(()) => self.tcp.read(&mut self.buf),
            Err(e) => Err(e),
        };
        let now = self.clock.now();
        match read {
            Ok(0) => self.client.handle_connection_lost(now, Disconnect::Closed),
            Ok(n) => self.client.handle_input(now, &self.buf[..n]),
            // On time this ends the session; early it is a no-op and the client asks again.
            Err(e) if is_timeout(&e) => self.client.handle_timeout(now),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => self
                .client
                .handle_connection_lost(now, Disconnect::from_io(&e)),
        }
    }

    /// After a failed write, the server may have said why before it left (a `421`, replies
    /// to earlier messages): hand the client what is readable now, for truer verdicts.
    fn drain(&mut self) {
        if self.tcp.set_read_timeout(Some(DRAIN_WAIT)).is_err() {
            return;
        }
        // Bounded: a server that keeps talking must not hold the driver here.
        for _ in 0..64 {
            let Ok(n @ 1..) = self.tcp.read(&mut self.buf) else {
                return;
            };
            self.client.handle_input(self.clock.now(), &self.buf[..n]);
            if self.client.error().is_some() {
                return;
            }
        }
    }

    fn lost(&mut self, cause: Disconnect) {
        self.client.handle_connection_lost(self.clock.now(), cause);
    }

    fn close(&mut self, result: Result<(), Error>) -> Step {
        let _ = self.tcp.shutdown(Shutdown::Both);
        Step::Ended(result)
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// The streamed message's body, made up as it is pushed, as if read from a file.
struct BodySource {
    sent: usize,
}

impl BodySource {
    /// Pushes what the client takes now, or ends the body; false if there was nothing to do.
    fn feed(&mut self, client: &mut Client, id: TransactionId) -> bool {
        if self.sent == STREAMED_SIZE {
            return client.finish_body(id).is_ok();
        }
        let mut pushed = false;
        while self.sent < STREAMED_SIZE && client.body_room(id) > 0 {
            // At most what fits: a larger piece would be refused (`BodyBufferFull`).
            let size = client
                .body_room(id)
                .min(READ_SIZE)
                .min(STREAMED_SIZE - self.sent);
            let piece: Vec<u8> = (self.sent..self.sent + size).map(Self::octet).collect();
            if client.push_body(id, piece.into()).is_err() {
                break; // the session failed: the next step reports it
            }
            self.sent += size;
            pushed = true;
        }
        pushed
    }

    /// The octet at `offset`; pieces cut lines anywhere, the client does not mind.
    fn octet(offset: usize) -> u8 {
        match offset.checked_sub(HEADER.len()) {
            None => HEADER[offset],
            Some(at) => LINE[at % LINE.len()],
        }
    }
}

/// A scripted SMTP server for one connection, std only: enough to run the example anywhere.
mod responder {
    use std::io::{self, BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};

    /// Listens on 127.0.0.1 and answers one session in a thread; returns the port.
    pub(super) fn start() -> io::Result<u16> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        std::thread::spawn(move || {
            let answered = listener.accept().and_then(|(tcp, _)| serve(tcp));
            if let Err(e) = answered {
                eprintln!("responder: {e}");
            }
        });
        Ok(port)
    }

    fn serve(tcp: TcpStream) -> io::Result<()> {
        let mut out = tcp.try_clone()?;
        // A buffered reader suits this server; a client driver must never put one between
        // the socket and the client (see the guide, "TLS").
        let mut lines = BufReader::new(tcp);
        out.write_all(b"220 responder.example ESMTP\r\n")?;
        let (mut line, mut queued) = (Vec::new(), 0);
        loop {
            line.clear();
            if lines.read_until(b'\n', &mut line)? == 0 {
                return Ok(());
            }
            let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
            let reply: &[u8] = match &verb[..] {
                b"EHLO" => b"250-responder.example\r\n250 PIPELINING\r\n",
                b"MAIL" | b"RCPT" | b"RSET" | b"NOOP" => b"250 2.0.0 ok\r\n",
                b"DATA" => {
                    out.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
                    let octets = read_data(&mut lines)?;
                    queued += 1;
                    let reply = format!("250 2.0.0 ok: queued as {queued} ({octets} octets)\r\n");
                    out.write_all(reply.as_bytes())?;
                    continue;
                }
                b"QUIT" => return out.write_all(b"221 2.0.0 bye\r\n"),
                _ => b"500 5.5.1 unknown command\r\n",
            };
            out.write_all(reply)?;
        }
    }

    /// Reads message data up to the lone dot; returns its size on the wire.
    fn read_data(lines: &mut impl BufRead) -> io::Result<usize> {
        let (mut line, mut octets) = (Vec::new(), 0);
        loop {
            line.clear();
            if lines.read_until(b'\n', &mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            if line == b".\r\n" {
                return Ok(octets);
            }
            octets += line.len();
        }
    }
}

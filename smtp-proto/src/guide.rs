//! Writing a driver: running a [`Client`] over real IO.
//!
//! The client decides everything; a driver does the IO it is asked for and reports every
//! outcome back, making no decision of its own. `smtp-tokio` and `smtp-blocking` are two
//! drivers. `examples/std_driver.rs` in this crate is a complete one over
//! `std::net::TcpStream` with nothing but this crate and `std`, run in CI:
//! `cargo run -p smtp-sansio --example std_driver`. This chapter answers the questions a
//! driver's author meets, in the order the loop meets them.
//!
//! # The loop
//!
//! Ask [`Client::next_action`] with the current time, carry the action out, hand back what
//! happened, ask again. Every `handle_*` call takes the time too: the client never reads a
//! clock. [`driver::Clock`] turns a `std::time::Instant` taken when the connection opened into
//! the client's [`Instant`]s.
//!
//! ```no_run
//! use std::net::TcpStream;
//! use smtp_sansio::driver::Clock;
//! use smtp_sansio::{Action, Client, Disconnect, Error, Event, Instant, Transmission};
//! # fn transmit(_: &mut Client, _: &mut TcpStream, _: &Clock, _: Transmission, _: Instant) {}
//! # fn receive(_: &mut Client, _: &mut TcpStream, _: &Clock, _: Instant, _: &mut [u8]) {}
//!
//! /// Runs the session until it waits for the application (`Ok(true)`) or has closed
//! /// cleanly (`Ok(false)`). On `Close` or an error the caller closes the socket.
//! fn drive(client: &mut Client, tcp: &mut TcpStream, clock: &Clock) -> Result<bool, Error> {
//!     let mut buf = vec![0; 16 * 1024];
//!     loop {
//!         let now = clock.now();
//!         match client.next_action(now)? {
//!             // `transmit` and `receive` are in the sections below.
//!             Action::Transmit { data, deadline } => transmit(client, tcp, clock, data, deadline),
//!             Action::Receive { deadline } => receive(client, tcp, clock, deadline, &mut buf),
//!             // This driver has no TLS (see "TLS" below for one that has).
//!             Action::UpgradeTls { .. } => {
//!                 let cause = Disconnect::TlsHandshake("no tls in this driver".into());
//!                 client.handle_connection_lost(now, cause);
//!             }
//!             Action::Event(Event::Settled(id)) => {
//!                 if let Some(report) = client.take_report(id) {
//!                     println!("{id:?}: {}", report.verdict);
//!                 }
//!             }
//!             // Other events, today's and any added later, only inform.
//!             Action::Event(_) => {}
//!             Action::Idle => return Ok(true),
//!             Action::Close => return Ok(false),
//!             // IO this driver cannot do: see "Actions added later".
//!             other => {
//!                 let cause = Disconnect::Io(format!("unsupported action {other:?}"));
//!                 client.handle_connection_lost(now, cause);
//!             }
//!         }
//!     }
//! }
//! ```
//!
//! An error from [`next_action`](Client::next_action) is sticky: every later call returns it
//! again. Before returning it the client hands out an [`Event::Settled`] for every message it
//! still held, so nothing is lost by stopping at the first `Err`.
//!
//! # Time and deadlines
//!
//! Every deadline is absolute, set when the wait starts; partial data never extends it. Compute
//! the socket timeout from it before *every* read or write ([`Clock::remaining`]), so a server
//! that drips one byte at a time still times out.
//!
//! - **A deadline that has already passed.** [`Clock::remaining`] answers `None`; call
//!   [`Client::handle_timeout`] instead of the IO. (Never turn it into a zero timeout: std's
//!   `set_read_timeout(Some(Duration::ZERO))` is an error, not "time is up".)
//! - **A timer that fires early** (a socket timeout may end a little before the deadline by
//!   the driver's clock). `handle_timeout` before the deadline is a no-op. After a read
//!   timeout, call it anyway: the client then asks for the same read again, or the session has
//!   timed out. After a write timeout, keep the data and write on; check the time before the
//!   next write. Never drop part of a transmission.
//! - **On time**, `handle_timeout` ends the session with [`Error::Timeout`] (a QUIT that got
//!   no answer closes cleanly instead). It judges by the oldest reply awaited, the TLS
//!   handshake, and the transmission the latest `next_action` handed out. While
//!   [`Action::Idle`] nothing is timed: it is a no-op. [`Client::next_deadline`] gives the
//!   earliest deadline, for a driver with one timer.
//!
//! ```
//! use std::time::Duration;
//! use smtp_sansio::{Action, Client, ClientId, Config, Instant, TlsMode};
//!
//! let config = Config::new(ClientId::parse("client.example")?, TlsMode::InsecurePlaintext);
//! let mut client = Client::new(Instant::ZERO, config);
//! let Action::Receive { deadline } = client.next_action(Instant::ZERO)? else { panic!() };
//! let early = Instant::from_duration(Duration::from_secs(1));
//! client.handle_timeout(early); // the timer fired early: nothing happens
//! assert!(matches!(client.next_action(early)?, Action::Receive { deadline: d } if d == deadline));
//! client.handle_timeout(deadline); // on time: the session is over
//! assert!(client.next_action(deadline).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Receive, and every way a connection ends
//!
//! [`Action::Receive`] asks for one read, whatever it brings: the client frames replies itself
//! and keeps partial ones. Every outcome goes back in:
//!
//! | what the IO did | what to call |
//! |---|---|
//! | read `n > 0` octets | [`Client::handle_input`] with all of them |
//! | read `Ok(0)`: end of stream | [`handle_connection_lost`](Client::handle_connection_lost)`(now, `[`Disconnect::Closed`]`)`; [`Client::handle_eof`] is shorthand |
//! | read or write failed: reset, broken pipe, any other error | `handle_connection_lost(now, `[`Disconnect::from_io`]`(&e))` |
//! | write returned `Ok(0)` | the same, with `ErrorKind::WriteZero` |
//! | timed out (`WouldBlock`, `TimedOut`) | [`Client::handle_timeout`], never `from_io`, which would report a lost connection |
//! | `Interrupted` | nothing: do the IO again |
//! | TLS handshake failed | `handle_connection_lost(now, `[`Disconnect::TlsHandshake`]`(reason))` |
//!
//! Calling `handle_input` with no bytes does nothing; the end of the stream must be said with
//! `handle_connection_lost`. Unless QUIT was the oldest command awaiting its reply, the session
//! then fails with [`Error::ConnectionLost`] ([`Error::TlsHandshake`] for a failed handshake)
//! and every message it held settles: unknown if its
//! end of data went out unanswered, deferred if it was under way, not attempted otherwise.
//! After a failed write, first read what is readable within a moment (100 ms in both adapters)
//! and hand it in: a `421` or the replies to earlier messages make truer verdicts.
//!
//! ```no_run
//! use std::io::{ErrorKind, Read};
//! use std::net::TcpStream;
//! use smtp_sansio::driver::Clock;
//! use smtp_sansio::{Client, Disconnect, Instant};
//!
//! fn receive(c: &mut Client, tcp: &mut TcpStream, clock: &Clock, at: Instant, buf: &mut [u8]) {
//!     let Some(left) = clock.remaining(at) else {
//!         return c.handle_timeout(clock.now()); // already passed
//!     };
//!     let read = tcp.set_read_timeout(Some(left)).and_then(|()| tcp.read(buf));
//!     let now = clock.now();
//!     match read {
//!         Ok(0) => c.handle_connection_lost(now, Disconnect::Closed),
//!         Ok(n) => c.handle_input(now, &buf[..n]),
//!         // Early, a no-op (the client asks to read again); on time, the end.
//!         Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
//!             c.handle_timeout(now)
//!         }
//!         Err(e) if e.kind() == ErrorKind::Interrupted => {}
//!         Err(e) => c.handle_connection_lost(now, Disconnect::from_io(&e)),
//!     }
//! }
//! ```
//!
//! **After QUIT** ([`Client::quit`] queues it after everything else): its reply (any but a
//! `3yz`), the end of the stream, any failed read or write, or a timeout while QUIT awaits its
//! reply all end the session cleanly: [`Action::Close`], and [`Client::is_closed`] holds.
//! Close the socket (with a TLS close_notify first). `next_action` answers `Close` from then
//! on, and `handle_input`, `handle_timeout` and `handle_connection_lost` do nothing. One
//! exception: when the client sent QUIT itself because the session could not go on (TLS
//! required but not offered, say), the end is that error.
//!
//! # Transmit
//!
//! [`Action::Transmit`] hands over a [`Transmission`]: commands and message data, in order,
//! the body segments shared with the caller's `Bytes` rather than copied. Write **all** of it
//! before asking [`next_action`](Client::next_action) again; transmissions go on the wire one
//! after another, in the order given. There is no acknowledgement call: the client counts the
//! bytes as sent when it hands them out (replies to them are accepted from then on), and
//! asking again says the write is done. Asking early could hand out the next transmission,
//! and it forgets the previous one's write deadline. A write that fails goes back in through
//! `handle_connection_lost`; a partial write keeps the rest (`advance`) for the next write.
//!
//! `Transmission` implements [`bytes::Buf`]; the crate re-exports [`bytes`] as
//! `smtp_sansio::bytes`, so a driver names no version of its own. With the `std` feature
//! `chunks_vectored` yields every segment for one `write_vectored`, and tokio's
//! `write_all_buf` takes it as it is. [`Transmission::into_bytes`] gives one slice.
//!
//! ```no_run
//! use std::io::{ErrorKind, IoSlice, Write};
//! use std::net::TcpStream;
//! use smtp_sansio::bytes::Buf;
//! use smtp_sansio::driver::Clock;
//! use smtp_sansio::{Client, Disconnect, Instant, Transmission};
//!
//! fn transmit(c: &mut Client, tcp: &mut TcpStream, clock: &Clock, mut data: Transmission,
//!             at: Instant) {
//!     while data.has_remaining() {
//!         let Some(left) = clock.remaining(at) else {
//!             return c.handle_timeout(clock.now()); // ends the session, and this write
//!         };
//!         let mut slices = [IoSlice::new(&[]); 64];
//!         let count = data.chunks_vectored(&mut slices);
//!         let written = tcp
//!             .set_write_timeout(Some(left))
//!             .and_then(|()| tcp.write_vectored(&slices[..count]));
//!         let error = match written {
//!             Ok(0) => ErrorKind::WriteZero.into(),
//!             Ok(n) => {
//!                 data.advance(n);
//!                 continue;
//!             }
//!             Err(e) => e,
//!         };
//!         match error.kind() {
//!             // An early timer or a signal: the same data, written on.
//!             ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted => {}
//!             _ => return c.handle_connection_lost(clock.now(), Disconnect::from_io(&error)),
//!         }
//!     }
//! }
//! ```
//!
//! # Not deadlocking: reading while writing
//!
//! With PIPELINING the server answers commands while it reads them. A driver that only
//! writes lets those replies pile up in the socket buffers; once they are full the server stops
//! reading and both sides wait until a deadline. The client bounds what it asks in one go:
//! it stops emitting once [`Config::max_unanswered_commands`] commands (256) or
//! [`Config::max_unacknowledged_bytes`] octets (4 MiB) await replies, and without PIPELINING
//! sends one command at a time. 256 ordinary replies are a few kilobytes, well within the
//! socket buffers between the two sides, so a blocking driver may write each transmission
//! whole before it reads, as `smtp-blocking` and the example do. Raise the bound only in a
//! driver that reads while it writes.
//!
//! Reading while a transmission is being written is allowed, and better where the runtime
//! can: `smtp-tokio` reads whenever the socket will not take more and hands the bytes to
//! [`Client::handle_input`] (never `next_action`) at once, so a `421` or a refusal arrives
//! early. If that input ends the session ([`Client::error`] or [`Client::is_closed`]), stop
//! writing: the rest is void.
//!
//! # Idle, and streamed bodies
//!
//! [`Action::Idle`] means the client has nothing to do until the application acts. With no
//! work queued, return control to the application; it queues work or QUIT and drives again.
//! With a streamed body open ([`Client::send_streamed`]), the client has sent all of the body
//! it holds and waits for more:
//!
//! - [`Client::body_room`] says how many octets [`Client::push_body`] takes now; a bigger
//!   piece is refused with [`UsageError::BodyBufferFull`] (an empty buffer takes any piece).
//!   Push, then drive on: the client holds about [`Config::max_body_buffer`] octets at most
//!   and each transmission drains some, so a large body is never held whole.
//! - [`Client::finish_body`] ends the body; [`Client::cancel`] gives the message up if its
//!   source fails (once DATA went out this ends the session: only a dropped connection keeps a
//!   truncated message from being delivered).
//! - No deadline runs while Idle. A driver may keep reading meanwhile, with no deadline, to
//!   see an unsolicited `421` ([`Error::ServiceClosing`]) or the server leaving; any other
//!   reply is a protocol error. With BDAT (CHUNKING) the client sends a chunk once it has
//!   [`Config::bdat_chunk_size`] octets or the body is finished, so Idle can follow a push
//!   with nothing sent: push on. If Idle comes with nothing left to push, the message cannot
//!   progress: cancel it.
//!
//! ```
//! use smtp_sansio::bytes::Bytes;
//! use smtp_sansio::{Action, Client, ClientId, Config, Envelope, Instant, Mailbox};
//! use smtp_sansio::{StreamedBody, SubmitError, TlsMode, UsageError};
//!
//! let mut config = Config::new(ClientId::parse("client.example")?, TlsMode::InsecurePlaintext);
//! config.max_body_buffer = 8;
//! let (mut client, now) = (Client::new(Instant::ZERO, config), Instant::ZERO);
//! let to = [Mailbox::parse("b@example.net")?];
//! let envelope = Envelope::new(Mailbox::parse("a@example.com")?, to);
//! let id = client.send_streamed(envelope, StreamedBody::default())?;
//! // A server without PIPELINING, up to DATA's 354: one reply per read.
//! for reply in [&b"220 mx\r\n"[..], b"250 mx\r\n", b"250 ok\r\n", b"250 ok\r\n", b"354 go\r\n"] {
//!     while let Action::Transmit { .. } | Action::Event(_) = client.next_action(now)? {}
//!     client.handle_input(now, reply);
//! }
//! client.push_body(id, Bytes::from_static(b"Subject: hi\r\n"))?; // into an empty buffer
//! let full = client.push_body(id, Bytes::from_static(b"\r\n"));
//! assert!(matches!(full, Err(SubmitError::Usage(UsageError::BodyBufferFull))));
//! assert!(matches!(client.next_action(now)?, Action::Transmit { .. }));
//! assert!(matches!(client.next_action(now)?, Action::Idle)); // waits for more body
//! assert_eq!((client.body_room(id), client.next_deadline()), (8, None));
//! client.push_body(id, Bytes::from_static(b"\r\nHi\r\n"))?;
//! client.finish_body(id)?;
//! assert!(matches!(client.next_action(now)?, Action::Transmit { .. })); // body and dot
//! assert!(matches!(client.next_action(now)?, Action::Receive { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # TLS
//!
//! - **Never put a read buffer between the socket and the client** (no `BufReader`, no line
//!   reader): read into a scratch buffer and hand every byte read to `handle_input`. The client
//!   must see any byte that follows the `220` to STARTTLS (it ends the session on it: response
//!   injection, RFC 3207 §4.2), and the handshake must start on the raw socket with nothing
//!   left in a buffer. The TLS stream's own buffering, after the handshake, is fine.
//! - [`Action::UpgradeTls`]: run the handshake on the same socket now, before `deadline`, and
//!   read or write nothing else meanwhile (input during the handshake is fatal). The client
//!   asks again until answered. For implicit TLS ([`TlsMode::Implicit`]) it is the first action.
//! - Success: [`Client::handle_tls_established`] with [`TlsInfo::new`]`(verified)`, `true` only
//!   if the certificate chain and the host name the driver dialled were verified. A failed
//!   handshake: `handle_connection_lost(now, Disconnect::TlsHandshake(reason))`, which ends
//!   the session with [`Error::TlsHandshake`]; the connection failing under it:
//!   `Disconnect::from_io`; the deadline passing: `handle_timeout`.
//! - Afterwards every read and write goes through TLS; `from_io` reports TLS errors that a
//!   library marks `InvalidData` (rustls does) as [`Disconnect::Tls`], an alert refusing a
//!   certificate (TLS 1.3 refuses the client's after the handshake) as
//!   [`Disconnect::TlsHandshake`], and anything else as [`Disconnect::Io`]. Close with a
//!   close_notify.
//! - **SCRAM needs two things from the driver.** A fresh nonce for every connection in
//!   `Config::sasl_nonce` (18 or more random octets from the platform, through
//!   [`driver::sasl_nonce`]): the client has no randomness and skips SCRAM without one. And, for
//!   the `-PLUS` mechanisms, the channel binding in [`TlsInfo::with_channel_binding`]:
//!   `tls-exporter` (RFC 9266) on TLS 1.3, or `tls-server-end-point` (RFC 5929). Without it the
//!   client uses SCRAM unbound.
//!
//! # Results
//!
//! The client owns every result. Each message queued with [`Client::send`],
//! [`Client::send_batch`] or `send_streamed` settles exactly once, whatever happens to the
//! connection, and [`Event::Settled`] says so; [`Client::take_report`] then hands over its
//! [`TransactionReport`] (the [`Verdict`] for the message and each recipient, the server's
//! reply, [`message_id`](TransactionReport::message_id)). Reports wait until taken, so take
//! each one. A driver that runs until one message is done drives until
//! [`Client::is_settled`] (or [`Client::is_settled_through`] for a batch) holds, as both
//! adapters do. NOOP, RSET, VRFY, EXPN and HELP give a [`QueryId`]: [`Event::Answered`], then
//! [`Client::take_reply`], which answers an error if the session ended first.
//!
//! # Actions added later
//!
//! [`Action`] is `#[non_exhaustive]`, and `_ => {}` is the wrong arm for it. The client repeats
//! a request until it is answered (asked again, `Receive`, `UpgradeTls`, `Idle` and `Close`
//! come back unchanged), so an arm that ignores an action may spin, or skip IO the session
//! relies on. Instead:
//!
//! - `Action::Event(_)`, whatever the event: ask again. Events wait in a queue and each call
//!   takes one, so this always progresses. When you stop driving before the client asks for
//!   IO (your request is settled, or the session failed), [`Client::next_event`] takes the
//!   events still queued, so your log is complete without another call to `next_action`.
//! - Any other action you do not know is IO this driver cannot do: end the session with
//!   `handle_connection_lost(now, Disconnect::Io(..))` and close the socket. Every message
//!   settles with an honest verdict and `next_action` returns the error from then on.
//!
//! [`driver::next_io`], which both adapters use, reduces actions to [`driver::Io`]: events go
//! to a callback; `Idle` becomes `Io::Stop { idle: true }`; `Close` and an error become
//! `Io::Stop { idle: false }`. It lives in this crate and matches every action by name, so a
//! new action is carried out there in the same release that adds it.
//!
//! [`Transmission::into_bytes`]: crate::Transmission::into_bytes
//! [`driver::Clock`]: crate::driver::Clock
//! [`Clock::remaining`]: crate::driver::Clock::remaining
//! [`driver::next_io`]: crate::driver::next_io
//! [`driver::Io`]: crate::driver::Io
//! [`driver::sasl_nonce`]: crate::driver::sasl_nonce
//! [`TlsInfo::with_channel_binding`]: crate::TlsInfo::with_channel_binding
//! [`Disconnect::from_io`]: crate::Disconnect::from_io

// The items the links above name, in scope for rustdoc only.
#[cfg(doc)]
use crate::{
    Action, Client, Config, Disconnect, Error, Event, Instant, QueryId, TlsInfo, TlsMode,
    TransactionReport, Transmission, UsageError, Verdict,
};

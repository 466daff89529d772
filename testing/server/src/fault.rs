//! Faults the test server can inject on purpose, and how it ends a connection after one.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::conn::Io;

/// A failure the server causes on purpose at one point of the dialogue (see the
/// [crate documentation](crate) for where each point falls and what each action does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fault {
    /// Where in the dialogue it happens.
    pub at: FaultPoint,
    /// What the server does there.
    pub action: FaultAction,
    /// The message it hits, counted from 1 by the MAIL commands received on the connection,
    /// whatever their replies. [`FaultPoint::Greeting`] and [`FaultPoint::Ehlo`] ignore it.
    pub message: usize,
    /// How many connections it hits: the first `connections` the server accepts, so a client
    /// that retries on a later connection meets a healthy server.
    pub connections: usize,
}

impl Fault {
    /// A fault at `at` doing `action`, on the first message of the first connection.
    pub fn new(at: FaultPoint, action: FaultAction) -> Self {
        Self {
            at,
            action,
            message: 1,
            connections: 1,
        }
    }

    /// Hits the `message`-th message of a connection (counted from 1) instead of the first.
    pub fn on_message(self, message: usize) -> Self {
        Self { message, ..self }
    }

    /// Hits the first `connections` connections the server accepts instead of only the first.
    pub fn on_connections(self, connections: usize) -> Self {
        Self {
            connections,
            ..self
        }
    }
}

/// Where in the dialogue a [`Fault`] happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultPoint {
    /// Instead of the `220` greeting (after the handshake with implicit TLS).
    Greeting,
    /// As the reply to the first EHLO, HELO or LHLO of the connection.
    Ehlo,
    /// As the reply to the message's MAIL.
    Mail,
    /// As the reply to the message's first RCPT.
    Rcpt,
    /// As the reply to the message's DATA, instead of `354` or a refusal.
    Data,
    /// After the message's whole body was read: the final dot after DATA, or the
    /// `BDAT ... LAST` chunk.
    DataEnd,
    /// As the reply to the message's first BDAT chunk, after reading its octets. If that chunk
    /// is the LAST one, it acts as [`FaultPoint::DataEnd`].
    Bdat,
}

/// What the server does at a [`FaultPoint`]. Every action ends the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultAction {
    /// Replies `421 4.4.2 localhost closing transmission channel`, then closes cleanly. At
    /// [`FaultPoint::DataEnd`] the message is refused, not stored.
    Reply421,
    /// Replies `2x0 garbled`, which no client may take for a reply, then closes cleanly. At
    /// [`FaultPoint::DataEnd`] the message is stored first.
    Malformed,
    /// Closes cleanly without replying: the client reads the end of the stream. At
    /// [`FaultPoint::DataEnd`] the message is stored first.
    Eof,
    /// Waits 50 ms, so that replies already written reach the client, then aborts the TCP
    /// connection with a reset: no TLS close_notify, no FIN. At [`FaultPoint::DataEnd`] the
    /// message is stored first.
    Reset,
    /// Writes these bytes exactly as given, instead of the reply due, then closes cleanly: a
    /// script for any reply, well formed or hostile. Nothing is added, so each line needs its
    /// own CRLF; several lines make a multi-line reply or several replies, and bytes without
    /// a final CRLF leave a reply unfinished. At [`FaultPoint::Greeting`] they replace the
    /// greeting. At [`FaultPoint::DataEnd`] the message is stored first if the bytes start
    /// with `2` (they claim it was taken), not otherwise. The bytes are `'static` so that
    /// [`Fault`] stays `Copy`; a reply made at run time can be leaked ([`String::leak`]).
    ///
    /// ```
    /// use smtp_test_server::{Fault, FaultAction, FaultPoint};
    ///
    /// // A multi-line reply to MAIL that ends as a `354`: its codes disagree.
    /// let hostile = FaultAction::Reply("250-2.1.0 Ok\r\n354 Go ahead\r\n");
    /// let fault = Fault::new(FaultPoint::Mail, hostile);
    /// assert_eq!(fault.action, hostile);
    /// ```
    Reply(&'static str),
}

impl FaultAction {
    /// Whether the server stores the message before doing this action at the end of its body:
    /// every action but [`FaultAction::Reply421`] and a [`FaultAction::Reply`] that does not
    /// start with `2`.
    pub(super) fn stores_message(self) -> bool {
        match self {
            FaultAction::Reply421 => false,
            FaultAction::Reply(bytes) => bytes.starts_with('2'),
            FaultAction::Malformed | FaultAction::Eof | FaultAction::Reset => true,
        }
    }
}

/// The reply of [`FaultAction::Reply421`].
const REPLY_421: &[u8] = b"421 4.4.2 localhost closing transmission channel\r\n";
/// The reply of [`FaultAction::Malformed`].
const MALFORMED: &[u8] = b"2x0 garbled\r\n";
/// How long [`FaultAction::Reset`] waits before aborting.
const RESET_DELAY: Duration = Duration::from_millis(50);
/// How long a clean close waits for the client to close its side.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Carries out `action` and ends the connection. `raw` is a second handle to the TCP socket
/// under `io`, needed for [`FaultAction::Reset`].
pub(super) async fn act(
    mut io: Box<dyn Io>,
    action: FaultAction,
    raw: Option<std::net::TcpStream>,
) {
    let reply = match action {
        FaultAction::Reply421 => REPLY_421,
        FaultAction::Malformed => MALFORMED,
        FaultAction::Eof => b"",
        FaultAction::Reply(bytes) => bytes.as_bytes(),
        FaultAction::Reset => {
            tokio::time::sleep(RESET_DELAY).await;
            if let Some(raw) = &raw {
                let _ = socket2::SockRef::from(raw).set_linger(Some(Duration::ZERO));
            }
            // Dropping the last handles closes the socket, which with a zero linger sends RST.
            drop(raw);
            drop(io);
            return;
        }
    };
    if io.write_all(reply).await.is_ok() {
        let _ = io.flush().await;
    }
    drop(raw);
    close(io).await;
}

/// Closes the connection cleanly: shuts down the sending side (after close_notify with TLS),
/// then reads and discards until the client closes, so that commands it pipelined and the
/// server never read do not turn the close into a reset that could destroy the last reply.
pub(super) async fn close(mut io: Box<dyn Io>) {
    let _ = io.shutdown().await;
    let mut scratch = [0u8; 4096];
    let drain = async {
        while let Ok(n) = io.read(&mut scratch).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_LIMIT, drain).await;
}

//! What the client asks of its driver, and what it tells the application.

use alloc::string::String;

use super::time::Instant;
use super::transmission::Transmission;
use crate::wire::ehlo::Capabilities;

/// The one ordered output of [`Client::next_action`](crate::Client::next_action). The driver
/// performs it, feeds back what happened, and asks again.
#[derive(Debug)]
#[non_exhaustive]
pub enum Action {
    /// Write all of `data` to the connection before `deadline`, then ask again. Reading may go
    /// on meanwhile: the client accepts replies while output is pending (SECURITY.md F11).
    Transmit {
        /// The bytes to write: commands, and message data shared with the caller's `Bytes`.
        data: Transmission,
        /// When the write must be done.
        deadline: Instant,
    },
    /// Read once and pass the bytes to [`handle_input`](crate::Client::handle_input); at the
    /// end of the stream or on any read error call
    /// [`handle_connection_lost`](crate::Client::handle_connection_lost); if nothing arrives by
    /// `deadline`, call [`handle_timeout`](crate::Client::handle_timeout).
    Receive {
        /// The absolute deadline of the oldest outstanding reply.
        deadline: Instant,
    },
    /// Run the TLS handshake on the connection now, before reading or writing anything else,
    /// then call [`handle_tls_established`](crate::Client::handle_tls_established), or
    /// [`handle_connection_lost`](crate::Client::handle_connection_lost) with
    /// [`Disconnect::TlsHandshake`](crate::Disconnect::TlsHandshake) if it failed.
    UpgradeTls {
        /// When the handshake must be done.
        deadline: Instant,
    },
    /// Something for the application.
    Event(Event),
    /// Nothing to do until the application acts: it queues work, or pushes more of a streamed
    /// body ([`Client::body_room`](crate::Client::body_room) says how much fits). A driver may
    /// keep reading meanwhile, with no deadline: the server may still announce `421`.
    Idle,
    /// The session ended cleanly: close the connection (after a TLS close_notify, RFC 8314
    /// §3.4). Every later call returns `Close` again.
    Close,
}

/// What the driver learned from the TLS handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// Whether the certificate chain was verified and matched the host name the driver dialled
    /// (RFC 8314 §5.3, RFC 4954 §14).
    pub peer_verified: bool,
    /// Data that identifies this TLS connection, for the SCRAM `-PLUS` mechanisms (RFC 5929,
    /// RFC 9266); `None` if the driver cannot give it.
    pub channel_binding: Option<ChannelBinding>,
}

impl TlsInfo {
    /// A handshake whose certificate was (or was not) verified.
    pub const fn new(peer_verified: bool) -> Self {
        Self {
            peer_verified,
            channel_binding: None,
        }
    }

    /// The same, with channel binding data.
    pub fn with_channel_binding(mut self, binding: ChannelBinding) -> Self {
        self.channel_binding = Some(binding);
        self
    }
}

/// Channel binding data of a TLS connection (RFC 5056), from the driver's TLS library.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelBinding {
    kind: ChannelBindingKind,
    data: alloc::vec::Vec<u8>,
}

impl ChannelBinding {
    /// `tls-exporter` (RFC 9266): 32 octets of keying material exported with the label
    /// `EXPORTER-Channel-Binding` and no context. For TLS 1.3 (for TLS 1.2 only with the
    /// extended master secret, RFC 9266 §3). SASL cannot negotiate the binding type: a server
    /// that supports only another refuses the `-PLUS` exchange.
    pub fn tls_exporter(data: alloc::vec::Vec<u8>) -> Self {
        Self {
            kind: ChannelBindingKind::TlsExporter,
            data,
        }
    }

    /// `tls-server-end-point` (RFC 5929 §4): the hash of the server's certificate, with the
    /// hash its signature uses (SHA-256 for MD5 and SHA-1). Works with every TLS version; a
    /// TLS library without an exporter can still bind this way.
    pub fn tls_server_end_point(data: alloc::vec::Vec<u8>) -> Self {
        Self {
            kind: ChannelBindingKind::TlsServerEndPoint,
            data,
        }
    }

    /// Which binding it is.
    pub fn kind(&self) -> ChannelBindingKind {
        self.kind
    }

    /// The data.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

/// A kind of channel binding (RFC 5056 §2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChannelBindingKind {
    /// `tls-exporter` (RFC 9266).
    TlsExporter,
    /// `tls-server-end-point` (RFC 5929).
    TlsServerEndPoint,
}

impl ChannelBindingKind {
    /// The registered name, as SCRAM's gs2 header carries it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::TlsExporter => "tls-exporter",
            Self::TlsServerEndPoint => "tls-server-end-point",
        }
    }
}

/// Names one queued message. Ids grow in the order messages are queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(pub(crate) u64);

/// Names one queued NOOP, RSET, VRFY, EXPN or HELP, whose reply
/// [`Client::take_reply`](crate::Client::take_reply) hands over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueryId(pub(crate) u64);

/// Something that happened in the session.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// The session is established: greeting, EHLO, TLS and AUTH are done. Messages go out from
    /// here on.
    Ready(Capabilities),
    /// A message is settled: its report waits in the client until
    /// [`take_report`](crate::Client::take_report) takes it.
    Settled(TransactionId),
    /// A NOOP, RSET, VRFY, EXPN or HELP was answered: the reply waits in the client until
    /// [`take_reply`](crate::Client::take_reply) takes it.
    Answered(QueryId),
    /// One line of the conversation (only with [`Config::transcript`](crate::Config)).
    #[non_exhaustive]
    Transcript {
        /// The line.
        line: TranscriptLine,
        /// The message it belongs to: its MAIL, RCPT, DATA or BDAT command, their replies and
        /// its data. `None` for the session's own lines (greeting, EHLO, STARTTLS, AUTH, RSET,
        /// NOOP, QUIT), so a driver can log each message's lines under that message.
        transaction: Option<TransactionId>,
    },
}

/// One line of the redacted transcript: SASL payloads are masked (SECURITY.md E13) and reply
/// text is escaped (SECURITY.md B12).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TranscriptLine {
    /// A command the client sent, or a summary of message data.
    Sent(String),
    /// A reply the server sent.
    Received(String),
}

/// A body the application streams in pieces with [`Client::push_body`](crate::Client::push_body).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamedBody {
    /// The body has octets above 127 (it needs 8BITMIME, RFC 6152).
    pub eight_bit: bool,
    /// The expected size, declared with SIZE when the server offers it (RFC 1870).
    pub size_hint: Option<u64>,
}

impl StreamedBody {
    /// A body of about `octets` octets, declared with SIZE (RFC 1870).
    pub fn with_size(mut self, octets: u64) -> Self {
        self.size_hint = Some(octets);
        self
    }

    /// A body with octets above 127, sent with `BODY=8BITMIME` (RFC 6152).
    pub fn with_eight_bit(mut self) -> Self {
        self.eight_bit = true;
        self
    }
}

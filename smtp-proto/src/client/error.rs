//! Session errors: fatal ones (sticky), and caller mistakes (returned at once, harmless).

use alloc::string::String;
use core::fmt;

use super::oauth::OAuthError;
use crate::error::{DataError, InvalidInput, ReplyError};
use crate::wire::reply::Reply;

/// The step of the session a reply or a wait belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// The `220` greeting.
    Greeting,
    /// EHLO or LHLO.
    Ehlo,
    /// HELO.
    Helo,
    /// STARTTLS.
    StartTls,
    /// The TLS handshake.
    TlsHandshake,
    /// AUTH and its challenges.
    Auth,
    /// MAIL FROM.
    Mail,
    /// RCPT TO.
    Rcpt,
    /// DATA, waiting for `354`.
    Data,
    /// A BDAT chunk.
    Bdat,
    /// Writing the message data after `354`.
    Body,
    /// The reply to the end of the message data.
    DataEnd,
    /// RSET.
    Rset,
    /// NOOP, VRFY, EXPN or HELP.
    Query,
    /// QUIT.
    Quit,
    /// Nothing was outstanding.
    Idle,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Greeting => "greeting",
            Self::Ehlo => "ehlo",
            Self::Helo => "helo",
            Self::StartTls => "starttls",
            Self::TlsHandshake => "tls handshake",
            Self::Auth => "auth",
            Self::Mail => "mail",
            Self::Rcpt => "rcpt",
            Self::Data => "data",
            Self::Bdat => "bdat",
            Self::Body => "message data",
            Self::DataEnd => "end of data",
            Self::Rset => "rset",
            Self::Query => "query",
            Self::Quit => "quit",
            Self::Idle => "idle",
        };
        f.write_str(name)
    }
}

/// The server broke the protocol. Always fatal.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The reply stream was malformed (SECURITY.md B).
    #[error(transparent)]
    Reply(#[from] ReplyError),
    /// Bytes followed the `220` reply to STARTTLS before the handshake: response injection
    /// (RFC 3207 §4.2, SECURITY.md A5, A6).
    #[error("data after the starttls reply")]
    DataAfterStartTlsReply,
    /// Bytes arrived while the TLS handshake was pending (SECURITY.md A7).
    #[error("input during the tls handshake")]
    InputDuringTlsHandshake,
    /// A reply arrived with no command outstanding, or one too many (SECURITY.md B14, F10).
    #[error("unexpected reply: {0}")]
    UnexpectedReply(Reply),
    /// A reply whose class does not fit its command, such as `354` to MAIL or `250` to DATA
    /// (SECURITY.md A3, B7).
    #[error("unexpected reply to {stage}: {reply}")]
    UnexpectedCode {
        /// What the reply answered.
        stage: Stage,
        /// The reply.
        reply: Reply,
    },
    /// A `334` challenge that is not valid base64; the exchange was cancelled (RFC 4954 §4,
    /// SECURITY.md E4).
    #[error("invalid auth challenge")]
    InvalidChallenge,
    /// The SASL exchange went on past the mechanism's last step (SECURITY.md E6, E7, E14).
    #[error("too many auth challenges")]
    TooManyChallenges,
    /// A SCRAM message from the server that cannot be used: a nonce that does not extend the
    /// client's, no salt, an iteration count out of range, a mandatory extension (RFC 5802 §5).
    #[error("invalid scram message: {0}")]
    ScramInvalid(&'static str),
    /// The server's SCRAM signature is wrong: it does not know the password, or the exchange
    /// was tampered with (RFC 5802 §9).
    #[error("scram server signature does not match")]
    ScramServerSignature,
    /// The server ended the SCRAM exchange with an error (`e=`, RFC 5802 §7).
    #[error("scram refused: {0}")]
    ScramRefused(alloc::string::String),
}

/// Why a session ended. Sticky: once a session has failed, every call returns the same error
/// and nothing more is transmitted (rustls's model).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// A wait ran past its deadline (RFC 5321 §4.5.3.2, SECURITY.md F1-F3).
    #[error("timed out waiting for {0}")]
    Timeout(Stage),
    /// The connection closed, was reset, or failed to carry data while the session was open
    /// (RFC 5321 §3.8, SECURITY.md B17, F5).
    #[error("connection lost during {stage}: {cause}")]
    ConnectionLost {
        /// What the session was waiting for.
        stage: Stage,
        /// How the driver saw the connection end.
        cause: Disconnect,
    },
    /// The TLS handshake failed: the certificate, the host name, or no common protocol version
    /// (RFC 8314 §5, SECURITY.md A12, A13, G3, G7).
    #[error("tls handshake failed: {0}")]
    TlsHandshake(String),
    /// The server said `421`: it is closing the connection (RFC 5321 §3.8, SECURITY.md F6, F7).
    #[error("server closing: {0}")]
    ServiceClosing(Reply),
    /// The server refused a step the session cannot go on without: a `554` greeting, EHLO,
    /// HELO, or RSET (SECURITY.md A4, A9, A14, F9).
    #[error("{stage} refused: {reply}")]
    Rejected {
        /// The step refused.
        stage: Stage,
        /// The server's reply.
        reply: Reply,
    },
    /// TLS is required but the server does not offer STARTTLS, or spoke only HELO
    /// (RFC 3207 §6, SECURITY.md A1, A4).
    #[error("server does not offer starttls")]
    StartTlsUnavailable,
    /// TLS is required but the server refused STARTTLS (SECURITY.md A2). A `454` is transient.
    #[error("starttls refused: {0}")]
    StartTlsRefused(Reply),
    /// The driver could not verify the server's certificate, and the policy requires it
    /// (RFC 8314 §5.2, SECURITY.md A13).
    #[error("tls certificate not verified")]
    TlsNotVerified,
    /// Credentials are configured but the policy forbids sending them on this channel
    /// (RFC 8314 §5.1, RFC 4954 §14, SECURITY.md E1, E2, A18).
    #[error("credentials need verified tls")]
    AuthNeedsTls,
    /// Credentials are configured but the server offers no mechanism that suits them.
    #[error("no usable auth mechanism; the server offers {offered}")]
    AuthUnavailable {
        /// What the server offered (CRAM-MD5, say, which this client does not implement).
        offered: crate::types::mechanism::MechanismSet,
    },
    /// A streamed body turned out invalid after DATA was accepted. The connection must be
    /// dropped without the terminator, so that no partial message is delivered.
    #[error("invalid message body: {0}")]
    InvalidBody(DataError),
    /// The server refused the credentials or the exchange (RFC 4954 §6, SECURITY.md E8, E15).
    #[error("authentication failed: {0}")]
    AuthFailed(Reply),
    /// The server refused an OAuth 2 token (XOAUTH2, OAUTHBEARER) and said why in an error
    /// challenge before its final reply (RFC 7628 §3.2.2). An expired or invalid token is
    /// transient: a fresh token on a new connection may succeed.
    #[error("oauth token refused ({error}): {reply}")]
    OAuthRefused {
        /// The server's final reply.
        reply: Reply,
        /// What the server's error challenge said.
        error: alloc::boxed::Box<OAuthError>,
    },
    /// The application cancelled a message whose data was already going out with DATA: only
    /// dropping the connection keeps a truncated message from being delivered (RFC 5321 §4.1.1.4).
    #[error("message cancelled during its data")]
    Cancelled,
}

impl Error {
    /// Whether trying again later, on a new connection, may succeed: timeouts, lost
    /// connections, `421`, a cancelled message, and `4yz` refusals. A failed TLS handshake, a
    /// protocol error or a `5yz` refusal will fail the same way again.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout(_)
            | Self::ConnectionLost { .. }
            | Self::ServiceClosing(_)
            | Self::Cancelled => true,
            Self::Rejected { reply, .. }
            | Self::StartTlsRefused(reply)
            | Self::AuthFailed(reply) => reply.is_transient(),
            Self::OAuthRefused { reply, error } => reply.is_transient() || error.is_token_expired(),
            _ => false,
        }
    }

    /// The server's reply behind this error, if there is one.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Self::ServiceClosing(reply)
            | Self::Rejected { reply, .. }
            | Self::StartTlsRefused(reply)
            | Self::AuthFailed(reply)
            | Self::OAuthRefused { reply, .. }
            | Self::Protocol(ProtocolError::UnexpectedReply(reply))
            | Self::Protocol(ProtocolError::UnexpectedCode { reply, .. }) => Some(reply),
            _ => None,
        }
    }
}

/// How the driver saw the connection end, passed to
/// [`Client::handle_connection_lost`](crate::Client::handle_connection_lost).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Disconnect {
    /// A read found the end of the stream: the server closed the connection.
    #[error("closed by the server")]
    Closed,
    /// The connection was reset or aborted (`ECONNRESET`, `EPIPE`, `ECONNABORTED`).
    #[error("connection reset")]
    Reset,
    /// The TLS layer failed after its handshake: a bad record, an alert, or a TLS stream that
    /// ended without close_notify.
    #[error("tls: {0}")]
    Tls(String),
    /// The TLS handshake failed: the certificate, the host name, or the protocol version.
    #[error("tls handshake: {0}")]
    TlsHandshake(String),
    /// Any other failure to read or write, as the driver describes it.
    #[error("{0}")]
    Io(String),
}

#[cfg(feature = "std")]
impl Disconnect {
    /// Classifies a failed read, write or handshake: end of stream, reset, a TLS failure
    /// (`InvalidData`, which rustls uses for bad records and alerts), or another IO failure.
    /// A TLS alert refusing a certificate is the handshake's failure even when it comes after
    /// the handshake: TLS 1.3 sends the refusal of the client's certificate then
    /// (RFC 8446 §4.4.2.4). A timeout is not a disconnect: call
    /// [`handle_timeout`](crate::Client::handle_timeout) for those.
    pub fn from_io(error: &std::io::Error) -> Self {
        use alloc::string::ToString;
        use std::io::ErrorKind;
        let text = error.to_string();
        if refuses_certificate(&text) {
            return Self::TlsHandshake(text);
        }
        match error.kind() {
            ErrorKind::UnexpectedEof => Self::Closed,
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
                Self::Reset
            }
            ErrorKind::InvalidData => Self::Tls(error.to_string()),
            _ => Self::Io(error.to_string()),
        }
    }
}

/// Whether a TLS error's text is an alert refusing a certificate (`certificate_required`,
/// `bad_certificate`, `unknown_ca`, `access_denied` and their kin), as rustls
/// (`received fatal alert: CertificateRequired`) and OpenSSL
/// (`tlsv13 alert certificate required`) word them. Such a refusal will not pass by itself.
#[cfg(feature = "std")]
pub(crate) fn refuses_certificate(text: &str) -> bool {
    let text = text.to_ascii_lowercase().replace([' ', '_'], "");
    let Some(at) = text.find("alert") else {
        return false;
    };
    let alert = &text[at..];
    ["certificate", "unknownca", "accessdenied"]
        .iter()
        .any(|kind| alert.contains(kind))
}

/// Why work could not be queued: a mistake in the request, or a session that has already
/// failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The request is invalid or the session is closing; nothing changed.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The session has failed: its sticky error, the same every time.
    #[error(transparent)]
    Failed(#[from] Error),
}

/// The caller asked for something the session cannot do. Returned at once; the session is
/// unchanged (h11's local error).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// A value cannot be put on the wire.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// The message body cannot be sent.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A message needs at least one recipient.
    #[error("no recipients")]
    NoRecipients,
    /// More recipients than the server takes in one message (Amazon SES: 50).
    #[error("more than {max} recipients")]
    TooManyRecipients {
        /// The most allowed.
        max: usize,
    },
    /// QUIT was queued or the session has closed; no new work is accepted.
    #[error("session closed")]
    Closed,
    /// Message `index` of a batch cannot be queued (counting from 0); none of the batch was.
    #[error("message {index} of the batch: {error}")]
    InBatch {
        /// Where in the batch.
        index: usize,
        /// What is wrong with it.
        error: alloc::boxed::Box<UsageError>,
    },
    /// The end of the message's data went out: it can no longer be cancelled.
    #[error("the message data has ended")]
    DataEnded,
    /// No transaction or query of this session has that id, or its result was taken already.
    #[error("unknown id")]
    UnknownId,
    /// No streamed body is open under that transaction id.
    #[error("no streamed body for this transaction")]
    NotStreaming,
    /// The streamed body buffer is full: wait until the client has transmitted some of it.
    #[error("body buffer full")]
    BodyBufferFull,
    /// A driver event that does not fit the session's state, such as a TLS handshake the
    /// client did not ask for.
    #[error("{0} not expected now")]
    UnexpectedDriverEvent(&'static str),
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use std::io::{Error as IoError, ErrorKind};

    /// TLS 1.3 refuses the client's certificate after the client's handshake
    /// (RFC 8446 §4.4.2.4): that alert is the handshake's failure; other TLS failures and a
    /// close without close_notify are a lost connection.
    #[test]
    fn rfc8446_4_4_2_4_a_refused_certificate_is_the_handshakes_failure() {
        let refusals = [
            IoError::new(
                ErrorKind::InvalidData,
                "received fatal alert: CertificateRequired",
            ),
            IoError::new(ErrorKind::InvalidData, "received fatal alert: UnknownCA"),
            IoError::other(
                "error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required",
            ),
            IoError::other("ssl3_read_bytes:sslv3 alert bad certificate"),
            IoError::other("ssl3_read_bytes:tlsv1 alert access denied"),
        ];
        for error in &refusals {
            assert!(
                matches!(Disconnect::from_io(error), Disconnect::TlsHandshake(_)),
                "{error}"
            );
        }
        let internal = IoError::new(
            ErrorKind::InvalidData,
            "received fatal alert: InternalError",
        );
        assert!(matches!(Disconnect::from_io(&internal), Disconnect::Tls(_)));
        let eof = IoError::other("ssl3_read_bytes:unexpected eof while reading");
        assert!(matches!(Disconnect::from_io(&eof), Disconnect::Io(_)));
        let reset = IoError::from(ErrorKind::ConnectionReset);
        assert_eq!(Disconnect::from_io(&reset), Disconnect::Reset);
    }
}

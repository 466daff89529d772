//! Error types of the wire layer.
//!
//! Remote faults (the server sent something a client must not accept) and local faults (the
//! caller asked for something that cannot be sent) are separate types (DESIGN.md §4.5).

use alloc::string::String;

/// The server's bytes do not form an acceptable reply. Every variant is fatal to the session:
/// the reply stream can no longer be trusted to match the commands sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// A reply line grew past the configured limit (RFC 5321 §4.5.3.1.5, SECURITY.md B8, B10).
    #[error("reply line longer than {limit} octets")]
    LineTooLong {
        /// The limit in force for that line, CRLF included.
        limit: usize,
    },
    /// A multiline reply had more lines than the configured limit (SECURITY.md B9).
    #[error("reply has more than {limit} lines")]
    TooManyLines {
        /// The configured limit.
        limit: usize,
    },
    /// A multiline reply grew past the configured number of octets (SECURITY.md B9).
    #[error("reply longer than {limit} octets")]
    ReplyTooLong {
        /// The configured limit.
        limit: usize,
    },
    /// A line that is not `3DIGIT` followed by SP, `-` or CRLF (RFC 5321 §4.2, SECURITY.md B4).
    #[error("not an smtp reply: \"{excerpt}\"")]
    NonSmtpReply {
        /// The start of the line, escaped.
        excerpt: String,
    },
    /// A three-digit code whose first digit is not 2 to 5 (RFC 5321 §4.2, SECURITY.md B5).
    #[error("reply code {code} out of range")]
    CodeOutOfRange {
        /// The code received.
        code: u16,
    },
    /// The lines of one multiline reply carried different codes (RFC 5321 §4.2.1, B3).
    #[error("multiline reply changed code from {first} to {found}")]
    InconsistentMultilineCode {
        /// The code of the first line.
        first: u16,
        /// The differing code.
        found: u16,
    },
    /// A CR not followed by LF inside a reply line (RFC 5321 §2.3.8, SECURITY.md B11).
    #[error("bare cr in reply")]
    BareCarriageReturn,
    /// A LF not preceded by CR (RFC 5321 §2.3.8, SECURITY.md B11), unless bare LF is accepted.
    #[error("bare lf in reply")]
    BareLineFeed,
}

/// The message body cannot be sent as it is (RFC 5321 §4.5.2, §4.5.3.1.6; SECURITY.md D).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// A NUL octet in text content (RFC 5321 §4.1.1.4, SECURITY.md D2).
    #[error("nul octet in message text")]
    Nul,
    /// A CR or LF that is not part of CRLF, under the reject policy (SECURITY.md D1).
    #[error("bare cr or lf in message text")]
    BareLineEnding,
    /// A line longer than 998 octets before CRLF (RFC 5321 §4.5.3.1.6, SECURITY.md D7).
    #[error("message line longer than 998 octets")]
    LineTooLong,
    /// An octet above 127 while the body was declared 7-bit (RFC 5321 §2.4, SECURITY.md D8).
    #[error("8-bit octet in a 7-bit body")]
    EightBit,
    /// More body after the encoder was finished.
    #[error("body already finished")]
    Finished,
}

/// A value the caller supplied cannot be put on the wire. Returned before any byte is written;
/// nothing else changes (SECURITY.md C1-C13).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidInput {
    /// The field holds CR, LF, NUL or another control character (SECURITY.md C1-C4, C11).
    #[error("{field} holds a control character")]
    ControlCharacter {
        /// Which field.
        field: &'static str,
    },
    /// The field does not match its grammar (RFC 5321 §4.1.2, §4.1.3, SECURITY.md C5).
    #[error("{field} is malformed")]
    Malformed {
        /// Which field.
        field: &'static str,
    },
    /// The field is longer than its RFC limit (RFC 5321 §4.5.3.1, SECURITY.md C7).
    #[error("{field} longer than {limit} octets")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// The limit in octets.
        limit: usize,
    },
    /// A parameter needs an extension the server did not advertise (RFC 5321 §4.1.1.3,
    /// SECURITY.md C8).
    #[error("{extension} not advertised by the server")]
    NotAdvertised {
        /// The EHLO keyword that was missing.
        extension: &'static str,
    },
    /// A non-ASCII address without the SMTPUTF8 parameter (RFC 6531 §3.4, SECURITY.md C6).
    #[error("non-ascii address needs smtputf8")]
    NeedsSmtpUtf8,
    /// REQUIRETLS on a session without TLS (RFC 8689 §4.1).
    #[error("requiretls needs a tls session")]
    RequireTlsWithoutTls,
}

impl InvalidInput {
    pub(crate) const fn malformed(field: &'static str) -> Self {
        Self::Malformed { field }
    }
}

/// Rejects any control character (C0, DEL or C1): the one check every field shares before its
/// own grammar (SECURITY.md I4).
pub(crate) fn reject_controls(field: &'static str, value: &str) -> Result<(), InvalidInput> {
    if value.chars().any(char::is_control) {
        Err(InvalidInput::ControlCharacter { field })
    } else {
        Ok(())
    }
}

/// Rejects a value longer than `limit` octets.
pub(crate) fn check_len(
    field: &'static str,
    value: &str,
    limit: usize,
) -> Result<(), InvalidInput> {
    if value.len() > limit {
        Err(InvalidInput::TooLong { field, limit })
    } else {
        Ok(())
    }
}

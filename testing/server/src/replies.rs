//! What the server says: the reply texts of each [`Personality`], its EHLO reply, its greeting
//! and its message ids.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use super::ServerOptions;

/// Whose replies the server gives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Personality {
    /// Postfix's replies, with enhanced status codes; `250 Ok <id>` after the data.
    #[default]
    Postfix,
    /// Amazon SES's SMTP interface as it answers: greeted by
    /// `220 email-smtp.amazonaws.com ESMTP SimpleEmailService-d-<id>` (an id per connection),
    /// an EHLO reply that ends with `250 Ok`, short replies without enhanced status codes
    /// (SES offers no ENHANCEDSTATUSCODES) except where SES prints one, and
    /// `250 Ok <message id>` with an SES-shaped id (16 hex digits, a UUID, `-000000`). BDAT
    /// is refused unless [`ServerOptions::chunking`] is set. See [`ServerOptions::ses`].
    Ses,
}

/// The texts of one personality, without their final CRLF unless noted. `{path}` stands for
/// the address and `{limit}` for the recipient limit.
pub(super) struct Replies {
    pub(super) host: &'static str,
    pub(super) starttls: &'static str,
    pub(super) encryption_required: &'static str,
    pub(super) auth_required: &'static str,
    pub(super) auth_ok: &'static str,
    pub(super) auth_failed: &'static str,
    pub(super) auth_unknown: &'static str,
    pub(super) token_failed: &'static str,
    pub(super) session_cap: &'static str,
    pub(super) too_many_connections: &'static str,
    pub(super) nested_mail: &'static str,
    pub(super) sender_tempfail: &'static str,
    pub(super) sender_reject: &'static str,
    pub(super) mail_ok: &'static str,
    pub(super) need_mail: &'static str,
    pub(super) rcpt_reject: &'static str,
    pub(super) rcpt_tempfail: &'static str,
    pub(super) rcpt_ok: &'static str,
    /// The refusal of a message with too many recipients, and whether it comes at each RCPT
    /// beyond the limit (Postfix) rather than at the end of the data (SES).
    pub(super) too_many_recipients: (&'static str, bool),
    pub(super) need_rcpt: &'static str,
    pub(super) no_recipients: &'static str,
    pub(super) too_large: &'static str,
    pub(super) throttled: &'static str,
    pub(super) ok: &'static str,
    pub(super) quit: &'static str,
    pub(super) unknown: &'static str,
    /// With its CRLF: it is written as the last bytes of the connection.
    pub(super) idle: &'static str,
}

/// Postfix's texts.
const POSTFIX: Replies = Replies {
    host: "localhost",
    starttls: "220 2.0.0 Ready to start TLS",
    encryption_required: "538 5.7.11 Encryption required",
    auth_required: "530 5.7.0 Authentication required",
    auth_ok: "235 2.7.0 Authentication successful",
    auth_failed: "535 5.7.8 Authentication credentials invalid",
    auth_unknown: "504 5.5.4 Unrecognized authentication type",
    token_failed: "535 5.7.8 Username and Password not accepted",
    session_cap: "421 4.4.2 Maximum message count per session reached",
    too_many_connections: "421 4.7.0 Too many concurrent SMTP connections",
    nested_mail: "503 5.5.1 Error: nested MAIL command",
    sender_tempfail: "451 4.3.0 Temporary failure: try again later",
    sender_reject: "550 5.7.1 Sender rejected",
    mail_ok: "250 2.1.0 Ok",
    need_mail: "503 5.5.1 Error: need MAIL command",
    rcpt_reject: "550 5.1.1 Recipient address rejected: User unknown",
    rcpt_tempfail: "450 4.2.0 Recipient address rejected: try again later",
    rcpt_ok: "250 2.1.5 Ok",
    too_many_recipients: ("452 4.5.3 Error: too many recipients", true),
    need_rcpt: "503 5.5.1 Error: need RCPT command",
    no_recipients: "554 5.5.1 Error: no valid recipients",
    too_large: "552 5.3.4 Message size exceeds fixed limit",
    throttled: "454 4.7.0 Throttling failure: Maximum sending rate exceeded.",
    ok: "250 2.0.0 Ok",
    quit: "221 2.0.0 Bye",
    unknown: "502 5.5.2 Error: command not recognized",
    idle: "421 4.4.2 localhost Error: timeout exceeded\r\n",
};

/// Amazon SES's texts: those of its documentation ("SMTP response codes returned by Amazon
/// SES") and of public transcripts; where SES's own text is not known, a short one without an
/// enhanced status code.
const SES: Replies = Replies {
    host: "email-smtp.amazonaws.com",
    starttls: "220 Ready to start TLS",
    encryption_required: "530 Must issue a STARTTLS command first",
    auth_required: "530 Authentication required",
    auth_ok: "235 Authentication successful.",
    auth_failed: "535 Authentication Credentials Invalid",
    auth_unknown: "504 Unrecognized authentication type",
    token_failed: "535 Authentication Credentials Invalid",
    session_cap: "421 4.4.2 Maximum message count per session reached",
    too_many_connections: "421 Too many concurrent SMTP connections",
    nested_mail: "503 Bad sequence of commands",
    sender_tempfail: "451 Temporary service failure",
    sender_reject: "554 Message rejected: Email address is not verified.",
    mail_ok: "250 Ok",
    need_mail: "503 Bad sequence of commands",
    rcpt_reject: "553 <{path}> address unknown",
    rcpt_tempfail: "451 Temporary service failure",
    rcpt_ok: "250 Ok",
    too_many_recipients: (
        "554 Transaction failed: Recipient count exceeds {limit}.",
        false,
    ),
    need_rcpt: "503 Bad sequence of commands",
    no_recipients: "554 No valid recipients",
    too_large: "552 Message is too long.",
    throttled: "454 Throttling failure: Maximum sending rate exceeded.",
    ok: "250 Ok",
    quit: "221 Bye",
    unknown: "500 Unrecognized command",
    idle: "451 4.4.2 Timeout waiting for data from client.\r\n",
};

impl Personality {
    pub(super) fn replies(self) -> &'static Replies {
        match self {
            Personality::Postfix => &POSTFIX,
            Personality::Ses => &SES,
        }
    }

    /// The `220` greeting of a new connection.
    pub(super) fn greeting(self) -> String {
        match self {
            Personality::Postfix => "220 localhost ESMTP smtp-test-server".into(),
            Personality::Ses => {
                const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
                let mut bits = random();
                let id: String = (0..9)
                    .map(|_| {
                        let c = ALPHABET[(bits % ALPHABET.len() as u64) as usize];
                        bits /= ALPHABET.len() as u64;
                        char::from(c)
                    })
                    .collect();
                format!("220 {} ESMTP SimpleEmailService-d-{id}", SES.host)
            }
        }
    }

    /// The id of the `n`-th message stored (from 0), given in `250 Ok <id>`.
    pub(super) fn message_id(self, n: u64) -> String {
        match self {
            Personality::Postfix => format!("0100019a{n:08x}-test-000000"),
            Personality::Ses => {
                // SES's ids start with 0100 and the time in milliseconds, in 12 hex digits.
                let millis = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                let (a, b) = (random(), random());
                // A version 4 UUID: 122 random bits.
                let b = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
                format!(
                    "0100{:012x}-{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}-000000",
                    millis & 0xffff_ffff_ffff,
                    a >> 32,
                    (a >> 16) & 0xffff,
                    a & 0xfff,
                    b >> 48,
                    b & 0xffff_ffff_ffff,
                )
            }
        }
    }
}

/// 64 random bits: each `RandomState` is keyed anew.
fn random() -> u64 {
    RandomState::new().build_hasher().finish()
}

/// The reply to EHLO: the extensions on offer.
pub(super) fn ehlo(options: &ServerOptions, tls: bool) -> String {
    let ses = options.personality == Personality::Ses;
    let replies = options.personality.replies();
    let mut lines = vec![replies.host.to_string()];
    if ses {
        lines.extend(["8BITMIME".into(), format!("SIZE {}", options.size)]);
    } else {
        lines.push(format!("SIZE {}", options.size));
        lines.extend(["8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"].map(String::from));
    }
    if options.pipelining {
        lines.push("PIPELINING".into());
    }
    if options.chunking {
        lines.push("CHUNKING".into());
    }
    if !tls && options.starttls {
        lines.push("STARTTLS".into());
    }
    let mut mechanisms = Vec::new();
    if options.auth.is_some() {
        mechanisms.extend(["PLAIN", "LOGIN"]);
    }
    if options.client_certificates {
        mechanisms.push("EXTERNAL");
    }
    if options.bearer_token.is_some() {
        mechanisms.extend(["XOAUTH2", "OAUTHBEARER"]);
    }
    if tls && !mechanisms.is_empty() {
        lines.push(format!("AUTH {}", mechanisms.join(" ")));
    }
    if ses {
        lines.push("Ok".into());
    }
    let last = lines.len() - 1;
    let text: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("250{}{l}", if i == last { ' ' } else { '-' }))
        .collect();
    text.join("\r\n")
}

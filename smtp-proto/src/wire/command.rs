//! Commands and their encoder: the only place where command bytes are written.
//!
//! Every argument is a validated type, so an encoded command is always one line of the RFC
//! grammar, ending in exactly one CRLF, with no CR, LF or NUL before it (SECURITY.md I4, C10).

use alloc::string::String;
use bytes::{BufMut, Bytes, BytesMut};
use core::fmt::{self, Write};

use super::base64;
use super::ehlo::Capabilities;
use crate::error::InvalidInput;
use crate::types::domain::ClientId;
use crate::types::mailbox::{ForwardPath, QueryArg, ReversePath};
use crate::types::mechanism::Mechanism;
use crate::types::params::{AuthParam, MailParameters, RcptParameters, Ret, XText};
use crate::types::secret::Secret;

/// RFC 5321 §4.5.3.1.4: the longest command line, CRLF included, before extensions add to it.
pub(crate) const MAX_COMMAND_LINE: usize = 512;
/// RFC 4954 §4: the longest SASL response line, CRLF included.
pub(crate) const MAX_SASL_LINE: usize = 12_288;

/// Room that RFC 1870 gives the MAIL line for `SIZE=`.
const SIZE_ALLOWANCE: usize = 26;
/// Room that RFC 3461 gives the MAIL line for `RET=` and `ENVID=`.
const DSN_MAIL_ALLOWANCE: usize = 100;
/// Room that RFC 3461 gives the RCPT line for `NOTIFY=` and `ORCPT=`.
const DSN_RCPT_ALLOWANCE: usize = 500;
/// Room that RFC 4954 §5 gives the MAIL line for `AUTH=`.
const AUTH_PARAM_ALLOWANCE: usize = 500;

fn require(advertised: bool, extension: &'static str) -> Result<(), InvalidInput> {
    if advertised {
        Ok(())
    } else {
        Err(InvalidInput::NotAdvertised { extension })
    }
}

fn check_line(line: &str, limit: usize) -> Result<(), InvalidInput> {
    crate::error::check_len("command line", line, limit - 2)
}

/// `MAIL FROM:<reverse-path> [params]`, checked against what the server advertised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailCommand {
    from: ReversePath,
    params: MailParameters,
    line: String,
}

impl MailCommand {
    /// Builds the command if every parameter's extension was advertised (RFC 5321 §4.1.1.3), a
    /// non-ASCII path comes with `SMTPUTF8` (RFC 6531 §3.4), and the line fits: 512 octets plus
    /// the room RFC 1870 (SIZE), RFC 3461 (RET, ENVID) and RFC 4954 §5 (AUTH=) add.
    ///
    /// REQUIRETLS also needs a TLS session (RFC 8689 §4.1); the client session checks that.
    pub fn new(
        from: ReversePath,
        params: MailParameters,
        caps: &Capabilities,
    ) -> Result<Self, InvalidInput> {
        let p = &params;
        let mut limit = MAX_COMMAND_LINE;
        if p.size.is_some() {
            require(caps.size().is_some(), "SIZE")?;
            limit += SIZE_ALLOWANCE;
        }
        match p.body {
            Some(crate::BodyType::BinaryMime) => {
                require(caps.binary_mime(), "BINARYMIME")?;
                require(caps.chunking(), "CHUNKING")?;
            }
            Some(_) => require(caps.eight_bit_mime(), "8BITMIME")?,
            None => {}
        }
        if p.smtp_utf8 {
            require(caps.smtp_utf8(), "SMTPUTF8")?;
        } else if from.needs_smtp_utf8() {
            return Err(InvalidInput::NeedsSmtpUtf8);
        }
        if p.ret.is_some() || p.envid.is_some() {
            require(caps.dsn(), "DSN")?;
            limit += DSN_MAIL_ALLOWANCE;
        }
        if p.require_tls {
            require(caps.requiretls(), "REQUIRETLS")?;
        }
        if p.mt_priority.is_some() {
            require(caps.mt_priority().is_some(), "MT-PRIORITY")?;
        }
        if p.deliver_by.is_some() {
            require(caps.deliver_by().is_some(), "DELIVERBY")?;
        }
        if p.auth.is_some() {
            require(caps.auth().is_some(), "AUTH")?;
            limit += AUTH_PARAM_ALLOWANCE;
        }
        let line = render_mail(&from, p);
        check_line(&line, limit)?;
        Ok(Self { from, params, line })
    }

    /// The reverse-path.
    pub fn from(&self) -> &ReversePath {
        &self.from
    }

    /// The parameters.
    pub fn params(&self) -> &MailParameters {
        &self.params
    }
}

fn render_mail(from: &ReversePath, p: &MailParameters) -> String {
    let mut line = String::with_capacity(64);
    let _ = write!(line, "MAIL FROM:<{}>", from.mailbox_str());
    if let Some(size) = p.size {
        let _ = write!(line, " SIZE={size}");
    }
    if let Some(body) = p.body {
        let _ = write!(line, " BODY={}", body.as_str());
    }
    if p.smtp_utf8 {
        line.push_str(" SMTPUTF8");
    }
    if let Some(ret) = p.ret {
        line.push_str(match ret {
            Ret::Full => " RET=FULL",
            Ret::Headers => " RET=HDRS",
        });
    }
    if let Some(envid) = &p.envid {
        let _ = write!(line, " ENVID={}", envid.xtext().as_str());
    }
    if p.require_tls {
        line.push_str(" REQUIRETLS");
    }
    if let Some(priority) = p.mt_priority {
        let _ = write!(line, " MT-PRIORITY={}", priority.get());
    }
    if let Some(by) = p.deliver_by {
        line.push_str(" BY=");
        by.write(&mut line);
    }
    match &p.auth {
        Some(AuthParam::Unknown) => line.push_str(" AUTH=<>"),
        Some(AuthParam::Submitter(mailbox)) => {
            let xtext = XText::encode(mailbox.as_str().as_bytes());
            let _ = write!(line, " AUTH={}", xtext.as_str());
        }
        None => {}
    }
    line
}

/// `RCPT TO:<forward-path> [params]`, checked against what the server advertised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RcptCommand {
    to: ForwardPath,
    params: RcptParameters,
    line: String,
}

impl RcptCommand {
    /// Builds the command if DSN was advertised for NOTIFY and ORCPT (RFC 3461 §4), SMTPUTF8 for
    /// a non-ASCII path (RFC 6531 §3.4), and the line fits 512 octets plus the 500 RFC 3461 adds.
    ///
    /// A non-ASCII recipient also needs `SMTPUTF8` on the transaction's MAIL command; the client
    /// session checks that.
    pub fn new(
        to: ForwardPath,
        params: RcptParameters,
        caps: &Capabilities,
    ) -> Result<Self, InvalidInput> {
        let mut limit = MAX_COMMAND_LINE;
        if params.notify.is_some() || params.orcpt.is_some() {
            require(caps.dsn(), "DSN")?;
            limit += DSN_RCPT_ALLOWANCE;
        }
        if to.needs_smtp_utf8() && !caps.smtp_utf8() {
            return Err(InvalidInput::NeedsSmtpUtf8);
        }
        let mut line = String::with_capacity(64);
        let _ = write!(line, "RCPT TO:<{}>", to.mailbox_str());
        if let Some(notify) = params.notify {
            line.push_str(" NOTIFY=");
            notify.write(&mut line);
        }
        if let Some(orcpt) = &params.orcpt {
            let _ = write!(line, " ORCPT=rfc822;{}", orcpt.xtext().as_str());
        }
        check_line(&line, limit)?;
        Ok(Self { to, params, line })
    }

    /// The forward-path.
    pub fn to(&self) -> &ForwardPath {
        &self.to
    }

    /// The parameters.
    pub fn params(&self) -> &RcptParameters {
        &self.params
    }
}

/// `AUTH <mechanism> [initial-response]` (RFC 4954 §4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthCommand {
    mechanism: Mechanism,
    initial_response: Option<Secret<Bytes>>,
}

impl AuthCommand {
    /// Builds the command. An empty initial response is sent as `=`. An initial response that
    /// would push the line past 512 octets is refused: RFC 4954 §4 says the client MUST then send
    /// `AUTH <mechanism>` alone and answer the empty `334` challenge (SECURITY.md E9).
    pub fn new(
        mechanism: Mechanism,
        initial_response: Option<Secret<Bytes>>,
    ) -> Result<Self, InvalidInput> {
        if let Some(ir) = &initial_response {
            let len = 5 + mechanism.name().len() + 1 + base64::encoded_len(ir.expose().len()) + 2;
            if len > MAX_COMMAND_LINE {
                return Err(InvalidInput::TooLong {
                    field: "auth initial response",
                    limit: MAX_COMMAND_LINE,
                });
            }
        }
        Ok(Self {
            mechanism,
            initial_response,
        })
    }

    /// The mechanism.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }
}

/// A client response to a `334` challenge: base64 on a line of its own (RFC 4954 §4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaslResponse(Secret<Bytes>);

impl SaslResponse {
    /// Refuses a response whose line would exceed 12,288 octets (RFC 4954 §4).
    pub fn new(response: Secret<Bytes>) -> Result<Self, InvalidInput> {
        if base64::encoded_len(response.expose().len()) + 2 > MAX_SASL_LINE {
            return Err(InvalidInput::TooLong {
                field: "sasl response",
                limit: MAX_SASL_LINE,
            });
        }
        Ok(Self(response))
    }
}

/// A command of RFC 5321 or one of the extensions this crate speaks.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `EHLO <id>` (RFC 5321 §4.1.1.1).
    Ehlo(ClientId),
    /// `HELO <id>` (RFC 5321 §4.1.1.1).
    Helo(ClientId),
    /// `LHLO <id>` (RFC 2033 §4.1, LMTP).
    Lhlo(ClientId),
    /// `MAIL FROM:` (RFC 5321 §4.1.1.2).
    Mail(MailCommand),
    /// `RCPT TO:` (RFC 5321 §4.1.1.3).
    Rcpt(RcptCommand),
    /// `DATA` (RFC 5321 §4.1.1.4).
    Data,
    /// `BDAT <size> [LAST]`, followed by exactly `size` octets (RFC 3030 §2).
    Bdat {
        /// The number of octets that follow.
        size: u64,
        /// Whether this is the last chunk of the message.
        last: bool,
    },
    /// `RSET` (RFC 5321 §4.1.1.5).
    Rset,
    /// `NOOP` (RFC 5321 §4.1.1.9).
    Noop,
    /// `QUIT` (RFC 5321 §4.1.1.10).
    Quit,
    /// `VRFY <string>` (RFC 5321 §4.1.1.6).
    Vrfy(QueryArg),
    /// `EXPN <string>` (RFC 5321 §4.1.1.7).
    Expn(QueryArg),
    /// `HELP [string]` (RFC 5321 §4.1.1.8).
    Help(Option<QueryArg>),
    /// `STARTTLS` (RFC 3207 §4).
    StartTls,
    /// `AUTH <mechanism> [initial-response]` (RFC 4954 §4).
    Auth(AuthCommand),
    /// A base64 answer to a `334` challenge (RFC 4954 §4).
    AuthResponse(SaslResponse),
    /// `*`: cancels an authentication exchange (RFC 4954 §4).
    AuthCancel,
}

impl Command {
    /// Appends the command line, CRLF included, to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        self.write_line(out, false);
        out.put_slice(b"\r\n");
    }

    /// The command line without CRLF, with SASL payloads replaced by `<redacted>`: what a
    /// transcript or log may show (SECURITY.md E13).
    pub fn redacted(&self) -> Redacted<'_> {
        Redacted(self)
    }

    /// True for the commands RFC 2920 §3.1 allows only at the end of a pipelined group, and for
    /// STARTTLS and AUTH, which end it too (RFC 3207 §4.2, RFC 4954 §4; SECURITY.md A11, E10).
    pub fn ends_pipeline_group(&self) -> bool {
        !matches!(
            self,
            Self::Mail(_) | Self::Rcpt(_) | Self::Rset | Self::Bdat { .. }
        )
    }

    fn write_line(&self, out: &mut BytesMut, redact: bool) {
        let mut word_arg = |word: &str, arg: &str| {
            out.put_slice(word.as_bytes());
            out.put_u8(b' ');
            out.put_slice(arg.as_bytes());
        };
        match self {
            Self::Ehlo(id) => word_arg("EHLO", id.as_str()),
            Self::Helo(id) => word_arg("HELO", id.as_str()),
            Self::Lhlo(id) => word_arg("LHLO", id.as_str()),
            Self::Mail(mail) => out.put_slice(mail.line.as_bytes()),
            Self::Rcpt(rcpt) => out.put_slice(rcpt.line.as_bytes()),
            Self::Vrfy(arg) => word_arg("VRFY", arg.as_str()),
            Self::Expn(arg) => word_arg("EXPN", arg.as_str()),
            Self::Help(Some(arg)) => word_arg("HELP", arg.as_str()),
            Self::Help(None) => out.put_slice(b"HELP"),
            Self::Data => out.put_slice(b"DATA"),
            Self::Rset => out.put_slice(b"RSET"),
            Self::Noop => out.put_slice(b"NOOP"),
            Self::Quit => out.put_slice(b"QUIT"),
            Self::StartTls => out.put_slice(b"STARTTLS"),
            Self::AuthCancel => out.put_slice(b"*"),
            Self::Bdat { size, last } => {
                let mut line = String::with_capacity(32);
                let _ = write!(line, "BDAT {size}{}", if *last { " LAST" } else { "" });
                out.put_slice(line.as_bytes());
            }
            Self::Auth(auth) => {
                word_arg("AUTH", auth.mechanism.name());
                if let Some(ir) = &auth.initial_response {
                    out.put_u8(b' ');
                    if ir.expose().is_empty() && !redact {
                        // RFC 4954 §4: an empty initial response is sent as "=".
                        out.put_u8(b'=');
                    } else {
                        write_sasl(ir, out, redact);
                    }
                }
            }
            Self::AuthResponse(SaslResponse(response)) => write_sasl(response, out, redact),
        }
    }
}

/// The base64 form of a payload; an empty one is nothing at all, so an empty response to a
/// challenge is an empty line (RFC 4954 §4).
fn write_sasl(payload: &Secret<Bytes>, out: &mut BytesMut, redact: bool) {
    if redact {
        out.put_slice(b"<redacted>");
    } else {
        base64::encode(payload.expose(), out);
    }
}

/// A command as a transcript shows it: see [`Command::redacted`].
#[derive(Debug)]
pub struct Redacted<'a>(&'a Command);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = BytesMut::new();
        self.0.write_line(&mut line, true);
        write!(f, "{}", super::escape::Escaped(&line))
    }
}

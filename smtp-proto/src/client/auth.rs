//! SASL mechanisms as small step machines (RFC 4954 §4).
//!
//! Each answers the server's `334` challenges by step number, never by prompt text
//! (SECURITY.md E14), and cancels with `*` when the exchange goes on past its last step
//! (E6, E7).

use alloc::vec::Vec;
use bytes::Bytes;

use super::config::Credentials;
use super::error::ProtocolError;
use super::event::ChannelBinding;
use super::oauth::OAuthError;
use crate::types::mechanism::Mechanism;
use crate::types::secret::Secret;
use crate::wire::command::{AuthCommand, Command, SaslResponse};

/// The most `334` challenges any mechanism here answers before cancelling (SECURITY.md E7).
const MAX_CHALLENGES: u8 = 3;

/// What to send in answer to a challenge.
#[derive(Debug)]
pub(crate) enum SaslStep {
    /// A response line.
    Respond(Command),
    /// `*`: cancel the exchange, for this reason if it is not the default (too many
    /// challenges).
    Cancel(Option<ProtocolError>),
}

/// What a mechanism may need from the session: the driver's nonce, the TLS channel's binding,
/// and whether the server offers any `-PLUS` mechanism.
#[derive(Debug, Default)]
#[cfg_attr(not(feature = "crypto"), allow(dead_code))]
pub(crate) struct Setup {
    pub(crate) nonce: Option<alloc::string::String>,
    pub(crate) binding: Option<ChannelBinding>,
    pub(crate) plus_offered: bool,
}

/// One authentication exchange in progress.
#[derive(Debug)]
pub(crate) struct Sasl {
    mechanism: Mechanism,
    credentials: Credentials,
    #[cfg_attr(not(feature = "crypto"), allow(dead_code))]
    setup: Setup,
    sent_initial: bool,
    challenges: u8,
    /// The OAuth 2 server's error challenge, reported with its final failure.
    oauth_error: Option<OAuthError>,
    #[cfg(feature = "crypto")]
    scram: Option<super::scram::Scram>,
}

impl Sasl {
    pub(crate) fn new(mechanism: Mechanism, credentials: Credentials, setup: Setup) -> Self {
        Self {
            mechanism,
            credentials,
            setup,
            sent_initial: false,
            challenges: 0,
            oauth_error: None,
            #[cfg(feature = "crypto")]
            scram: None,
        }
    }

    /// Whether a success reply may end the exchange: always, except for SCRAM before the
    /// server has proved it knows the password (RFC 5802 §9).
    pub(crate) fn may_succeed(&self) -> bool {
        #[cfg(feature = "crypto")]
        if let Some(scram) = &self.scram {
            return scram.is_verified();
        }
        true
    }

    /// The OAuth 2 server's error challenge, if it sent one (RFC 7628 §3.2.2).
    pub(crate) fn take_oauth_error(&mut self) -> Option<OAuthError> {
        self.oauth_error.take()
    }

    /// The AUTH command, with the initial response when the mechanism has one and it fits the
    /// line; otherwise without, and the response follows the first (empty) challenge
    /// (RFC 4954 §4, SECURITY.md E9).
    pub(crate) fn start(&mut self) -> Command {
        #[cfg(feature = "crypto")]
        if self.mechanism.is_scram() {
            return self.start_scram();
        }
        if let Some(Ok(auth)) = self
            .initial_response()
            .map(|initial| AuthCommand::new(self.mechanism, Some(initial)))
        {
            self.sent_initial = true;
            return Command::Auth(auth);
        }
        match AuthCommand::new(self.mechanism, None) {
            Ok(auth) => Command::Auth(auth),
            // A mechanism name always fits a command line.
            Err(_) => Command::AuthCancel,
        }
    }

    /// SCRAM's first message, as the initial response (RFC 5802 §5, RFC 4954 §4).
    #[cfg(feature = "crypto")]
    fn start_scram(&mut self) -> Command {
        use super::scram::{Binding, Hash, Scram};
        let (
            Credentials::Password {
                authzid,
                username,
                password,
            },
            Some(nonce),
        ) = (&self.credentials, &self.setup.nonce)
        else {
            return Command::AuthCancel;
        };
        let hash = match self.mechanism {
            Mechanism::ScramSha1 | Mechanism::ScramSha1Plus => Hash::Sha1,
            _ => Hash::Sha256,
        };
        let binding = match (&self.setup.binding, self.mechanism.binds_channel()) {
            (Some(b), true) => Binding::Bound(b.kind().name(), b.data().to_vec()),
            // RFC 5802 §6: able to bind, but the server offers no -PLUS: say so, which stops
            // an attacker from stripping -PLUS from the server's list.
            (Some(_), false) if !self.setup.plus_offered => Binding::Unused,
            _ => Binding::None,
        };
        let (scram, first) = Scram::start(
            hash,
            authzid.as_deref(),
            username,
            password.clone(),
            nonce,
            binding,
        );
        self.scram = Some(scram);
        self.sent_initial = true;
        let initial = Secret::new(Bytes::from(first));
        match AuthCommand::new(self.mechanism, Some(initial)) {
            Ok(auth) => Command::Auth(auth),
            Err(_) => Command::AuthCancel,
        }
    }

    /// The answer to a `334` whose challenge decoded to `challenge`.
    pub(crate) fn respond(&mut self, challenge: &[u8]) -> SaslStep {
        let step = self.challenges;
        self.challenges += 1;
        if self.challenges > MAX_CHALLENGES {
            return SaslStep::Cancel(None);
        }
        #[cfg(feature = "crypto")]
        if let Some(scram) = &mut self.scram {
            return match scram.respond(challenge).map(Bytes::from) {
                Ok(payload) => match SaslResponse::new(Secret::new(payload)) {
                    Ok(response) => SaslStep::Respond(Command::AuthResponse(response)),
                    Err(_) => SaslStep::Cancel(None),
                },
                Err(reason) => SaslStep::Cancel(Some(reason)),
            };
        }
        let payload = match self.mechanism {
            // PLAIN: one message. A challenge after the initial response is unexpected (E6);
            // without one, the first (empty, E5) challenge asks for the message.
            Mechanism::Plain if !self.sent_initial && step == 0 => self.initial_bytes(),
            // LOGIN: user name at step 1, password at step 2, whatever the prompts say (E14).
            Mechanism::Login => match (&self.credentials, step) {
                (Credentials::Password { username, .. }, 0) => Some(bytes_of(username)),
                (Credentials::Password { password, .. }, 1) => Some(bytes_of(password.expose())),
                _ => None,
            },
            // XOAUTH2 and OAUTHBEARER: the token may go at the first challenge; a challenge
            // after the token carries an error, answered with an empty response (XOAUTH2) or
            // %x01 (RFC 7628 §3.2.3) so that the server sends its final failure.
            Mechanism::XOAuth2 | Mechanism::OAuthBearer if !self.sent_initial && step == 0 => {
                self.sent_initial = true;
                self.initial_bytes()
            }
            Mechanism::XOAuth2 | Mechanism::OAuthBearer if step <= 1 => {
                self.oauth_error = Some(OAuthError::parse(challenge));
                match self.mechanism {
                    Mechanism::XOAuth2 => Some(Bytes::new()),
                    _ => Some(Bytes::from_static(b"\x01")),
                }
            }
            // EXTERNAL: the authorization identity (possibly empty) if the server asks for it
            // with an empty challenge instead of taking an initial response.
            Mechanism::External if !self.sent_initial && step == 0 => self.initial_bytes(),
            _ => None,
        };
        match payload.map(|p| SaslResponse::new(Secret::new(p))) {
            Some(Ok(response)) => SaslStep::Respond(Command::AuthResponse(response)),
            _ => SaslStep::Cancel(None),
        }
    }

    fn initial_bytes(&self) -> Option<Bytes> {
        self.initial_response()
            .map(|secret| secret.expose().clone())
    }

    fn initial_response(&self) -> Option<Secret<Bytes>> {
        let message: Vec<u8> = match (&self.credentials, self.mechanism) {
            (
                Credentials::Password {
                    authzid,
                    username,
                    password,
                },
                Mechanism::Plain,
            ) => {
                // RFC 4616 §2: [authzid] NUL authcid NUL passwd.
                let authzid = authzid.as_deref().unwrap_or("");
                [authzid, "\0", username, "\0", password.expose()]
                    .concat()
                    .into_bytes()
            }
            (Credentials::OAuth2 { username, token }, Mechanism::XOAuth2) => {
                let token = token.expose();
                alloc::format!("user={username}\x01auth=Bearer {token}\x01\x01").into_bytes()
            }
            (Credentials::OAuth2 { username, token }, Mechanism::OAuthBearer) => {
                // RFC 7628 §3.1: gs2-header "n,a=<user>," then key-value pairs.
                let user = username.replace('=', "=3D").replace(',', "=2C");
                let token = token.expose();
                alloc::format!("n,a={user},\x01auth=Bearer {token}\x01\x01").into_bytes()
            }
            // RFC 4422 Appendix A: the authorization identity, empty to act as the
            // certificate's own identity (sent as `=`, RFC 4954 §4).
            (Credentials::External { authzid }, Mechanism::External) => {
                authzid.clone().unwrap_or_default().into_bytes()
            }
            _ => return None,
        };
        Some(Secret::new(Bytes::from(message)))
    }
}

fn bytes_of(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

/// Whether a SCRAM nonce is usable: at least 18 printable characters without `,`
/// (RFC 5802 §5.1, §7).
pub(crate) fn nonce_ok(nonce: &str) -> bool {
    nonce.len() >= 18 && nonce.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

/// The first mechanism in `preference` that the server advertised, the credentials suit and
/// the session can run (`usable`: SCRAM needs a nonce, `-PLUS` channel binding data).
pub(crate) fn choose(
    preference: &[Mechanism],
    offered: crate::types::mechanism::MechanismSet,
    credentials: &Credentials,
    usable: impl Fn(Mechanism) -> bool,
) -> Option<Mechanism> {
    preference
        .iter()
        .copied()
        .find(|&m| offered.contains(m) && credentials.suits(m) && usable(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn line(command: &Command) -> alloc::string::String {
        let mut out = BytesMut::new();
        command.encode(&mut out);
        alloc::string::String::from_utf8(out.to_vec()).expect("ascii")
    }

    fn password() -> Credentials {
        Credentials::password("user", "pass").expect("valid")
    }

    #[test]
    fn plain_sends_an_initial_response_and_cancels_an_extra_challenge() {
        let mut sasl = Sasl::new(Mechanism::Plain, password(), Setup::default());
        assert_eq!(line(&sasl.start()), "AUTH PLAIN AHVzZXIAcGFzcw==\r\n");
        assert!(matches!(sasl.respond(b""), SaslStep::Cancel(_)));
    }

    #[test]
    fn e14_login_goes_by_step_not_prompt() {
        let mut sasl = Sasl::new(Mechanism::Login, password(), Setup::default());
        assert_eq!(line(&sasl.start()), "AUTH LOGIN\r\n");
        let SaslStep::Respond(user) = sasl.respond(b"whatever") else {
            panic!("user")
        };
        assert_eq!(line(&user), "dXNlcg==\r\n");
        let SaslStep::Respond(pass) = sasl.respond(b"Username:") else {
            panic!("pass")
        };
        assert_eq!(line(&pass), "cGFzcw==\r\n");
        assert!(matches!(sasl.respond(b"Password:"), SaslStep::Cancel(_)));
    }

    #[test]
    fn xoauth2_answers_an_error_challenge_with_an_empty_line() {
        let creds = Credentials::oauth2("me@example.com", "tok").expect("valid");
        let mut sasl = Sasl::new(Mechanism::XOAuth2, creds, Setup::default());
        let start = line(&sasl.start());
        assert!(
            start.starts_with("AUTH XOAUTH2 dXNlcj1tZUBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB0b2sBAQ")
        );
        let SaslStep::Respond(empty) = sasl.respond(b"{\"status\":\"401\"}") else {
            panic!()
        };
        assert_eq!(line(&empty), "\r\n");
    }

    #[test]
    fn oauthbearer_escapes_the_user_and_answers_errors_with_0x01() {
        let creds = Credentials::oauth2("a,b=c", "tok").expect("valid");
        let mut sasl = Sasl::new(Mechanism::OAuthBearer, creds, Setup::default());
        let Some(ir) = sasl.initial_response() else {
            panic!("ir")
        };
        assert_eq!(
            &ir.expose()[..],
            b"n,a=a=2Cb=3Dc,\x01auth=Bearer tok\x01\x01"
        );
        sasl.start();
        let SaslStep::Respond(dummy) = sasl.respond(b"{}") else {
            panic!()
        };
        assert_eq!(line(&dummy), "AQ==\r\n");
    }

    #[test]
    fn e7_challenge_loops_are_capped() {
        let mut sasl = Sasl::new(
            Mechanism::XOAuth2,
            Credentials::oauth2("u", "t").expect("valid"),
            Setup::default(),
        );
        sasl.start();
        let answered = (0..10)
            .take_while(|_| matches!(sasl.respond(b""), SaslStep::Respond(_)))
            .count();
        assert!(answered <= MAX_CHALLENGES as usize);
    }

    #[test]
    fn c11_credentials_refuse_control_characters() {
        assert!(Credentials::password("us\0er", "p").is_err());
        assert!(Credentials::password("user", "pa\0ss").is_err());
        assert!(Credentials::password("user\r\n", "p").is_err());
        assert!(Credentials::password_as("a\0b", "user", "p").is_err());
        assert!(Credentials::oauth2("u\x01", "t").is_err());
    }
}

//! What the server offers and how it answers: [`ServerOptions`].

#[cfg(doc)]
use super::TestServer;
use super::{Fault, Limits, Personality};

/// What the server offers.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// TLS from the first byte (port 465 style) instead of plaintext with STARTTLS.
    pub implicit_tls: bool,
    /// Offer STARTTLS on plaintext connections.
    pub starttls: bool,
    /// Require AUTH with this user and password (offered only over TLS).
    pub auth: Option<(String, String)>,
    /// Offer PIPELINING.
    pub pipelining: bool,
    /// Offer CHUNKING (BDAT).
    pub chunking: bool,
    /// Advertise SIZE with this limit, and enforce it: a MAIL whose `SIZE=` parameter is over
    /// it, and a message whose data turns out larger, get `552 5.3.4 Message size exceeds fixed
    /// limit` (SES: `552 Message is too long.`), and the message is not stored.
    pub size: u64,
    /// The DNS name the certificate is issued for (it also covers 127.0.0.1). Another name than
    /// the one the client dials makes the handshake fail (SECURITY.md G5).
    pub certificate_name: String,
    /// A failure to cause on purpose (see the [crate documentation](crate)); none by default.
    pub fault: Option<Fault>,
    /// Amazon SES-like limits (messages per session, connections at once, the sending rate,
    /// recipients per message, the idle timeout) and the latency added to every reply. None
    /// by default.
    pub limits: Limits,
    /// Whose replies it gives: Postfix's (the default) or Amazon SES's.
    pub personality: Personality,
    /// Mutual TLS: require a client certificate signed by the server's CA, so that a handshake
    /// without one fails, and offer AUTH EXTERNAL (RFC 4422 Appendix A), which authenticates
    /// as the certificate's subject. [`TestServer::client_certificate_pem`] gives a certificate
    /// that passes. Off by default.
    pub client_certificates: bool,
    /// Offer XOAUTH2 and OAUTHBEARER (over TLS) and accept this bearer token, for any user.
    /// Another token gets the JSON error challenge of RFC 7628 §3.2.2 (status `401`), then
    /// `535 5.7.8`: a token that expired. None by default.
    pub bearer_token: Option<String>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            implicit_tls: false,
            starttls: true,
            auth: Some(("demo".into(), "demo-password".into())),
            pipelining: true,
            chunking: true,
            size: 35 * 1024 * 1024,
            certificate_name: "localhost".into(),
            fault: None,
            limits: Limits::default(),
            personality: Personality::Postfix,
            client_certificates: false,
            bearer_token: None,
        }
    }
}

impl ServerOptions {
    /// Amazon SES's SMTP interface, as it answers ([`Personality::Ses`]) and with its limits
    /// ([`Limits::ses`]): STARTTLS, AUTH PLAIN and LOGIN over TLS with the default user,
    /// `SIZE 10485760` (what SES advertises; it takes up to 40 MB, set [`size`](Self::size)
    /// for that), 8BITMIME, and no PIPELINING, CHUNKING, ENHANCEDSTATUSCODES or SMTPUTF8.
    ///
    /// ```text
    /// S: 220 email-smtp.amazonaws.com ESMTP SimpleEmailService-d-7Q2KX9VBM
    /// C: EHLO client.example
    /// S: 250-email-smtp.amazonaws.com
    /// S: 250-8BITMIME
    /// S: 250-SIZE 10485760
    /// S: 250-STARTTLS
    /// S: 250 Ok
    /// C: STARTTLS
    /// S: 220 Ready to start TLS
    /// C: EHLO client.example
    /// S: 250-email-smtp.amazonaws.com
    /// S: 250-8BITMIME
    /// S: 250-SIZE 10485760
    /// S: 250-AUTH PLAIN LOGIN
    /// S: 250 Ok
    /// C: AUTH PLAIN AGRlbW8AZGVtby1wYXNzd29yZA==
    /// S: 235 Authentication successful.
    /// C: MAIL FROM:<sender@example.com>
    /// S: 250 Ok
    /// C: RCPT TO:<recipient@example.net>
    /// S: 250 Ok
    /// C: DATA
    /// S: 354 End data with <CR><LF>.<CR><LF>
    /// C: ...
    /// C: .
    /// S: 250 Ok 0100018c4f3e1a2b-7d9e8f6a-1b2c-4d5e-8f9a-0b1c2d3e4f5a-000000
    /// C: QUIT
    /// S: 221 Bye
    /// ```
    pub fn ses() -> Self {
        Self {
            pipelining: false,
            chunking: false,
            size: 10_485_760,
            limits: Limits::ses(),
            personality: Personality::Ses,
            ..Self::default()
        }
    }

    /// These options with `limits`.
    pub fn with_limits(self, limits: Limits) -> Self {
        Self { limits, ..self }
    }
}

//! Drives the [`smtp_sansio`] client over tokio and rustls.
//!
//! The adapter is a loop: it asks the core what to do, does the IO, and reports back. It makes
//! no protocol decisions, holds no read buffer of its own between the socket and the core (so
//! nothing read before a TLS handshake can be used after it), bounds every read, write and
//! handshake by the core's deadline, and sets `TCP_NODELAY` so that pipelined commands and
//! message data never wait on Nagle's algorithm. It writes each transmission with vectored
//! writes (message bodies straight from the caller's `Bytes`) and, while the socket takes no
//! more, reads what the server sends, so a server that answers before it has read everything
//! never waits on a client that only writes.
//!
//! [`connect_over`] runs a session over a connection the caller opened instead: any tokio
//! byte stream, such as a SOCKS5 proxy's (`examples/socks5_proxy.rs`), an HTTP `CONNECT`
//! tunnel's or a Unix socket.
//!
//! ```no_run
//! use smtp_tokio::{Endpoint, Options, connect};
//! use smtp_tokio::smtp_sansio::{ClientId, Credentials, Envelope, Mailbox};
//!
//! # async fn run() -> Result<(), smtp_tokio::Error> {
//! // Amazon SES in us-east-1 on port 587: STARTTLS, picked from the port.
//! let endpoint = Endpoint::ses("us-east-1", 587)?;
//! let mut options = Options::new(endpoint, ClientId::parse("client.example")?);
//! options.config.credentials = Some(Credentials::password("AKIA...", "secret")?);
//! let mut session = connect(options).await?;
//! let envelope = Envelope::new(Mailbox::parse("a@example.com")?, [Mailbox::parse("b@example.net")?]);
//! let report = session.send(envelope, "Subject: hi\r\n\r\nHello\r\n".into()).await?;
//! println!("{}: {:?}", report.verdict, report.message_id());
//! session.quit().await?;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod credentials;
mod drive;
mod mailer;
mod session;
mod stream;
mod tls;
mod trace;

pub use credentials::{BoxError, CredentialsFuture, CredentialsProvider, ProvideCredentials};
pub use mailer::Mailer;
pub use session::{Session, connect, connect_over};
pub use smtp_sansio;
pub use smtp_sansio::driver::{ClientCertificate, Error};
pub use smtp_sansio::{Endpoint, EndpointError, SES_PORTS, ses_host};
pub use tls::TlsOptions;

/// Everything needed to open a session: endpoint, the core's configuration, the roots of trust
/// (and a client certificate), and optionally a provider of fresh credentials.
pub type Options = smtp_sansio::driver::Options<TlsOptions, CredentialsProvider>;

/// Compiles and runs the examples of this crate's README as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctests;

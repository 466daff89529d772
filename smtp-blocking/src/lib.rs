//! Drives the [`smtp_sansio`] client over `std::net` and native-tls, for code without an async
//! runtime. The same shape and names as `smtp-tokio`: switching is a change of import.
//!
//! The adapter is a loop: it asks the core what to do, does the IO, and reports back. It makes
//! no protocol decisions, holds no read buffer of its own between the socket and the core,
//! bounds every read, write and handshake by the core's absolute deadline (socket timeouts are
//! recomputed before each call, so a server that drips one byte at a time still times out), and
//! sets `TCP_NODELAY`.
//!
//! Being blocking, it writes a whole transmission before it reads. The core's bound on
//! pipelined commands awaiting replies (`Config::max_unanswered_commands`, 256) keeps the
//! replies in flight far below any socket buffer, so a server that answers as it reads cannot
//! deadlock it; raise that bound only with care here (`smtp-tokio` reads while it writes).
//!
//! [`connect_over`] runs a session over a connection the caller opened instead: through a
//! proxy or a tunnel, over a Unix socket. It takes any [`Connection`], a byte stream with read
//! and write timeouts, since the deadlines are kept with them.
//!
//! ```no_run
//! use smtp_blocking::{Endpoint, Options, connect};
//! use smtp_blocking::smtp_sansio::{ClientId, Credentials, Envelope, Mailbox};
//!
//! # fn run() -> Result<(), smtp_blocking::Error> {
//! // Amazon SES in us-east-1 on port 465: implicit TLS, picked from the port.
//! let endpoint = Endpoint::ses("us-east-1", 465)?;
//! let mut options = Options::new(endpoint, ClientId::parse("client.example")?);
//! options.config.credentials = Some(Credentials::password("AKIA...", "secret")?);
//! let mut session = connect(options)?;
//! let envelope = Envelope::new(Mailbox::parse("a@example.com")?, [Mailbox::parse("b@example.net")?]);
//! let report = session.send(envelope, "Subject: hi\r\n\r\nHello\r\n".into())?;
//! println!("{}: {:?}", report.verdict, report.message_id());
//! session.quit()?;
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

pub use credentials::{BoxError, CredentialsProvider, ProvideCredentials};
pub use mailer::Mailer;
pub use session::{Session, connect, connect_over};
pub use smtp_sansio;
pub use smtp_sansio::driver::{ClientCertificate, Error};
pub use smtp_sansio::{Endpoint, EndpointError, SES_PORTS, ses_host};
pub use stream::Connection;
pub use tls::TlsOptions;

/// Everything needed to open a session: endpoint, the core's configuration, the roots of trust
/// (and a client certificate), and optionally a provider of fresh credentials.
pub type Options = smtp_sansio::driver::Options<TlsOptions, CredentialsProvider>;

/// Compiles and runs the examples of this crate's README as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctests;

//! Fresh credentials for every new connection: OAuth 2 access tokens that expire.

use std::fmt;
use std::sync::Arc;

use smtp_sansio::Credentials;

use crate::{Error, Options};

/// What a provider fails with: any error, kept as the source of [`Error::Credentials`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Gives the credentials for a new connection, asked once per connection before it opens.
///
/// The common case is an OAuth 2 access token for XOAUTH2 or OAUTHBEARER, which expires within
/// the hour: keep the token and its expiry, return it while it is good and refresh it (with
/// the refresh token, from the identity provider) when it is about to expire. A pooled
/// [`Mailer`](crate::Mailer) then runs for days: each connection it opens authenticates with
/// the token current at that moment, and one whose token the server refused as expired
/// ([`Error::is_transient`]) is followed by a new connection with a fresh one. Any closure
/// returning `Result<Credentials, BoxError>` is a provider. The call blocks the connecting
/// thread: bound its own waits (an HTTP client's timeout, say).
pub trait ProvideCredentials: Send + Sync + 'static {
    /// The server refused the credentials last given: drop a cached token, so that the next
    /// call fetches a new one. Does nothing unless implemented.
    fn refused(&self) {}

    /// The credentials to authenticate the next connection with.
    fn credentials(&self) -> Result<Credentials, BoxError>;
}

impl<F> ProvideCredentials for F
where
    F: Fn() -> Result<Credentials, BoxError> + Send + Sync + 'static,
{
    fn credentials(&self) -> Result<Credentials, BoxError> {
        self()
    }
}

/// A shared [`ProvideCredentials`], for
/// [`Options::credentials_provider`](smtp_sansio::driver::Options::credentials_provider).
///
/// ```no_run
/// use smtp_blocking::{CredentialsProvider, Endpoint, Mailer, Options};
/// use smtp_blocking::smtp_sansio::{ClientId, Credentials};
///
/// # fn fetch_access_token() -> Result<String, smtp_blocking::BoxError> { Ok(String::new()) }
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let endpoint = Endpoint::new("smtp.gmail.com", 465)?;
/// let mut options = Options::new(endpoint, ClientId::parse("client.example")?);
/// options.credentials_provider = Some(CredentialsProvider::new(|| {
///     let token = fetch_access_token()?; // cached, refreshed before it expires
///     Ok(Credentials::oauth2("me@gmail.com", &token)?)
/// }));
/// let mailer = Mailer::new(options);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct CredentialsProvider(Arc<dyn ProvideCredentials>);

impl CredentialsProvider {
    /// Wraps a provider.
    pub fn new(provider: impl ProvideCredentials) -> Self {
        Self(Arc::new(provider))
    }
}

impl fmt::Debug for CredentialsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CredentialsProvider")
    }
}

/// Asks the provider, if any, for this connection's credentials.
pub(crate) fn refresh(options: &mut Options) -> Result<(), Error> {
    if let Some(provider) = &options.credentials_provider {
        let credentials = provider.0.credentials().map_err(Error::Credentials)?;
        options.config.credentials = Some(credentials);
    }
    Ok(())
}

/// Tells the provider, if any, that the server refused its credentials.
pub(crate) fn refused(provider: Option<&CredentialsProvider>, error: &Error) {
    use smtp_sansio::Error as SessionError;
    let refusal = matches!(
        error,
        Error::Smtp(SessionError::AuthFailed(_) | SessionError::OAuthRefused { .. })
    );
    if let (Some(provider), true) = (provider, refusal) {
        provider.0.refused();
    }
}

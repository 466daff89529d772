//! Fresh credentials for every new connection: OAuth 2 access tokens that expire.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use smtp_sansio::Credentials;
use tokio::time::{Instant, timeout_at};

use crate::{Error, Options};

/// What a provider fails with: any error, kept as the source of [`Error::Credentials`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The future a [`ProvideCredentials`] returns.
pub type CredentialsFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Credentials, BoxError>> + Send + 'a>>;

/// Gives the credentials for a new connection, asked once per connection before it opens.
///
/// The common case is an OAuth 2 access token for XOAUTH2 or OAUTHBEARER, which expires within
/// the hour: keep the token and its expiry, return it while it is good and refresh it (with
/// the refresh token, from the identity provider) when it is about to expire. A pooled
/// [`Mailer`](crate::Mailer) then runs for days: each connection it opens authenticates with
/// the token current at that moment, and one whose token the server refused as expired
/// ([`Error::is_transient`]) is followed by a new connection with a fresh one. Any async
/// closure returning `Result<Credentials, BoxError>` is a provider.
pub trait ProvideCredentials: Send + Sync + 'static {
    /// The server refused the credentials last given: drop a cached token, so that the next
    /// call fetches a new one. Does nothing unless implemented.
    fn refused(&self) {}

    /// The credentials to authenticate the next connection with.
    fn credentials(&self) -> CredentialsFuture<'_>;
}

impl<F, Fut> ProvideCredentials for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Credentials, BoxError>> + Send + 'static,
{
    fn credentials(&self) -> CredentialsFuture<'_> {
        Box::pin(self())
    }
}

/// A shared [`ProvideCredentials`], for
/// [`Options::credentials_provider`](smtp_sansio::driver::Options::credentials_provider).
///
/// ```no_run
/// use smtp_tokio::{CredentialsProvider, Endpoint, Mailer, Options};
/// use smtp_tokio::smtp_sansio::{ClientId, Credentials};
///
/// # async fn fetch_access_token() -> Result<String, smtp_tokio::BoxError> { Ok(String::new()) }
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let endpoint = Endpoint::new("smtp.gmail.com", 465)?;
/// let mut options = Options::new(endpoint, ClientId::parse("client.example")?);
/// options.credentials_provider = Some(CredentialsProvider::new(|| async {
///     let token = fetch_access_token().await?; // cached, refreshed before it expires
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

/// Asks the provider, if any, for this connection's credentials, within the greeting timeout.
pub(crate) async fn refresh(options: &mut Options) -> Result<(), Error> {
    let Some(provider) = &options.credentials_provider else {
        return Ok(());
    };
    let deadline = Instant::now() + options.config.timeouts.greeting;
    let credentials = timeout_at(deadline, provider.0.credentials())
        .await
        .map_err(|_| Error::Credentials("the credentials provider timed out".into()))?
        .map_err(Error::Credentials)?;
    options.config.credentials = Some(credentials);
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

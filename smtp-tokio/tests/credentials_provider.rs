//! OAuth 2 tokens that expire: the credentials provider is asked for every new connection, and
//! a token the server refuses as expired (RFC 7628 §3.2.2) is followed by a new connection
//! with a fresh one, the message delivered once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use smtp_test_server::{ServerOptions, TestServer};
use smtp_tokio::smtp_sansio::pool::PoolPolicy;
use smtp_tokio::smtp_sansio::{
    ClientId, Credentials, Envelope, Error as SessionError, Mailbox, Timeouts, TlsMode, Verdict,
};
use smtp_tokio::{BoxError, CredentialsProvider, Endpoint, Error, Mailer, Options, connect};

const FRESH: &str = "ya29.fresh";

async fn server() -> TestServer {
    let options = ServerOptions {
        auth: None,
        bearer_token: Some(FRESH.into()),
        ..ServerOptions::default()
    };
    TestServer::start(options).await.expect("server")
}

/// Options whose provider hands out `tokens` in turn (the last one for ever), counting calls.
fn options(server: &TestServer, tokens: &'static [&'static str]) -> (Options, Arc<AtomicUsize>) {
    let endpoint = Endpoint::with_mode("localhost", server.addr().port(), TlsMode::StartTls);
    let mut options = Options::new(endpoint, ClientId::parse("client.example").expect("valid"));
    options
        .tls
        .add_ca_pem(server.ca_pem().as_bytes())
        .expect("ca");
    options.config.timeouts = Timeouts::uniform(Duration::from_secs(5));
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    options.credentials_provider = Some(CredentialsProvider::new(move || {
        let call = counted.fetch_add(1, Ordering::SeqCst);
        async move {
            let token = tokens[call.min(tokens.len() - 1)];
            Ok(Credentials::oauth2("me@example.com", token)?)
        }
    }));
    (options, calls)
}

fn envelope() -> Envelope {
    let to = [Mailbox::parse("rcpt@example.net").expect("valid")];
    Envelope::new(Mailbox::parse("me@example.com").expect("valid"), to)
}

#[tokio::test]
async fn rfc7628_an_expired_token_is_refreshed_on_the_next_connection_and_sent_once() {
    let server = server().await;
    let (options, calls) = options(&server, &["ya29.expired", FRESH]);
    let mailer = Mailer::with_policy(options, PoolPolicy::default());
    let report = mailer
        .send(envelope(), "Subject: token\r\n\r\nHello\r\n".into())
        .await
        .expect("sent");
    assert_eq!(report.verdict, Verdict::Delivered, "{report:?}");
    mailer.close().await;
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one token per connection");
    let received = server.received();
    assert_eq!(received.len(), 1, "delivered once");
    assert_eq!(received[0].user.as_deref(), Some("me@example.com"));
}

#[tokio::test]
async fn every_connection_asks_the_provider() {
    let server = server().await;
    let (options, calls) = options(&server, &[FRESH]);
    let mut policy = PoolPolicy::default();
    policy.max_connections = 1;
    policy.max_messages_per_connection = Some(1);
    let mailer = Mailer::with_policy(options, policy);
    let sent = mailer
        .send_all((0..3).map(|i| (envelope(), format!("Subject: {i}\r\n\r\n{i}\r\n").into())))
        .await;
    assert!(
        sent.iter()
            .all(|r| r.as_ref().is_ok_and(|r| r.is_delivered())),
        "{sent:?}"
    );
    mailer.close().await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn the_refusal_says_what_the_server_said_and_a_failing_provider_opens_nothing() {
    let server = server().await;
    let (expired, _) = options(&server, &["ya29.expired"]);
    let error = connect(expired).await.expect_err("refused");
    let Error::Smtp(SessionError::OAuthRefused { reply, error: why }) = &error else {
        panic!("{error:?}");
    };
    assert_eq!(reply.code().get(), 535);
    assert_eq!(why.status.as_deref(), Some("401"));
    assert!(error.is_transient(), "a fresh token may pass");

    let (mut failing, _) = options(&server, &[FRESH]);
    failing.credentials_provider = Some(CredentialsProvider::new(|| async {
        Err::<Credentials, BoxError>("token endpoint unreachable".into())
    }));
    let before = server.accepted_connections();
    let error = connect(failing).await.expect_err("no credentials");
    assert!(matches!(error, Error::Credentials(_)), "{error:?}");
    assert!(error.is_transient());
    assert_eq!(
        error.to_string(),
        "cannot get credentials: token endpoint unreachable"
    );
    assert_eq!(server.accepted_connections(), before, "nothing opened");
}

/// A provider that caches its token hears when the server refused it, so that the next
/// connection does not get the same dead token.
#[tokio::test]
async fn a_refused_token_is_reported_to_the_provider() {
    struct Cache {
        refused: AtomicUsize,
    }
    impl smtp_tokio::ProvideCredentials for Cache {
        fn refused(&self) {
            self.refused.fetch_add(1, Ordering::SeqCst);
        }
        fn credentials(&self) -> smtp_tokio::CredentialsFuture<'_> {
            let token = match self.refused.load(Ordering::SeqCst) {
                0 => "ya29.cached-but-revoked",
                _ => FRESH,
            };
            Box::pin(async move { Ok(Credentials::oauth2("me@example.com", token)?) })
        }
    }
    let server = server().await;
    let (mut options, _) = options(&server, &[FRESH]);
    let cache = Arc::new(Cache {
        refused: AtomicUsize::new(0),
    });
    options.credentials_provider = Some(CredentialsProvider::new(ArcCache(cache.clone())));
    connect(options.clone()).await.expect_err("revoked");
    assert_eq!(cache.refused.load(Ordering::SeqCst), 1);
    let session = connect(options).await.expect("a new token");
    session.quit().await.expect("quit");

    struct ArcCache(Arc<Cache>);
    impl smtp_tokio::ProvideCredentials for ArcCache {
        fn refused(&self) {
            self.0.refused();
        }
        fn credentials(&self) -> smtp_tokio::CredentialsFuture<'_> {
            self.0.credentials()
        }
    }
}

//! OAuth 2 tokens that expire: the credentials provider is asked for every new connection, and
//! a token the server refuses as expired (RFC 7628 §3.2.2) is followed by a new connection
//! with a fresh one, the message delivered once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use smtp_blocking::smtp_sansio::pool::PoolPolicy;
use smtp_blocking::smtp_sansio::{
    ClientId, Credentials, Envelope, Error as SessionError, Mailbox, Timeouts, TlsMode, Verdict,
};
use smtp_blocking::{BoxError, CredentialsProvider, Endpoint, Error, Mailer, Options, connect};
use smtp_test_server::{ServerOptions, TestServer};

const FRESH: &str = "ya29.fresh";

/// The embedded server runs on its own runtime; the client under test is plain blocking code.
fn server() -> (tokio::runtime::Runtime, TestServer) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let options = ServerOptions {
        auth: None,
        bearer_token: Some(FRESH.into()),
        ..ServerOptions::default()
    };
    let server = runtime
        .block_on(TestServer::start(options))
        .expect("server");
    (runtime, server)
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
        let token = tokens[call.min(tokens.len() - 1)];
        Ok(Credentials::oauth2("me@example.com", token)?)
    }));
    (options, calls)
}

fn envelope() -> Envelope {
    let to = [Mailbox::parse("rcpt@example.net").expect("valid")];
    Envelope::new(Mailbox::parse("me@example.com").expect("valid"), to)
}

#[test]
fn rfc7628_an_expired_token_is_refreshed_on_the_next_connection_and_sent_once() {
    let (_runtime, server) = server();
    let (options, calls) = options(&server, &["ya29.expired", FRESH]);
    let mailer = Mailer::with_policy(options, PoolPolicy::default());
    let report = mailer
        .send(envelope(), "Subject: token\r\n\r\nHello\r\n".into())
        .expect("sent");
    assert_eq!(report.verdict, Verdict::Delivered, "{report:?}");
    mailer.close();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one token per connection");
    let received = server.received();
    assert_eq!(received.len(), 1, "delivered once");
    assert_eq!(received[0].user.as_deref(), Some("me@example.com"));
}

#[test]
fn the_refusal_says_what_the_server_said_and_a_failing_provider_opens_nothing() {
    let (_runtime, server) = server();
    let (expired, _) = options(&server, &["ya29.expired"]);
    let error = connect(expired).expect_err("refused");
    let Error::Smtp(SessionError::OAuthRefused { reply, error: why }) = &error else {
        panic!("{error:?}");
    };
    assert_eq!(reply.code().get(), 535);
    assert_eq!(why.status.as_deref(), Some("401"));
    assert!(error.is_transient(), "a fresh token may pass");

    let (mut failing, _) = options(&server, &[FRESH]);
    failing.credentials_provider = Some(CredentialsProvider::new(|| {
        Err::<Credentials, BoxError>("token endpoint unreachable".into())
    }));
    let before = server.accepted_connections();
    let error = connect(failing).expect_err("no credentials");
    assert!(matches!(error, Error::Credentials(_)), "{error:?}");
    assert!(error.is_transient());
    assert_eq!(
        error.to_string(),
        "cannot get credentials: token endpoint unreachable"
    );
    assert_eq!(server.accepted_connections(), before, "nothing opened");
}

//! The Amazon SES personality as a client sees it over raw TCP and TLS: the greeting, the
//! EHLO reply before and after STARTTLS, AUTH, the message ids, SIZE and the recipient limit.

mod support;

use smtp_test_server::{Limits, ServerOptions, TestServer};
use support::{AUTH_PLAIN, Peer, plain_ses, start, stored};

/// Whether `id` is shaped like an SES message id: 16 hex digits, a dash, a UUID, `-000000`.
fn ses_shaped(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let hex = |g: &&str| {
        g.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    lengths == [16, 8, 4, 4, 4, 12, 6]
        && groups.iter().all(hex)
        && groups[6] == "000000"
        && groups[0].starts_with("0100")
}

/// The id in a `250 Ok <id>` reply.
fn message_id(reply: &str) -> &str {
    let id = reply.strip_prefix("250 Ok ").expect("250 Ok <id>");
    id.trim_end()
}

#[tokio::test]
async fn ses_greets_with_its_host_and_an_id_per_connection() {
    let server = start(ServerOptions::ses()).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let mut peer = Peer::connect(&server).await;
        let greeting = peer.reply().await;
        let id = greeting
            .strip_prefix("220 email-smtp.amazonaws.com ESMTP SimpleEmailService-d-")
            .and_then(|rest| rest.strip_suffix("\r\n"))
            .expect("SES's greeting");
        assert_eq!(id.len(), 9, "{greeting:?}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
        ids.push(id.to_string());
    }
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test]
async fn ses_offers_starttls_before_tls_and_auth_only_after() {
    let server = start(ServerOptions::ses()).await;
    let mut peer = Peer::connect(&server).await;
    peer.reply().await;
    assert_eq!(
        peer.ask("EHLO client.example\r\n").await,
        "250-email-smtp.amazonaws.com\r\n250-8BITMIME\r\n250-SIZE 10485760\r\n\
         250-STARTTLS\r\n250 Ok\r\n"
    );
    assert_eq!(
        peer.ask(AUTH_PLAIN).await,
        "530 Must issue a STARTTLS command first\r\n"
    );
    assert_eq!(
        peer.ask("MAIL FROM:<sender@example.com>\r\n").await,
        "530 Authentication required\r\n"
    );
    assert_eq!(peer.ask("STARTTLS\r\n").await, "220 Ready to start TLS\r\n");
    peer.upgrade(&server).await;
    assert_eq!(
        peer.ask("EHLO client.example\r\n").await,
        "250-email-smtp.amazonaws.com\r\n250-8BITMIME\r\n250-SIZE 10485760\r\n\
         250-AUTH PLAIN LOGIN\r\n250 Ok\r\n"
    );
    assert_eq!(
        peer.ask("AUTH PLAIN AGRlbW8Ad3Jvbmc=\r\n").await,
        "535 Authentication Credentials Invalid\r\n"
    );
    assert_eq!(
        peer.ask(AUTH_PLAIN).await,
        "235 Authentication successful.\r\n"
    );
    assert_eq!(
        peer.ask("BDAT 2 LAST\r\n").await,
        "500 Unrecognized command\r\n"
    );
    assert_eq!(peer.ask("QUIT\r\n").await, "221 Bye\r\n");
}

#[tokio::test]
async fn ses_answers_each_message_with_a_unique_ses_message_id() {
    let server = start(ServerOptions::ses()).await;
    let mut peer = Peer::connect(&server).await;
    peer.reply().await;
    peer.ask("EHLO client.example\r\n").await;
    peer.ask("STARTTLS\r\n").await;
    peer.upgrade(&server).await;
    peer.ask("EHLO client.example\r\n").await;
    assert!(peer.ask(AUTH_PLAIN).await.starts_with("235 "));
    let first = peer.message(1, "first").await;
    let second = peer.message(2, "second").await;
    let (first, second) = (message_id(&first), message_id(&second));
    assert!(ses_shaped(first), "{first}");
    assert!(ses_shaped(second), "{second}");
    assert_ne!(first, second);
    let received = server.received();
    assert_eq!(received.len(), 2);
    assert_eq!(
        [received[0].id.as_str(), received[1].id.as_str()],
        [first, second]
    );
    assert!(received[0].tls);
    assert_eq!(received[0].user.as_deref(), Some("demo"));
    assert_eq!(received[1].to, ["r0@example.net", "r1@example.net"]);
    assert_eq!(peer.ask("QUIT\r\n").await, "221 Bye\r\n");
    assert_eq!(server.stats().accepted, 2);
}

#[tokio::test]
async fn a_declared_size_over_the_limit_is_refused_at_mail() {
    for (options, refusal) in [
        (ServerOptions::ses(), "552 Message is too long.\r\n"),
        (
            ServerOptions::default(),
            "552 5.3.4 Message size exceeds fixed limit\r\n",
        ),
    ] {
        let server = start(ServerOptions {
            starttls: false,
            auth: None,
            size: 100,
            ..options
        })
        .await;
        let mut peer = Peer::connect(&server).await;
        peer.reply().await;
        peer.ask("EHLO client.example\r\n").await;
        let over = peer
            .ask("MAIL FROM:<sender@example.com> SIZE=101\r\n")
            .await;
        assert_eq!(over, refusal);
        let within = peer
            .ask("MAIL FROM:<sender@example.com> SIZE=100\r\n")
            .await;
        assert!(within.starts_with("250 "), "{within}");
    }
}

#[tokio::test]
async fn ses_refuses_a_message_too_long_at_the_end_of_its_data() {
    let server = start(ServerOptions {
        size: 100,
        ..plain_ses(Limits::none())
    })
    .await;
    let mut peer = Peer::connect(&server).await;
    peer.hello().await;
    let long = "x".repeat(80);
    assert_eq!(peer.message(1, &long).await, "552 Message is too long.\r\n");
    assert!(peer.message(1, "short").await.starts_with("250 Ok "));
    assert!(!stored(&server, &long));
    assert!(stored(&server, "short"));
}

#[tokio::test]
async fn ses_refuses_more_than_50_recipients_at_the_end_of_the_data() {
    let server = start(plain_ses(Limits::none().recipients_per_message(50))).await;
    let mut peer = Peer::connect(&server).await;
    peer.hello().await;
    // SES takes every RCPT and refuses the transaction at its end.
    assert_eq!(
        peer.message(51, "too many").await,
        "554 Transaction failed: Recipient count exceeds 50.\r\n"
    );
    assert!(peer.message(50, "fifty").await.starts_with("250 Ok "));
    assert!(!stored(&server, "too many"));
    assert!(stored(&server, "fifty"));
}

#[tokio::test]
async fn a_postfix_like_server_refuses_recipients_beyond_the_limit_at_rcpt() {
    let server = start(ServerOptions {
        starttls: false,
        auth: None,
        limits: Limits::none().recipients_per_message(1),
        ..ServerOptions::default()
    })
    .await;
    let mut peer = Peer::connect(&server).await;
    peer.reply().await;
    peer.ask("EHLO client.example\r\n").await;
    peer.ask("MAIL FROM:<sender@example.com>\r\n").await;
    assert_eq!(
        peer.ask("RCPT TO:<a@example.net>\r\n").await,
        "250 2.1.5 Ok\r\n"
    );
    assert_eq!(
        peer.ask("RCPT TO:<b@example.net>\r\n").await,
        "452 4.5.3 Error: too many recipients\r\n"
    );
}

#[tokio::test]
async fn the_server_listens_on_loopback_addresses_only() {
    let elsewhere = "0.0.0.0:0".parse().expect("an address");
    let refused = TestServer::start_on(elsewhere, ServerOptions::ses()).await;
    let error = refused.expect_err("not loopback");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    let loopback = "127.0.0.1:0".parse().expect("an address");
    let server = TestServer::start_on(loopback, ServerOptions::ses()).await;
    assert!(server.expect("loopback").addr().ip().is_loopback());
}

//! The pooled mailer against the embedded server with Amazon SES-like limits: sessions that
//! end with `421` after N messages, a cap on concurrent connections, throttling above a rate.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use smtp_test_server::{Limits, ServerOptions, TestServer};
use smtp_tokio::smtp_sansio::pool::{PoolPolicy, Rate};
use smtp_tokio::smtp_sansio::{ClientId, Envelope, Mailbox, Timeouts, TlsMode, Verdict};
use smtp_tokio::{Endpoint, Error, Mailer, Options};

async fn server(limits: Limits) -> TestServer {
    let options = ServerOptions {
        starttls: false,
        auth: None,
        limits,
        ..ServerOptions::default()
    };
    TestServer::start(options).await.expect("server")
}

fn options(port: u16) -> Options {
    let endpoint = Endpoint::with_mode("localhost", port, TlsMode::InsecurePlaintext);
    let mut options = Options::new(endpoint, ClientId::parse("client.example").expect("valid"));
    options.config.timeouts = Timeouts::uniform(Duration::from_secs(5));
    options
}

/// Message `i`, told apart by its body.
fn message(i: usize) -> (Envelope, Bytes) {
    let from = Mailbox::parse("sender@example.com").expect("valid");
    let to = Mailbox::parse("rcpt@example.net").expect("valid");
    let body = format!("Subject: message {i}\r\n\r\nbody {i}\r\n");
    (Envelope::new(from, [to]), body.into())
}

/// How many times the server stored each message body.
fn stored(server: &TestServer) -> HashMap<Vec<u8>, usize> {
    let mut counts = HashMap::new();
    for message in server.received() {
        *counts.entry(message.data).or_default() += 1;
    }
    counts
}

/// Whether every connection the server accepted has ended, within a few seconds (the server
/// records a connection once it has seen the client close it).
async fn all_closed(server: &TestServer) -> bool {
    for _ in 0..100 {
        if server.connections().len() == server.accepted_connections() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn rfc5321_3_8_a_thousand_messages_through_sessions_ended_by_421_and_a_connection_cap() {
    let server = server(Limits::none().messages_per_session(50).connections(2)).await;
    let mut policy = PoolPolicy::default();
    policy.max_connections = 4;
    let mailer = Mailer::with_policy(options(server.addr().port()), policy);
    let results = mailer.send_all((0..1000).map(message)).await;
    let delivered = results
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.verdict == Verdict::Delivered))
        .count();
    assert_eq!(delivered, 1000, "{:?}", results.iter().find(|r| r.is_err()));
    let stored = stored(&server);
    assert_eq!(stored.len(), 1000);
    assert!(stored.values().all(|&n| n == 1), "no message stored twice");
    mailer.close().await;
    assert!(all_closed(&server).await, "every connection closed");
}

#[tokio::test]
async fn throttled_messages_go_again_after_the_delays_and_none_is_stored_twice() {
    let server = server(Limits::none().per_second(5)).await;
    let mut policy = PoolPolicy::default();
    // Each try comes after the server's second of throttling has passed.
    policy.retry_delays = vec![Duration::from_millis(1100); 2];
    let mailer = Mailer::with_policy(options(server.addr().port()), policy);
    let results = mailer.send_all((0..20).map(message)).await;
    let stored = stored(&server);
    for (i, result) in results.iter().enumerate() {
        let report = result.as_ref().expect("sent");
        let times = stored.get(message(i).1.as_ref()).copied().unwrap_or(0);
        match report.verdict {
            Verdict::Delivered => assert_eq!(times, 1, "message {i}"),
            Verdict::Deferred => {
                assert_eq!(times, 0, "message {i}");
                let reply = report.reply().expect("the throttling reply");
                assert_eq!(reply.code().get(), 454, "given up with its last reply");
            }
            other => panic!("message {i}: {other}"),
        }
    }
    let delivered = results
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.is_delivered()))
        .count();
    assert!(
        delivered >= 10,
        "retries delivered more than the first second's 5: {delivered}"
    );
    mailer.close().await;
}

/// Amazon SES throttles above the account's rate (`454 Throttling failure`). Without a rate
/// set, the mailer learns it from the first refusals: with two retries each, bursting at every
/// retry would deliver only 60 of these 80 messages (20 a second); paced, all arrive, once.
#[tokio::test]
async fn without_a_rate_the_mailer_learns_a_throttling_servers_rate() {
    let server = server(Limits::none().per_second(20)).await;
    let mut policy = PoolPolicy::default();
    policy.retry_delays = vec![Duration::from_millis(1100); 2];
    let mailer = Mailer::with_policy(options(server.addr().port()), policy);
    let results = mailer.send_all((0..80).map(message)).await;
    let delivered = results
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.is_delivered()))
        .count();
    assert_eq!(
        delivered,
        80,
        "{:?}",
        results
            .iter()
            .find(|r| r.as_ref().is_ok_and(|r| !r.is_delivered()))
    );
    let stored = stored(&server);
    assert_eq!(stored.len(), 80);
    assert!(stored.values().all(|&n| n == 1), "no message stored twice");
    mailer.close().await;
}

#[tokio::test]
async fn a_rate_at_the_servers_throttle_is_never_throttled() {
    let server = server(Limits::none().per_second(10)).await;
    let mut policy = PoolPolicy::default();
    policy.rate = Some(Rate::per_second(8));
    policy.retry_delays = Vec::new();
    let mailer = Mailer::with_policy(options(server.addr().port()), policy);
    let results = mailer.send_all((0..16).map(message)).await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|r| r.is_delivered())),
        "{results:?}"
    );
    mailer.close().await;
}

#[tokio::test]
async fn many_tasks_share_one_mailer() {
    let server = server(Limits::none()).await;
    let mailer = Mailer::new(options(server.addr().port()));
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let mailer = mailer.clone();
            tokio::spawn(async move {
                let mut delivered = 0;
                for i in 0..25 {
                    let (envelope, body) = message(t * 100 + i);
                    let report = mailer.send(envelope, body).await.expect("sent");
                    delivered += usize::from(report.is_delivered());
                }
                delivered
            })
        })
        .collect();
    let mut delivered = 0;
    for task in tasks {
        delivered += task.await.expect("task");
    }
    assert_eq!(delivered, 200);
    assert!(
        server.accepted_connections() <= 4,
        "the pool's default maximum"
    );
    mailer.close().await;
}

#[tokio::test]
async fn a_server_that_cannot_be_reached_fails_the_message_with_the_cause() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("address").port();
    drop(closed);
    let mut policy = PoolPolicy::default();
    policy.max_connect_failures = 1;
    let mailer = Mailer::with_policy(options(port), policy);
    let (envelope, body) = message(0);
    let error = mailer.send(envelope, body).await.expect_err("no server");
    assert!(
        matches!(
            error,
            Error::NotSent {
                transient: true,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("cannot connect"), "{error}");
}

#[tokio::test]
async fn invalid_messages_are_refused_at_once_and_ses_takes_50_recipients() {
    let server = server(Limits::none()).await;
    let mailer = Mailer::with_policy(options(server.addr().port()), PoolPolicy::ses());
    let from = Mailbox::parse("sender@example.com").expect("valid");
    let many = (0..51).map(|i| Mailbox::parse(&format!("r{i}@example.net")).expect("valid"));
    let error = mailer
        .send(Envelope::new(from.clone(), many), "x\r\n".into())
        .await
        .expect_err("too many recipients");
    assert!(
        error.to_string().contains("more than 50 recipients"),
        "{error}"
    );
    let error = mailer
        .send(
            Envelope::new(from, [Mailbox::parse("a@example.net").expect("valid")]),
            "a\0b".into(),
        )
        .await
        .expect_err("a NUL in the body");
    assert!(matches!(error, Error::Usage(_)), "{error:?}");
    assert_eq!(server.accepted_connections(), 0, "nothing was sent");
}

#[tokio::test]
async fn close_waits_for_messages_delayed_for_a_retry_and_gives_each_its_result() {
    let server = server(Limits::none().per_second(1)).await;
    let mut policy = PoolPolicy::default();
    policy.retry_delays = vec![Duration::from_millis(1100); 2];
    let mailer = Mailer::with_policy(options(server.addr().port()), policy);
    let sending = {
        let mailer = mailer.clone();
        tokio::spawn(async move { mailer.send_all((0..3).map(message)).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Two messages are delayed for their retry now; closing must not strand them.
    mailer.close().await;
    let results = sending.await.expect("send_all returned");
    let stored = stored(&server);
    let delivered = results
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.is_delivered()))
        .count();
    assert_eq!(delivered, 3, "{results:?}");
    assert!(stored.values().all(|&n| n == 1));
    assert!(all_closed(&server).await, "every connection closed");
}

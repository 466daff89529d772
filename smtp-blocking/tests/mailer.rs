//! The pooled mailer against the embedded server with Amazon SES-like limits, from plain
//! threads: sessions that end with `421` after N messages, a cap on concurrent connections,
//! throttling above a rate.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use smtp_blocking::smtp_sansio::pool::{PoolPolicy, Rate};
use smtp_blocking::smtp_sansio::{ClientId, Envelope, Mailbox, Timeouts, TlsMode, Verdict};
use smtp_blocking::{Endpoint, Error, Mailer, Options};
use smtp_test_server::{Limits, ServerOptions, TestServer};

/// The embedded server runs on its own runtime; the mailer under test is plain blocking code.
fn server(limits: Limits) -> (tokio::runtime::Runtime, TestServer) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let options = ServerOptions {
        starttls: false,
        auth: None,
        limits,
        ..ServerOptions::default()
    };
    let server = runtime
        .block_on(TestServer::start(options))
        .expect("server");
    (runtime, server)
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

fn stored(server: &TestServer) -> HashMap<Vec<u8>, usize> {
    let mut counts = HashMap::new();
    for message in server.received() {
        *counts.entry(message.data).or_default() += 1;
    }
    counts
}

/// Whether every connection the server accepted has ended, within a few seconds (the server
/// records a connection once it has seen the client close it).
fn all_closed(server: &TestServer) -> bool {
    for _ in 0..100 {
        if server.connections().len() == server.accepted_connections() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn rfc5321_3_8_a_thousand_messages_through_sessions_ended_by_421_and_a_connection_cap() {
    let (_runtime, server) = server(Limits::none().messages_per_session(50).connections(2));
    let mut policy = PoolPolicy::default();
    policy.max_connections = 4;
    let mailer = Mailer::with_policy(options(server.addr().port()), policy);
    let results = mailer.send_all((0..1000).map(message));
    let delivered = results
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.verdict == Verdict::Delivered))
        .count();
    assert_eq!(delivered, 1000, "{:?}", results.iter().find(|r| r.is_err()));
    let stored = stored(&server);
    assert_eq!(stored.len(), 1000);
    assert!(stored.values().all(|&n| n == 1), "no message stored twice");
    mailer.close();
    assert!(all_closed(&server), "every connection closed");
}

#[test]
fn a_thread_pool_shares_one_mailer_under_a_rate() {
    let (_runtime, server) = server(Limits::none().per_second(40));
    let mut policy = PoolPolicy::default();
    policy.rate = Some(Rate::per_second(30));
    policy.retry_delays = Vec::new();
    let mailer = Mailer::with_policy(options(server.addr().port()), policy);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let mailer = mailer.clone();
            std::thread::spawn(move || {
                (0..10)
                    .filter(|i| {
                        let (envelope, body) = message(t * 100 + i);
                        mailer.send(envelope, body).is_ok_and(|r| r.is_delivered())
                    })
                    .count()
            })
        })
        .collect();
    let delivered: usize = threads.into_iter().map(|t| t.join().expect("thread")).sum();
    assert_eq!(delivered, 40, "never throttled, never failed");
    assert_eq!(stored(&server).len(), 40);
    mailer.close();
}

#[test]
fn a_server_that_cannot_be_reached_fails_the_message_with_the_cause() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("address").port();
    drop(closed);
    let mut policy = PoolPolicy::default();
    policy.max_connect_failures = 1;
    let mailer = Mailer::with_policy(options(port), policy);
    let (envelope, body) = message(0);
    let error = mailer.send(envelope, body).expect_err("no server");
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
}

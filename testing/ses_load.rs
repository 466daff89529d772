//! Both adapters' `Mailer` against the test server's Amazon SES mode (included with `#[path]`
//! by `tests/ses.rs` of each): no pipelining, STARTTLS and AUTH, an account rate counted over a
//! sliding second across connections, a cap on connections, a latency on every reply. The
//! set-up and the checks live here, once; each adapter only drives its `Mailer`.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use smtp_sansio::driver::{Error, Options};
use smtp_sansio::pool::{PoolPolicy, Rate};
use smtp_sansio::{
    ClientId, Credentials, Endpoint, Envelope, Mailbox, Timeouts, TlsMode, TransactionReport,
    Verdict,
};
use smtp_test_server::{Limits, ServerOptions, Stats, TestServer};

/// Messages a run sends.
pub const MESSAGES: usize = 100;
/// The account's maximum send rate, in recipients a second.
pub const ACCOUNT_RATE: usize = 20;
/// Connections SES takes at once.
pub const CONNECTIONS: usize = 6;

/// SES at 10 ms, allowing [`ACCOUNT_RATE`] a second over [`CONNECTIONS`] connections.
pub fn server_options() -> ServerOptions {
    let limits = Limits::ses()
        .recipients_per_second(ACCOUNT_RATE)
        .connections(CONNECTIONS)
        .latency(Duration::from_millis(10));
    ServerOptions::ses().with_limits(limits)
}

/// STARTTLS on the server's port.
pub fn endpoint(server: &TestServer) -> Endpoint {
    Endpoint::with_mode("localhost", server.addr().port(), TlsMode::StartTls)
}

/// AUTH as the server's user, and waits of 10 s. The adapter adds the server's CA.
pub fn configure<T, P>(options: &mut Options<T, P>) {
    options.config.credentials =
        Some(Credentials::password("demo", "demo-password").expect("valid"));
    options.config.timeouts = Timeouts::uniform(Duration::from_secs(10));
}

/// The client's name.
pub fn client_id() -> ClientId {
    ClientId::parse("client.example").expect("valid")
}

/// SES's policy, told `rate` if any.
pub fn policy(rate: Option<u32>) -> PoolPolicy {
    let mut policy = PoolPolicy::ses();
    policy.rate = rate.map(Rate::per_second);
    policy
}

/// Message `i`, told apart by its body.
pub fn message(i: usize) -> (Envelope, Bytes) {
    let from = Mailbox::parse("sender@example.com").expect("valid");
    let to = Mailbox::parse("rcpt@example.net").expect("valid");
    let body = format!("Subject: message {i}\r\n\r\nbody {i}\r\n");
    (Envelope::new(from, [to]), body.into())
}

/// Every message delivered, each stored exactly once, no more connections than SES took at
/// once, and at most `max_throttled` tries refused for the rate.
pub fn check(
    results: &[Result<TransactionReport, Error>],
    server: &TestServer,
    max_throttled: usize,
) -> Stats {
    for (i, result) in results.iter().enumerate() {
        let verdict = result.as_ref().map(|r| r.verdict);
        assert!(
            matches!(verdict, Ok(Verdict::Delivered)),
            "message {i}: {result:?}"
        );
    }
    let mut stored: HashMap<Vec<u8>, usize> = HashMap::new();
    for message in server.received() {
        *stored.entry(message.data).or_default() += 1;
    }
    assert_eq!(stored.len(), results.len(), "every message stored");
    assert!(stored.values().all(|&n| n == 1), "none stored twice");
    let stats = server.stats();
    assert!(stats.peak_connections <= CONNECTIONS, "{stats:?}");
    assert!(stats.throttled <= max_throttled, "{stats:?}");
    stats
}

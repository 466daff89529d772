//! The cost per message of a long session: 1,000, 10,000 and 100,000 messages of 2 KB on one
//! connection, all queued at once (as `send_all` does), against a server that answers at once. Run with
//! `cargo bench -p smtp-sansio --bench long_session`; divan reports the time per message
//! (`item`), which must not grow with the length of the session (BENCHMARKS.md).

use std::hint::black_box;

use bytes::Bytes;
use divan::Bencher;
use divan::counter::ItemsCount;
use smtp_sansio::{Client, ClientId, Config, Envelope, Instant, Mailbox, TlsMode};

#[path = "../tests/support/sink.rs"]
mod sink;

fn main() {
    divan::main();
}

/// What the server offers: nothing beyond 8BITMIME, PIPELINING, or PIPELINING and CHUNKING.
const EXTENSIONS: [(&str, &str); 3] = [
    ("plain", ""),
    ("pipelining", "250-PIPELINING\r\n"),
    ("chunking", "250-PIPELINING\r\n250-CHUNKING\r\n"),
];

fn message() -> (Envelope, Bytes) {
    let from = Mailbox::parse("sender@example.com").expect("valid");
    let to = Mailbox::parse("recipient@example.net").expect("valid");
    let mut body = String::from("Subject: benchmark\r\n\r\n");
    while body.len() < 2048 {
        body.push_str("The quick brown fox jumps over the lazy dog. 0123456789 abcdefghij\r\n");
    }
    (Envelope::new(from, [to]), body.into())
}

/// One session of `messages` messages; returns how many were delivered.
fn session(extensions: &str, messages: usize) -> usize {
    let config = Config::new(
        ClientId::parse("client.example").expect("valid"),
        TlsMode::InsecurePlaintext,
    );
    let mut client = Client::new(Instant::ZERO, config);
    let mut server = sink::Sink::new(extensions);
    let (envelope, body) = message();
    let mut delivered = 0;
    let mut queued = 0;
    while queued < messages {
        let batch = messages - queued;
        let batch = (0..batch).map(|_| (envelope.clone(), body.clone()));
        queued += client.send_batch(batch).expect("queued").len();
        server.drive(&mut client, |report| {
            delivered += usize::from(report.is_delivered())
        });
    }
    client.quit().expect("queued");
    server.drive(&mut client, |_| {});
    assert!(client.is_closed());
    delivered
}

#[divan::bench(args = [1_000, 10_000, 100_000], sample_count = 5, sample_size = 1)]
fn messages_per_session(bencher: Bencher, messages: usize) {
    for (_, extensions) in EXTENSIONS {
        assert_eq!(session(extensions, 10), 10, "a sane session");
    }
    let (_, extensions) = EXTENSIONS[1];
    bencher
        .counter(ItemsCount::new(messages))
        .bench(|| black_box(session(extensions, messages)));
}

#[divan::bench(args = [1_000, 100_000], sample_count = 5, sample_size = 1)]
fn messages_per_session_chunking(bencher: Bencher, messages: usize) {
    let (_, extensions) = EXTENSIONS[2];
    bencher
        .counter(ItemsCount::new(messages))
        .bench(|| black_box(session(extensions, messages)));
}

#[divan::bench(args = [1_000, 100_000], sample_count = 5, sample_size = 1)]
fn messages_per_session_plain(bencher: Bencher, messages: usize) {
    let (_, extensions) = EXTENSIONS[0];
    bencher
        .counter(ItemsCount::new(messages))
        .bench(|| black_box(session(extensions, messages)));
}

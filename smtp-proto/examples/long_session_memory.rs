//! Resident memory over one long session: 100,000 messages of 2 KB queued a hundred at a time
//! (as a mailer with a bounded queue does), each report taken as it settles, against a server
//! that answers at once. Prints the resident set size (Linux `VmRSS`) after 1,000 and after
//! 100,000 messages: what is sent and reported must not stay behind.
//!
//! `cargo run --release -p smtp-sansio --example long_session_memory`

use bytes::Bytes;
use smtp_sansio::{Client, ClientId, Config, Envelope, Instant, Mailbox, TlsMode, Verdict};

#[path = "../tests/support/sink.rs"]
mod sink;

const BATCH: usize = 100;
const CHECKPOINTS: [usize; 2] = [1_000, 100_000];

fn main() {
    let config = Config::new(
        ClientId::parse("client.example").expect("valid"),
        TlsMode::InsecurePlaintext,
    );
    let mut client = Client::new(Instant::ZERO, config);
    let mut server = sink::Sink::new("250-PIPELINING\r\n");
    let from = Mailbox::parse("sender@example.com").expect("valid");
    let to = Mailbox::parse("recipient@example.net").expect("valid");
    let envelope = Envelope::new(from, [to]);
    let mut body = String::from("Subject: memory\r\n\r\n");
    while body.len() < 2048 {
        body.push_str("The quick brown fox jumps over the lazy dog. 0123456789 abcdefghij\r\n");
    }
    let body = Bytes::from(body);
    let (mut sent, mut delivered) = (0, 0);
    for checkpoint in CHECKPOINTS {
        while sent < checkpoint {
            let batch = (0..BATCH).map(|_| (envelope.clone(), body.clone()));
            sent += client.send_batch(batch).expect("queued").len();
            server.drive(&mut client, |report| {
                delivered += usize::from(report.verdict == Verdict::Delivered);
            });
        }
        println!(
            "after {sent} messages ({delivered} delivered): VmRSS {} KiB",
            rss_kib()
        );
    }
}

/// The process's resident set size in KiB, from /proc/self/status (0 where there is none).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

//! The lettre baseline of `scripts/bench-e2e.sh`: sends N copies of a 2 KB message over one
//! pooled lettre connection, blocking (`SmtpTransport`) or async (`AsyncSmtpTransport`), in
//! plaintext, and prints the same closing line as the `send` examples.
//!
//! ```text
//! cargo run --release -p smtp-tokio --example compare_lettre -- sync|async HOST PORT COUNT
//! ```

use std::time::Instant;

use lettre::address::Envelope;
use lettre::{AsyncSmtpTransport, AsyncTransport, SmtpTransport, Tokio1Executor, Transport};

fn message() -> Vec<u8> {
    let mut message = String::from(
        "From: <sender@example.com>\r\nTo: <recipient@example.net>\r\nSubject: bench\r\n\r\n",
    );
    while message.len() < 2048 {
        message.push_str("The quick brown fox jumps over the lazy dog. 0123456789 abcdefghij\r\n");
    }
    message.into_bytes()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, host, port, count] = args.as_slice() else {
        return Err("usage: compare_lettre sync|async HOST PORT COUNT".into());
    };
    let (port, count): (u16, usize) = (port.parse()?, count.parse()?);
    let envelope = Envelope::new(
        Some("sender@example.com".parse()?),
        vec!["recipient@example.net".parse()?],
    )?;
    let body = message();
    let started = Instant::now();
    if mode == "sync" {
        let transport = SmtpTransport::builder_dangerous(host).port(port).build();
        for _ in 0..count {
            transport.send_raw(&envelope, &body)?;
        }
    } else {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .build();
        for _ in 0..count {
            transport.send_raw(&envelope, &body).await?;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "sent {count} messages in {seconds:.3} s ({:.1} msg/s)",
        count as f64 / seconds
    );
    Ok(())
}

//! The lettre baseline of `scripts/bench-e2e.sh` and `scripts/bench-pool.sh`: sends N copies of
//! a 2 KB message through lettre's pooled transport, blocking (`SmtpTransport`, one thread per
//! connection) or async (`AsyncSmtpTransport`, one task per connection), over CONCURRENCY
//! connections (default 1), in plaintext, and prints the same closing line as the `send`
//! examples.
//!
//! ```text
//! cargo run --release -p smtp-bench --example compare_lettre -- sync|async HOST PORT COUNT [CONCURRENCY]
//! ```

use std::time::Instant;

use lettre::address::Envelope;
use lettre::transport::smtp::PoolConfig;
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
    let (mode, host, port, count, concurrency) = match args.as_slice() {
        [_, mode, host, port, count] => (mode, host, port, count, "1"),
        [_, mode, host, port, count, concurrency] => {
            (mode, host, port, count, concurrency.as_str())
        }
        _ => return Err("usage: compare_lettre sync|async HOST PORT COUNT [CONCURRENCY]".into()),
    };
    let (port, count): (u16, usize) = (port.parse()?, count.parse()?);
    let concurrency: usize = concurrency.parse::<usize>()?.max(1);
    let envelope = Envelope::new(
        Some("sender@example.com".parse()?),
        vec!["recipient@example.net".parse()?],
    )?;
    let body = message();
    let share =
        move |worker: usize| count / concurrency + usize::from(worker < count % concurrency);
    let pool = PoolConfig::new().max_size(concurrency as u32);
    let started = Instant::now();
    if mode == "sync" {
        let transport = SmtpTransport::builder_dangerous(host)
            .port(port)
            .pool_config(pool)
            .build();
        std::thread::scope(|scope| {
            for worker in 0..concurrency {
                let (transport, envelope, body) = (&transport, &envelope, &body);
                scope.spawn(move || {
                    for _ in 0..share(worker) {
                        transport.send_raw(envelope, body).expect("sent");
                    }
                });
            }
        });
    } else {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .pool_config(pool)
            .build();
        let tasks: Vec<_> = (0..concurrency)
            .map(|worker| {
                let (transport, envelope, body) =
                    (transport.clone(), envelope.clone(), body.clone());
                tokio::spawn(async move {
                    for _ in 0..share(worker) {
                        transport.send_raw(&envelope, &body).await.expect("sent");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await?;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "sent {count} messages in {seconds:.3} s ({:.1} msg/s)",
        count as f64 / seconds
    );
    Ok(())
}

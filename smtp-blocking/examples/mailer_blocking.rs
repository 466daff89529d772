//! 1,000 messages through a pooled `Mailer` (blocking, threads) to the embedded test server, which ends every
//! session with `421` after 100 messages (as Amazon SES does after a few hundred) and takes at
//! most 3 connections at once; prints how many messages came to each verdict.
//!
//! `cargo run -p smtp-blocking --example mailer_blocking`

use std::collections::BTreeMap;
use std::time::Instant;

use smtp_blocking::smtp_sansio::pool::PoolPolicy;
use smtp_blocking::smtp_sansio::{ClientId, Credentials, Envelope, Mailbox, TlsMode};
use smtp_blocking::{Endpoint, Mailer, Options};
use smtp_test_server::{Limits, ServerOptions, TestServer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The embedded server runs on a runtime of its own; the mailer is plain blocking code.
    let runtime = tokio::runtime::Runtime::new()?;
    let limits = Limits::none().messages_per_session(100).connections(3);
    let server = runtime.block_on(TestServer::start(ServerOptions {
        limits,
        ..ServerOptions::default()
    }))?;
    let endpoint = Endpoint::with_mode("localhost", server.addr().port(), TlsMode::StartTls);
    let mut options = Options::new(endpoint, ClientId::parse("localhost")?);
    options.tls.add_ca_pem(server.ca_pem().as_bytes())?;
    options.config.credentials = Some(Credentials::password("demo", "demo-password")?);
    let mailer = Mailer::with_policy(options, PoolPolicy::default());

    let from = Mailbox::parse("sender@example.com")?;
    let to = Mailbox::parse("recipient@example.net")?;
    let messages = (0..1000).map(|i| {
        let body = format!("Subject: message {i}\r\n\r\nHello number {i}.\r\n");
        (Envelope::new(from.clone(), [to.clone()]), body.into())
    });
    let started = Instant::now();
    let results = mailer.send_all(messages);
    let seconds = started.elapsed().as_secs_f64();
    mailer.close();

    let mut verdicts = BTreeMap::new();
    for result in &results {
        let key = match result {
            Ok(report) => report.verdict.to_string(),
            Err(error) => format!("not sent ({error})"),
        };
        *verdicts.entry(key).or_insert(0) += 1;
    }
    for (verdict, count) in verdicts {
        println!("{verdict}: {count}");
    }
    println!(
        "{} messages in {seconds:.2} s over {} connections; the server stored {}",
        results.len(),
        server.accepted_connections(),
        server.received().len()
    );
    Ok(())
}

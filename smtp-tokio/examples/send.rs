//! Sends messages over SMTP through a pooled `Mailer` and reports each outcome: `--count`
//! messages over at most `--concurrency` connections (by default as many as the pool needs, up to
//! its policy's limit: `--policy`, or the one the endpoint calls for), at most `--rate` messages a
//! second, each connection retired after `--max-per-connection` messages; deferred messages are
//! sent again after the pool's delays, and a server that ends sessions with `421` is reconnected
//! to.
//!
//! ```text
//! cargo run -p smtp-tokio --example send -- [--host H --port P | --ses REGION [--port P]]
//!     [--tls implicit|starttls|opportunistic|none] [--ca-file PEM]
//!     [--user U --password-env VAR | --user ACCESS_KEY_ID --ses-secret-env VAR]
//!     --from ADDR --to ADDR [--to ADDR ...]
//!     [--count N] [--concurrency C] [--policy ses|default] [--rate MSGS_PER_SEC]
//!     [--max-per-connection N]
//!     [--timeout SECONDS] [MESSAGE_FILE|-]
//! ```
//!
//! With no `--host` and no `--ses`, it starts an embedded SMTP server on 127.0.0.1 (STARTTLS
//! with a certificate generated at start, AUTH with demo credentials, SES-like replies) and
//! sends to it, printing the redacted transcript.

#[path = "../../testing/send_cli.rs"]
mod send_cli;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use send_cli::parse_args;
use smtp_test_server::{ServerOptions, TestServer};
use smtp_tokio::smtp_sansio::{ClientId, Credentials, Timeouts, TlsMode};
use smtp_tokio::{Endpoint, Mailer, Options};

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(usage) => {
            eprintln!("{usage}");
            return ExitCode::from(64);
        }
    };
    match run(args).await {
        Ok(status) => ExitCode::from(status),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(78)
        }
    }
}

async fn run(args: send_cli::Args) -> Result<u8, Box<dyn std::error::Error>> {
    let mut server = None;
    let mut options = if send_cli::embedded(&args) {
        // The redacted transcript, for a short demonstration run.
        let filter = if args.count <= 3 {
            "smtp=debug"
        } else {
            "smtp=info"
        };
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .without_time()
            .init();
        let started = TestServer::start(ServerOptions::default()).await?;
        println!(
            "embedded SMTP server on {} (STARTTLS, user \"demo\", password \"demo-password\")",
            started.addr()
        );
        let endpoint = Endpoint::with_mode("localhost", started.addr().port(), TlsMode::StartTls);
        let mut options = Options::new(endpoint, ClientId::parse("localhost")?);
        options.tls.add_ca_pem(started.ca_pem().as_bytes())?;
        options.config.credentials = Some(Credentials::password("demo", "demo-password")?);
        server = Some(started);
        options
    } else {
        let mut options = Options::new(send_cli::endpoint(&args)?, ClientId::parse("localhost")?);
        if let Some(path) = &args.ca_file {
            options.tls.add_ca_file(path)?;
        }
        options.config.credentials = send_cli::credentials(&args)?;
        options
    };
    if let Some(seconds) = args.timeout {
        options.config.timeouts = Timeouts::uniform(Duration::from_secs(seconds));
    }
    let (envelope, body) = send_cli::message(&args)?;

    let policy = send_cli::policy(&args, &options.endpoint);
    let mailer = Mailer::with_policy(options, policy);
    let started = Instant::now();
    let messages = (0..args.count).map(|_| (envelope.clone(), body.clone()));
    let results = mailer.send_all(messages).await;
    let status = send_cli::summarise(&results, started.elapsed().as_secs_f64());
    mailer.close().await;
    if let Some(server) = server {
        println!(
            "the embedded server received {} messages",
            server.received().len()
        );
    }
    Ok(status)
}

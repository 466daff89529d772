//! Sends messages over SMTP and reports each outcome.
//!
//! ```text
//! cargo run -p smtp-tokio --example send -- [--host H --port P | --ses REGION [--port P]]
//!     [--tls implicit|starttls|opportunistic|none] [--ca-file PEM]
//!     [--user U --password-env VAR] --from ADDR --to ADDR [--to ADDR ...]
//!     [--count N] [--concurrency C] [--timeout SECONDS] [MESSAGE_FILE|-]
//! ```
//!
//! With no `--host` and no `--ses`, it starts an embedded SMTP server on 127.0.0.1 (STARTTLS
//! with a certificate generated at start, AUTH with demo credentials, SES-like replies) and
//! sends to it, printing the redacted transcript.

#[path = "../../testing/send_cli.rs"]
mod send_cli;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use send_cli::{Worker, parse_args};
use smtp_tokio::server::{ServerOptions, TestServer};
use smtp_tokio::smtp_proto::{ClientId, Credentials, Timeouts, TlsMode};
use smtp_tokio::{Endpoint, Options, connect};

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

    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..args.concurrency {
        let (first, count) = (
            send_cli::first_of(&args, worker),
            send_cli::share(&args, worker),
        );
        let (options, envelope, body) = (options.clone(), envelope.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut session = match connect(options).await {
                Ok(session) => session,
                Err(error) => return Worker::sent(first, count, Err(error), None),
            };
            let messages = (0..count).map(|_| (envelope.clone(), body.clone()));
            let sent = session.send_all(messages).await;
            let worker = Worker::sent(first, count, sent, session.error());
            if worker.error.is_none()
                && let Err(error) = session.quit().await
            {
                eprintln!("quit: {error}");
            }
            worker
        }));
    }
    let mut workers = Vec::new();
    for task in tasks {
        workers.push(task.await?);
    }
    let status = send_cli::summarise(&workers, started.elapsed().as_secs_f64());
    if let Some(server) = server {
        println!(
            "the embedded server received {} messages",
            server.received().len()
        );
    }
    Ok(status)
}

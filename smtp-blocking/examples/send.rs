//! Sends messages over SMTP with the blocking adapter and reports each outcome. The same command
//! line as `smtp-tokio`'s `send` example, so the two can be compared with the same commands:
//!
//! ```text
//! cargo run -p smtp-blocking --example send -- [--host H --port P | --ses REGION [--port P]]
//!     [--tls implicit|starttls|opportunistic|none] [--ca-file PEM]
//!     [--user U --password-env VAR] --from ADDR --to ADDR [--to ADDR ...]
//!     [--count N] [--concurrency C] [--timeout SECONDS] [MESSAGE_FILE|-]
//! ```
//!
//! With no `--host` and no `--ses`, it starts the embedded SMTP server on 127.0.0.1 and sends
//! to it, printing the redacted transcript.

#[path = "../../testing/send_cli.rs"]
mod send_cli;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use send_cli::parse_args;
use smtp_blocking::smtp_proto::{ClientId, Credentials, Timeouts, TlsMode, TranscriptLine};
use smtp_blocking::{Endpoint, Options, connect};
use smtp_tokio::server::{ServerOptions, TestServer};

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let args = parse_args()?;
    // The embedded server runs on a runtime of its own; the client is plain blocking code.
    let runtime = tokio::runtime::Runtime::new()?;
    let mut server = None;
    let mut options = if send_cli::embedded(&args) {
        let started = runtime.block_on(TestServer::start(ServerOptions::default()))?;
        println!(
            "embedded SMTP server on {} (STARTTLS, user \"demo\", password \"demo-password\")",
            started.addr()
        );
        let endpoint = Endpoint::with_mode("localhost", started.addr().port(), TlsMode::StartTls);
        let mut options = Options::new(endpoint, ClientId::parse("localhost")?);
        options.tls.add_ca_pem(started.ca_pem().as_bytes())?;
        options.config.credentials = Some(Credentials::password("demo", "demo-password")?);
        // The redacted transcript, for a short demonstration run.
        options.config.transcript = args.count <= 3;
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
    let workers: Vec<_> = (0..args.concurrency)
        .map(|worker| {
            let share = send_cli::share(&args, worker);
            let (options, envelope, body) = (options.clone(), envelope.clone(), body.clone());
            std::thread::spawn(move || {
                let mut session = connect(options)?;
                let reports =
                    session.send_all((0..share).map(|_| (envelope.clone(), body.clone())))?;
                let transcript = session.take_transcript();
                session.quit()?;
                Ok::<_, smtp_blocking::Error>((reports, transcript))
            })
        })
        .collect();
    let mut sent = 0;
    let mut all_ok = true;
    for worker in workers {
        match worker.join().map_err(|_| "a worker panicked")? {
            Ok((reports, transcript)) => {
                for line in transcript {
                    match line {
                        TranscriptLine::Sent(text) => eprintln!("C: {text}"),
                        TranscriptLine::Received(text) => eprintln!("S: {text}"),
                    }
                }
                all_ok &= send_cli::print_reports(&reports, &mut sent);
            }
            Err(error) => {
                all_ok = false;
                send_cli::print_failure(&error, error.reply());
            }
        }
    }
    send_cli::print_total(sent, started.elapsed().as_secs_f64());
    if let Some(server) = server {
        println!(
            "the embedded server received {} messages",
            server.received().len()
        );
    }
    Ok(all_ok && sent == args.count)
}

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

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use smtp_tokio::server::{ServerOptions, TestServer};
use smtp_tokio::smtp_proto::{
    ClientId, Credentials, Envelope, Mailbox, Outcome, Timeouts, TlsMode, TransactionReport,
};
use smtp_tokio::{Endpoint, Options, connect};

#[derive(Debug, Default)]
struct Args {
    host: Option<String>,
    port: Option<u16>,
    ses: Option<String>,
    tls: Option<TlsMode>,
    ca_file: Option<String>,
    user: Option<String>,
    password_env: Option<String>,
    from: Option<String>,
    to: Vec<String>,
    count: usize,
    concurrency: usize,
    timeout: Option<u64>,
    message: Option<String>,
}

const USAGE: &str = "usage: send [--host H --port P | --ses REGION [--port P]] \
[--tls implicit|starttls|opportunistic|none] [--ca-file PEM] [--user U --password-env VAR] \
--from ADDR --to ADDR [--to ADDR ...] [--count N] [--concurrency C] [--timeout SECONDS] \
[MESSAGE_FILE|-]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        count: 1,
        concurrency: 1,
        ..Args::default()
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--host" => args.host = Some(value()?),
            "--port" => args.port = Some(value()?.parse().map_err(|e| format!("--port: {e}"))?),
            "--ses" => args.ses = Some(value()?),
            "--tls" => {
                args.tls = Some(match value()?.as_str() {
                    "implicit" => TlsMode::Implicit,
                    "starttls" => TlsMode::StartTls,
                    "opportunistic" => TlsMode::StartTlsOpportunistic,
                    "none" => TlsMode::InsecurePlaintext,
                    other => return Err(format!("--tls: unknown mode {other:?}")),
                })
            }
            "--ca-file" => args.ca_file = Some(value()?),
            "--user" => args.user = Some(value()?),
            "--password-env" => args.password_env = Some(value()?),
            "--from" => args.from = Some(value()?),
            "--to" => args.to.push(value()?),
            "--count" => args.count = value()?.parse().map_err(|e| format!("--count: {e}"))?,
            "--concurrency" => {
                args.concurrency = value()?
                    .parse()
                    .map_err(|e| format!("--concurrency: {e}"))?
            }
            "--timeout" => {
                args.timeout = Some(value()?.parse().map_err(|e| format!("--timeout: {e}"))?)
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other if other.starts_with("--") => {
                return Err(format!("unknown option {other}\n{USAGE}"));
            }
            _ => args.message = Some(arg),
        }
    }
    args.concurrency = args.concurrency.clamp(1, args.count.max(1));
    Ok(args)
}

/// A generated message of about 2 KB, with a unique Message-ID.
fn generated_message(from: &str, to: &str) -> Vec<u8> {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mut message = format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: smtp-tokio test message\r\n\
         Message-ID: <{stamp}.smtp-tokio@localhost>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    );
    while message.len() < 2048 {
        message.push_str("The quick brown fox jumps over the lazy dog. 0123456789 abcdefghij\r\n");
    }
    message.into_bytes()
}

fn describe(index: usize, report: &TransactionReport) -> String {
    let refused: Vec<String> = report
        .recipients
        .iter()
        .filter(|r| !r.accepted())
        .map(|r| {
            format!(
                "{:?}: {}",
                r.path,
                r.reply
                    .as_ref()
                    .map_or("not sent".into(), |r| r.to_string())
            )
        })
        .collect();
    let refused = if refused.is_empty() {
        String::new()
    } else {
        format!(" refused [{}]", refused.join("; "))
    };
    match &report.outcome {
        Outcome::Accepted(reply) => match report.message_id() {
            Some(id) => format!("message {index}: accepted, id {id} ({reply}){refused}"),
            None => format!("message {index}: accepted ({reply}){refused}"),
        },
        other => format!("message {index}: not delivered: {other:?}{refused}"),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let embedded = args.host.is_none() && args.ses.is_none();
    let mut server = None;
    let mut options = if embedded {
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
        let endpoint = match (&args.ses, &args.host, args.tls) {
            (Some(region), _, None) => Endpoint::ses(region, args.port.unwrap_or(587))?,
            (Some(region), _, Some(mode)) => {
                Endpoint::with_mode(smtp_tokio::ses_host(region), args.port.unwrap_or(587), mode)
            }
            (None, Some(host), Some(mode)) => {
                Endpoint::with_mode(host.clone(), args.port.ok_or("--port is required")?, mode)
            }
            (None, Some(host), None) => {
                Endpoint::new(host.clone(), args.port.ok_or("--port is required")?)?
            }
            (None, None, _) => unreachable!("not embedded"),
        };
        let mut options = Options::new(endpoint, ClientId::parse("localhost")?);
        if let Some(path) = &args.ca_file {
            options.tls.add_ca_file(path)?;
        }
        if let Some(user) = &args.user {
            let var = args
                .password_env
                .as_deref()
                .ok_or("--user needs --password-env")?;
            let password =
                std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))?;
            options.config.credentials = Some(Credentials::password(user, &password)?);
        }
        options
    };
    if let Some(seconds) = args.timeout {
        options.config.timeouts = Timeouts::uniform(Duration::from_secs(seconds));
    }
    let from = args
        .from
        .clone()
        .unwrap_or_else(|| "sender@example.com".into());
    let to = if args.to.is_empty() && embedded {
        vec!["recipient@example.net".into()]
    } else {
        args.to.clone()
    };
    if to.is_empty() {
        return Err(format!("at least one --to is needed\n{USAGE}").into());
    }
    let body: Bytes = match args.message.as_deref() {
        Some("-") => {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut data)?;
            data.into()
        }
        Some(path) => std::fs::read(path)?.into(),
        None => generated_message(&from, &to[0]).into(),
    };
    let envelope = Envelope::new(
        Mailbox::parse(&from)?,
        to.iter()
            .map(|t| Mailbox::parse(t))
            .collect::<Result<Vec<_>, _>>()?,
    );

    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..args.concurrency {
        let share =
            args.count / args.concurrency + usize::from(worker < args.count % args.concurrency);
        let (options, envelope, body) = (options.clone(), envelope.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut session = connect(options).await?;
            let reports = session
                .send_all((0..share).map(|_| (envelope.clone(), body.clone())))
                .await?;
            session.quit().await?;
            Ok::<_, smtp_tokio::Error>(reports)
        }));
    }
    let mut sent = 0;
    let mut all_ok = true;
    for task in tasks {
        match task.await? {
            Ok(reports) => {
                for report in reports {
                    sent += usize::from(report.is_accepted());
                    all_ok &=
                        report.is_accepted() && report.recipients.iter().all(|r| r.accepted());
                    println!("{}", describe(sent, &report));
                }
            }
            Err(error) => {
                all_ok = false;
                match error.reply() {
                    Some(reply) => eprintln!("session failed: {error} (server said: {reply})"),
                    None => eprintln!("session failed: {error}"),
                }
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "sent {sent} messages in {seconds:.3} s ({:.1} msg/s)",
        sent as f64 / seconds.max(1e-9)
    );
    if let Some(server) = server {
        println!(
            "the embedded server received {} messages",
            server.received().len()
        );
    }
    Ok(all_ok && sent == args.count)
}

//! The lettre baseline of `scripts/bench-ses.sh`: sends COUNT copies of a 2 KB message through
//! lettre's pooled async transport (`AsyncSmtpTransport`, `PoolConfig::max_size(C)`, C tasks
//! taking messages from one shared queue), over STARTTLS (rustls, trusting the CA in CA_FILE)
//! with AUTH, to a server that throttles the way Amazon SES does. lettre does no pacing: a
//! message refused with `454 Throttling failure` is refused.
//!
//! With `--retry`, a message refused with any `4yz` (the `454` of the sending rate, the `421`
//! of the connection cap or of the per-session cap) is sent again by the same task after 1 s,
//! up to 30 tries, so that lettre delivers everything a naive retry loop can; without it, every
//! message is tried once. `--deadline SECONDS` stops taking new messages, and stops retrying,
//! after that long: what was delivered by then is reported over the time it took.
//!
//! Prints the same closing line as the `send` examples, then what was refused:
//!
//! ```text
//! delivered D of N messages in S s (R msg/s)
//! throttled T (454), other errors E, given up G, not sent (deadline) U
//! ```
//!
//! ```text
//! cargo run --release -p smtp-bench --example ses_lettre -- --host H --port P --count N
//!     --concurrency C --ca-file PEM --user U --password-env VAR [--retry] [--deadline SECONDS]
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

/// The most tries of one message with `--retry`.
const MAX_TRIES: usize = 30;

const USAGE: &str = "usage: ses_lettre --host H --port P --count N --concurrency C \
--ca-file PEM --user U --password-env VAR [--retry] [--deadline SECONDS]";

struct Args {
    host: String,
    port: u16,
    count: usize,
    concurrency: usize,
    ca_file: String,
    user: String,
    password_env: String,
    retry: bool,
    deadline: Option<Duration>,
}

fn parse_args() -> Result<Args, Box<dyn std::error::Error>> {
    let (mut host, mut port, mut ca_file, mut user, mut password_env) =
        (None, None, None, None, None);
    let (mut count, mut concurrency, mut retry, mut deadline) = (1, 1, false, None);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--host" => host = Some(value()?),
            "--port" => port = Some(value()?.parse()?),
            "--count" => count = value()?.parse()?,
            "--concurrency" => concurrency = value()?.parse::<usize>()?.max(1),
            "--ca-file" => ca_file = Some(value()?),
            "--user" => user = Some(value()?),
            "--password-env" => password_env = Some(value()?),
            "--retry" => retry = true,
            "--deadline" => deadline = Some(Duration::from_secs_f64(value()?.parse()?)),
            _ => return Err(format!("unknown argument {arg}\n{USAGE}").into()),
        }
    }
    let missing = |what: &str| format!("{what} is required\n{USAGE}");
    Ok(Args {
        host: host.ok_or_else(|| missing("--host"))?,
        port: port.ok_or_else(|| missing("--port"))?,
        count,
        concurrency,
        ca_file: ca_file.ok_or_else(|| missing("--ca-file"))?,
        user: user.ok_or_else(|| missing("--user"))?,
        password_env: password_env.ok_or_else(|| missing("--password-env"))?,
        retry,
        deadline,
    })
}

fn message() -> Vec<u8> {
    let mut message = String::from(
        "From: <sender@example.com>\r\nTo: <recipient@example.net>\r\nSubject: bench\r\n\r\n",
    );
    while message.len() < 2048 {
        message.push_str("The quick brown fox jumps over the lazy dog. 0123456789 abcdefghij\r\n");
    }
    message.into_bytes()
}

/// What the tasks counted, shared by all.
#[derive(Default)]
struct Counts {
    next: AtomicUsize,
    delivered: AtomicUsize,
    throttled: AtomicUsize,
    other_errors: AtomicUsize,
    given_up: AtomicUsize,
    /// The first few distinct errors other than throttling, printed to stderr at the end.
    errors: std::sync::Mutex<Vec<String>>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let password = std::env::var(&args.password_env)
        .map_err(|_| format!("environment variable {} is not set", args.password_env))?;
    let ca = std::fs::read(&args.ca_file)?;
    let tls = TlsParameters::builder(args.host.clone())
        .certificate_store(CertificateStore::None)
        .add_root_certificate(Certificate::from_pem(&ca)?)
        .build_rustls()?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&args.host)
        .port(args.port)
        .tls(Tls::Required(tls))
        .credentials(Credentials::new(args.user.clone(), password))
        .pool_config(PoolConfig::new().max_size(args.concurrency as u32))
        .build();
    let envelope = Envelope::new(
        Some("sender@example.com".parse()?),
        vec!["recipient@example.net".parse()?],
    )?;
    let body = Arc::new(message());
    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let deadline = args.deadline.map(|d| started + d);
    let past_deadline = move || deadline.is_some_and(|d| Instant::now() >= d);
    let (count, retry) = (args.count, args.retry);

    let tasks: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (transport, envelope, body, counts) = (
                transport.clone(),
                envelope.clone(),
                Arc::clone(&body),
                Arc::clone(&counts),
            );
            tokio::spawn(async move {
                while !past_deadline() && counts.next.fetch_add(1, Ordering::Relaxed) < count {
                    for tries in 1.. {
                        let error = match transport.send_raw(&envelope, &body).await {
                            Ok(_) => {
                                counts.delivered.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                            Err(error) => error,
                        };
                        let code = error.status().map(|c| c.to_string());
                        if code.as_deref() == Some("454") {
                            counts.throttled.fetch_add(1, Ordering::Relaxed);
                        } else {
                            counts.other_errors.fetch_add(1, Ordering::Relaxed);
                            let mut errors =
                                counts.errors.lock().unwrap_or_else(|e| e.into_inner());
                            let text = error.to_string();
                            if errors.len() < 5 && !errors.contains(&text) {
                                errors.push(text);
                            }
                        }
                        if !retry || !error.is_transient() || tries >= MAX_TRIES || past_deadline()
                        {
                            counts.given_up.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let load = |counter: &AtomicUsize| counter.load(Ordering::Relaxed);
    let (delivered, given_up) = (load(&counts.delivered), load(&counts.given_up));
    println!(
        "delivered {delivered} of {count} messages in {seconds:.3} s ({:.1} msg/s)",
        delivered as f64 / seconds.max(1e-9)
    );
    println!(
        "throttled {} (454), other errors {}, given up {given_up}, not sent (deadline) {}",
        load(&counts.throttled),
        load(&counts.other_errors),
        count.saturating_sub(delivered + given_up),
    );
    for error in counts
        .errors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        eprintln!("error: {error}");
    }
    Ok(())
}

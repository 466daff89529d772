//! The server as Amazon SES, in a process of its own, for benchmarks and for trying a client
//! against SES's replies and limits without an AWS account.
//!
//! ```text
//! cargo run --release -p smtp-test-server --example ses_server -- \
//!   [--listen 127.0.0.1:PORT]          loopback only; port 0 for any (default 127.0.0.1:0)
//!   [--tls starttls|implicit|none]     default starttls; none: plaintext, no STARTTLS, no AUTH
//!   [--rate N]                         recipients per second, account-wide; 0: none (default 14)
//!   [--connections N]                  connections at once; 0: no limit (default 10)
//!   [--per-session N]                  messages per session; 0: no limit (default 300)
//!   [--latency-ms N]                   added to every reply (default 0)
//!   [--idle-timeout-s N]               0: none (default 10)
//!   [--ca-file FILE]                   writes the CA certificate (PEM) there
//!   [--user U --password P]            default demo / demo-password
//! ```
//!
//! When it is ready it prints `listening ADDRESS:PORT` on standard output. It serves until its
//! standard input closes, then prints its counters on one line and exits:
//!
//! ```text
//! accepted=N throttled=N session_caps=N refused_connections=N peak_connections=N
//! ```

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use smtp_test_server::{ServerOptions, TestServer};
use tokio::io::AsyncReadExt;

type BoxError = Box<dyn std::error::Error>;

const USAGE: &str = "usage: ses_server [--listen 127.0.0.1:PORT] [--tls starttls|implicit|none] \
    [--rate N] [--connections N] [--per-session N] [--latency-ms N] [--idle-timeout-s N] \
    [--ca-file FILE] [--user U --password P]";

/// The command line, read into the server's options.
struct Args {
    listen: SocketAddr,
    options: ServerOptions,
    ca_file: Option<String>,
}

/// `Some(n)`, or `None` for 0: no limit.
fn limit(value: &str) -> Result<Option<usize>, BoxError> {
    let n: usize = value.parse()?;
    Ok((n > 0).then_some(n))
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, BoxError> {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut options = ServerOptions::ses();
    let mut ca_file = None;
    let (mut user, mut password) = (None, None);
    let mut plaintext = false;
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let limits = &mut options.limits;
        match flag.as_str() {
            "--listen" => listen = value.parse()?,
            "--tls" => match value.as_str() {
                "starttls" => {}
                "implicit" => options.implicit_tls = true,
                "none" => plaintext = true,
                other => return Err(format!("unknown --tls {other}\n{USAGE}").into()),
            },
            "--rate" => limits.recipients_per_second = limit(&value)?,
            "--connections" => limits.connections = limit(&value)?,
            "--per-session" => limits.messages_per_session = limit(&value)?,
            "--latency-ms" => limits.latency = Duration::from_millis(value.parse()?),
            "--idle-timeout-s" => {
                let seconds: u64 = value.parse()?;
                limits.idle_timeout = (seconds > 0).then(|| Duration::from_secs(seconds));
            }
            "--ca-file" => ca_file = Some(value),
            "--user" => user = Some(value),
            "--password" => password = Some(value),
            other => return Err(format!("unknown option {other}\n{USAGE}").into()),
        }
    }
    if !listen.ip().is_loopback() {
        return Err(format!("--listen {listen}: only loopback addresses are served").into());
    }
    if plaintext {
        options.starttls = false;
        options.auth = None;
    } else if let Some((default_user, default_password)) = options.auth.take() {
        options.auth = Some((
            user.unwrap_or(default_user),
            password.unwrap_or(default_password),
        ));
    }
    Ok(Args {
        listen,
        options,
        ca_file,
    })
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = parse(std::env::args().skip(1))?;
    let server = TestServer::start_on(args.listen, args.options).await?;
    if let Some(file) = &args.ca_file {
        std::fs::write(file, server.ca_pem())?;
    }
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening {}", server.addr())?;
    stdout.flush()?;
    let mut rest = Vec::new();
    tokio::io::stdin().read_to_end(&mut rest).await?;
    let stats = server.stats();
    writeln!(
        stdout,
        "accepted={} throttled={} session_caps={} refused_connections={} peak_connections={}",
        stats.accepted,
        stats.throttled,
        stats.session_caps,
        stats.refused_connections,
        stats.peak_connections,
    )?;
    stdout.flush()?;
    Ok(())
}

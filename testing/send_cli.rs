//! The command line shared by both adapters' `send` examples (included with `#[path]`), so
//! that both take exactly the same arguments and print the same lines.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::time::{SystemTime, UNIX_EPOCH};

use smtp_proto::{Outcome, TlsMode, TransactionReport, Verdict};

#[derive(Debug, Default)]
pub struct Args {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub ses: Option<String>,
    pub tls: Option<TlsMode>,
    pub ca_file: Option<String>,
    pub user: Option<String>,
    pub password_env: Option<String>,
    pub from: Option<String>,
    pub to: Vec<String>,
    pub count: usize,
    pub concurrency: usize,
    pub timeout: Option<u64>,
    pub message: Option<String>,
}

pub const USAGE: &str = "usage: send [--host H --port P | --ses REGION [--port P]] \
[--tls implicit|starttls|opportunistic|none] [--ca-file PEM] [--user U --password-env VAR] \
--from ADDR --to ADDR [--to ADDR ...] [--count N] [--concurrency C] [--timeout SECONDS] \
[MESSAGE_FILE|-]";

pub fn parse_args() -> Result<Args, String> {
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
pub fn generated_message(from: &str, to: &str) -> Vec<u8> {
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

/// Whether no server was named: the example then runs against its embedded server.
pub fn embedded(args: &Args) -> bool {
    args.host.is_none() && args.ses.is_none()
}

/// The endpoint the arguments name (not for the embedded server).
pub fn endpoint(args: &Args) -> Result<smtp_proto::Endpoint, Box<dyn std::error::Error>> {
    use smtp_proto::Endpoint;
    let port = || args.port.ok_or("--port is required with --host");
    Ok(match (&args.ses, &args.host, args.tls) {
        (Some(region), _, None) => Endpoint::ses(region, args.port.unwrap_or(587))?,
        (Some(region), _, Some(mode)) => {
            Endpoint::with_mode(smtp_proto::ses_host(region), args.port.unwrap_or(587), mode)
        }
        (None, Some(host), Some(mode)) => Endpoint::with_mode(host.clone(), port()?, mode),
        (None, Some(host), None) => Endpoint::new(host.clone(), port()?)?,
        (None, None, _) => return Err("no server named".into()),
    })
}

/// The password from the environment variable `--password-env` names, for `--user`.
pub fn credentials(
    args: &Args,
) -> Result<Option<smtp_proto::Credentials>, Box<dyn std::error::Error>> {
    let Some(user) = &args.user else {
        return Ok(None);
    };
    let var = args
        .password_env
        .as_deref()
        .ok_or("--user needs --password-env")?;
    let password =
        std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))?;
    Ok(Some(smtp_proto::Credentials::password(user, &password)?))
}

/// The envelope and the body: from the file, stdin (`-`), or a generated 2 KB message.
pub fn message(
    args: &Args,
) -> Result<(smtp_proto::Envelope, bytes::Bytes), Box<dyn std::error::Error>> {
    let from = args
        .from
        .clone()
        .unwrap_or_else(|| "sender@example.com".into());
    let to = if args.to.is_empty() && embedded(args) {
        vec!["recipient@example.net".to_string()]
    } else {
        args.to.clone()
    };
    if to.is_empty() {
        return Err(format!("at least one --to is needed\n{USAGE}").into());
    }
    let body: bytes::Bytes = match args.message.as_deref() {
        Some("-") => {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut data)?;
            data.into()
        }
        Some(path) => std::fs::read(path)?.into(),
        None => generated_message(&from, &to[0]).into(),
    };
    let recipients = to
        .iter()
        .map(|t| smtp_proto::Mailbox::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        smtp_proto::Envelope::new(smtp_proto::Mailbox::parse(&from)?, recipients),
        body,
    ))
}

/// How many of `count` messages worker `worker` of `concurrency` sends.
pub fn share(args: &Args, worker: usize) -> usize {
    args.count / args.concurrency + usize::from(worker < args.count % args.concurrency)
}

/// The number of worker `worker`'s first message, counting from 1.
pub fn first_of(args: &Args, worker: usize) -> usize {
    1 + (0..worker).map(|w| share(args, w)).sum::<usize>()
}

/// What one connection came back with: the reports of its messages in input order, and the
/// error that ended its session (or kept it from starting), if one did.
pub struct Worker {
    /// The number of its first message, counting from 1 across all connections.
    pub first: usize,
    /// How many messages it was given.
    pub count: usize,
    pub reports: Vec<TransactionReport>,
    pub error: Option<smtp_proto::driver::Error>,
}

impl Worker {
    /// A worker that connected and queued its messages: `sent` is what `send_all` returned,
    /// `failure` the session's error after it, if it failed.
    pub fn sent(
        first: usize,
        count: usize,
        sent: Result<Vec<TransactionReport>, smtp_proto::driver::Error>,
        failure: Option<&smtp_proto::Error>,
    ) -> Self {
        let (reports, error) = match sent {
            Ok(reports) => (
                reports,
                failure.cloned().map(smtp_proto::driver::Error::Smtp),
            ),
            Err(error) => (Vec::new(), Some(error)),
        };
        Self {
            first,
            count,
            reports,
            error,
        }
    }
}

/// A message's line: its number, its verdict in words, and the server's words behind it.
pub fn describe(number: usize, report: &TransactionReport) -> String {
    let detail = match &report.outcome {
        Outcome::Accepted(reply) => reply.to_string(),
        Outcome::Rejected { stage, reply } => format!("{stage} refused: {reply}"),
        Outcome::NoRecipientAccepted => "no recipient accepted".into(),
        Outcome::InvalidForServer(e) => format!("not sendable to this server: {e}"),
        Outcome::InvalidBody(e) => format!("invalid body: {e}"),
        Outcome::TooLarge { limit } => format!("larger than the server's limit of {limit} octets"),
        Outcome::Unknown(e) => {
            format!("no reply to the end of data ({e}); it may have been delivered")
        }
        Outcome::Interrupted(e) => e.to_string(),
        Outcome::NotAttempted => "never reached the server".into(),
        Outcome::Cancelled => "cancelled".into(),
        _ => String::new(),
    };
    let mut line = format!("message {number}: {}: {detail}", report.verdict);
    for recipient in &report.recipients {
        let differs = recipient.verdict != report.verdict
            || matches!(report.outcome, Outcome::NoRecipientAccepted);
        if differs {
            let reply = recipient
                .reply
                .as_ref()
                .map_or("no reply".into(), |r| r.to_string());
            line.push_str(&format!(
                "; {} {} ({reply})",
                recipient.path, recipient.verdict
            ));
        }
    }
    line
}

/// Prints one line per message in input order, each failed session's cause, and the total;
/// returns the exit status (see [`exit_status`]).
pub fn summarise(workers: &[Worker], seconds: f64) -> u8 {
    let (mut delivered, mut total) = (0, 0);
    for worker in workers {
        for (offset, report) in worker.reports.iter().enumerate() {
            println!("{}", describe(worker.first + offset, report));
            delivered += usize::from(report.verdict == Verdict::Delivered);
        }
        for number in worker.first + worker.reports.len()..worker.first + worker.count {
            println!(
                "message {number}: {}: never reached the server",
                Verdict::NotAttempted
            );
        }
        total += worker.count;
        if let Some(error) = &worker.error {
            match error.reply() {
                Some(reply) => eprintln!("session failed: {error} (server said: {reply})"),
                None => eprintln!("session failed: {error}"),
            }
        }
    }
    println!(
        "delivered {delivered} of {total} messages in {seconds:.3} s ({:.1} msg/s)",
        delivered as f64 / seconds.max(1e-9)
    );
    exit_status(workers)
}

/// The exit status after sendmail's convention, from every recipient's verdict: 0 when every
/// recipient of every message was delivered, 69 (EX_UNAVAILABLE) when any was refused for good,
/// 75 (EX_TEMPFAIL) when nothing was refused for good but something was deferred, unknown or
/// not attempted. Messages with no report (the session never started) count as refused for
/// good only if the session's error is permanent (a failed TLS handshake, refused
/// credentials), as not attempted otherwise.
pub fn exit_status(workers: &[Worker]) -> u8 {
    let (mut all_delivered, mut refused_for_good) = (true, false);
    for worker in workers {
        for recipient in worker.reports.iter().flat_map(|r| &r.recipients) {
            all_delivered &= recipient.verdict == Verdict::Delivered;
            refused_for_good |= recipient.verdict == Verdict::Bounced;
        }
        if worker.reports.len() < worker.count {
            all_delivered = false;
            refused_for_good |= worker.error.as_ref().is_some_and(|e| !e.is_transient());
        }
    }
    if refused_for_good {
        69
    } else if all_delivered {
        0
    } else {
        75
    }
}

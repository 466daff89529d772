//! The command line shared by both adapters' `send` examples (included with `#[path]`), so
//! that both take exactly the same arguments and print the same lines.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::time::{SystemTime, UNIX_EPOCH};

use smtp_proto::{Outcome, TlsMode, TransactionReport};

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

pub fn describe(index: usize, report: &TransactionReport) -> String {
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

/// Prints every report; returns how many messages were accepted and whether all went well.
pub fn print_reports(reports: &[TransactionReport], sent: &mut usize) -> bool {
    let mut all_ok = true;
    for report in reports {
        *sent += usize::from(report.is_accepted());
        all_ok &= report.is_accepted() && report.recipients.iter().all(|r| r.accepted());
        println!("{}", describe(*sent, report));
    }
    all_ok
}

/// Prints a failed session's error, with the server's reply when there is one.
pub fn print_failure(error: &dyn std::fmt::Display, reply: Option<&smtp_proto::Reply>) {
    match reply {
        Some(reply) => eprintln!("session failed: {error} (server said: {reply})"),
        None => eprintln!("session failed: {error}"),
    }
}

/// The closing line: `sent N messages in S s (R msg/s)`.
pub fn print_total(sent: usize, seconds: f64) {
    println!(
        "sent {sent} messages in {seconds:.3} s ({:.1} msg/s)",
        sent as f64 / seconds.max(1e-9)
    );
}

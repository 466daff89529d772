//! The command line shared by both adapters' `send` examples (included with `#[path]`), so
//! that both take exactly the same arguments and print the same lines.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::time::{SystemTime, UNIX_EPOCH};

use smtp_sansio::{Outcome, TlsMode, TransactionReport, Verdict};

#[derive(Debug, Default)]
pub struct Args {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub ses: Option<String>,
    pub tls: Option<TlsMode>,
    pub ca_file: Option<String>,
    pub user: Option<String>,
    pub password_env: Option<String>,
    pub ses_secret_env: Option<String>,
    pub from: Option<String>,
    pub to: Vec<String>,
    pub count: usize,
    pub concurrency: Option<usize>,
    pub ses_policy: Option<bool>,
    pub rate: Option<u32>,
    pub max_per_connection: Option<usize>,
    pub timeout: Option<u64>,
    pub message: Option<String>,
}

pub const USAGE: &str = "usage: send [--host H --port P | --ses REGION [--port P]] \
[--tls implicit|starttls|opportunistic|none] [--ca-file PEM] [--user U --password-env VAR | --user ACCESS_KEY_ID --ses-secret-env VAR] \
--from ADDR --to ADDR [--to ADDR ...] [--count N] [--concurrency C] [--policy ses|default] [--rate MSGS_PER_SEC] \
[--max-per-connection N] [--timeout SECONDS] [MESSAGE_FILE|-]";

pub fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        count: 1,
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
            "--ses-secret-env" => args.ses_secret_env = Some(value()?),
            "--from" => args.from = Some(value()?),
            "--to" => args.to.push(value()?),
            "--count" => args.count = value()?.parse().map_err(|e| format!("--count: {e}"))?,
            "--concurrency" => {
                let concurrency: usize = value()?
                    .parse()
                    .map_err(|e| format!("--concurrency: {e}"))?;
                args.concurrency = Some(concurrency.max(1));
            }
            "--policy" => {
                args.ses_policy = Some(match value()?.as_str() {
                    "ses" => true,
                    "default" => false,
                    other => return Err(format!("--policy: unknown policy {other:?}")),
                })
            }
            "--rate" => {
                let rate: u32 = value()?.parse().map_err(|e| format!("--rate: {e}"))?;
                if rate == 0 {
                    return Err("--rate: at least 1 message a second".into());
                }
                args.rate = Some(rate);
            }
            "--max-per-connection" => {
                args.max_per_connection = Some(
                    value()?
                        .parse()
                        .map_err(|e| format!("--max-per-connection: {e}"))?,
                )
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
pub fn endpoint(args: &Args) -> Result<smtp_sansio::Endpoint, Box<dyn std::error::Error>> {
    use smtp_sansio::Endpoint;
    let port = || args.port.ok_or("--port is required with --host");
    Ok(match (&args.ses, &args.host, args.tls) {
        (Some(region), _, None) => Endpoint::ses(region, args.port.unwrap_or(587))?,
        (Some(region), _, Some(mode)) => Endpoint::with_mode(
            smtp_sansio::ses_host(region),
            args.port.unwrap_or(587),
            mode,
        ),
        (None, Some(host), Some(mode)) => Endpoint::with_mode(host.clone(), port()?, mode),
        (None, Some(host), None) => Endpoint::new(host.clone(), port()?)?,
        (None, None, _) => return Err("no server named".into()),
    })
}

/// The credentials for `--user`: the password from the environment variable `--password-env`
/// names, or, with `--ses-secret-env`, the SES SMTP password derived from the IAM secret access
/// key in that variable for the `--ses` region (`--user` is then the access key id). Neither
/// secret is ever printed: errors name the variable, not its value.
pub fn credentials(
    args: &Args,
) -> Result<Option<smtp_sansio::Credentials>, Box<dyn std::error::Error>> {
    credentials_from(args, |var| std::env::var(var).ok())
}

/// [`credentials`] with the environment given as a lookup.
pub fn credentials_from(
    args: &Args,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<smtp_sansio::Credentials>, Box<dyn std::error::Error>> {
    let Some(user) = &args.user else {
        return Ok(None);
    };
    let read = |var: &str| env(var).ok_or(format!("environment variable {var} is not set"));
    match (&args.password_env, &args.ses_secret_env) {
        (Some(var), None) => Ok(Some(smtp_sansio::Credentials::password(user, &read(var)?)?)),
        (None, Some(var)) => {
            let region = ses_region(args).ok_or("--ses-secret-env needs --ses REGION")?;
            let secret = read(var)?;
            let credentials = smtp_sansio::Credentials::ses(user, &secret, &region)
                .map_err(|e| format!("--ses-secret-env: {e}"))?;
            Ok(Some(credentials))
        }
        (Some(_), Some(_)) => Err("--password-env and --ses-secret-env exclude each other".into()),
        (None, None) => Err("--user needs --password-env or --ses-secret-env".into()),
    }
}

/// The SES region: `--ses`, or the one in an `email-smtp.<region>.amazonaws.com` `--host`.
fn ses_region(args: &Args) -> Option<String> {
    if let Some(region) = &args.ses {
        return Some(region.clone());
    }
    let host = args.host.as_deref()?.to_ascii_lowercase();
    let rest = host
        .strip_prefix("email-smtp-fips.")
        .or_else(|| host.strip_prefix("email-smtp."))?;
    Some(rest.strip_suffix(".amazonaws.com")?.to_string())
}

/// The envelope and the body: from the file, stdin (`-`), or a generated 2 KB message.
pub fn message(
    args: &Args,
) -> Result<(smtp_sansio::Envelope, bytes::Bytes), Box<dyn std::error::Error>> {
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
        .map(|t| smtp_sansio::Mailbox::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        smtp_sansio::Envelope::new(smtp_sansio::Mailbox::parse(&from)?, recipients),
        body,
    ))
}

/// The pool's policy: `--policy`, or the one the endpoint calls for (Amazon SES's for SES),
/// with `--concurrency` as the most connections (by default the policy's own: the pool opens
/// as many as the work, the rate and the distance need), `--rate` and `--max-per-connection`.
pub fn policy(args: &Args, endpoint: &smtp_sansio::Endpoint) -> smtp_sansio::pool::PoolPolicy {
    use smtp_sansio::pool::{PoolPolicy, Rate};
    let mut policy = match args.ses_policy {
        Some(true) => PoolPolicy::ses(),
        Some(false) => PoolPolicy::default(),
        None => PoolPolicy::for_endpoint(endpoint),
    };
    if let Some(concurrency) = args.concurrency {
        policy.max_connections = concurrency;
        // A few messages spread over the connections rather than filling the first.
        policy.batch = policy.batch.min(args.count.div_ceil(concurrency).max(1));
    }
    policy.rate = args.rate.map(Rate::per_second);
    if args.max_per_connection.is_some() {
        policy.max_messages_per_connection = args.max_per_connection;
    }
    policy
}

/// What became of one message: its last report, or why it was never sent.
pub type Sent = Result<TransactionReport, smtp_sansio::driver::Error>;

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

/// A message's line when it was never sent.
pub fn describe_unsent(number: usize, error: &smtp_sansio::driver::Error) -> String {
    match error.reply() {
        Some(reply) => format!(
            "message {number}: {}: {error} (server said: {reply})",
            Verdict::NotAttempted
        ),
        None => format!("message {number}: {}: {error}", Verdict::NotAttempted),
    }
}

/// Prints one line per message, numbered from 1 in input order, and the total; returns the
/// exit status (see [`exit_status`]).
pub fn summarise(results: &[Sent], seconds: f64) -> u8 {
    for (index, result) in results.iter().enumerate() {
        match result {
            Ok(report) => println!("{}", describe(index + 1, report)),
            Err(error) => println!("{}", describe_unsent(index + 1, error)),
        }
    }
    let delivered = results
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.is_delivered()))
        .count();
    println!(
        "delivered {delivered} of {} messages in {seconds:.3} s ({:.1} msg/s)",
        results.len(),
        delivered as f64 / seconds.max(1e-9)
    );
    exit_status(results)
}

/// The exit status after sendmail's convention, from every recipient's verdict: 0 when every
/// recipient of every message was delivered, 69 (EX_UNAVAILABLE) when any was refused for good,
/// 75 (EX_TEMPFAIL) when nothing was refused for good but something was deferred, unknown or
/// not attempted. A message never sent counts as refused for good only if the reason is
/// permanent (a failed TLS handshake, refused credentials), as not attempted otherwise.
pub fn exit_status(results: &[Sent]) -> u8 {
    let (mut all_delivered, mut refused_for_good) = (true, false);
    for result in results {
        match result {
            Ok(report) => {
                for recipient in &report.recipients {
                    all_delivered &= recipient.verdict == Verdict::Delivered;
                    refused_for_good |= recipient.verdict == Verdict::Bounced;
                }
            }
            Err(error) => {
                all_delivered = false;
                refused_for_good |= !error.is_transient();
            }
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

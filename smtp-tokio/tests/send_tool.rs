//! The `send` tool's lines and exit status (testing/send_cli.rs, shared by both adapters'
//! examples): one line per message in input order, the verdict in words with the server's
//! reply, and sendmail's exit convention (0, 75 EX_TEMPFAIL, 69 EX_UNAVAILABLE).

#[path = "../../testing/send_cli.rs"]
mod send_cli;

use std::time::Duration;

use bytes::Bytes;
use send_cli::{Sent, describe, describe_unsent, exit_status};
use smtp_test_server::{Fault, FaultAction, FaultPoint, ServerOptions, TestServer};
use smtp_tokio::smtp_sansio::pool::PoolPolicy;
use smtp_tokio::smtp_sansio::{ClientId, Envelope, Mailbox, Timeouts, TlsMode};
use smtp_tokio::{Endpoint, Mailer, Options};

fn plaintext_server() -> ServerOptions {
    ServerOptions {
        starttls: false,
        auth: None,
        ..ServerOptions::default()
    }
}

fn messages(to: &[&str], count: usize) -> Vec<(Envelope, Bytes)> {
    let from = Mailbox::parse("sender@example.com").expect("valid");
    let to: Vec<Mailbox> = to
        .iter()
        .map(|t| Mailbox::parse(t).expect("valid"))
        .collect();
    (0..count)
        .map(|i| {
            let body = Bytes::from(format!("Subject: {i}\r\n\r\nHello\r\n"));
            (Envelope::new(from.clone(), to.clone()), body)
        })
        .collect()
}

/// The tool's path: the messages through a mailer (no retries of deferred messages, one try
/// to connect), each result in input order.
async fn sent(server: ServerOptions, mode: TlsMode, batch: Vec<(Envelope, Bytes)>) -> Vec<Sent> {
    let server = TestServer::start(server).await.expect("server");
    let endpoint = Endpoint::with_mode("localhost", server.addr().port(), mode);
    let mut options = Options::new(endpoint, ClientId::parse("localhost").expect("valid"));
    options
        .tls
        .add_ca_pem(server.ca_pem().as_bytes())
        .expect("ca");
    options.config.timeouts = Timeouts::uniform(Duration::from_secs(5));
    let mut policy = PoolPolicy::default();
    policy.retry_delays = Vec::new();
    policy.max_connect_failures = 1;
    let mailer = Mailer::with_policy(options, policy);
    let results = mailer.send_all(batch).await;
    mailer.close().await;
    results
}

fn lines(results: &[Sent]) -> Vec<String> {
    let numbered = results.iter().enumerate();
    numbered
        .map(|(i, result)| match result {
            Ok(report) => describe(i + 1, report),
            Err(error) => describe_unsent(i + 1, error),
        })
        .collect()
}

fn plain() -> TlsMode {
    TlsMode::InsecurePlaintext
}

#[tokio::test]
async fn every_recipient_delivered_exits_0() {
    let done = sent(
        plaintext_server(),
        plain(),
        messages(&["ok@example.net"], 2),
    )
    .await;
    let lines = lines(&done);
    assert!(
        lines[0].starts_with("message 1: delivered: 250 Ok "),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("message 2: delivered: 250 Ok "),
        "{lines:?}"
    );
    assert_eq!(exit_status(&done), 0);
}

#[tokio::test]
async fn a_recipient_refused_for_good_exits_69_and_names_it() {
    let to = ["ok@example.net", "reject@example.net"];
    let done = sent(plaintext_server(), plain(), messages(&to, 1)).await;
    let line = &lines(&done)[0];
    assert!(line.starts_with("message 1: delivered: 250 Ok "), "{line}");
    let refusal =
        "; <reject@example.net> bounced (550 5.1.1 Recipient address rejected: User unknown)";
    assert!(line.ends_with(refusal), "{line}");
    assert!(
        !line.contains("Rejected {") && !line.contains("Mailbox("),
        "no Debug output: {line}"
    );
    assert_eq!(exit_status(&done), 69);
}

#[tokio::test]
async fn deferred_recipients_exit_75() {
    let done = sent(
        plaintext_server(),
        plain(),
        messages(&["tempfail@example.net"], 1),
    )
    .await;
    assert_eq!(
        lines(&done),
        [
            "message 1: deferred: no recipient accepted; <tempfail@example.net> deferred \
          (450 4.2.0 Recipient address rejected: try again later)"
        ]
    );
    assert_eq!(exit_status(&done), 75);
}

#[tokio::test]
async fn a_malformed_reply_on_one_connection_is_retried_on_another_and_delivered_once() {
    // With DATA, nothing of a message goes out before its MAIL is answered.
    let faulty = ServerOptions {
        fault: Some(Fault::new(FaultPoint::Mail, FaultAction::Malformed)),
        chunking: false,
        ..plaintext_server()
    };
    let done = sent(faulty, plain(), messages(&["ok@example.net"], 3)).await;
    let lines = lines(&done);
    for (i, line) in lines.iter().enumerate() {
        let start = format!("message {}: delivered: 250 Ok ", i + 1);
        assert!(line.starts_with(&start), "{lines:?}");
    }
    assert_eq!(exit_status(&done), 0);
}

#[tokio::test]
async fn messages_never_sent_exit_by_their_cause() {
    let closing = ServerOptions {
        fault: Some(Fault::new(FaultPoint::Greeting, FaultAction::Reply421).on_connections(9)),
        ..plaintext_server()
    };
    let busy = sent(closing, plain(), messages(&["ok@example.net"], 2)).await;
    let lines = lines(&busy);
    assert!(
        lines[1].starts_with("message 2: not attempted: not sent: server closing: 421"),
        "{lines:?}"
    );
    assert_eq!(
        exit_status(&busy),
        75,
        "421 at the greeting: try again later"
    );
    // A certificate for another name will not fix itself (SECURITY.md G5).
    let other_name = ServerOptions {
        implicit_tls: true,
        certificate_name: "other.example".into(),
        ..plaintext_server()
    };
    let refused = sent(
        other_name,
        TlsMode::Implicit,
        messages(&["ok@example.net"], 1),
    )
    .await;
    assert!(lines_start(
        &refused,
        "message 1: not attempted: not sent: tls handshake failed"
    ));
    assert_eq!(exit_status(&refused), 69);
}

fn lines_start(results: &[Sent], start: &str) -> bool {
    lines(results)
        .first()
        .is_some_and(|line| line.starts_with(start))
}

/// `--user ACCESS_KEY_ID --ses-secret-env VAR`: the SES SMTP password derived from the IAM
/// secret key for the region, never shown.
#[test]
fn ses_secret_env_derives_the_smtp_password_and_never_shows_the_secret() {
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let env = |var: &str| (var == "SES_SECRET").then(|| secret.to_string());
    let args = send_cli::Args {
        user: Some("AKIAEXAMPLE".into()),
        ses_secret_env: Some("SES_SECRET".into()),
        host: Some("email-smtp.eu-west-1.amazonaws.com".into()),
        ..send_cli::Args::default()
    };
    let credentials = send_cli::credentials_from(&args, env)
        .expect("derived")
        .expect("some");
    let expected = smtp_tokio::smtp_sansio::Credentials::password(
        "AKIAEXAMPLE",
        "BMW5RDrXmmVs0lV7GpI4oLkHXpZ4stDsk6q91z1g38Pk",
    )
    .expect("valid");
    assert_eq!(credentials, expected);
    let shown = format!("{credentials:?}");
    assert!(
        !shown.contains(secret) && !shown.contains("BMW5RD"),
        "{shown}"
    );

    let missing = send_cli::Args {
        ses_secret_env: Some("UNSET".into()),
        ..args
    };
    let error = send_cli::credentials_from(&missing, env).expect_err("unset");
    assert_eq!(error.to_string(), "environment variable UNSET is not set");
    let no_region = send_cli::Args {
        user: Some("AKIAEXAMPLE".into()),
        ses_secret_env: Some("SES_SECRET".into()),
        host: Some("smtp.example.com".into()),
        ..send_cli::Args::default()
    };
    let error = send_cli::credentials_from(&no_region, env).expect_err("no region");
    assert!(!error.to_string().contains(secret));
    let refused_region = send_cli::Args {
        ses: Some("af-south-1".into()),
        ..no_region
    };
    let error = send_cli::credentials_from(&refused_region, env).expect_err("no smtp there");
    assert!(error.to_string().contains("af-south-1"), "{error}");
}

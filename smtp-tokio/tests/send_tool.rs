//! The `send` tool's lines and exit status (testing/send_cli.rs, shared by both adapters'
//! examples): one line per message in input order, the verdict in words with the server's
//! reply, and sendmail's exit convention (0, 75 EX_TEMPFAIL, 69 EX_UNAVAILABLE).

#[path = "../../testing/send_cli.rs"]
mod send_cli;

use std::time::Duration;

use bytes::Bytes;
use send_cli::{Args, Worker, describe, exit_status, first_of, share};
use smtp_tokio::server::{Fault, FaultAction, FaultPoint, ServerOptions, TestServer};
use smtp_tokio::smtp_proto::{ClientId, Envelope, Mailbox, Timeouts, TlsMode};
use smtp_tokio::{Endpoint, Options, connect};

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

/// One connection's worth of the tool: connect, send the batch, note the session's error.
async fn worker(server: ServerOptions, mode: TlsMode, batch: Vec<(Envelope, Bytes)>) -> Worker {
    let server = TestServer::start(server).await.expect("server");
    let endpoint = Endpoint::with_mode("localhost", server.addr().port(), mode);
    let mut options = Options::new(endpoint, ClientId::parse("localhost").expect("valid"));
    options
        .tls
        .add_ca_pem(server.ca_pem().as_bytes())
        .expect("ca");
    options.config.timeouts = Timeouts::uniform(Duration::from_secs(5));
    let count = batch.len();
    match connect(options).await {
        Err(error) => Worker::sent(1, count, Err(error), None),
        Ok(mut session) => {
            let sent = session.send_all(batch).await;
            Worker::sent(1, count, sent, session.error())
        }
    }
}

fn lines(worker: &Worker) -> Vec<String> {
    let reports = worker.reports.iter().enumerate();
    reports
        .map(|(i, r)| describe(worker.first + i, r))
        .collect()
}

#[tokio::test]
async fn every_recipient_delivered_exits_0() {
    let done = worker(
        plaintext_server(),
        TlsMode::InsecurePlaintext,
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
    assert_eq!(exit_status(&[done]), 0);
}

#[tokio::test]
async fn a_recipient_refused_for_good_exits_69_and_names_it() {
    let to = ["ok@example.net", "reject@example.net"];
    let done = worker(
        plaintext_server(),
        TlsMode::InsecurePlaintext,
        messages(&to, 1),
    )
    .await;
    let line = &lines(&done)[0];
    assert!(line.starts_with("message 1: delivered: 250 Ok "), "{line}");
    assert!(
        line.ends_with(
            "; <reject@example.net> bounced (550 5.1.1 Recipient address rejected: User unknown)"
        ),
        "{line}"
    );
    assert!(
        !line.contains("Rejected {") && !line.contains("Mailbox("),
        "no Debug output: {line}"
    );
    assert_eq!(exit_status(&[done]), 69);
}

#[tokio::test]
async fn deferred_recipients_exit_75() {
    let done = worker(
        plaintext_server(),
        TlsMode::InsecurePlaintext,
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
    assert_eq!(exit_status(&[done]), 75);
}

#[tokio::test]
async fn a_malformed_reply_defers_and_names_the_cause_and_exits_75() {
    // With DATA, nothing of a message goes out before its MAIL is answered.
    let faulty = ServerOptions {
        fault: Some(Fault::new(FaultPoint::Mail, FaultAction::Malformed)),
        chunking: false,
        ..plaintext_server()
    };
    let done = worker(
        faulty,
        TlsMode::InsecurePlaintext,
        messages(&["ok@example.net"], 2),
    )
    .await;
    let lines = lines(&done);
    assert!(
        lines[0].starts_with("message 1: deferred: protocol error: not an smtp reply"),
        "{lines:?}"
    );
    assert_eq!(
        lines[1],
        "message 2: not attempted: never reached the server"
    );
    assert!(
        done.error.is_some(),
        "the session's cause is kept for its own line"
    );
    // A broken server is no reason to bounce mail that another connection may deliver.
    assert_eq!(exit_status(&[done]), 75);
}

#[tokio::test]
async fn a_session_that_never_started_exits_by_its_cause() {
    let closing = ServerOptions {
        fault: Some(Fault::new(FaultPoint::Greeting, FaultAction::Reply421)),
        ..plaintext_server()
    };
    let busy = worker(
        closing,
        TlsMode::InsecurePlaintext,
        messages(&["ok@example.net"], 2),
    )
    .await;
    assert!(busy.reports.is_empty());
    assert_eq!(
        exit_status(&[busy]),
        75,
        "421 at the greeting: try again later"
    );
    // A certificate for another name will not fix itself (SECURITY.md G5).
    let other_name = ServerOptions {
        implicit_tls: true,
        certificate_name: "other.example".into(),
        ..plaintext_server()
    };
    let refused = worker(
        other_name,
        TlsMode::Implicit,
        messages(&["ok@example.net"], 1),
    )
    .await;
    assert!(refused.reports.is_empty());
    assert_eq!(exit_status(&[refused]), 69);
}

#[test]
fn messages_are_numbered_from_1_in_input_order_across_connections() {
    let args = Args {
        count: 5,
        concurrency: 2,
        ..Args::default()
    };
    let shares: Vec<(usize, usize)> = (0..2)
        .map(|w| (first_of(&args, w), share(&args, w)))
        .collect();
    assert_eq!(shares, [(1, 3), (4, 2)]);
}

//! Tracing: every message has a span holding its part of the redacted transcript, apart from
//! the session's own lines, even with PIPELINING and across reconnects.

use std::time::Duration;

use bytes::Bytes;
use smtp_blocking::smtp_sansio::pool::PoolPolicy;
use smtp_blocking::smtp_sansio::{ClientId, Envelope, Mailbox, Timeouts, TlsMode, Verdict};
use smtp_blocking::{Endpoint, Mailer, Options, connect};
use smtp_test_server::spans::{Capture, Record};
use smtp_test_server::{Limits, ServerOptions, TestServer};
use tracing_subscriber::layer::SubscriberExt;

fn options(port: u16) -> Options {
    let endpoint = Endpoint::with_mode("localhost", port, TlsMode::InsecurePlaintext);
    let mut options = Options::new(endpoint, ClientId::parse("client.example").expect("valid"));
    options.config.timeouts = Timeouts::uniform(Duration::from_secs(5));
    options
}

/// Message `i`, to `rcpt{i}@example.net`.
fn message(i: usize) -> (Envelope, Bytes) {
    let from = Mailbox::parse("sender@example.com").expect("valid");
    let to = Mailbox::parse(&format!("rcpt{i}@example.net")).expect("valid");
    (Envelope::new(from, [to]), format!("body {i}\r\n").into())
}

/// The records of events logged with `text`.
fn with_text<'a>(records: &'a [Record], text: &str) -> Vec<&'a Record> {
    records.iter().filter(|r| r.text == text).collect()
}

/// The id of the innermost span named `name` around `record`.
fn span_id(record: &Record, name: &str) -> u64 {
    record.span(name).map(|s| s.id).expect("inside the span")
}

/// RFC 5321 §3.8 and RFC 2920 §3.1: six pipelined messages through a pool whose server ends
/// each session with `421` after three; each message's lines stay in its own span, and its
/// tries on both connections are told apart.
#[test]
fn each_message_logs_its_transcript_in_its_own_span() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    let server_options = ServerOptions {
        starttls: false,
        auth: None,
        limits: Limits::none().messages_per_session(3),
        ..ServerOptions::default()
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime
        .block_on(TestServer::start(server_options))
        .expect("server");
    let mut policy = PoolPolicy::default();
    policy.max_connections = 1;
    let mailer = Mailer::with_policy(options(server.addr().port()), policy);
    let request = tracing::info_span!("request").entered();
    let results = mailer.send_all((0..6).map(message));
    drop(request);
    for result in &results {
        let verdict = result.as_ref().map(|r| r.verdict);
        assert!(matches!(verdict, Ok(Verdict::Delivered)), "{result:?}");
    }
    mailer.close();

    let records = capture.records();
    let mut message_spans = Vec::new();
    for (i, result) in results.iter().enumerate() {
        let rcpt = with_text(&records, &format!("C: RCPT TO:<rcpt{i}@example.net>"));
        let tries = if i < 3 { 1 } else { 2 };
        assert!(
            !rcpt.is_empty() && rcpt.len() <= tries,
            "message {i}: {rcpt:?}"
        );
        let message = span_id(rcpt[0], "message");
        for line in &rcpt {
            assert_eq!(line.span_names(), ["request", "message", "attempt"]);
            assert_eq!(span_id(line, "message"), message);
        }
        let in_message = |text: &str| -> Vec<&Record> {
            with_text(&records, text)
                .into_iter()
                .filter(|r| r.span("message").is_some_and(|s| s.id == message))
                .collect()
        };
        let tried: Vec<&str> = in_message("tried")
            .iter()
            .map(|r| r.fields.as_str())
            .collect();
        let first_try = match i {
            0..3 => "delivered",
            3 => "deferred",
            _ => "not attempted",
        };
        let mut expected = vec![format!("conn=ConnId(0) verdict={first_try}")];
        if i >= 3 {
            expected.push("conn=ConnId(1) verdict=delivered".to_string());
        }
        assert_eq!(tried, expected, "message {i}");
        if let [first, second] = rcpt.as_slice() {
            // Two tries, on two sessions: two attempt spans (their transactions differ).
            assert_ne!(first.span("attempt"), second.span("attempt"), "message {i}");
        }
        let accepted = result.as_ref().ok().and_then(|r| r.message_id());
        let accepted = format!("S: 250 Ok {}", accepted.expect("a message id"));
        let accepted = in_message(&accepted);
        assert_eq!(accepted.len(), 1, "message {i}: its end-of-data reply");
        assert_eq!(accepted[0].span_names(), ["request", "message", "attempt"]);
        let finished = in_message("finished");
        assert_eq!(finished.len(), 1, "message {i}");
        assert_eq!(finished[0].fields, "verdict=delivered");
        assert_eq!(finished[0].span_names(), ["request", "message"]);
        message_spans.push(message);
    }
    message_spans.sort_unstable();
    message_spans.dedup();
    assert_eq!(message_spans.len(), 6, "a span for each message");

    // The 421 answered message 3's MAIL: it is that message's line.
    let closing = with_text(
        &records,
        "S: 421 4.4.2 Maximum message count per session reached",
    );
    assert_eq!(closing.len(), 1);
    let rcpt3 = with_text(&records, "C: RCPT TO:<rcpt3@example.net>");
    assert_eq!(span_id(closing[0], "message"), span_id(rcpt3[0], "message"));

    // The session's own lines are the connection's.
    for text in [
        "C: EHLO client.example",
        "C: RSET",
        "C: QUIT",
        "session ready",
    ] {
        let lines = with_text(&records, text);
        assert!(!lines.is_empty(), "{text}");
        assert!(
            lines.iter().all(|r| r.span_names() == ["connection"]),
            "{text}: {lines:?}"
        );
    }

    // How the first session ended is the connection's line.
    let failed = with_text(&records, "session failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].span_names(), ["connection"]);
    assert!(failed[0].spans[0].fields.contains("ConnId(0)"));
    assert!(failed[0].fields.contains("421"), "{}", failed[0].fields);
    assert!(spans_close(&capture), "every span closes");

    // A session used directly: each message's span is a child of the caller's.
    let seen = capture.records().len();
    let mut session = connect(options(server.addr().port())).expect("session");
    let caller = tracing::info_span!("caller").entered();
    let reports = session.send_all((10..12).map(message)).expect("sent");
    drop(caller);
    assert!(reports.iter().all(|r| r.verdict == Verdict::Delivered));
    session.quit().expect("quit");
    let records = capture.records().split_off(seen);
    let rcpt10 = with_text(&records, "C: RCPT TO:<rcpt10@example.net>");
    let rcpt11 = with_text(&records, "C: RCPT TO:<rcpt11@example.net>");
    assert_eq!(rcpt10[0].span_names(), ["caller", "message"]);
    assert_eq!(rcpt11[0].span_names(), ["caller", "message"]);
    assert_ne!(span_id(rcpt10[0], "message"), span_id(rcpt11[0], "message"));
    let settled: Vec<u64> = records
        .iter()
        .filter(|r| r.text.ends_with(" settled"))
        .map(|r| span_id(r, "message"))
        .collect();
    assert_eq!(
        settled,
        [span_id(rcpt10[0], "message"), span_id(rcpt11[0], "message")]
    );
    assert!(spans_close(&capture), "every span closes");
}

/// Whether every message, attempt and connection span closes, within a few seconds (a
/// connection's task or thread may still be ending).
fn spans_close(capture: &Capture) -> bool {
    (0..100).any(|_| {
        let open = ["message", "attempt", "connection"].map(|name| capture.open_spans(name));
        let closed = open == [0; 3];
        if !closed {
            std::thread::sleep(Duration::from_millis(20));
        }
        closed
    })
}

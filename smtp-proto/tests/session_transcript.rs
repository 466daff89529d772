//! The redacted transcript (`Config::transcript`): every line names the message it belongs to,
//! so a driver can log each message's conversation on its own, even when pipelined.

mod support;

use smtp_sansio::{TlsMode, TranscriptLine};
use support::session::{Seen, Step::*, config, one_message, play};

/// RFC 2920 §3.1: with PIPELINING two messages' commands and replies interleave with each
/// other's; each line still names its own message, and the session's own lines none.
#[test]
fn rfc2920_3_1_pipelined_lines_name_their_message() {
    let mut cfg = config(TlsMode::InsecurePlaintext);
    cfg.transcript = true;
    let run = play(
        &cfg,
        |c| {
            one_message(c);
            one_message(c);
            c.quit().expect("queued");
        },
        &[
            Server(b"220 mx\r\n"),
            Server(b"250-mx\r\n250 PIPELINING\r\n"),
            Server(b"250 ok\r\n250 ok\r\n354 go\r\n"),
            Server(b"250 queued one\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
            Server(b"250 queued two\r\n221 bye\r\n"),
        ],
    );
    let ids: Vec<_> = run.reports().iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 2);
    let lines: Vec<(String, Option<usize>)> = run
        .seen
        .iter()
        .filter_map(|s| match s {
            Seen::Transcript(line, transaction) => {
                let text = match line {
                    TranscriptLine::Sent(l) => format!("C: {l}"),
                    TranscriptLine::Received(l) => format!("S: {l}"),
                };
                let message =
                    transaction.map(|t| ids.iter().position(|&id| id == t).expect("known"));
                Some((text, message))
            }
            _ => None,
        })
        .collect();
    let (session, one, two) = (None, Some(0), Some(1));
    let expected = [
        ("S: 220 mx", session),
        ("C: EHLO client.example", session),
        ("S: 250 mx / PIPELINING", session),
        ("C: MAIL FROM:<a@example.com>", one),
        ("C: RCPT TO:<b@example.net>", one),
        ("C: DATA", one),
        ("S: 250 ok", one),
        ("S: 250 ok", one),
        ("S: 354 go", one),
        ("C: <24 octets of message data>", one),
        ("C: MAIL FROM:<a@example.com>", two),
        ("C: RCPT TO:<b@example.net>", two),
        ("C: DATA", two),
        ("S: 250 queued one", one),
        ("S: 250 ok", two),
        ("S: 250 ok", two),
        ("S: 354 go", two),
        ("C: <24 octets of message data>", two),
        ("C: QUIT", session),
        ("S: 250 queued two", two),
        ("S: 221 bye", session),
    ];
    let expected: Vec<(String, Option<usize>)> =
        expected.iter().map(|&(l, m)| (l.to_string(), m)).collect();
    assert_eq!(lines, expected);
}

/// RFC 3030 §2: BDAT chunks and their replies belong to their message too.
#[test]
fn rfc3030_2_bdat_lines_name_their_message() {
    let mut cfg = config(TlsMode::InsecurePlaintext);
    cfg.transcript = true;
    let run = play(
        &cfg,
        one_message,
        &[
            Server(b"220 mx\r\n"),
            Server(b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n"),
            Server(b"250 ok\r\n250 ok\r\n250 queued\r\n"),
        ],
    );
    let id = run.report().id;
    let of_message: Vec<String> = run
        .seen
        .iter()
        .filter_map(|s| match s {
            Seen::Transcript(TranscriptLine::Sent(l), Some(t)) if *t == id => {
                Some(format!("C: {l}"))
            }
            Seen::Transcript(TranscriptLine::Received(l), Some(t)) if *t == id => {
                Some(format!("S: {l}"))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        of_message,
        [
            "C: MAIL FROM:<a@example.com>",
            "C: RCPT TO:<b@example.net>",
            "C: BDAT 21 LAST",
            "C: <21 octets of message data>",
            "S: 250 ok",
            "S: 250 ok",
            "S: 250 queued",
        ]
    );
}

/// RFC 5321 §4.2: a reply's line is an event as soon as the reply is read; `next_event` takes it,
/// and the line of the command it calls for, without handing that command out.
#[test]
fn rfc5321_4_2_next_event_takes_events_and_nothing_else() {
    use smtp_sansio::{Action, Client, Event, Instant};
    let mut cfg = config(TlsMode::InsecurePlaintext);
    cfg.transcript = true;
    let mut client = Client::new(Instant::ZERO, cfg);
    client.handle_input(Instant::ZERO, b"220 mx\r\n");
    let greeting = TranscriptLine::Received("220 mx".into());
    assert!(matches!(
        client.next_event(),
        Some(Event::Transcript { line, transaction: None, .. }) if line == greeting
    ));
    // The greeting queued EHLO at once: its line is an event, its octets wait for next_action.
    let ehlo = TranscriptLine::Sent("EHLO client.example".into());
    assert!(matches!(
        client.next_event(),
        Some(Event::Transcript { line, transaction: None, .. }) if line == ehlo
    ));
    assert!(client.next_event().is_none());
    let Ok(Action::Transmit { data, .. }) = client.next_action(Instant::ZERO) else {
        panic!("EHLO is still to be sent");
    };
    assert_eq!(data.into_bytes().as_ref(), b"EHLO client.example\r\n");
}

/// RFC 2920 §3.1 (SECURITY.md D10): DATA accepted after every recipient was refused gets only
/// the dot; the transcript shows it, so the message's log has no gap.
#[test]
fn rfc2920_3_1_the_lone_dot_after_refused_recipients_is_in_the_transcript() {
    let mut cfg = config(TlsMode::InsecurePlaintext);
    cfg.transcript = true;
    let run = play(
        &cfg,
        one_message,
        &[
            Server(b"220 mx\r\n"),
            Server(b"250-mx\r\n250 PIPELINING\r\n"),
            Server(b"250 ok\r\n550 no\r\n354 go\r\n"),
            Server(b"554 no valid recipients\r\n"),
        ],
    );
    let id = run.report().id;
    let sent: Vec<&str> = run
        .seen
        .iter()
        .filter_map(|s| match s {
            Seen::Transcript(TranscriptLine::Sent(l), Some(t)) if *t == id => Some(l.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        [
            "MAIL FROM:<a@example.com>",
            "RCPT TO:<b@example.net>",
            "DATA",
            "."
        ]
    );
}

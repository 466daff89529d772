//! Runs a client against the model server and checks every message's report against what the
//! server really read and said. Shared by the property test and the `verdicts` fuzz target
//! (included with `#[path]`).

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::time::Duration;

use smtp_sansio::{
    Action, Client, ClientId, Config, Disconnect, Envelope, Event, Instant, Mailbox, Outcome,
    TlsMode, TransactionId, TransactionReport, TranscriptLine, Verdict,
};

use super::model_server::{End, ModelServer, Seen};
use super::reference::reference_canonical;

/// The extensions the server may offer, beyond 8BITMIME. With SIZE, bodies over 60 octets are
/// refused by the client itself, between messages that go out.
pub const CAPS: [&str; 6] = [
    "",
    "250-PIPELINING\r\n",
    "250-PIPELINING\r\n250-CHUNKING\r\n",
    "250-CHUNKING\r\n",
    "250-PIPELINING\r\n250-SIZE 60\r\n",
    "250-PIPELINING\r\n250-CHUNKING\r\n250-SIZE 60\r\n",
];

/// One scenario: what the server offers, the messages (recipient count and body), the
/// server's decisions, and how the client ends.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub caps: usize,
    pub messages: Vec<(usize, Vec<u8>)>,
    pub choices: Vec<u8>,
    pub quit: bool,
    /// Feed replies in two pieces, cut here, instead of whole.
    pub cut: Option<usize>,
    /// The transmission (counting from 0) the driver fails to write before its deadline.
    pub stall: Option<usize>,
}

/// Plays the scenario; panics with a description if any report contradicts the server.
pub fn check(scenario: &Scenario) {
    let mut config = Config::new(
        ClientId::parse("client.example").expect("valid"),
        TlsMode::InsecurePlaintext,
    );
    config.bdat_chunk_size = 16;
    // The transcript counts the replies the client read, to tell them from those it never did.
    config.transcript = true;
    let mut client = Client::new(Instant::ZERO, config);
    let mut queued: Vec<(TransactionId, usize, Vec<u8>)> = Vec::new();
    for (index, (rcpts, body)) in scenario.messages.iter().enumerate() {
        let from = Mailbox::parse(&format!("s{index}@example.com")).expect("valid");
        let to = (0..*rcpts).map(|r| Mailbox::parse(&format!("r{r}@example.net")).expect("valid"));
        if let Ok(id) = client.send(Envelope::new(from, to), body.clone().into()) {
            queued.push((id, index, body.clone()));
        }
    }
    if scenario.quit {
        client.quit().expect("queued");
    }
    let caps = CAPS[scenario.caps % CAPS.len()];
    let mut server = ModelServer::new(caps, &scenario.choices);
    let mut reports = BTreeMap::new();
    let mut read = 0;
    let mut transmissions = 0;
    let mut now = Instant::ZERO;
    for _ in 0..100_000 {
        let action = match client.next_action(now) {
            Ok(action) => action,
            Err(_) => break,
        };
        match action {
            Action::Transmit { deadline, .. } if scenario.stall == Some(transmissions) => {
                // Nothing of it reached the server; the write deadline passes.
                transmissions += 1;
                now = deadline.saturating_add(Duration::from_secs(1));
                client.handle_timeout(now);
            }
            Action::Transmit { data, .. } => {
                transmissions += 1;
                server.receive(&data.into_bytes());
            }
            Action::Receive { deadline } => {
                let out = server.take_output();
                if !out.is_empty() {
                    let cut = scenario.cut.unwrap_or(out.len()).min(out.len());
                    client.handle_input(now, &out[..cut]);
                    client.handle_input(now, &out[cut..]);
                    continue;
                }
                match server.ended {
                    Some(End::Reset) => client.handle_connection_lost(now, Disconnect::Reset),
                    Some(End::Eof | End::Malformed) => {
                        client.handle_connection_lost(now, Disconnect::Closed)
                    }
                    Some(End::Silent) | None => {
                        now = deadline.saturating_add(Duration::from_secs(1));
                        client.handle_timeout(now);
                    }
                }
            }
            Action::Event(Event::Settled(id)) => settle(&mut client, &mut reports, id),
            Action::Event(Event::Transcript {
                line: TranscriptLine::Received(_),
                ..
            }) => read += 1,
            Action::Event(_) => {}
            _ => break,
        }
    }
    // Whatever is still held settles when the connection goes.
    client.handle_connection_lost(now, Disconnect::Reset);
    while let Ok(Action::Event(event)) = client.next_action(now) {
        if let Event::Settled(id) = event {
            settle(&mut client, &mut reports, id);
        }
    }
    assert!(
        !server.nested_mail,
        "MAIL inside an open transaction (RFC 5321 §4.1.1.5)"
    );
    assert_eq!(reports.len(), queued.len(), "one report per queued message");
    for (id, index, body) in &queued {
        let report = reports.get(id).expect("every queued message is reported");
        let seen = server.messages.get(index).cloned().unwrap_or_default();
        check_report(report, &seen, read, body);
    }
}

fn settle(
    client: &mut Client,
    reports: &mut BTreeMap<TransactionId, TransactionReport>,
    id: TransactionId,
) {
    let report = client.take_report(id).expect("a settled report");
    assert!(reports.insert(id, report).is_none(), "settled twice");
}

/// One message's report against what the server read and said of it, of which the client read
/// the replies before place `read`.
fn check_report(report: &TransactionReport, all: &Seen, read: usize, body: &[u8]) {
    let context = format!("{report:?}\nserver saw {all:?}\nclient read {read} replies");
    let seen = &all.as_read(read);
    let local = matches!(
        report.outcome,
        Outcome::InvalidForServer(_) | Outcome::InvalidBody(_) | Outcome::TooLarge { .. }
    );
    // What decided the message, as the client can know it: a refused MAIL explains what its
    // RCPTs got; an accepted recipient shares the fate of the data: a refused chunk (RFC 3030
    // §2: later chunks then fail too) or DATA, or the reply to the end of the data.
    let of = |code: u16| match code {
        200..=299 => Verdict::Delivered,
        500.. => Verdict::Bounced,
        _ => Verdict::Deferred,
    };
    let mail = seen.mail.filter(|&c| c >= 300);
    let data = seen
        .chunk_refused
        .or(seen.data.filter(|&c| c != 354))
        .or(seen.end);
    for (i, recipient) in report.recipients.iter().enumerate() {
        let expected = match (mail, seen.rcpts.get(i)) {
            _ if local => Some(Verdict::Bounced),
            (Some(code), _) => Some(of(code)),
            (None, Some(&code)) if code >= 300 => Some(of(code)),
            (None, Some(_)) => data.map(of),
            (None, None) => None,
        };
        if let Some(expected) = expected {
            assert_eq!(recipient.verdict, expected, "recipient {i}: {context}");
        }
        // RFC 5321 §6.1: delivered only on a 2yz to the end of the data, never after a
        // connection lost before it.
        if recipient.verdict == Verdict::Delivered {
            assert!(seen.rcpts.get(i).is_some_and(|&c| c < 300), "{context}");
            assert!(
                seen.end.is_some_and(|c| c < 300),
                "delivered without 2yz: {context}"
            );
        }
        if recipient.verdict == Verdict::Unknown {
            assert_eq!(seen.end, None, "unknown after a reply: {context}");
        }
    }
    let verdicts: Vec<Verdict> = report.recipients.iter().map(|r| r.verdict).collect();
    match report.verdict {
        Verdict::Delivered => {
            assert!(verdicts.contains(&Verdict::Delivered), "{context}");
            assert_eq!(seen.body, reference_canonical(body), "body: {context}");
        }
        Verdict::Bounced => assert!(
            local || (seen.any_permanent() && verdicts.iter().all(|v| *v == Verdict::Bounced)),
            "bounced without a 5yz: {context}"
        ),
        // Deferred only for a message someone may still get.
        Verdict::Deferred => assert!(
            verdicts.contains(&Verdict::Deferred) || verdicts.contains(&Verdict::NotAttempted),
            "deferred a permanent refusal: {context}"
        ),
        Verdict::Unknown => assert_eq!(seen.end, None, "unknown after a reply: {context}"),
        // Safe to send again at once: the server never read its end of data, so cannot have
        // taken it. (It may have answered commands whose replies the client never read.)
        Verdict::NotAttempted => {
            assert!(!all.end_read, "not attempted but complete: {context}");
            assert_eq!(all.end, None, "not attempted but answered: {context}");
        }
        _ => panic!("unknown verdict: {context}"),
    }
}

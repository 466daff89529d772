//! SECURITY.md group F (timeouts, faults, liveness) and the session-level cases of groups B,
//! C and D, through the public API.

mod support;

use core::time::Duration;

use smtp_sansio::{
    Action, Client, Disconnect, Error, Instant, Outcome, ProtocolError, Stage, SubmitError,
    TlsMode, UsageError, Verdict,
};
use support::session::{Step::*, TLS_MODES, config, envelope, established, one_message, play};

const PIPELINED: &[u8] = b"250-mx\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n";
const PLAIN: &[u8] = b"250 mx\r\n";

fn plain() -> smtp_sansio::Config {
    config(TlsMode::InsecurePlaintext)
}

#[test]
fn f1_a_deadline_per_command_from_rfc5321() {
    let mut client = Client::new(Instant::ZERO, plain());
    one_message(&mut client);
    let at = |s: u64| Instant::from_duration(Duration::from_secs(s));
    let receive_deadline = |client: &mut Client, now| loop {
        match client.next_action(now).expect("no error") {
            Action::Receive { deadline } => return deadline,
            Action::Transmit { .. } | Action::Event(_) => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(receive_deadline(&mut client, at(0)), at(300), "greeting");
    client.handle_input(at(10), b"220 mx\r\n");
    assert_eq!(receive_deadline(&mut client, at(10)), at(310), "ehlo");
    client.handle_input(at(20), PLAIN);
    assert_eq!(receive_deadline(&mut client, at(20)), at(320), "mail");
    client.handle_input(at(30), b"250 ok\r\n");
    assert_eq!(receive_deadline(&mut client, at(30)), at(330), "rcpt");
    client.handle_input(at(40), b"250 ok\r\n");
    assert_eq!(
        receive_deadline(&mut client, at(40)),
        at(160),
        "data initiation"
    );
    client.handle_input(at(50), b"354 go\r\n");
    assert_eq!(
        receive_deadline(&mut client, at(50)),
        at(650),
        "end of data"
    );
    // Time given backwards is ignored: deadlines never move back.
    assert_eq!(receive_deadline(&mut client, at(1)), at(650));
}

#[test]
fn f2_slow_drip_replies_still_time_out() {
    let mut steps = Vec::new();
    for byte in b"220 mx.example ESMTP\r\n".chunks(1).take(21) {
        steps.push(Server(byte));
        steps.push(Wait(10));
    }
    steps.extend([Wait(100), Client(b"")]);
    let run = play(&plain(), one_message, &steps);
    assert_eq!(run.error, Some(Error::Timeout(Stage::Greeting)));
}

#[test]
fn f3_a_timeout_poisons_the_session() {
    let mut client = Client::new(Instant::ZERO, plain());
    let late = Instant::from_duration(Duration::from_secs(301));
    client.handle_timeout(Instant::from_duration(Duration::from_secs(299)));
    assert!(client.error().is_none(), "a spurious timeout is a no-op");
    client.handle_timeout(late);
    assert_eq!(
        client.next_action(late).err(),
        Some(Error::Timeout(Stage::Greeting))
    );
    client.handle_input(late, b"220 mx\r\n");
    assert_eq!(
        client.next_action(late).err(),
        Some(Error::Timeout(Stage::Greeting))
    );
    // Errors are sticky: new work gets the same error, not a vague "closed".
    assert_eq!(
        client.send(envelope(&["b"]), "x".into()).err(),
        Some(SubmitError::Failed(Error::Timeout(Stage::Greeting)))
    );
    assert_eq!(
        client.quit().err(),
        Some(SubmitError::Failed(Error::Timeout(Stage::Greeting)))
    );
}

#[test]
fn f4_timeout_after_the_final_dot_is_an_unknown_outcome() {
    let mut steps = established(TlsMode::InsecurePlaintext, PIPELINED);
    steps.extend([
        Skip,
        Server(b"250 ok\r\n250 ok\r\n354 go\r\n"),
        Skip,
        Wait(600),
        Client(b""),
    ]);
    let run = play(&plain(), one_message, &steps);
    assert!(matches!(
        run.report().outcome,
        Outcome::Unknown(Error::Timeout(Stage::DataEnd))
    ));
}

#[test]
fn f5_rfc5321_3_8_eof_mid_transaction_is_deferred() {
    let mut steps = established(TlsMode::InsecurePlaintext, PIPELINED);
    steps.extend([Server(b"250 ok\r\n"), Eof]);
    let run = play(
        &plain(),
        |c| {
            c.send(envelope(&["b", "c"]), "x\r\n".into())
                .expect("queued");
        },
        &steps,
    );
    let report = run.report();
    let lost = Error::ConnectionLost {
        stage: Stage::Rcpt,
        cause: Disconnect::Closed,
    };
    assert_eq!(report.outcome, Outcome::Interrupted(lost));
    // RFC 5321 §3.8: as if 451 had come; no reply is made up for the recipients.
    assert_eq!(report.verdict, Verdict::Deferred);
    for recipient in &report.recipients {
        assert_eq!(recipient.reply, None);
        assert_eq!(recipient.verdict, Verdict::Deferred);
    }
}

#[test]
fn f6_g10_421_at_every_step_stops_without_rset() {
    let steps_for = |mode: TlsMode, before: &'static [u8]| {
        let mut steps = established(mode, PIPELINED);
        steps.extend([
            Skip,
            Server(before),
            Skip,
            Server(b"421 4.3.2 bye\r\n"),
            Client(b""),
        ]);
        steps
    };
    for mode in [TlsMode::InsecurePlaintext, TLS_MODES[0], TLS_MODES[1]] {
        // 421 to MAIL, RCPT, DATA and the end of data.
        for before in [
            &b""[..],
            b"250 ok\r\n",
            b"250 ok\r\n250 ok\r\n",
            b"250 ok\r\n250 ok\r\n354 go\r\n",
        ] {
            let run = play(&config(mode), one_message, &steps_for(mode, before));
            let error = run.error.clone().expect("fatal");
            assert!(
                matches!(error, Error::ServiceClosing(_)) && error.is_transient(),
                "{mode:?}"
            );
            assert!(!run.report().is_delivered());
        }
    }
}

#[test]
fn f7_unsolicited_421_while_idle() {
    let mut steps = established(TlsMode::InsecurePlaintext, PIPELINED);
    steps.extend([Server(b"421 4.4.2 idle timeout\r\n"), Client(b"")]);
    let run = play(&plain(), |_| {}, &steps);
    assert!(matches!(run.error, Some(Error::ServiceClosing(_))));
}

#[test]
fn f8_any_answer_to_quit_closes() {
    for ending in [
        Server(b"221 bye\r\n"),
        Server(b"421 bye\r\n"),
        Server(b"500 what\r\n"),
        Eof,
        Wait(300),
    ] {
        let mut steps = established(TlsMode::InsecurePlaintext, PLAIN);
        steps.extend([Client(b"QUIT\r\n"), ending]);
        let run = play(&plain(), |c| c.quit().expect("queued"), &steps);
        assert!(run.closed && run.error.is_none(), "{ending:?}");
    }
}

#[test]
fn f9_failed_rset_ends_the_session() {
    let mut steps = established(TlsMode::InsecurePlaintext, PLAIN);
    steps.extend([
        Client(b"RSET\r\n"),
        Server(b"500 no\r\n"),
        Client(b"QUIT\r\n"),
        Server(b"221 bye\r\n"),
    ]);
    let run = play(
        &plain(),
        |c| {
            c.reset().expect("queued");
        },
        &steps,
    );
    assert!(matches!(
        run.error,
        Some(Error::Rejected {
            stage: Stage::Rset,
            ..
        })
    ));
}

#[test]
fn f10_b14_replies_are_counted() {
    let base = |replies: &'static [u8]| {
        let mut steps = established(TlsMode::InsecurePlaintext, PIPELINED);
        steps.extend([Skip, Server(replies)]);
        steps
    };
    let three = |c: &mut Client| {
        c.send(envelope(&["b", "c", "d"]), "x\r\n".into())
            .expect("queued");
    };
    let multiline = base(b"250 ok\r\n250-ok\r\n250 still ok\r\n250 ok\r\n550 no\r\n354 go\r\n");
    let run = play(&plain(), three, &multiline);
    assert_eq!(run.unchecked, b"x\r\n.\r\n");
    let mut missing = base(b"250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n");
    missing.push(Eof);
    assert_eq!(
        play(&plain(), three, &missing).error,
        Some(Error::ConnectionLost {
            stage: Stage::Data,
            cause: Disconnect::Closed
        })
    );
    let mut surplus = base(b"250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
    surplus.extend([
        Client(b"x\r\n.\r\n"),
        Server(b"250 queued\r\n250 extra\r\n"),
    ]);
    let run = play(&plain(), three, &surplus);
    assert!(matches!(
        run.error,
        Some(Error::Protocol(ProtocolError::UnexpectedReply(_)))
    ));
    // A reply in the same read as the greeting answers an EHLO not yet sent (B14). Fed byte by
    // byte, the EHLO goes out first and the same bytes are a genuine reply.
    let early_steps = [Server(b"220 mx\r\n250 OK\r\n"), Client(b"")];
    let early = support::session::play_with(
        plain(),
        &one_message,
        &early_steps,
        support::session::Feed::Whole,
    );
    assert!(matches!(
        early.error,
        Some(Error::Protocol(ProtocolError::UnexpectedReply(_)))
    ));
}

#[test]
fn f11_replies_are_accepted_while_output_is_pending() {
    // All 1,000 RCPTs in one group, past the default bound on unanswered commands.
    let mut config = plain();
    config.max_unanswered_commands = usize::MAX;
    let mut client = Client::new(Instant::ZERO, config);
    let now = Instant::ZERO;
    let recipients: Vec<String> = (0..1000).map(|i| format!("r{i}")).collect();
    let names: Vec<&str> = recipients.iter().map(String::as_str).collect();
    client
        .send(envelope(&names), "x\r\n".into())
        .expect("queued");
    client.handle_input(now, b"220 mx\r\n");
    while !matches!(client.next_action(now), Ok(Action::Receive { .. })) {}
    client.handle_input(now, PIPELINED);
    let mut pending = None;
    while let Ok(action) = client.next_action(now) {
        match action {
            Action::Transmit { data, .. } => pending = Some(data),
            Action::Receive { .. } => break,
            _ => {}
        }
    }
    let pending = pending.expect("one write holds the whole group");
    assert!(pending.len() > 20_000);
    // The server answers before it has read everything; the driver is still writing.
    client.handle_input(now, &b"250 ok\r\n".repeat(500));
    assert!(client.error().is_none());
    client.handle_input(
        now,
        &[b"250 ok\r\n".repeat(501), b"354 go\r\n".to_vec()].concat(),
    );
    assert!(matches!(
        client.next_action(now),
        Ok(Action::Transmit { .. })
    ));
}

#[test]
fn b7_reply_classes_that_do_not_fit() {
    let mut steps = established(TlsMode::InsecurePlaintext, PLAIN);
    steps.extend([Skip, Server(b"354 go\r\n"), Client(b"")]);
    let run = play(&plain(), one_message, &steps);
    assert!(matches!(
        run.error,
        Some(Error::Protocol(ProtocolError::UnexpectedCode {
            stage: Stage::Mail,
            ..
        }))
    ));
    let mut steps = established(TlsMode::InsecurePlaintext, PIPELINED);
    steps.extend([Skip, Server(b"250 ok\r\n250 ok\r\n250 ok\r\n"), Client(b"")]);
    let run = play(&plain(), one_message, &steps);
    assert!(matches!(
        run.error,
        Some(Error::Protocol(ProtocolError::UnexpectedCode {
            stage: Stage::Data,
            ..
        }))
    ));
    assert!(!run.report().is_delivered(), "no body after 250 to DATA");
    let run = play(
        &plain(),
        one_message,
        &[
            Server(b"220 mx\r\n"),
            Server(b"334 VXNlcg==\r\n"),
            Client(b"EHLO client.example\r\n"),
        ],
    );
    assert!(matches!(
        run.error,
        Some(Error::Protocol(ProtocolError::UnexpectedCode {
            stage: Stage::Ehlo,
            ..
        }))
    ));
}

#[test]
fn c6_c8_d8_refused_locally_before_mail() {
    let mut steps = established(TlsMode::InsecurePlaintext, b"250-mx\r\n250 PIPELINING\r\n");
    steps.extend([Client(b"")]);
    let run = play(
        &plain(),
        |c| {
            let utf8 = smtp_sansio::Mailbox::parse("b\u{f6}b@example.net").expect("valid");
            let env = smtp_sansio::Envelope::new(
                smtp_sansio::Mailbox::parse("a@example.com").expect("valid"),
                [utf8],
            );
            c.send(env, "x\r\n".into()).expect("queued");
            c.send(envelope(&["b"]), "Gr\u{fc}\u{df}e\r\n".into())
                .expect("queued");
        },
        &steps,
    );
    let outcomes: Vec<_> = run.reports().iter().map(|r| r.outcome.clone()).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::InvalidForServer(smtp_sansio::InvalidInput::NotAdvertised {
                extension: "SMTPUTF8"
            }),
            Outcome::InvalidForServer(smtp_sansio::InvalidInput::NotAdvertised {
                extension: "8BITMIME"
            }),
        ]
    );
}

#[test]
fn rfc1870_too_large_is_refused_locally() {
    let mut steps = established(TlsMode::InsecurePlaintext, PIPELINED);
    steps.push(Client(b""));
    let run = play(
        &plain(),
        |c| {
            c.send(
                envelope(&["b"]),
                b"0123456789abcdefghij\r\n".repeat(100).into(),
            )
            .expect("queued");
        },
        &steps,
    );
    assert_eq!(run.report().outcome, Outcome::TooLarge { limit: 1000 });
}

#[test]
fn d9_refused_data_sends_no_body_then_rset() {
    let mut steps = established(TlsMode::InsecurePlaintext, PIPELINED);
    steps.extend([
        Skip,
        Server(b"250 ok\r\n250 ok\r\n554 5.5.1 no valid recipients\r\n"),
        Client(b"RSET\r\n"),
        Server(b"250 ok\r\n"),
    ]);
    let run = play(&plain(), one_message, &steps);
    assert!(matches!(
        &run.report().outcome,
        Outcome::Rejected {
            stage: Stage::Data,
            ..
        }
    ));
}

#[test]
fn d10_every_recipient_refused_but_data_accepted_sends_a_lone_dot() {
    let mut steps = established(TlsMode::InsecurePlaintext, PIPELINED);
    steps.extend([
        Skip,
        Server(b"250 ok\r\n550 no\r\n550 no\r\n354 go\r\n"),
        Client(b".\r\n"),
        Server(b"554 no valid recipients\r\n"),
        Client(b""),
    ]);
    let run = play(
        &plain(),
        |c| {
            c.send(envelope(&["b", "c"]), "secret body\r\n".into())
                .expect("queued");
        },
        &steps,
    );
    assert_eq!(run.report().outcome, Outcome::NoRecipientAccepted);
}

#[test]
fn d12_end_of_data_replies() {
    for (reply, accepted, transient) in [
        (
            &b"250-2.0.0 Ok\r\n250 2.0.0 queued as X\r\n"[..],
            true,
            false,
        ),
        (b"451 4.3.0 try later\r\n", false, true),
        (b"554 5.7.1 rejected\r\n", false, false),
        (
            b"454 Throttling failure: Maximum sending rate exceeded.\r\n",
            false,
            true,
        ),
    ] {
        let mut steps = established(TlsMode::InsecurePlaintext, PIPELINED);
        steps.extend([Server(b"250 ok\r\n250 ok\r\n354 go\r\n"), Server(reply)]);
        let run = play(&plain(), one_message, &steps);
        let report = run.report();
        assert_eq!(report.is_delivered(), accepted);
        if let Outcome::Rejected { stage, reply } = &report.outcome {
            assert_eq!((*stage, reply.is_transient()), (Stage::DataEnd, transient));
        }
    }
}

#[test]
fn d14_error_part_way_through_bdat() {
    let mut cfg = plain();
    cfg.bdat_chunk_size = 4;
    let mut steps = established(TlsMode::InsecurePlaintext, b"250-mx\r\n250 CHUNKING\r\n");
    steps.extend([
        Client(b"MAIL FROM:<a@example.com>\r\n"),
        Server(b"250 ok\r\n"),
        Client(b"RCPT TO:<b@example.net>\r\n"),
        Server(b"250 ok\r\n"),
        Client(b"BDAT 4\r\nabcd"),
        Server(b"552 5.3.4 too big\r\n"),
        Client(b"RSET\r\n"),
        Server(b"250 ok\r\n"),
    ]);
    let run = play(
        &cfg,
        |c| {
            c.send(envelope(&["b"]), "abcdefghij".into())
                .expect("queued");
        },
        &steps,
    );
    assert!(matches!(
        &run.report().outcome,
        Outcome::Rejected {
            stage: Stage::Bdat,
            ..
        }
    ));
}

#[test]
fn c13_caller_mistakes_leave_the_session_intact() {
    let mut client = Client::new(Instant::ZERO, plain());
    assert_eq!(
        client.send(envelope(&[]), "x".into()).err(),
        Some(SubmitError::Usage(UsageError::NoRecipients))
    );
    let id = client.send(envelope(&["b"]), "x".into()).expect("queued");
    assert_eq!(
        client.push_body(id, "y".into()).err(),
        Some(SubmitError::Usage(UsageError::NotStreaming))
    );
    let err = client.handle_tls_established(Instant::ZERO, smtp_sansio::TlsInfo::new(true));
    assert_eq!(
        err.err(),
        Some(UsageError::UnexpectedDriverEvent("tls handshake"))
    );
    let bad = client.send(envelope(&["b"]), "a\0b".into()).err();
    assert_eq!(
        bad,
        Some(SubmitError::Usage(UsageError::Data(
            smtp_sansio::DataError::Nul
        )))
    );
    assert!(client.error().is_none());
    assert!(matches!(
        client.next_action(Instant::ZERO),
        Ok(Action::Receive { .. })
    ));
}

#[test]
fn streamed_bodies_with_backpressure() {
    let mut cfg = plain();
    cfg.max_body_buffer = 8;
    let mut client = Client::new(Instant::ZERO, cfg);
    let now = Instant::ZERO;
    let id = client
        .send_streamed(envelope(&["b"]), smtp_sansio::StreamedBody::default())
        .expect("queued");
    client
        .push_body(id, "line one\r\n".into())
        .expect("first piece always fits");
    assert_eq!(
        client.push_body(id, "x".into()).err(),
        Some(SubmitError::Usage(UsageError::BodyBufferFull))
    );
    let mut sent = Vec::new();
    let mut feed = [
        &b"220 mx\r\n"[..],
        b"250-mx\r\n250 PIPELINING\r\n",
        b"250 ok\r\n250 ok\r\n354 go\r\n",
    ]
    .into_iter();
    loop {
        match client.next_action(now).expect("no error") {
            Action::Transmit { data, .. } => sent.extend_from_slice(&data.into_bytes()),
            Action::Receive { .. } => match feed.next() {
                Some(bytes) => client.handle_input(now, bytes),
                None => break,
            },
            // Waiting for more body: the application's turn.
            Action::Idle => break,
            _ => {}
        }
    }
    assert_eq!(client.body_room(id), 8, "the buffered piece went out");
    client.push_body(id, ".dot\n".into()).expect("room");
    client.finish_body(id).expect("open");
    while let Ok(Action::Transmit { data, .. }) = client.next_action(now) {
        sent.extend_from_slice(&data.into_bytes());
    }
    assert!(
        sent.ends_with(b"DATA\r\nline one\r\n..dot\r\n.\r\n"),
        "{}",
        String::from_utf8_lossy(&sent)
    );
}

#[test]
fn rcptmax_limits_recipients_and_reports_the_rest_unsent() {
    let mut steps = established(
        TlsMode::InsecurePlaintext,
        b"250-mx\r\n250-PIPELINING\r\n250 LIMITS RCPTMAX=2\r\n",
    );
    steps.extend([
        Client(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n"),
        Server(b"250 ok\r\n550 no\r\n550 no\r\n354 go\r\n"),
        Client(b".\r\n"),
        Server(b"554 no valid recipients\r\n"),
    ]);
    let run = play(
        &plain(),
        |c| {
            c.send(envelope(&["b", "c", "d"]), "x\r\n".into())
                .expect("queued");
        },
        &steps,
    );
    let report = run.report();
    assert_eq!(report.outcome, Outcome::NoRecipientAccepted);
    assert!(
        report.recipients[2].reply.is_none(),
        "over RCPTMAX: not sent"
    );
}

#[test]
fn lmtp_lone_dot_waits_for_no_reply() {
    let mut cfg = plain();
    cfg.lmtp = true;
    let mut steps = established(
        TlsMode::InsecurePlaintext,
        b"250-lmtp\r\n250 PIPELINING\r\n",
    );
    steps.extend([
        Skip,
        Server(b"250 ok\r\n550 no\r\n354 go\r\n"),
        Client(b".\r\n"),
    ]);
    let run = play(&cfg, one_message, &steps);
    assert_eq!(run.report().outcome, Outcome::NoRecipientAccepted);
}

#[test]
fn streamed_bdat_body_error_at_the_end_is_reported() {
    let mut cfg = plain();
    cfg.bare_line_endings = smtp_sansio::BareLineEndings::Reject;
    let mut client = Client::new(Instant::ZERO, cfg);
    let now = Instant::ZERO;
    let id = client
        .send_streamed(envelope(&["b"]), smtp_sansio::StreamedBody::default())
        .expect("queued");
    client
        .push_body(id, "ends in a bare cr\r".into())
        .expect("room");
    client.finish_body(id).expect("open");
    let mut replies = [
        &b"220 mx\r\n"[..],
        b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n",
        b"250 ok\r\n250 ok\r\n",
        b"250 ok\r\n",
    ]
    .into_iter();
    let mut report = None;
    let mut sent = Vec::new();
    loop {
        match client.next_action(now).expect("no error") {
            Action::Transmit { data, .. } => sent.extend_from_slice(&data.into_bytes()),
            Action::Receive { .. } => match replies.next() {
                Some(bytes) => client.handle_input(now, bytes),
                None => break,
            },
            Action::Event(smtp_sansio::Event::Settled(id)) => report = client.take_report(id),
            Action::Idle => break,
            _ => {}
        }
    }
    let report = report.expect("reported");
    assert_eq!(
        report.outcome,
        Outcome::InvalidBody(smtp_sansio::DataError::BareLineEnding)
    );
    assert!(
        sent.ends_with(b"RSET\r\n"),
        "{}",
        String::from_utf8_lossy(&sent)
    );
    assert!(!String::from_utf8_lossy(&sent).contains("LAST"));
}

//! Whole sessions through the public API, as transcripts (DESIGN.md §2, RFC 5321, RFC 3207,
//! RFC 8314, RFC 2920, RFC 3030, RFC 2033).

mod support;

use smtp_sansio::{Outcome, TlsMode, TranscriptLine};
use support::session::{Seen, Step::*, config, config_with_password, envelope, one_message, play};

const SES_GREETING: &[u8] = b"220 email-smtp.amazonaws.com ESMTP SimpleEmailService-d-ABC\r\n";
const SES_EHLO: &[u8] = b"250-email-smtp.amazonaws.com\r\n250-8BITMIME\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250 Ok\r\n";
const SES_EHLO_TLS: &[u8] =
    b"250-email-smtp.amazonaws.com\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250 Ok\r\n";

#[test]
fn ses_starttls_submission_rfc3207() {
    let run = play(
        &config_with_password(TlsMode::StartTls),
        |c| {
            one_message(c);
            c.quit().expect("queued");
        },
        &[
            Server(SES_GREETING),
            Client(b"EHLO client.example\r\n"),
            Server(SES_EHLO),
            Client(b"STARTTLS\r\n"),
            Server(b"220 Ready to start TLS\r\n"),
            Client(b""),
            Tls { verified: true },
            Client(b"EHLO client.example\r\n"),
            Server(SES_EHLO_TLS),
            Client(b"AUTH PLAIN AHVzZXIAcGFzcw==\r\n"),
            Server(b"235 Authentication successful.\r\n"),
            Client(b"MAIL FROM:<a@example.com>\r\n"),
            Server(b"250 Ok\r\n"),
            Client(b"RCPT TO:<b@example.net>\r\n"),
            Server(b"250 Ok\r\n"),
            Client(b"DATA\r\n"),
            Server(b"354 End data with <CR><LF>.<CR><LF>\r\n"),
            Client(b"Subject: t\r\n\r\nHello\r\n.\r\n"),
            Server(b"250 Ok 0100019ac1b2c3d4-5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9-000000\r\n"),
            Client(b"QUIT\r\n"),
            Server(b"221 Bye\r\n"),
        ],
    );
    assert!(run.closed && run.error.is_none() && run.is_ready());
    let report = run.report();
    assert!(report.is_delivered());
    assert_eq!(
        report.message_id(),
        Some("0100019ac1b2c3d4-5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9-000000")
    );
    assert!(report.recipients[0].is_delivered());
}

#[test]
fn ses_implicit_tls_rfc8314() {
    let run = play(
        &config_with_password(TlsMode::Implicit),
        one_message,
        &[
            Client(b""),
            Tls { verified: true },
            Server(SES_GREETING),
            Client(b"EHLO client.example\r\n"),
            Server(SES_EHLO_TLS),
            Client(b"AUTH PLAIN AHVzZXIAcGFzcw==\r\n"),
            Server(b"235 Authentication successful.\r\n"),
            Client(b"MAIL FROM:<a@example.com>\r\n"),
        ],
    );
    assert!(run.is_ready() && run.error.is_none());
}

#[test]
fn rfc2920_pipelined_transaction_is_one_write() {
    let ehlo = b"250-mx\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250 ENHANCEDSTATUSCODES\r\n";
    let run = play(&config(TlsMode::InsecurePlaintext), |c| {
        c.send(envelope(&["b", "c", "d"]), "Hi\r\n".into()).expect("queued");
    }, &[
        Server(b"220 mx ESMTP\r\n"),
        Client(b"EHLO client.example\r\n"),
        Server(ehlo),
        Client(b"MAIL FROM:<a@example.com> SIZE=4\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nRCPT TO:<d@example.net>\r\nDATA\r\n"),
        Server(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 unknown\r\n452 4.5.3 Too many recipients\r\n354 go\r\n"),
        Client(b"Hi\r\n.\r\n"),
        Server(b"250 2.0.0 Ok: queued as 4BC1E21A3F\r\n"),
    ]);
    let report = run.report();
    assert_eq!(report.message_id(), Some("4BC1E21A3F"));
    let accepted: Vec<bool> = report.recipients.iter().map(|r| r.is_delivered()).collect();
    assert_eq!(accepted, [true, false, false]);
    // D11: the 452 is transient and kept for a later transaction; the 550 is permanent.
    let replies: Vec<_> = report
        .recipients
        .iter()
        .map(|r| r.reply.as_ref().expect("reply"))
        .collect();
    assert!(replies[1].is_permanent() && replies[2].is_transient());
    assert_eq!(
        replies[1].enhanced_status().map(|s| s.to_string()),
        Some("5.1.1".into())
    );
}

#[test]
fn rfc3030_chunking_sends_bdat_with_the_envelope() {
    let ehlo = b"250-mx\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 8BITMIME\r\n";
    let run = play(&config(TlsMode::InsecurePlaintext), |c| {
        c.send(envelope(&["b"]), "Gr\u{fc}\u{df}e\n.\n".into()).expect("queued");
        c.send(envelope(&["c"]), "Two\r\n".into()).expect("queued");
        c.quit().expect("queued");
    }, &[
        Server(b"220 mx\r\n"),
        Client(b"EHLO client.example\r\n"),
        Server(ehlo),
        Client("MAIL FROM:<a@example.com> BODY=8BITMIME\r\nRCPT TO:<b@example.net>\r\nBDAT 12 LAST\r\nGr\u{fc}\u{df}e\r\n.\r\nRSET\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<c@example.net>\r\nBDAT 5 LAST\r\nTwo\r\nQUIT\r\n".as_bytes()),
        Server(b"250 ok\r\n250 ok\r\n250 ok: queued as A\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok: queued as B\r\n221 bye\r\n"),
    ]);
    let ids: Vec<_> = run.reports().iter().map(|r| r.message_id()).collect();
    assert_eq!(ids, [Some("A"), Some("B")]);
    assert!(run.closed && run.error.is_none());
}

#[test]
fn without_pipelining_each_command_waits_rfc5321_4_3_1() {
    let run = play(
        &config(TlsMode::InsecurePlaintext),
        one_message,
        &[
            Server(b"220 mx\r\n"),
            Client(b"EHLO client.example\r\n"),
            Server(b"250 mx\r\n"),
            Client(b"MAIL FROM:<a@example.com>\r\n"),
            Server(b"250 ok\r\n"),
            Client(b"RCPT TO:<b@example.net>\r\n"),
            Server(b"250 ok\r\n"),
            Client(b"DATA\r\n"),
            Server(b"354 go\r\n"),
            Client(b"Subject: t\r\n\r\nHello\r\n.\r\n"),
            Server(b"250 ok\r\n"),
            Client(b""),
        ],
    );
    assert!(run.report().is_delivered());
    assert_eq!(run.writes_after_ready, 4, "the classic four round trips");
}

#[test]
fn round_trips_with_pipelining_are_at_most_n_plus_2() {
    const N: usize = 20;
    let ehlo = b"250-mx\r\n250 PIPELINING\r\n";
    let mut steps = vec![Server(b"220 mx\r\n"), Server(ehlo)];
    // Each round: the previous message's end-of-data reply, then this one's envelope replies.
    steps.push(Server(b"250 ok\r\n250 ok\r\n354 go\r\n"));
    for _ in 1..N {
        steps.push(Server(b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"));
    }
    steps.push(Server(b"250 ok\r\n221 bye\r\n"));
    let run = play(
        &config(TlsMode::InsecurePlaintext),
        |c| {
            for _ in 0..N {
                one_message(c);
            }
            c.quit().expect("queued");
        },
        &steps,
    );
    assert_eq!(run.reports().iter().filter(|r| r.is_delivered()).count(), N);
    assert!(run.closed);
    assert!(
        run.writes_after_ready <= N + 2,
        "{} writes",
        run.writes_after_ready
    );
}

#[test]
fn round_trips_with_chunking_are_about_one() {
    const N: usize = 20;
    let mut replies = Vec::new();
    for i in 0..N {
        if i > 0 {
            replies.extend_from_slice(b"250 reset\r\n");
        }
        replies.extend_from_slice(b"250 ok\r\n250 ok\r\n250 ok\r\n");
    }
    replies.extend_from_slice(b"221 bye\r\n");
    let run = play(
        &config(TlsMode::InsecurePlaintext),
        |c| {
            for _ in 0..N {
                one_message(c);
            }
            c.quit().expect("queued");
        },
        &[
            Server(b"220 mx\r\n"),
            Server(b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n"),
            Server(&replies),
        ],
    );
    assert_eq!(run.reports().iter().filter(|r| r.is_delivered()).count(), N);
    assert_eq!(run.writes_after_ready, 1, "one write for the whole batch");
}

#[test]
fn rfc2033_lmtp_has_one_reply_per_recipient() {
    let mut lmtp = config(TlsMode::InsecurePlaintext);
    lmtp.lmtp = true;
    let run = play(&lmtp, |c| {
        c.send(envelope(&["b", "c", "d"]), "x\r\n".into()).expect("queued");
    }, &[
        Server(b"220 lmtp\r\n"),
        Client(b"LHLO client.example\r\n"),
        Server(b"250-lmtp\r\n250 PIPELINING\r\n"),
        Client(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nRCPT TO:<d@example.net>\r\nDATA\r\n"),
        Server(b"250 ok\r\n250 ok\r\n550 no\r\n250 ok\r\n354 go\r\n"),
        Client(b"x\r\n.\r\n"),
        Server(b"250 delivered b\r\n452 mailbox full d\r\n"),
    ]);
    let report = run.report();
    assert!(report.is_delivered());
    let accepted: Vec<bool> = report.recipients.iter().map(|r| r.is_delivered()).collect();
    assert_eq!(accepted, [true, false, false]);
    assert!(
        report.recipients[2]
            .delivery
            .as_ref()
            .is_some_and(|r| r.is_transient())
    );
}

#[test]
fn curl_902_helo_fallback_only_in_plaintext_mode() {
    let run = play(
        &config(TlsMode::InsecurePlaintext),
        one_message,
        &[
            Server(b"220 old.example\r\n"),
            Client(b"EHLO client.example\r\n"),
            Server(b"502 5.5.2 what?\r\n"),
            Client(b"HELO client.example\r\n"),
            Server(b"250 old.example\r\n"),
            Client(b"MAIL FROM:<a@example.com>\r\n"),
        ],
    );
    assert!(run.is_ready());
}

#[test]
fn queries_and_reset_report_their_replies() {
    let run = play(
        &config(TlsMode::InsecurePlaintext),
        |c| {
            c.noop().expect("queued");
            c.verify(smtp_sansio::QueryArg::parse("postmaster").expect("valid"))
                .expect("queued");
            c.reset().expect("queued");
            c.help(None).expect("queued");
            c.quit().expect("queued");
        },
        &[
            Server(b"220 mx\r\n"),
            Client(b"EHLO client.example\r\n"),
            Server(b"250-mx\r\n250 PIPELINING\r\n"),
            Client(b"NOOP\r\n"),
            Server(b"250 2.0.0 Ok\r\n"),
            Client(b"VRFY postmaster\r\n"),
            Server(b"252 2.0.0 postmaster\r\n"),
            Client(b"RSET\r\nHELP\r\n"),
            Server(b"250 2.0.0 Ok\r\n214 see RFC 5321\r\n"),
            Client(b"QUIT\r\n"),
            Server(b"221 2.0.0 Bye\r\n"),
        ],
    );
    let codes: Vec<u16> = run.queries().iter().map(|r| r.code().get()).collect();
    assert_eq!(codes, [250, 252, 250, 214]);
    assert!(run.closed);
}

#[test]
fn e13_transcript_redacts_credentials() {
    let mut cfg = config_with_password(TlsMode::Implicit);
    cfg.transcript = true;
    cfg.auth.preference = vec![smtp_sansio::Mechanism::Login];
    let run = play(
        &cfg,
        |_| {},
        &[
            Tls { verified: true },
            Server(b"220 mx\r\n"),
            Server(b"250-mx\r\n250 AUTH LOGIN\r\n"),
            Client(b"EHLO client.example\r\nAUTH LOGIN\r\n"),
            Server(b"334 VXNlcm5hbWU6\r\n"),
            Client(b"dXNlcg==\r\n"),
            Server(b"334 UGFzc3dvcmQ6\r\n"),
            Client(b"cGFzcw==\r\n"),
            Server(b"235 ok\r\n"),
        ],
    );
    let lines: Vec<String> = run
        .seen
        .iter()
        .filter_map(|s| match s {
            Seen::Transcript(TranscriptLine::Sent(l), _) => Some(l.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        lines,
        [
            "EHLO client.example",
            "AUTH LOGIN",
            "<redacted>",
            "<redacted>"
        ]
    );
    let all = format!("{:?}", run.seen);
    assert!(!all.contains("dXNlcg") && !all.contains("cGFzcw") && !all.contains("pass"));
}

#[test]
fn several_transactions_and_quit_without_reply_f8() {
    let run = play(&config(TlsMode::InsecurePlaintext), |c| {
        one_message(c);
        c.quit().expect("queued");
    }, &[
        Server(b"220 mx\r\n"),
        Server(b"250-mx\r\n250 PIPELINING\r\n"),
        Server(b"250 ok\r\n250 ok\r\n354 go\r\n"),
        Server(b"250 ok\r\n"),
        Client(b"EHLO client.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\nSubject: t\r\n\r\nHello\r\n.\r\nQUIT\r\n"),
        Eof,
    ]);
    assert!(
        run.report().is_delivered(),
        "accepted messages stay accepted"
    );
    assert!(run.closed && run.error.is_none());
    assert!(matches!(run.report().outcome, Outcome::Accepted(_)));
}

/// RFC 2920 §3.1: a driver that writes everything before it reads must not let the replies
/// in flight outgrow the connection's buffers, so pipelined commands are bounded in number too.
#[test]
fn rfc2920_3_1_unanswered_commands_are_bounded() {
    let mut cfg = config(TlsMode::InsecurePlaintext);
    cfg.max_unanswered_commands = 3;
    const MESSAGE: &[u8] =
        b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nBDAT 4 LAST\r\nHi\r\n";
    let run = support::session::play_with(
        cfg,
        &|c: &mut smtp_sansio::Client| {
            for _ in 0..2 {
                c.send(envelope(&["b"]), "Hi\r\n".into()).expect("queued");
            }
            c.quit().expect("queued");
        },
        &[
            Server(b"220 mx\r\n"),
            Client(b"EHLO client.example\r\n"),
            Server(b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n"),
            Client(MESSAGE),
            Server(b"250 ok\r\n250 ok\r\n250 ok\r\n"),
            Client(MESSAGE),
            Server(b"250 ok\r\n250 ok\r\n250 ok\r\n"),
            Client(b"QUIT\r\n"),
            Server(b"221 bye\r\n"),
        ],
        // When replies arrive decides how the batch is cut, so one feeding strategy is used.
        support::session::Feed::Whole,
    );
    assert_eq!(run.reports().iter().filter(|r| r.is_delivered()).count(), 2);
    assert!(run.closed && run.error.is_none(), "{:?}", run.error);
}

#[test]
fn unacknowledged_bytes_are_bounded() {
    const N: usize = 5;
    let mut cfg = config(TlsMode::InsecurePlaintext);
    cfg.max_unacknowledged_bytes = 300;
    let body = "x".repeat(200) + "\r\n";
    let mut steps = vec![
        Server(b"220 mx\r\n"),
        Server(b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n"),
    ];
    for i in 0..N {
        steps.push(Server(if i == 0 {
            b"250 ok\r\n250 ok\r\n250 ok\r\n"
        } else {
            b"250 reset\r\n250 ok\r\n250 ok\r\n250 ok\r\n"
        }));
    }
    // How the batch is cut depends on when replies arrive, so one feeding strategy is used.
    let run = support::session::play_with(
        cfg,
        &|c: &mut smtp_sansio::Client| {
            for _ in 0..N {
                c.send(envelope(&["b"]), body.clone().into())
                    .expect("queued");
            }
        },
        &steps,
        support::session::Feed::Whole,
    );
    assert_eq!(run.reports().iter().filter(|r| r.is_delivered()).count(), N);
    assert!(
        run.writes_after_ready > 1,
        "the batch was cut into {} writes",
        run.writes_after_ready
    );
}

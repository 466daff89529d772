//! SECURITY.md group A (STARTTLS) and the core's part of group G (implicit TLS).

mod support;

use smtp_sansio::{
    Action, Client, Disconnect, Error, Instant, Outcome, ProtocolError, ReplyError, Stage, TlsInfo,
    TlsMode, Verdict,
};
use support::session::{
    FEEDS, Step::*, config, config_with_password, established, one_message, play, play_with,
};

const GREETING: &[u8] = b"220 mx.example ESMTP\r\n";

#[test]
fn a1_stripped_starttls_aborts_before_auth_or_mail() {
    let run = play(
        &config_with_password(TlsMode::StartTls),
        one_message,
        &[
            Server(GREETING),
            Client(b"EHLO client.example\r\n"),
            Server(b"250-mx.example\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"),
            Client(b"QUIT\r\n"),
            Server(b"221 bye\r\n"),
            Client(b""),
        ],
    );
    assert_eq!(run.error, Some(Error::StartTlsUnavailable));
    // The message never reached a server that could not protect it: safe to send elsewhere.
    assert_eq!(run.report().outcome, Outcome::NotAttempted);
    assert_eq!(run.report().verdict, Verdict::NotAttempted);
}

#[test]
fn a2_starttls_refused_aborts_and_tells_transient_from_permanent() {
    for (reply, transient) in [
        (
            &b"454 4.7.0 TLS not available due to temporary reason\r\n"[..],
            true,
        ),
        (b"502 5.5.1 no\r\n", false),
        (b"500 5.5.2 what\r\n", false),
        (b"501 5.5.4 syntax\r\n", false),
        (b"530 5.7.0 must issue STARTTLS first\r\n", false),
    ] {
        let run = play(
            &config_with_password(TlsMode::StartTls),
            one_message,
            &[
                Server(GREETING),
                Server(b"250-mx\r\n250 STARTTLS\r\n"),
                Client(b"EHLO client.example\r\nSTARTTLS\r\n"),
                Server(reply),
                Client(b"QUIT\r\n"),
                Server(b"221 bye\r\n"),
            ],
        );
        let error = run.error.expect("fatal");
        assert!(matches!(error, Error::StartTlsRefused(_)), "{error:?}");
        assert_eq!(error.is_transient(), transient);
    }
}

#[test]
fn a3_codes_that_do_not_belong_to_starttls() {
    for reply in [&b"354 do something else\r\n"[..], b"250 OK\r\n"] {
        let run = play(
            &config(TlsMode::StartTls),
            one_message,
            &[
                Server(GREETING),
                Server(b"250-mx\r\n250 STARTTLS\r\n"),
                Client(b"EHLO client.example\r\nSTARTTLS\r\n"),
                Server(reply),
                Client(b""),
            ],
        );
        assert!(matches!(
            run.error,
            Some(Error::Protocol(ProtocolError::UnexpectedCode {
                stage: Stage::StartTls,
                ..
            }))
        ));
    }
    for reply in [&b"221 bye\r\n"[..], b"421 4.3.2 shutting down\r\n"] {
        let run = play(
            &config(TlsMode::StartTls),
            one_message,
            &[
                Server(GREETING),
                Server(b"250-mx\r\n250 STARTTLS\r\n"),
                Skip,
                Server(reply),
                Client(b""),
            ],
        );
        assert!(matches!(run.error, Some(Error::ServiceClosing(_))));
    }
}

#[test]
fn a4_no_helo_downgrade_when_tls_is_required() {
    let run = play(
        &config_with_password(TlsMode::StartTls),
        one_message,
        &[
            Server(GREETING),
            Client(b"EHLO client.example\r\n"),
            Server(b"500 5.5.1 command unrecognized\r\n"),
            Client(b"QUIT\r\n"),
        ],
    );
    assert!(run.unchecked.is_empty());
    let run = play(
        &config_with_password(TlsMode::StartTls),
        one_message,
        &[
            Server(GREETING),
            Server(b"500 5.5.1 command unrecognized\r\n"),
            Server(b"221 bye\r\n"),
        ],
    );
    assert_eq!(run.error, Some(Error::StartTlsUnavailable));
}

#[test]
fn a5_a6_a7_bytes_after_the_starttls_reply_are_fatal() {
    let cases: [&[&[u8]]; 3] = [
        &[b"220 2.0.0 Ready to start TLS\r\n250-mx.example\r\n250 AUTH LOGIN\r\n"],
        &[b"220 ok\r\n250-AUTH PLA"],
        &[b"220 Ready\r\n", b"250 AUTH PLAIN\r\n"],
    ];
    for reads in cases {
        for feed in FEEDS {
            let mut steps = vec![
                Server(GREETING),
                Server(b"250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n"),
                Skip,
            ];
            steps.extend(reads.iter().map(|r| Server(r)));
            let run = play_with(
                config_with_password(TlsMode::StartTls),
                &one_message,
                &steps,
                feed,
            );
            let error = run.error.expect("fatal");
            assert!(
                matches!(
                    error,
                    Error::Protocol(
                        ProtocolError::DataAfterStartTlsReply
                            | ProtocolError::InputDuringTlsHandshake
                    )
                ),
                "{error:?} ({feed:?})"
            );
            assert!(run.unchecked.is_empty(), "nothing more is sent ({feed:?})");
        }
    }
}

#[test]
fn a8_e3_nothing_from_before_tls_survives_the_handshake() {
    let mut client = Client::new(Instant::ZERO, config_with_password(TlsMode::StartTls));
    let now = Instant::ZERO;
    let drain = |client: &mut Client| {
        let mut out = Vec::new();
        while let Ok(action) = client.next_action(now) {
            match action {
                Action::Transmit { data, .. } => out.extend_from_slice(&data.into_bytes()),
                Action::Event(_) => {}
                _ => break,
            }
        }
        out
    };
    client.handle_input(now, GREETING);
    drain(&mut client);
    client.handle_input(
        now,
        b"250-mx\r\n250-PIPELINING\r\n250-SIZE 10\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n",
    );
    assert_eq!(drain(&mut client), b"STARTTLS\r\n");
    client.handle_input(now, b"220 go\r\n");
    assert!(matches!(
        client.next_action(now),
        Ok(Action::UpgradeTls { .. })
    ));
    client
        .handle_tls_established(now, TlsInfo::new(true))
        .expect("asked for");
    assert!(client.capabilities().is_none(), "emptied at the transition");
    assert_eq!(drain(&mut client), b"EHLO client.example\r\n");
    client.handle_input(
        now,
        b"250-mx\r\n250-SIZE 100000000\r\n250 AUTH SCRAM-SHA-256\r\n",
    );
    let caps = client.capabilities().expect("post-TLS capabilities");
    assert_eq!(caps.size(), Some(smtp_sansio::SizeLimit::Max(100_000_000)));
    assert!(!caps.pipelining());
    let sent = drain(&mut client);
    assert_eq!(sent, b"QUIT\r\n", "PLAIN from before TLS is not used");
    client.handle_input(now, b"221 bye\r\n");
    assert!(matches!(
        client.next_action(now),
        Err(Error::AuthUnavailable { .. })
    ));
}

#[test]
fn a9_post_tls_ehlo_failure_is_fatal() {
    let pre = [
        Server(GREETING),
        Server(b"250-mx\r\n250 STARTTLS\r\n"),
        Server(b"220 go\r\n"),
        Tls { verified: true },
        Skip,
    ];
    let mut steps = pre.to_vec();
    steps.extend([Server(b"554 5.7.0 no\r\n"), Client(b"QUIT\r\n")]);
    let run = play(&config(TlsMode::StartTls), one_message, &steps);
    assert!(run.unchecked.is_empty());
    let mut steps = pre.to_vec();
    steps.extend([
        Server(b"502 5.5.2 what\r\n"),
        Client(b"QUIT\r\n"),
        Server(b"221 bye\r\n"),
    ]);
    let run = play(&config(TlsMode::StartTls), one_message, &steps);
    assert!(
        matches!(
            run.error,
            Some(Error::Rejected {
                stage: Stage::Ehlo,
                ..
            })
        ),
        "no HELO after TLS"
    );
    let mut steps = pre.to_vec();
    steps.extend([Server(b"421 4.3.2 bye\r\n"), Client(b"")]);
    assert!(matches!(
        play(&config(TlsMode::StartTls), one_message, &steps).error,
        Some(Error::ServiceClosing(_))
    ));
    let mut steps = pre.to_vec();
    steps.extend([Eof, Client(b"")]);
    assert_eq!(
        play(&config(TlsMode::StartTls), one_message, &steps).error,
        Some(Error::ConnectionLost {
            stage: Stage::Ehlo,
            cause: Disconnect::Closed
        })
    );
}

#[test]
fn a10_g2_starttls_is_never_sent_twice() {
    for mode in [TlsMode::StartTls, TlsMode::Implicit] {
        let mut steps = established(mode, b"250-mx\r\n250-STARTTLS\r\n250 PIPELINING\r\n");
        steps.push(Client(
            b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n",
        ));
        let run = play(&config(mode), one_message, &steps);
        assert!(run.is_ready() && run.error.is_none(), "{mode:?}");
    }
}

#[test]
fn a11_starttls_ends_its_write_and_nothing_follows_before_tls() {
    let run = play(
        &config(TlsMode::StartTls),
        one_message,
        &[
            Server(GREETING),
            Client(b"EHLO client.example\r\n"),
            Server(b"250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n"),
            Client(b"STARTTLS\r\n"),
            Server(b"220 go\r\n"),
            Client(b""),
            Tls { verified: true },
            Client(b"EHLO client.example\r\n"),
        ],
    );
    assert!(run.error.is_none());
}

#[test]
fn a12_eof_during_the_handshake() {
    let run = play(
        &config(TlsMode::StartTls),
        one_message,
        &[
            Server(GREETING),
            Server(b"250-mx\r\n250 STARTTLS\r\n"),
            Server(b"220 go\r\n"),
            Skip,
            Eof,
            Client(b""),
        ],
    );
    let lost = Error::ConnectionLost {
        stage: Stage::TlsHandshake,
        cause: Disconnect::Closed,
    };
    assert_eq!(run.error, Some(lost));
}

#[test]
fn a13_unverified_certificate_stops_before_any_command() {
    let run = play(
        &config_with_password(TlsMode::StartTls),
        one_message,
        &[
            Server(GREETING),
            Server(b"250-mx\r\n250 STARTTLS\r\n"),
            Server(b"220 go\r\n"),
            Skip,
            Tls { verified: false },
            Client(b"QUIT\r\n"),
            Server(b"221 bye\r\n"),
        ],
    );
    assert_eq!(run.error, Some(Error::TlsNotVerified));
    let run = play(
        &config_with_password(TlsMode::Implicit),
        one_message,
        &[Tls { verified: false }, Client(b"")],
    );
    assert_eq!(run.error, Some(Error::TlsNotVerified));
    let mut allowed = config(TlsMode::Implicit);
    allowed.allow_unverified_tls = true;
    let run = play(
        &allowed,
        one_message,
        &[
            Tls { verified: false },
            Server(GREETING),
            Client(b"EHLO client.example\r\n"),
        ],
    );
    assert!(run.error.is_none());
}

#[test]
fn a14_greetings_other_than_220() {
    let run = play(
        &config(TlsMode::StartTls),
        one_message,
        &[
            Server(b"554 5.3.2 no SMTP service here\r\n"),
            Client(b"QUIT\r\n"),
            Server(b"221 bye\r\n"),
        ],
    );
    assert!(matches!(
        run.error,
        Some(Error::Rejected {
            stage: Stage::Greeting,
            ..
        })
    ));
    let run = play(
        &config(TlsMode::StartTls),
        one_message,
        &[Server(b"421 4.3.2 busy\r\n"), Client(b"")],
    );
    assert!(matches!(run.error, Some(Error::ServiceClosing(_))));
    for greeting in [&b"500 x\r\n"[..], b"354 x\r\n", b"250 x\r\n"] {
        let run = play(
            &config(TlsMode::StartTls),
            one_message,
            &[Server(greeting), Client(b"")],
        );
        assert!(
            matches!(run.error, Some(Error::Protocol(_))),
            "{greeting:?}"
        );
    }
    let run = play(
        &config(TlsMode::StartTls),
        one_message,
        &[Server(b"221 bye\r\n"), Client(b"")],
    );
    assert!(matches!(run.error, Some(Error::ServiceClosing(_))));
}

#[test]
fn a15_multiline_220_to_starttls() {
    let run = play(
        &config(TlsMode::StartTls),
        one_message,
        &[
            Server(GREETING),
            Server(b"250-mx\r\n250 STARTTLS\r\n"),
            Skip,
            Server(b"220-Ready\r\n220 go\r\n"),
            Client(b""),
            Tls { verified: true },
            Client(b"EHLO client.example\r\n"),
        ],
    );
    assert!(run.error.is_none());
}

#[test]
fn a17_starttls_as_the_server_name_is_not_an_offer() {
    let run = play(
        &config(TlsMode::StartTls),
        one_message,
        &[
            Server(GREETING),
            Server(b"250-STARTTLS\r\n250 PIPELINING\r\n"),
            Client(b"EHLO client.example\r\nQUIT\r\n"),
            Server(b"221 bye\r\n"),
        ],
    );
    assert_eq!(run.error, Some(Error::StartTlsUnavailable));
}

#[test]
fn a18_opportunistic_mode_never_sends_credentials_in_clear() {
    let run = play(
        &config_with_password(TlsMode::StartTlsOpportunistic),
        one_message,
        &[
            Server(GREETING),
            Server(b"250-mx\r\n250 AUTH PLAIN LOGIN\r\n"),
            Client(b"EHLO client.example\r\nQUIT\r\n"),
            Server(b"221 bye\r\n"),
        ],
    );
    assert_eq!(run.error, Some(Error::AuthNeedsTls));
    let run = play(
        &config(TlsMode::StartTlsOpportunistic),
        one_message,
        &[
            Server(GREETING),
            Server(b"250-mx\r\n250 AUTH PLAIN LOGIN\r\n"),
            Client(b"EHLO client.example\r\nMAIL FROM:<a@example.com>\r\n"),
        ],
    );
    assert!(run.is_ready(), "mail in clear is the opt-in");
}

#[test]
fn a19_tls_restarts_the_session_and_queued_mail_waits_for_it() {
    // STARTTLS is driven by the configuration, never by an application call, so it cannot come
    // after AUTH or inside a transaction; a message queued at once waits for the post-TLS EHLO.
    let run = play(
        &config_with_password(TlsMode::StartTls),
        one_message,
        &[
            Server(GREETING),
            Server(b"250-mx\r\n250-PIPELINING\r\n250-AUTH PLAIN\r\n250 STARTTLS\r\n"),
            Client(b"EHLO client.example\r\nSTARTTLS\r\n"),
            Server(b"220 go\r\n"),
            Tls { verified: true },
            Server(b"250-mx\r\n250 AUTH PLAIN\r\n"),
            Client(b"EHLO client.example\r\nAUTH PLAIN AHVzZXIAcGFzcw==\r\n"),
            Server(b"235 ok\r\n"),
            Client(b"MAIL FROM:<a@example.com>\r\n"),
        ],
    );
    assert!(run.is_ready());
}

#[test]
fn g1_g3_implicit_tls_reads_nothing_before_the_handshake() {
    let mut client = Client::new(Instant::ZERO, config(TlsMode::Implicit));
    assert!(matches!(
        client.next_action(Instant::ZERO),
        Ok(Action::UpgradeTls { .. })
    ));
    client.handle_input(Instant::ZERO, b"220 mx ESMTP\r\n");
    assert_eq!(
        client.next_action(Instant::ZERO).err(),
        Some(Error::Protocol(ProtocolError::InputDuringTlsHandshake))
    );
}

#[test]
fn g6_a_non_smtp_server_after_the_handshake() {
    for banner in [
        &b"* OK IMAP4rev1 ready\r\n"[..],
        b"HTTP/1.1 400 Bad Request\r\n",
    ] {
        let run = play(
            &config_with_password(TlsMode::Implicit),
            one_message,
            &[Tls { verified: true }, Server(banner), Client(b"")],
        );
        assert!(matches!(
            run.error,
            Some(Error::Protocol(ProtocolError::Reply(
                ReplyError::NonSmtpReply { .. }
            )))
        ));
    }
}

#[test]
fn g4_starttls_pointed_at_an_implicit_port_times_out_on_the_greeting() {
    let run = play(
        &config(TlsMode::StartTls),
        one_message,
        &[Wait(299), Wait(1), Client(b"")],
    );
    assert_eq!(run.error, Some(Error::Timeout(Stage::Greeting)));
}

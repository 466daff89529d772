//! Property tests of the session (SECURITY.md I1-I8): arbitrary server behaviour never panics,
//! never makes the client transmit after a fatal error, and never gets credentials or mail out
//! before verified TLS in the TLS-required modes; and against a model server that refuses and
//! fails at random, every message's verdict agrees with what the server read and said.

mod support;

use core::time::Duration;

use proptest::prelude::*;
use smtp_sansio::{Action, Client, Instant, TlsInfo, TlsMode};
use support::session::{config_with_password, envelope};
use support::verdict_check::{CAPS, Scenario, check};

#[derive(Clone, Debug)]
enum Op {
    Server(Vec<u8>),
    Eof,
    Advance(u64),
    Timeout,
    Tls(bool),
    Send,
    Quit,
}

fn reply_bytes() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        Just(b"220 mx ESMTP\r\n".to_vec()),
        Just(
            b"250-mx\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n"
                .to_vec()
        ),
        Just(b"250 ok\r\n".to_vec()),
        Just(b"354 go\r\n".to_vec()),
        Just(b"334 VXNlcm5hbWU6\r\n".to_vec()),
        Just(b"334 #@!\r\n".to_vec()),
        Just(b"235 ok\r\n".to_vec()),
        Just(b"421 bye\r\n".to_vec()),
        Just(b"221 bye\r\n".to_vec()),
        Just(b"535 no\r\n".to_vec()),
        (200u16..600).prop_map(|c| format!("{c} x\r\n").into_bytes()),
        prop::collection::vec(any::<u8>(), 0..16),
    ];
    prop::collection::vec(line, 1..4).prop_map(|l| l.concat())
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => reply_bytes().prop_map(Op::Server),
        1 => Just(Op::Eof),
        1 => (0u64..400).prop_map(Op::Advance),
        1 => Just(Op::Timeout),
        2 => any::<bool>().prop_map(Op::Tls),
        2 => Just(Op::Send),
        1 => Just(Op::Quit),
    ]
}

fn mode() -> impl Strategy<Value = TlsMode> {
    prop_oneof![
        Just(TlsMode::Implicit),
        Just(TlsMode::StartTls),
        Just(TlsMode::StartTlsOpportunistic),
        Just(TlsMode::InsecurePlaintext),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_server_behaviour_is_survived(mode in mode(), ops in prop::collection::vec(op(), 0..40)) {
        let mut client = Client::new(Instant::ZERO, config_with_password(mode));
        let mut now = Instant::ZERO;
        let mut failed = None;
        let mut verified_tls = false;
        let mut last_deadline = Instant::ZERO;
        for op in ops {
            match op {
                Op::Server(bytes) => client.handle_input(now, &bytes),
                Op::Eof => client.handle_eof(now),
                Op::Advance(s) => now = now.saturating_add(Duration::from_secs(s)),
                Op::Timeout => client.handle_timeout(now),
                Op::Tls(verified) => {
                    if client.handle_tls_established(now, TlsInfo::new(verified)).is_ok() {
                        verified_tls = verified;
                    }
                }
                Op::Send => { let _ = client.send(envelope(&["b"]), "x\r\n".into()); }
                Op::Quit => { let _ = client.quit(); }
            }
            for _ in 0..64 {
                match client.next_action(now) {
                    Ok(Action::Transmit { data, deadline }) => {
                        prop_assert!(failed.is_none(), "transmit after {failed:?}");
                        prop_assert!(deadline >= now);
                        let text = String::from_utf8_lossy(&data.into_bytes()).into_owned();
                        if matches!(mode, TlsMode::Implicit | TlsMode::StartTls) && !verified_tls {
                            for word in ["AUTH", "MAIL", "RCPT", "DATA", "BDAT"] {
                                prop_assert!(!text.contains(word), "{word} before verified TLS: {text}");
                            }
                        }
                    }
                    Ok(Action::Receive { deadline }) => {
                        prop_assert!(deadline >= last_deadline || deadline >= now);
                        last_deadline = deadline;
                        break;
                    }
                    Ok(Action::Event(_)) => {}
                    Ok(_) => break,
                    Err(error) => {
                        if let Some(previous) = &failed {
                            prop_assert_eq!(previous, &error, "errors are sticky");
                        }
                        failed = Some(error);
                        break;
                    }
                }
            }
        }
    }

    /// Exactly one report per queued message; delivered only after a 2yz to the end of the data
    /// (RFC 5321 §6.1), never after a connection lost before it; deferred never for a permanent
    /// reply; not attempted only for messages the server never answered; no MAIL inside an open
    /// transaction (RFC 5321 §4.1.1.5).
    #[test]
    fn every_verdict_agrees_with_what_the_server_did(scenario in scenario()) {
        check(&scenario);
    }
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        6 => Just(b'a'),
        2 => Just(b'.'),
        2 => Just(b'\n'),
        1 => Just(b'\r'),
        1 => Just(0xe9u8),
        2 => Just(b' '),
    ];
    prop::collection::vec(byte, 0..80)
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        0..CAPS.len(),
        prop::collection::vec((1usize..4, body()), 1..6),
        prop::collection::vec(any::<u8>(), 0..40),
        any::<bool>(),
        prop::option::of(0usize..40),
        prop::option::of(0usize..12),
    )
        .prop_map(|(caps, messages, choices, quit, cut, stall)| Scenario {
            caps,
            messages,
            choices,
            quit,
            cut,
            stall,
        })
}

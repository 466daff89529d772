//! Invariant: a Client under any sequence of server bytes, EOF, resets, time, timeouts, TLS
//! events and application calls, in every TLS mode, never panics, transmits nothing after a
//! fatal error, keeps its errors sticky, sends no AUTH or mail before verified TLS in the
//! TLS-required modes, and accepts nothing between the STARTTLS 220 and the handshake; every
//! queued message settles exactly once (at the latest when the connection goes), its report is
//! handed over once, and a delivered one carries a 2yz reply to its end of data.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;

use smtp_sansio::{
    Action, Client, ClientId, Config, Credentials, Disconnect, Envelope, Error, Event, Instant,
    Mailbox, Outcome, ProtocolError, TlsInfo, TlsMode, Verdict,
};

#[derive(Arbitrary, Debug)]
enum Op {
    Server(Vec<u8>),
    Canned(u8),
    Eof,
    Reset,
    Advance(u16),
    Timeout,
    Tls(bool),
    Send(Vec<u8>),
    Quit,
    Noop,
}

const CANNED: [&[u8]; 10] = [
    b"220 mx ESMTP\r\n",
    b"250-mx\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n",
    b"250 ok\r\n",
    b"354 go\r\n",
    b"334 VXNlcm5hbWU6\r\n",
    b"235 ok\r\n",
    b"220 go ahead\r\n",
    b"250 ok\r\n250 ok\r\n354 go\r\n",
    b"421 bye\r\n",
    b"221 bye\r\n",
];

fuzz_target!(|input: (u8, Vec<Op>)| {
    let (mode, ops) = input;
    let mode = [TlsMode::Implicit, TlsMode::StartTls, TlsMode::StartTlsOpportunistic, TlsMode::InsecurePlaintext][usize::from(mode % 4)];
    let Ok(id) = ClientId::parse("client.example") else { return };
    let mut config = Config::new(id, mode);
    config.credentials = Credentials::password("user", "pass").ok();
    let mut client = Client::new(Instant::ZERO, config);
    let mut now = Instant::ZERO;
    let mut failed: Option<Error> = None;
    let mut verified = false;
    let mut upgrading = false;
    let mut queued = BTreeSet::new();
    let mut settled = BTreeSet::new();
    let settle = |client: &mut Client, settled: &mut BTreeSet<_>, id| {
        assert!(settled.insert(id), "settled twice");
        let report = client.take_report(id).expect("a settled message has a report");
        assert!(client.take_report(id).is_none(), "a report is handed over once");
        if report.verdict == Verdict::Delivered {
            assert!(matches!(&report.outcome, Outcome::Accepted(r) if r.is_positive_completion()));
        }
    };
    for op in ops.into_iter().take(64) {
        let mut fed_during_upgrade = false;
        match op {
            Op::Server(bytes) => {
                fed_during_upgrade = upgrading && !bytes.is_empty();
                client.handle_input(now, &bytes);
            }
            Op::Canned(i) => {
                fed_during_upgrade = upgrading;
                client.handle_input(now, CANNED[usize::from(i) % CANNED.len()]);
            }
            Op::Eof => client.handle_eof(now),
            Op::Reset => client.handle_connection_lost(now, Disconnect::Reset),
            Op::Advance(s) => now = now.saturating_add(Duration::from_secs(u64::from(s))),
            Op::Timeout => client.handle_timeout(now),
            Op::Tls(ok) => {
                if client.handle_tls_established(now, TlsInfo::new(ok)).is_ok() {
                    verified = ok;
                    upgrading = false;
                }
            }
            Op::Send(body) => {
                if let (Ok(a), Ok(b)) = (Mailbox::parse("a@example.com"), Mailbox::parse("b@example.net")) {
                    if let Ok(id) = client.send(Envelope::new(a, [b]), body.into()) {
                        queued.insert(id);
                    }
                }
            }
            Op::Quit => { let _ = client.quit(); }
            Op::Noop => { let _ = client.noop(); }
        }
        for _ in 0..256 {
            match client.next_action(now) {
                Ok(Action::Transmit { data, deadline }) => {
                    assert!(failed.is_none(), "transmit after {failed:?}");
                    assert!(!fed_during_upgrade, "input during the handshake was accepted");
                    assert!(deadline >= now);
                    if matches!(mode, TlsMode::Implicit | TlsMode::StartTls) && !verified {
                        let text = String::from_utf8_lossy(&data.into_bytes()).into_owned();
                        for word in ["AUTH", "MAIL", "RCPT", "DATA", "BDAT"] {
                            assert!(!text.contains(word), "{word} before verified TLS");
                        }
                    }
                }
                Ok(Action::UpgradeTls { .. }) => {
                    upgrading = true;
                    break;
                }
                Ok(Action::Event(Event::Settled(id))) => {
                    assert!(queued.contains(&id), "a report for a message never queued");
                    settle(&mut client, &mut settled, id);
                }
                Ok(Action::Event(_)) => {}
                Ok(_) => break,
                Err(error) => {
                    if fed_during_upgrade && failed.is_none() {
                        assert!(matches!(error, Error::Protocol(ProtocolError::InputDuringTlsHandshake)));
                    }
                    if let Some(previous) = &failed {
                        assert_eq!(previous, &error, "errors are sticky");
                    }
                    failed = Some(error);
                    break;
                }
            }
        }
    }
    // Whatever is still held settles when the connection goes.
    client.handle_connection_lost(now, Disconnect::Reset);
    while let Ok(Action::Event(event)) = client.next_action(now) {
        if let Event::Settled(id) = event {
            settle(&mut client, &mut settled, id);
        }
    }
    assert_eq!(queued, settled, "every queued message settles");
});

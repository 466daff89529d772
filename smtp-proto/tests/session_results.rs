//! The client owns every result: reports and replies kept by id until taken, batches checked
//! whole before anything is queued, cancelled messages, and the one entry for a lost
//! connection (DESIGN.md §2a).

mod support;

use bytes::Bytes;
use smtp_sansio::{
    Action, Client, Disconnect, Error, Instant, Outcome, Stage, StreamedBody, SubmitError, TlsInfo,
    TlsMode, TransactionId, UsageError, Verdict,
};
use support::session::{config, envelope};

/// A driver over a scripted server: it runs the client until it waits, collecting what it
/// sends and which messages settled.
struct Driver {
    client: Client,
    sent: Vec<u8>,
    settled: Vec<TransactionId>,
    error: Option<Error>,
}

impl Driver {
    fn new(ehlo: &[u8]) -> Self {
        let mut driver = Self {
            client: Client::new(Instant::ZERO, config(TlsMode::InsecurePlaintext)),
            sent: Vec::new(),
            settled: Vec::new(),
            error: None,
        };
        driver.server(b"220 mx\r\n");
        driver.server(ehlo);
        driver.sent.clear();
        driver
    }

    fn run(&mut self) {
        loop {
            match self.client.next_action(Instant::ZERO) {
                Ok(Action::Transmit { data, .. }) => {
                    self.sent.extend_from_slice(&data.into_bytes())
                }
                Ok(Action::Event(smtp_sansio::Event::Settled(id))) => self.settled.push(id),
                Ok(Action::Event(_)) => {}
                Ok(_) => return,
                Err(error) => {
                    self.error = Some(error);
                    return;
                }
            }
        }
    }

    fn server(&mut self, bytes: &[u8]) {
        self.run();
        self.client.handle_input(Instant::ZERO, bytes);
        self.run();
    }

    fn take_sent(&mut self) -> String {
        String::from_utf8(std::mem::take(&mut self.sent)).expect("ascii")
    }
}

const PIPELINED: &[u8] = b"250-mx\r\n250 PIPELINING\r\n";
const CHUNKED: &[u8] = b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n";

#[test]
fn a_batch_is_checked_whole_before_anything_is_queued() {
    let mut driver = Driver::new(PIPELINED);
    let batch = [
        (envelope(&["b"]), Bytes::from_static(b"one\r\n")),
        (envelope(&[]), Bytes::from_static(b"two\r\n")),
        (envelope(&["c"]), Bytes::from_static(b"three\r\n")),
    ];
    let refused = driver.client.send_batch(batch).err();
    assert!(matches!(
        refused,
        Some(SubmitError::Usage(UsageError::InBatch { index: 1, ref error }))
            if **error == UsageError::NoRecipients
    ));
    assert_eq!(driver.client.unsettled(), 0, "nothing queued");
    driver.run();
    assert_eq!(driver.take_sent(), "", "nothing sent");

    let good = (0..3).map(|i| (envelope(&["b"]), Bytes::from(format!("m{i}\r\n"))));
    let ids = driver.client.send_batch(good).expect("queued");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids in input order");
    assert_eq!(driver.client.unsettled(), 3);
    for _ in 0..3 {
        driver.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
        assert!(!driver.client.is_settled_through(ids[2]));
        driver.server(b"250 queued\r\n");
    }
    assert!(driver.client.is_settled_through(ids[2]));
    assert_eq!(driver.settled, ids);
    for id in &ids {
        let report = driver.client.take_report(*id).expect("kept until taken");
        assert_eq!(report.id, *id);
        assert_eq!(report.verdict, Verdict::Delivered);
        assert_eq!(driver.client.take_report(*id), None, "taken once");
        assert!(driver.client.is_settled(*id));
    }
}

#[test]
fn queries_are_answered_by_id_or_with_the_session_error() {
    let mut driver = Driver::new(PIPELINED);
    let noop = driver.client.noop().expect("queued");
    let help = driver.client.help(None).expect("queued");
    driver.server(b"250 2.0.0 ok\r\n");
    assert!(driver.client.is_answered(noop));
    assert!(!driver.client.is_answered(help));
    assert_eq!(driver.client.take_reply(help), None, "pending");
    let reply = driver
        .client
        .take_reply(noop)
        .expect("answered")
        .expect("a reply");
    assert_eq!(reply.code().get(), 250);
    assert_eq!(driver.client.take_reply(noop), None, "taken once");
    driver
        .client
        .handle_connection_lost(Instant::ZERO, Disconnect::Reset);
    let lost = Error::ConnectionLost {
        stage: Stage::Query,
        cause: Disconnect::Reset,
    };
    assert!(driver.client.is_answered(help));
    assert_eq!(driver.client.take_reply(help), Some(Err(lost.clone())));
    // Errors are sticky: every later call gets the same one.
    assert_eq!(
        driver.client.noop().err(),
        Some(SubmitError::Failed(lost.clone()))
    );
    assert_eq!(
        driver.client.quit().err(),
        Some(SubmitError::Failed(lost.clone()))
    );
    let refused = driver.client.send(envelope(&["b"]), "x\r\n".into()).err();
    assert_eq!(refused, Some(SubmitError::Failed(lost.clone())));
    assert_eq!(driver.client.next_action(Instant::ZERO).err(), Some(lost));
}

#[test]
fn a_message_cancelled_before_it_started_sends_nothing() {
    let mut driver = Driver::new(PIPELINED);
    let first = driver
        .client
        .send_streamed(envelope(&["b"]), StreamedBody::default())
        .expect("queued");
    let second = driver
        .client
        .send(envelope(&["c"]), "x\r\n".into())
        .expect("queued");
    driver.run();
    // The first is under way: its envelope and DATA went out; the second waits behind it.
    assert!(
        driver
            .take_sent()
            .starts_with("MAIL FROM:<a@example.com>\r\n")
    );
    let third = driver
        .client
        .send(envelope(&["d"]), "y\r\n".into())
        .expect("queued");
    driver.client.cancel(third).expect("cancelled");
    assert!(driver.client.is_settled(third));
    let report = driver.client.take_report(third).expect("settled");
    assert_eq!(
        (report.verdict, report.outcome),
        (Verdict::NotAttempted, Outcome::Cancelled)
    );
    driver.client.cancel(first).expect("cancelled");
    // Its DATA is out: the 354 must not start a body.
    driver.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
    assert_eq!(driver.error, Some(Error::Cancelled));
    assert_eq!(driver.take_sent(), "", "no body and no dot after a cancel");
    let first = driver.client.take_report(first).expect("settled");
    assert_eq!(
        (first.verdict, first.outcome),
        (Verdict::NotAttempted, Outcome::Cancelled)
    );
    let second = driver.client.take_report(second).expect("settled");
    assert_eq!(
        (second.verdict, second.outcome),
        (Verdict::NotAttempted, Outcome::NotAttempted)
    );
}

#[test]
fn rfc3030_2_a_cancelled_chunked_body_is_reset_and_the_session_goes_on() {
    let mut driver = Driver::new(CHUNKED);
    let mut cfg = config(TlsMode::InsecurePlaintext);
    cfg.bdat_chunk_size = 4;
    driver.client = Client::new(Instant::ZERO, cfg);
    driver.server(b"220 mx\r\n");
    driver.server(CHUNKED);
    driver.sent.clear();
    let id = driver
        .client
        .send_streamed(envelope(&["b"]), StreamedBody::default())
        .expect("queued");
    driver
        .client
        .push_body(id, "abcdefgh".into())
        .expect("fits");
    driver.run();
    let sent = driver.take_sent();
    assert!(sent.ends_with("BDAT 4\r\nabcdBDAT 4\r\nefgh"), "{sent}");
    driver.client.cancel(id).expect("cancelled");
    driver.run();
    assert_eq!(
        driver.take_sent(),
        "RSET\r\n",
        "no LAST chunk: the server discards the rest"
    );
    let next = driver
        .client
        .send(envelope(&["c"]), "z\r\n".into())
        .expect("queued");
    driver.server(b"250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n");
    let report = driver.client.take_report(id).expect("settled");
    assert_eq!(
        (report.verdict, report.outcome),
        (Verdict::NotAttempted, Outcome::Cancelled)
    );
    assert_eq!(driver.error, None);
    assert!(driver.take_sent().contains("RCPT TO:<c@example.net>"));
    driver.server(b"250 ok\r\n250 ok\r\n250 queued\r\n");
    assert_eq!(
        driver.client.take_report(next).map(|r| r.verdict),
        Some(Verdict::Delivered)
    );
}

#[test]
fn rfc5321_4_1_1_4_a_data_body_cancelled_under_way_drops_the_connection() {
    let mut driver = Driver::new(PIPELINED);
    let id = driver
        .client
        .send_streamed(envelope(&["b"]), StreamedBody::default())
        .expect("queued");
    let later = driver
        .client
        .send(envelope(&["c"]), "x\r\n".into())
        .expect("queued");
    driver.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
    driver
        .client
        .push_body(id, "partial\r\n".into())
        .expect("fits");
    driver.run();
    assert!(driver.take_sent().ends_with("partial\r\n"));
    driver.client.cancel(id).expect("cancelled");
    driver.run();
    assert_eq!(driver.error, Some(Error::Cancelled));
    assert!(
        Error::Cancelled.is_transient(),
        "a new connection can carry the others"
    );
    assert_eq!(driver.take_sent(), "", "never the dot");
    let verdicts = [id, later].map(|id| driver.client.take_report(id).map(|r| r.verdict));
    assert_eq!(verdicts, [Some(Verdict::NotAttempted); 2]);
}

#[test]
fn every_lost_connection_goes_through_one_entry() {
    // A failed handshake is not a lost connection: the certificate will not fix itself.
    let mut client = Client::new(Instant::ZERO, config(TlsMode::Implicit));
    let id = client
        .send(envelope(&["b"]), "x\r\n".into())
        .expect("queued");
    assert!(matches!(
        client.next_action(Instant::ZERO),
        Ok(Action::UpgradeTls { .. })
    ));
    let refused = Disconnect::TlsHandshake("invalid peer certificate: UnknownIssuer".into());
    client.handle_connection_lost(Instant::ZERO, refused);
    let error = client.error().cloned().expect("failed");
    assert!(matches!(error, Error::TlsHandshake(ref why) if why.contains("UnknownIssuer")));
    assert!(!error.is_transient());
    assert_eq!(
        client.take_report(id).map(|r| r.verdict),
        Some(Verdict::NotAttempted)
    );
    assert_eq!(
        client
            .handle_tls_established(Instant::ZERO, TlsInfo::new(true))
            .err(),
        Some(UsageError::UnexpectedDriverEvent("tls handshake"))
    );

    // After QUIT, a reset is as good as 221 (RFC 5321 §4.1.1.10).
    let mut driver = Driver::new(PIPELINED);
    driver.client.quit().expect("queued");
    driver.run();
    assert_eq!(driver.take_sent(), "QUIT\r\n");
    driver
        .client
        .handle_connection_lost(Instant::ZERO, Disconnect::Reset);
    assert!(driver.client.is_closed());
    assert!(matches!(
        driver.client.next_action(Instant::ZERO),
        Ok(Action::Close)
    ));
    assert_eq!(
        driver.client.send(envelope(&["b"]), "x".into()).err(),
        Some(SubmitError::Usage(UsageError::Closed))
    );
}

#[test]
fn rfc5321_4_5_3_2_5_a_data_block_not_written_in_time_fails_the_session() {
    let mut driver = Driver::new(b"250 mx\r\n");
    // Three windows of message data: no reply is expected before the last one's dot.
    let body = "x".repeat(998) + "\r\n";
    let id = driver
        .client
        .send(envelope(&["b"]), body.repeat(600).into())
        .expect("queued");
    driver.server(b"250 ok\r\n");
    driver.server(b"250 ok\r\n");
    driver.client.handle_input(Instant::ZERO, b"354 go\r\n");
    driver.sent.clear();
    let Ok(Action::Transmit { deadline, .. }) = driver.client.next_action(Instant::ZERO) else {
        panic!("the first window of data");
    };
    // The driver could not write it before its deadline.
    let late = deadline.saturating_add(core::time::Duration::from_secs(1));
    driver.client.handle_timeout(late);
    assert_eq!(driver.client.error(), Some(&Error::Timeout(Stage::Body)));
    driver.run();
    assert_eq!(
        driver.take_sent(),
        "",
        "never the rest of the body, never the dot"
    );
    let report = driver.client.take_report(id).expect("settled");
    assert_eq!(report.verdict, Verdict::Deferred);
}

#[test]
fn rfc2920_a_message_refused_locally_between_chunked_messages_keeps_the_reset_before_the_next() {
    // The middle message is too large for SIZE; the RSET that keeps the last one independent of
    // the first (whose chunk may still fail) must go out all the same.
    let mut driver = Driver::new(b"250-mx\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SIZE 100\r\n");
    let batch = [
        (envelope(&["x"]), Bytes::from_static(b"a\r\n")),
        (envelope(&["y"]), Bytes::from("y".repeat(200) + "\r\n")),
        (envelope(&["c"]), Bytes::from_static(b"c\r\n")),
    ];
    let ids = driver.client.send_batch(batch).expect("queued");
    driver.run();
    let sent = driver.take_sent();
    let reset = sent.find("RSET").expect("an RSET");
    assert!(
        reset < sent.find("RCPT TO:<c@").expect("the last message"),
        "{sent}"
    );
    driver.server(b"250 ok\r\n550 no\r\n554 no valid recipients\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 queued\r\n");
    let verdicts: Vec<_> = ids
        .iter()
        .map(|&id| driver.client.take_report(id).map(|r| r.verdict))
        .collect();
    let bounced = Some(Verdict::Bounced);
    assert_eq!(verdicts, [bounced, bounced, Some(Verdict::Delivered)]);
}

/// RFC 8446 §4.4.2.4: TLS 1.3 refuses the client's certificate after the handshake, while the
/// first reply over TLS is awaited: that is the handshake's failure. The same alert later is a
/// failure of the TLS layer, and the session's messages may go again.
#[test]
fn rfc8446_4_4_2_4_a_refused_certificate_counts_as_the_handshakes_only_until_the_first_reply() {
    let alert = || Disconnect::TlsHandshake("received fatal alert: CertificateRequired".into());
    let implicit = || {
        let mut client = Client::new(Instant::ZERO, config(TlsMode::Implicit));
        assert!(matches!(
            client.next_action(Instant::ZERO),
            Ok(Action::UpgradeTls { .. })
        ));
        client
            .handle_tls_established(Instant::ZERO, TlsInfo::new(true))
            .expect("established");
        client
    };

    // Awaiting the greeting over TLS.
    let mut client = implicit();
    client.handle_connection_lost(Instant::ZERO, alert());
    assert!(matches!(client.error(), Some(Error::TlsHandshake(_))));

    // Ready, a message under way.
    let mut client = implicit();
    client.handle_input(Instant::ZERO, b"220 mx\r\n");
    assert!(hands_out_octets(&mut client));
    client.handle_input(Instant::ZERO, b"250 mx\r\n");
    assert!(client.is_ready());
    let id = client
        .send(envelope(&["b"]), "x\r\n".into())
        .expect("queued");
    assert!(hands_out_octets(&mut client));
    client.handle_connection_lost(Instant::ZERO, alert());
    let error = client.error().cloned().expect("failed");
    assert!(
        matches!(
            error,
            Error::ConnectionLost {
                stage: Stage::Mail,
                cause: Disconnect::Tls(_)
            }
        ),
        "{error:?}"
    );
    assert!(error.is_transient());
    assert!(
        client
            .take_report(id)
            .is_some_and(|r| r.verdict.is_retryable())
    );
}

/// Whether the client, asked until it wants IO, has octets to write.
fn hands_out_octets(client: &mut Client) -> bool {
    loop {
        match client.next_action(Instant::ZERO) {
            Ok(Action::Event(_)) => {}
            Ok(Action::Transmit { .. }) => return true,
            _ => return false,
        }
    }
}

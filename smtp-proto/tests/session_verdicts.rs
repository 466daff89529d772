//! Every message's verdict under faults: decided by the client from the whole transaction and
//! from how the connection ended (RFC 5321 §3.8, §4.1.1.5, §4.2.5, §6.1; RFC 2920 §3.1;
//! RFC 3030 §2; RFC 2033 §4.2).

mod support;

use smtp_sansio::{
    Config, Disconnect, Error, Outcome, ProtocolError, Stage, TlsMode, TransactionReport, Verdict,
};
use support::session::{Run, Step::*, config, envelope, established, play};

const PLAIN: &[u8] = b"250 mx\r\n";
const PIPELINED: &[u8] = b"250-mx\r\n250 PIPELINING\r\n";
const CHUNKED: &[u8] = b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n";

fn plain() -> Config {
    config(TlsMode::InsecurePlaintext)
}

/// Queues one message per recipient list, in order, each with the body `x`.
fn messages(lists: &'static [&'static [&'static str]]) -> impl Fn(&mut smtp_sansio::Client) {
    move |client| {
        let batch = lists
            .iter()
            .map(|to| (envelope(to), bytes::Bytes::from_static(b"x\r\n")));
        client.send_batch(batch).expect("queued");
    }
}

fn verdicts(run: &Run) -> Vec<Verdict> {
    run.reports().iter().map(|r| r.verdict).collect()
}

fn recipient_verdicts(report: &TransactionReport) -> Vec<Verdict> {
    report.recipients.iter().map(|r| r.verdict).collect()
}

fn session(
    ehlo: &'static [u8],
    rest: &[support::session::Step<'static>],
) -> Vec<support::session::Step<'static>> {
    let mut steps = established(TlsMode::InsecurePlaintext, ehlo);
    steps.extend_from_slice(rest);
    steps
}

#[test]
fn rfc5321_4_1_1_5_refused_recipients_are_reset_before_the_next_mail_without_pipelining() {
    let steps = session(
        PLAIN,
        &[
            Client(b"MAIL FROM:<a@example.com>\r\n"),
            Server(b"250 ok\r\n"),
            Client(b"RCPT TO:<x@example.net>\r\n"),
            Server(b"550 5.1.1 no such user\r\n"),
            // The server holds an open transaction: RSET, or the next MAIL gets 503.
            Client(b"RSET\r\n"),
            Server(b"250 ok\r\n"),
            Client(b"MAIL FROM:<a@example.com>\r\n"),
            Server(b"250 ok\r\n"),
            Client(b"RCPT TO:<b@example.net>\r\n"),
            Server(b"250 ok\r\n"),
            Client(b"DATA\r\n"),
            Server(b"354 go\r\n"),
            Client(b"x\r\n.\r\n"),
            Server(b"250 queued\r\n"),
            Client(b"MAIL FROM:<a@example.com>\r\n"),
            Server(b"250 ok\r\n"),
            Client(b"RCPT TO:<c@example.net>\r\n"),
        ],
    );
    let run = play(&plain(), messages(&[&["x"], &["b"], &["c"]]), &steps);
    assert_eq!(verdicts(&run), [Verdict::Bounced, Verdict::Delivered]);
    assert_eq!(run.reports()[0].outcome, Outcome::NoRecipientAccepted);
}

#[test]
fn rfc5321_3_8_a_421_to_the_final_dot_defers_the_message() {
    let dot = session(
        PIPELINED,
        &[
            Skip,
            Server(b"250 ok\r\n250 ok\r\n354 go\r\n"),
            Client(b"x\r\n.\r\n"),
            Server(b"421 4.4.2 closing\r\n"),
        ],
    );
    let last = session(
        CHUNKED,
        &[
            Client(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nBDAT 3 LAST\r\nx\r\n"),
            Server(b"250 ok\r\n250 ok\r\n421 4.4.2 closing\r\n"),
        ],
    );
    for steps in [dot, last] {
        let run = play(&plain(), messages(&[&["b"]]), &steps);
        let report = run.report();
        assert_eq!(report.verdict, Verdict::Deferred, "{report:?}");
        assert_eq!(recipient_verdicts(report), [Verdict::Deferred]);
        assert!(matches!(
            &report.outcome,
            Outcome::Rejected { stage: Stage::DataEnd, reply } if reply.code().get() == 421
        ));
        assert!(matches!(run.error, Some(Error::ServiceClosing(_))));
    }
}

#[test]
fn rfc5321_3_8_a_421_to_rcpt_is_that_recipients_reply_and_later_messages_are_not_attempted() {
    let steps = session(PIPELINED, &[
        Client(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n"),
        Server(b"250 ok\r\n250 ok\r\n421 4.7.0 too busy\r\n"),
    ]);
    let run = play(&plain(), messages(&[&["b", "c"], &["d"]]), &steps);
    assert_eq!(verdicts(&run), [Verdict::Deferred, Verdict::NotAttempted]);
    let first = run.reports()[0];
    let closing = first.recipients[1].reply.clone().expect("the 421");
    assert_eq!(closing.code().get(), 421);
    assert_eq!(
        first.outcome,
        Outcome::Interrupted(Error::ServiceClosing(closing))
    );
    assert_eq!(
        recipient_verdicts(first),
        [Verdict::Deferred, Verdict::Deferred]
    );
    assert_eq!(run.reports()[1].outcome, Outcome::NotAttempted);
}

#[test]
fn rfc2920_3_1_a_refused_mail_explains_the_503s_that_follow_it() {
    for (mail, verdict) in [
        (&b"451 4.3.0 try later\r\n"[..], Verdict::Deferred),
        (b"550 5.7.1 sender refused\r\n", Verdict::Bounced),
    ] {
        let replies = [
            mail,
            b"503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need RCPT\r\n",
        ]
        .concat();
        let replies: &'static [u8] = Box::leak(replies.into_boxed_slice());
        let steps = session(PIPELINED, &[Skip, Server(replies), Client(b"")]);
        let run = play(&plain(), messages(&[&["b", "c"]]), &steps);
        let report = run.report();
        assert_eq!(report.verdict, verdict);
        assert_eq!(recipient_verdicts(report), [verdict, verdict]);
        assert!(matches!(
            report.outcome,
            Outcome::Rejected {
                stage: Stage::Mail,
                ..
            }
        ));
        assert_eq!(run.error, None, "the session goes on");
    }
}

#[test]
fn rfc2920_3_1_recipients_refused_for_now_explain_the_554_to_data() {
    let cases: [(&[u8], Verdict, [Verdict; 2]); 3] = [
        (
            b"450 4.2.0 busy\r\n450 4.2.0 busy\r\n",
            Verdict::Deferred,
            [Verdict::Deferred; 2],
        ),
        (
            b"550 5.1.1 unknown\r\n550 5.1.1 unknown\r\n",
            Verdict::Bounced,
            [Verdict::Bounced; 2],
        ),
        (
            b"550 5.1.1 unknown\r\n450 4.2.0 busy\r\n",
            Verdict::Deferred,
            [Verdict::Bounced, Verdict::Deferred],
        ),
    ];
    for (rcpts, verdict, each) in cases {
        let replies = [
            &b"250 ok\r\n"[..],
            rcpts,
            b"554 5.5.1 no valid recipients\r\n",
        ]
        .concat();
        let replies: &'static [u8] = Box::leak(replies.into_boxed_slice());
        let steps = session(PIPELINED, &[Skip, Server(replies), Client(b"RSET\r\n")]);
        let run = play(&plain(), messages(&[&["b", "c"]]), &steps);
        let report = run.report();
        assert_eq!(report.outcome, Outcome::NoRecipientAccepted);
        assert_eq!(report.verdict, verdict);
        assert_eq!(recipient_verdicts(report), each);
    }
}

#[test]
fn rfc5321_4_2_5_an_accepted_recipient_shares_a_refused_message_fate() {
    for (data, verdict) in [
        (&b"554 5.6.0 refused\r\n"[..], Verdict::Bounced),
        (b"451 4.3.0 later\r\n", Verdict::Deferred),
    ] {
        let replies = [&b"250 ok\r\n250 ok\r\n"[..], data].concat();
        let replies: &'static [u8] = Box::leak(replies.into_boxed_slice());
        let steps = session(PIPELINED, &[Skip, Server(replies)]);
        let run = play(&plain(), messages(&[&["b"]]), &steps);
        let report = run.report();
        assert_eq!(report.verdict, verdict);
        assert!(!report.recipients[0].is_delivered());
        assert_eq!(report.recipients[0].verdict, verdict);
        assert!(matches!(
            report.outcome,
            Outcome::Rejected {
                stage: Stage::Data,
                ..
            }
        ));
    }
}

#[test]
fn rfc2033_4_2_an_lmtp_recipient_without_its_reply_is_unknown() {
    let mut lmtp = plain();
    lmtp.lmtp = true;
    let steps = session(
        PIPELINED,
        &[
            Skip,
            Server(b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
            Client(b"x\r\n.\r\n"),
            Server(b"250 2.1.5 delivered to b\r\n"),
            Eof,
        ],
    );
    let run = play(&lmtp, messages(&[&["b", "c"]]), &steps);
    let report = run.report();
    assert_eq!(
        recipient_verdicts(report),
        [Verdict::Delivered, Verdict::Unknown]
    );
    assert_eq!(report.verdict, Verdict::Delivered);
}

#[test]
fn rfc5321_6_1_a_reset_after_the_third_final_dot_keeps_the_first_two_delivered() {
    let steps = session(
        PIPELINED,
        &[
            Skip,
            Server(b"250 ok\r\n250 ok\r\n354 go\r\n"),
            Skip,
            Server(b"250 queued 1\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
            Skip,
            Server(b"250 queued 2\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
            Client(b"x\r\n.\r\n"),
            Reset,
        ],
    );
    let run = play(&plain(), messages(&[&["b"], &["c"], &["d"]]), &steps);
    assert_eq!(
        verdicts(&run),
        [Verdict::Delivered, Verdict::Delivered, Verdict::Unknown]
    );
    let lost = Error::ConnectionLost {
        stage: Stage::DataEnd,
        cause: Disconnect::Reset,
    };
    assert_eq!(run.reports()[2].outcome, Outcome::Unknown(lost.clone()));
    assert_eq!(run.error, Some(lost));
}

#[test]
fn rfc3030_pipelined_chunks_after_a_lost_connection_are_unknown_but_not_after_a_421() {
    let answered_first = b"250 ok\r\n250 ok\r\n250 queued\r\n";
    let eof = session(CHUNKED, &[Skip, Server(answered_first), Eof]);
    let run = play(&plain(), messages(&[&["b"], &["c"], &["d"]]), &eof);
    // Their BDAT LAST went out: the server may have taken them before the connection died.
    assert_eq!(
        verdicts(&run),
        [Verdict::Delivered, Verdict::Unknown, Verdict::Unknown]
    );
    // RFC 5321 §3.8: after its 421 the server reads nothing more.
    let closing = session(
        CHUNKED,
        &[
            Skip,
            Server(answered_first),
            Server(b"421 4.3.2 shutting down\r\n"),
        ],
    );
    let run = play(&plain(), messages(&[&["b"], &["c"], &["d"]]), &closing);
    assert_eq!(
        verdicts(&run),
        [
            Verdict::Delivered,
            Verdict::NotAttempted,
            Verdict::NotAttempted
        ]
    );
}

#[test]
fn b_a_malformed_reply_defers_the_message_it_answered_and_no_other() {
    let steps = session(
        PIPELINED,
        &[
            Skip,
            Server(b"250 ok\r\n250 ok\r\n354 go\r\n"),
            Skip,
            Server(b"250 queued\r\n2x0 garbled\r\n"),
        ],
    );
    let run = play(&plain(), messages(&[&["b"], &["c"], &["d"]]), &steps);
    assert_eq!(
        verdicts(&run),
        [Verdict::Delivered, Verdict::Deferred, Verdict::NotAttempted]
    );
    assert!(matches!(
        run.reports()[1].outcome,
        Outcome::Interrupted(Error::Protocol(ProtocolError::Reply(_)))
    ));
}

#[test]
fn messages_queued_before_the_session_failed_were_not_attempted() {
    let steps = [Server(b"220 mx\r\n"), Skip, Eof];
    let run = play(&plain(), messages(&[&["b"], &["c"]]), &steps);
    assert_eq!(
        verdicts(&run),
        [Verdict::NotAttempted, Verdict::NotAttempted]
    );
    for report in run.reports() {
        assert_eq!(report.outcome, Outcome::NotAttempted);
        assert_eq!(recipient_verdicts(report), [Verdict::NotAttempted]);
    }
    let lost = Error::ConnectionLost {
        stage: Stage::Ehlo,
        cause: Disconnect::Closed,
    };
    assert_eq!(run.error, Some(lost));
}

#[test]
fn rfc9422_recipients_left_out_by_rcptmax_are_not_attempted() {
    let ehlo = b"250-mx\r\n250-PIPELINING\r\n250 LIMITS RCPTMAX=1\r\n";
    let steps = session(
        ehlo,
        &[
            Client(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"),
            Server(b"250 ok\r\n250 ok\r\n354 go\r\n"),
            Client(b"x\r\n.\r\n"),
            Server(b"250 queued\r\n"),
        ],
    );
    let run = play(&plain(), messages(&[&["b", "c"]]), &steps);
    let report = run.report();
    assert_eq!(report.verdict, Verdict::Delivered);
    assert_eq!(
        recipient_verdicts(report),
        [Verdict::Delivered, Verdict::NotAttempted]
    );
    let again: Vec<_> = report
        .recipients_with(Verdict::NotAttempted)
        .map(ToString::to_string)
        .collect();
    assert_eq!(again, ["<c@example.net>"]);
}

//! Reply framing and parsing through the public API: known answers from real servers and the
//! reply cases of SECURITY.md group B, each fed whole, byte by byte and in random segments.

mod support;

use smtp_sansio::{ReplyError, ReplyLimits, Severity};
use support::{decode, decode_every_way, one_reply};

/// (server, wire bytes, code, lines, enhanced status, text of the first line)
type KnownAnswer = (
    &'static str,
    &'static [u8],
    u16,
    usize,
    Option<&'static str>,
    &'static str,
);

const KNOWN_ANSWERS: &[KnownAnswer] = &[
    ("postfix greeting", b"220 mx.example.com ESMTP Postfix (Debian/GNU)\r\n", 220, 1, None, "mx.example.com ESMTP Postfix (Debian/GNU)"),
    ("postfix queued", b"250 2.0.0 Ok: queued as 4BC1E21A3F\r\n", 250, 1, Some("2.0.0"), "Ok: queued as 4BC1E21A3F"),
    ("postfix unknown user", b"550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in local recipient table\r\n", 550, 1, Some("5.1.1"), "<nobody@example.com>: Recipient address rejected: User unknown in local recipient table"),
    ("postfix data", b"354 End data with <CR><LF>.<CR><LF>\r\n", 354, 1, None, "End data with <CR><LF>.<CR><LF>"),
    ("postfix bye", b"221 2.0.0 Bye\r\n", 221, 1, Some("2.0.0"), "Bye"),
    ("exim greeting", b"220 mail.example.org ESMTP Exim 4.96 Sat, 28 Nov 2026 01:00:00 +0000\r\n", 220, 1, None, "mail.example.org ESMTP Exim 4.96 Sat, 28 Nov 2026 01:00:00 +0000"),
    ("exim data", b"354 Enter message, ending with \".\" on a line by itself\r\n", 354, 1, None, "Enter message, ending with \".\" on a line by itself"),
    ("exim accepted", b"250 OK id=1vQx2A-000123-4B\r\n", 250, 1, None, "OK id=1vQx2A-000123-4B"),
    ("gmail accepted", b"250 2.0.0 OK  1764291600 d2e1a72fcca58-7b9a1c2d3e4f5si1234567b3a.123 - gsmtp\r\n", 250, 1, Some("2.0.0"), "OK  1764291600 d2e1a72fcca58-7b9a1c2d3e4f5si1234567b3a.123 - gsmtp"),
    ("gmail bad credentials", b"535-5.7.8 Username and Password not accepted. For more information, go to\r\n535 5.7.8  https://support.google.com/mail/?p=BadCredentials d2e1a - gsmtp\r\n", 535, 2, Some("5.7.8"), "Username and Password not accepted. For more information, go to"),
    ("gmail try later", b"421-4.7.0 Try again later, closing connection. (EHLO)\r\n421-4.7.0  For more information, go to\r\n421 4.7.0  https://support.google.com/a/answer/3221692 - gsmtp\r\n", 421, 3, Some("4.7.0"), "Try again later, closing connection. (EHLO)"),
    ("outlook accepted", b"250 2.0.0 OK <MN2PR01MB1234.namprd01.prod.outlook.com> [Hostname=MN2PR01MB1234.namprd01.prod.outlook.com]\r\n", 250, 1, Some("2.0.0"), "OK <MN2PR01MB1234.namprd01.prod.outlook.com> [Hostname=MN2PR01MB1234.namprd01.prod.outlook.com]"),
    ("outlook auth failed", b"535 5.7.139 Authentication unsuccessful, the user credentials were incorrect. [MN2PR01CA0012.namprd01.prod.outlook.com]\r\n", 535, 1, Some("5.7.139"), "Authentication unsuccessful, the user credentials were incorrect. [MN2PR01CA0012.namprd01.prod.outlook.com]"),
    ("ses greeting", b"220 email-smtp.amazonaws.com ESMTP SimpleEmailService-d-ABCD1234 abcdefghij\r\n", 220, 1, None, "email-smtp.amazonaws.com ESMTP SimpleEmailService-d-ABCD1234 abcdefghij"),
    ("ses accepted", b"250 Ok 0100019ac1b2c3d4-5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9-000000\r\n", 250, 1, None, "Ok 0100019ac1b2c3d4-5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9-000000"),
    ("ses throttled", b"454 Throttling failure: Maximum sending rate exceeded.\r\n", 454, 1, None, "Throttling failure: Maximum sending rate exceeded."),
    ("ses unverified", b"554 Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: sender@example.com\r\n", 554, 1, None, "Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: sender@example.com"),
    ("ses bad credentials", b"535 Authentication Credentials Invalid\r\n", 535, 1, None, "Authentication Credentials Invalid"),
    ("smtp-sink ok", b"250 2.0.0 Ok\r\n", 250, 1, Some("2.0.0"), "Ok"),
    ("auth challenge", b"334 VXNlcm5hbWU6\r\n", 334, 1, None, "VXNlcm5hbWU6"),
    ("empty challenge", b"334 \r\n", 334, 1, None, ""),
];

#[test]
fn known_answers_from_real_servers() {
    for &(name, wire, code, lines, status, text) in KNOWN_ANSWERS {
        let reply = one_reply(wire);
        assert_eq!(reply.code().get(), code, "{name}");
        assert_eq!(reply.lines().len(), lines, "{name}");
        assert_eq!(
            reply.enhanced_status().map(|s| s.to_string()).as_deref(),
            status,
            "{name}"
        );
        assert_eq!(reply.first_text(), text.as_bytes(), "{name}");
        let mut again = bytes::BytesMut::new();
        reply.encode(&mut again);
        assert_eq!(one_reply(&again), reply, "{name}: re-encoded");
    }
}

#[test]
fn ses_throttling_is_transient_and_421_is_closing() {
    assert!(
        one_reply(b"454 Throttling failure: Maximum sending rate exceeded.\r\n").is_transient()
    );
    let closing = one_reply(b"421 4.3.2 shutting down\r\n");
    assert!(closing.is_service_closing() && closing.is_transient());
}

#[test]
fn b1_minimal_reply_forms_are_the_same_reply() {
    let bare = one_reply(b"250\r\n");
    assert_eq!(one_reply(b"250 \r\n"), bare);
    assert_eq!(one_reply(b"250 OK\r\n").code(), bare.code());
    let multi = one_reply(b"250-\r\n250 x\r\n");
    assert_eq!(multi.lines().len(), 2);
}

#[test]
fn b2_continuation_text_starting_with_digits() {
    let reply = one_reply(b"250-234 Text beginning with numbers\r\n250 The last line\r\n");
    assert_eq!(reply.code().get(), 250);
    assert_eq!(reply.lines()[0].text(), b"234 Text beginning with numbers");
    assert_eq!(reply.lines()[1].text(), b"The last line");
}

#[test]
fn b3_inconsistent_multiline_code_is_fatal() {
    for (wire, first, found) in [
        (&b"250-first\r\n550 last\r\n"[..], 250, 550),
        (b"250-a\r\n251 b\r\n", 250, 251),
    ] {
        let decoded = decode(wire);
        assert!(decoded.replies.is_empty());
        assert_eq!(
            decoded.error,
            Some(ReplyError::InconsistentMultilineCode { first, found })
        );
    }
}

#[test]
fn b4_non_smtp_lines_are_fatal() {
    for wire in [
        &b"25\r\n"[..],
        b"2500 ok\r\n",
        b"25O ok\r\n",
        b" 250 ok\r\n",
        b"250\tok\r\n",
        b"+OK\r\n",
        b"* OK IMAP ready\r\n",
        b"HTTP/1.1 400 Bad Request\r\n",
    ] {
        let decoded = decode(wire);
        assert!(
            matches!(decoded.error, Some(ReplyError::NonSmtpReply { .. })),
            "{wire:?}"
        );
        assert!(decoded.replies.is_empty());
    }
}

#[test]
fn b5_first_digit_out_of_range_is_fatal() {
    for (wire, code) in [
        (&b"199 no hello for you!\r\n"[..], 199),
        (b"600 x\r\n", 600),
        (b"099 x\r\n", 99),
    ] {
        assert_eq!(
            decode(wire).error,
            Some(ReplyError::CodeOutOfRange { code })
        );
    }
}

#[test]
fn b6_unknown_in_range_codes_are_classified_by_first_digit() {
    for (wire, severity) in [
        (&b"299 fine\r\n"[..], Severity::PositiveCompletion),
        (b"459 later\r\n", Severity::TransientNegative),
        (b"559 no\r\n", Severity::PermanentNegative),
        (b"260 x\r\n", Severity::PositiveCompletion),
    ] {
        assert_eq!(one_reply(wire).severity(), severity);
    }
}

#[test]
fn b8_reply_line_length() {
    let mut exact = b"250 ".to_vec();
    exact.resize(510, b'x');
    exact.extend_from_slice(b"\r\n");
    assert_eq!(exact.len(), 512);
    one_reply(&exact);

    let mut limits = ReplyLimits::default();
    limits.max_line_len = 512;
    assert_eq!(decode_every_way(limits, &exact).error, None);
    let mut long = exact.clone();
    long.insert(5, b'x');
    let decoded = decode_every_way(limits, &long);
    assert_eq!(decoded.error, Some(ReplyError::LineTooLong { limit: 512 }));
}

#[test]
fn b9_endless_multiline_reply_stops_at_a_cap() {
    let wire = b"250-x\r\n".repeat(1_000_000);
    let decoded = support::decode_split(ReplyLimits::default(), &wire, &[]);
    assert_eq!(decoded.error, Some(ReplyError::TooManyLines { limit: 256 }));
    let mut limits = ReplyLimits::default();
    limits.max_lines = 100_000;
    limits.max_reply_len = 4096;
    let decoded = support::decode_split(limits, &wire, &[]);
    assert_eq!(
        decoded.error,
        Some(ReplyError::ReplyTooLong { limit: 4096 })
    );
}

#[test]
fn b10_line_without_terminator_stops_at_the_cap() {
    let wire = vec![b'A'; 10 * 1024 * 1024];
    for chunk in [wire.len(), 4096, 1] {
        let mut decoder = smtp_sansio::ReplyDecoder::default();
        for piece in wire.chunks(chunk).take(3000) {
            decoder.feed(piece);
        }
        assert_eq!(
            decoder.next_reply(),
            Err(ReplyError::LineTooLong { limit: 2048 })
        );
    }
}

#[test]
fn b11_only_crlf_ends_a_line() {
    assert_eq!(decode(b"250 OK\n").error, Some(ReplyError::BareLineFeed));
    let cr_then_eof = decode(b"250 OK\r");
    assert!(cr_then_eof.error.is_none() && cr_then_eof.replies.is_empty() && cr_then_eof.mid_reply);
    assert_eq!(
        decode(b"250 O\rK\r\n").error,
        Some(ReplyError::BareCarriageReturn)
    );
}

#[test]
fn b11_bare_lf_tolerance_is_an_explicit_option() {
    let mut decoder = smtp_sansio::ReplyDecoder::default();
    decoder.accept_bare_lf(true);
    decoder.feed(b"250-mx\n250 OK\r\n");
    let reply = decoder.next_reply().expect("valid").expect("complete");
    assert_eq!(reply.lines().len(), 2);
    decoder.feed(b"250 O\rK\n");
    assert_eq!(decoder.next_reply(), Err(ReplyError::BareCarriageReturn));
}

#[test]
fn b12_hostile_text_is_kept_and_escaped_for_display() {
    let reply = one_reply(b"550 \x1b[2J\x00boom \xff\xfe\r\n");
    assert_eq!(reply.code().get(), 550);
    assert_eq!(reply.first_text(), b"\x1b[2J\x00boom \xff\xfe");
    let shown = reply.to_string();
    assert_eq!(shown, "550 \\x1b[2J\\x00boom \\xff\\xfe");
    assert!(shown.bytes().all(|b| (0x20..0x7f).contains(&b)));
}

#[test]
fn b16_greeting_variants() {
    assert_eq!(one_reply(b"220-a\r\n220-b\r\n220 c\r\n").lines().len(), 3);
    assert_eq!(one_reply(b"220\r\n").code().get(), 220);
    assert_eq!(one_reply(b"220 mx.example.com hello\r\n").code().get(), 220);
}

#[test]
fn b17_eof_in_the_middle_of_a_reply_leaves_no_reply() {
    let decoded = decode(b"250-abc\r\n250 par");
    assert!(decoded.replies.is_empty() && decoded.error.is_none() && decoded.mid_reply);
    assert!(!decode(b"250 done\r\n").mid_reply);
}

#[test]
fn b18_enhanced_status_codes() {
    assert_eq!(
        one_reply(b"250 2.1.5 OK\r\n")
            .enhanced_status()
            .map(|s| s.to_string()),
        Some("2.1.5".into())
    );
    let unknown = one_reply(b"550 5.1.1 unknown\r\n");
    assert_eq!(unknown.first_text(), b"unknown");
    assert_eq!(one_reply(b"250 5.0.0 weird\r\n").enhanced_status(), None);
    assert_eq!(one_reply(b"250 2.x.y\r\n").enhanced_status(), None);
}

#[test]
fn b20_overflowing_numbers_are_malformed() {
    let decoded = decode(b"99999999999999999999 ok\r\n");
    assert!(matches!(
        decoded.error,
        Some(ReplyError::NonSmtpReply { .. })
    ));
}

#[test]
fn e11_long_challenges_pass_the_general_cap() {
    let mut challenge = b"334 ".to_vec();
    challenge.resize(12_286, b'Q');
    challenge.extend_from_slice(b"\r\n");
    assert_eq!(challenge.len(), 12_288);
    assert_eq!(one_reply(&challenge).first_text().len(), 12_282);
    let mut too_long = b"334 ".to_vec();
    too_long.resize(20_000, b'Q');
    assert!(matches!(
        decode(&too_long).error,
        Some(ReplyError::LineTooLong { .. })
    ));
    let mut not_a_challenge = b"250 ".to_vec();
    not_a_challenge.resize(12_286, b'Q');
    not_a_challenge.extend_from_slice(b"\r\n");
    assert!(matches!(
        decode(&not_a_challenge).error,
        Some(ReplyError::LineTooLong { limit: 2048 })
    ));
}

#[test]
fn errors_are_sticky_and_come_after_the_replies_before_them() {
    let mut decoder = smtp_sansio::ReplyDecoder::default();
    decoder.feed(b"250 one\r\n+OK\r\n250 two\r\n");
    assert!(decoder.next_reply().expect("first").is_some());
    assert!(decoder.next_reply().is_err());
    decoder.feed(b"250 three\r\n");
    assert!(decoder.next_reply().is_err());
    assert!(decoder.has_buffered_input());
}

#[test]
fn a5_a6_bytes_after_a_reply_are_visible() {
    let mut decoder = smtp_sansio::ReplyDecoder::default();
    decoder.feed(b"220 2.0.0 Ready to start TLS\r\n250-mx.example\r\n250 AUTH LOGIN\r\n");
    decoder.next_reply().expect("valid").expect("220");
    assert!(decoder.has_buffered_input());

    let mut decoder = smtp_sansio::ReplyDecoder::default();
    decoder.feed(b"220 ok\r\n250-AUTH PLA");
    decoder.next_reply().expect("valid").expect("220");
    assert!(decoder.has_buffered_input());

    let mut clean = smtp_sansio::ReplyDecoder::default();
    clean.feed(b"220 go ahead\r\n");
    clean.next_reply().expect("valid").expect("220");
    assert!(!clean.has_buffered_input());
}

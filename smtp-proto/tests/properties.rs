//! Property tests of the wire layer's invariants (SECURITY.md B13, C10, D6; DESIGN.md §4.11).

mod support;

use support::reference::{reference_canonical, unstuff};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use smtp_sansio::{
    BdatContent, BdatEncoder, Capabilities, ClientId, Command, DataEncoder, MailCommand,
    MailParameters, Mailbox, QueryArg, RcptCommand, Reply, ReplyCode, ReplyLimits, TextPolicy,
};

/// Server-like input: mostly reply lines, with junk, bare line endings and partial lines.
fn server_bytes() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        4 => (200u16..600, prop::bool::ANY, "[ -~]{0,30}")
            .prop_map(|(c, more, t)| format!("{c}{}{t}\r\n", if more { "-" } else { " " }).into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..12),
        1 => Just(b"\n".to_vec()),
        1 => Just(b"\r".to_vec()),
        1 => Just(b"334 ".to_vec()),
    ];
    prop::collection::vec(line, 0..30).prop_map(|lines| lines.concat())
}

fn cuts() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..20, 0..40)
}

fn small_limits() -> ReplyLimits {
    let mut limits = ReplyLimits::default();
    limits.max_line_len = 40;
    limits.max_challenge_line_len = 60;
    limits.max_lines = 5;
    limits.max_reply_len = 120;
    limits
}

fn text_body() -> impl Strategy<Value = Vec<u8>> {
    const TOKENS: [&[u8]; 9] = [
        b".",
        b"\r",
        b"\n",
        b"\r\n",
        b"a",
        b"..x",
        b" ",
        b"\r\n.\r\n",
        b"MAIL FROM:<x@y>",
    ];
    prop::collection::vec(prop::sample::select(&TOKENS[..]), 0..200).prop_map(|t| t.concat())
}

fn chunked<'a>(body: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    let mut rest = body;
    for &cut in cuts {
        let (head, tail) = rest.split_at(cut.min(rest.len()));
        pieces.push(head);
        rest = tail;
    }
    pieces.push(rest);
    pieces
}

fn everything() -> Capabilities {
    let wire =
        b"250-mx\r\n250-SIZE\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-DSN\r\n250 AUTH PLAIN\r\n";
    Capabilities::from_ehlo_reply(&support::one_reply(wire)).expect("250")
}

/// Asserts C10 on one encoded line: one CRLF, at the end, no other CR, LF or NUL.
fn assert_one_line(line: &[u8]) {
    assert!(line.ends_with(b"\r\n"), "{line:?}");
    let body = &line[..line.len() - 2];
    assert!(
        !body.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0),
        "{line:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// B13: any split of the input gives the same replies, the same error, the same end state.
    #[test]
    fn b13_any_split_gives_the_same_replies(input in server_bytes(), cuts in cuts()) {
        for limits in [ReplyLimits::default(), small_limits()] {
            let whole = support::decode_split(limits, &input, &[]);
            prop_assert_eq!(support::decode_split(limits, &input, &cuts), whole);
        }
    }

    /// A reply encodes and decodes back to itself.
    #[test]
    fn reply_round_trips(code in 200u16..600, lines in prop::collection::vec("[\t -~]{0,60}", 1..6)) {
        let code = ReplyCode::new(code).expect("in range");
        let reply = Reply::new(code, &lines).expect("no line breaks");
        let mut wire = BytesMut::new();
        reply.encode(&mut wire);
        prop_assert_eq!(wire.len(), reply.encoded_len());
        prop_assert_eq!(support::one_reply(&wire), reply);
    }

    /// C10: every command built from valid values is one line of the grammar.
    #[test]
    fn c10_built_commands_match_the_grammar(
        local in "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,20}(\\.[a-z0-9]{1,8}){0,3}",
        domain in "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\\.[a-z]{2,10}){1,3}",
        size in any::<u64>(),
    ) {
        let mailbox = Mailbox::parse(&format!("{local}@{domain}")).expect("valid by construction");
        let caps = everything();
        let params = MailParameters { size: Some(size), ..Default::default() };
        let commands = [
            Command::Ehlo(ClientId::parse(&domain).expect("valid")),
            Command::Mail(MailCommand::new(mailbox.clone().into(), params, &caps).expect("valid")),
            Command::Rcpt(RcptCommand::new(mailbox.clone().into(), Default::default(), &caps).expect("valid")),
            Command::Vrfy(QueryArg::parse(&local).expect("valid")),
        ];
        let patterns = [
            format!("EHLO {domain}"),
            format!("MAIL FROM:<{mailbox}> SIZE={size}"),
            format!("RCPT TO:<{mailbox}>"),
            format!("VRFY {local}"),
        ];
        for (command, expected) in commands.iter().zip(patterns) {
            let mut line = BytesMut::new();
            command.encode(&mut line);
            assert_one_line(&line);
            prop_assert!(line.len() <= 512 + 26);
            prop_assert_eq!(&line[..line.len() - 2], expected.as_bytes());
        }
    }

    /// C1-C5, C12: arbitrary text either fails validation or encodes without breaking the line
    /// or the angle brackets.
    #[test]
    fn c1_c5_arbitrary_text_is_refused_or_safe(text in "\\PC{0,40}|[\r\n\0<> @\"\\\\a-z.]{0,40}") {
        if let Ok(mailbox) = Mailbox::parse(&text) {
            let caps = everything();
            let mut line = BytesMut::new();
            Command::Rcpt(RcptCommand::new(mailbox.into(), Default::default(), &caps).expect("fits")).encode(&mut line);
            assert_one_line(&line);
            let inner = &line[b"RCPT TO:<".len()..line.len() - 3];
            prop_assert_eq!(inner, text.as_bytes());
            prop_assert!(!text.contains('>') || text.starts_with('"'));
        }
        if let Ok(id) = ClientId::parse(&text) {
            let mut line = BytesMut::new();
            Command::Ehlo(id).encode(&mut line);
            assert_one_line(&line);
            prop_assert!(!text.contains(' '));
        }
        if let Ok(arg) = QueryArg::parse(&text) {
            let mut line = BytesMut::new();
            Command::Expn(arg).encode(&mut line);
            assert_one_line(&line);
        }
    }

    /// D1, D6: for any body and any chunking, the DATA stream is the canonical body, stuffed,
    /// with exactly one terminator at the end.
    #[test]
    fn d6_data_encoder_is_canonical_for_every_chunking(body in text_body(), cuts in cuts()) {
        let mut whole = BytesMut::new();
        DataEncoder::encode_all(TextPolicy::default(), &body, &mut whole).expect("valid");
        let mut split = BytesMut::new();
        let mut encoder = DataEncoder::new(TextPolicy::default());
        for piece in chunked(&body, &cuts) {
            encoder.push(piece, &mut split).expect("valid");
        }
        encoder.finish(&mut split).expect("valid");
        prop_assert_eq!(&split, &whole);
        prop_assert_eq!(unstuff(&whole), Some(reference_canonical(&body)));
        let eod = whole.windows(5).filter(|w| w == b"\r\n.\r\n").count();
        prop_assert_eq!(eod, usize::from(&whole[..] != b".\r\n"));
        prop_assert!(whole.ends_with(b".\r\n"));
    }

    /// D13, D15: BDAT chunks carry the canonical body, every chunk but the last full-sized,
    /// the same however the body was pushed.
    #[test]
    fn d13_bdat_chunks_are_canonical_for_every_chunking(
        body in text_body(), cuts in cuts(), chunk_size in 1usize..64,
    ) {
        let mut encoder = BdatEncoder::new(BdatContent::Text(TextPolicy::default()), chunk_size);
        let mut chunks = Vec::new();
        for piece in chunked(&body, &cuts) {
            encoder.push(piece).expect("valid");
            chunks.extend(std::iter::from_fn(|| encoder.next_chunk()));
        }
        encoder.finish().expect("valid");
        chunks.extend(std::iter::from_fn(|| encoder.next_chunk()));
        let (last, full) = chunks.split_last().expect("at least the LAST chunk");
        prop_assert!(last.last && last.data.len() <= chunk_size);
        prop_assert!(full.iter().all(|c| c.data.len() == chunk_size && !c.last));
        let content: Vec<u8> = chunks.iter().flat_map(|c| c.data.to_vec()).collect();
        prop_assert_eq!(content, reference_canonical(&body));
    }

    /// Binary BDAT chunks reassemble to the body exactly.
    #[test]
    fn binary_chunks_reassemble(body in prop::collection::vec(any::<u8>(), 0..300), size in 1usize..50) {
        let chunks: Vec<_> = BdatEncoder::binary_chunks(Bytes::from(body.clone()), size).collect();
        prop_assert_eq!(chunks.iter().filter(|c| c.last).count(), 1);
        prop_assert!(chunks.last().is_some_and(|c| c.last));
        let joined: Vec<u8> = chunks.iter().flat_map(|c| c.data.to_vec()).collect();
        prop_assert_eq!(joined, body);
    }
}

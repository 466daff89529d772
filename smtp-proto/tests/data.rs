//! Message data through the public API: SECURITY.md group D, for DATA and BDAT.

#[path = "support/reference.rs"]
mod reference;

use bytes::BytesMut;
use reference::unstuff;

use smtp_sansio::{BareLineEndings, BdatContent, BdatEncoder, DataEncoder, DataError, TextPolicy};

fn data(policy: TextPolicy, body: &[u8]) -> Result<Vec<u8>, DataError> {
    let mut out = BytesMut::new();
    DataEncoder::encode_all(policy, body, &mut out).map(|()| out.to_vec())
}

fn normalize(body: &[u8]) -> Vec<u8> {
    data(TextPolicy::default(), body).expect("valid body")
}

const REJECT: TextPolicy = TextPolicy {
    bare_line_endings: BareLineEndings::Reject,
    allow_8bit: false,
};

/// The outbound end-of-data look-alikes of the SMTP smuggling research (SECURITY.md D1).
const SMUGGLING: [&[u8]; 10] = [
    b"\n.\n",
    b"\n.\r\n",
    b"\r.\n",
    b"\r.\r",
    b"\r.\r\n",
    b"\r\n.\r",
    b"\r\n.\n",
    b"\n.\r",
    b"\r\n.\r\r\n",
    b"\r\r\n.\r\r\n",
];
const PAYLOAD: &[u8] =
    b"MAIL FROM:<x@evil>\r\nRCPT TO:<v@victim>\r\nDATA\r\nFrom: ceo@victim\r\n\r\nX\r\n";

/// Checks D1's three properties on the bytes sent after 354.
fn assert_canonical(wire: &[u8]) {
    for (i, &b) in wire.iter().enumerate() {
        if b == b'\r' {
            assert_eq!(wire.get(i + 1), Some(&b'\n'), "bare CR at {i}");
        }
        if b == b'\n' {
            assert!(i > 0 && wire[i - 1] == b'\r', "bare LF at {i}");
        }
    }
    let terminators = wire.windows(5).filter(|w| w == b"\r\n.\r\n").count();
    assert!(wire.ends_with(b"\r\n.\r\n") || wire == b".\r\n");
    assert_eq!(
        terminators,
        usize::from(wire != b".\r\n"),
        "terminator exactly once"
    );
    let body = &wire[..wire.len() - 3];
    for line in body.split(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            assert_eq!(line.get(1), Some(&b'.'), "unstuffed dot line {line:?}");
        }
    }
}

#[test]
fn d1_end_of_data_look_alikes_never_survive() {
    for sequence in SMUGGLING {
        let body = [&b"A"[..], sequence, PAYLOAD].concat();
        let wire = normalize(&body);
        assert_canonical(&wire);
        assert_eq!(
            data(REJECT, &body),
            Err(DataError::BareLineEnding),
            "{sequence:?}"
        );
        // The same under BDAT, where a later hop may turn the message back into DATA (D15).
        let mut bdat = BdatEncoder::new(BdatContent::Text(TextPolicy::default()), 7);
        bdat.push(&body).expect("valid");
        bdat.finish().expect("valid");
        let content: Vec<u8> = std::iter::from_fn(|| bdat.next_chunk())
            .flat_map(|c| c.data.to_vec())
            .collect();
        assert_eq!(content, unstuff(&wire).expect("terminated"), "{sequence:?}");
    }
}

#[test]
fn d2_nul_is_refused() {
    assert_eq!(
        data(TextPolicy::default(), b"x\r\n\x00.\r\ny"),
        Err(DataError::Nul)
    );
    let mut bdat = BdatEncoder::new(BdatContent::Text(TextPolicy::default()), 64);
    assert_eq!(bdat.push(b"a\x00b"), Err(DataError::Nul));
    assert_eq!(bdat.push(b"more"), Err(DataError::Nul), "errors are sticky");
}

#[test]
fn d3_real_dot_lines_are_doubled() {
    assert_eq!(normalize(b"x\r\n.\r\ny"), b"x\r\n..\r\ny\r\n.\r\n");
    assert_eq!(normalize(b"x\r\n\r\n.\r\n"), b"x\r\n\r\n..\r\n.\r\n");
}

#[test]
fn d4_a_dot_on_the_first_line() {
    assert_eq!(
        normalize(b".A test\r\n.mes.sage."),
        b"..A test\r\n..mes.sage.\r\n.\r\n"
    );
}

#[test]
fn d5_terminator_is_added_exactly_once() {
    assert_eq!(normalize(b"no final crlf"), b"no final crlf\r\n.\r\n");
    assert_eq!(normalize(b"final crlf\r\n"), b"final crlf\r\n.\r\n");
    assert_eq!(normalize(b""), b".\r\n");
    assert_eq!(normalize(b"ends in cr\r"), b"ends in cr\r\n.\r\n");
}

#[test]
fn d6_chunk_boundaries_never_matter() {
    let body = b".a\r\n\n.\n.\n.\r.\r\n\r\r\n..x\r\n.\r\nend.\r";
    let whole = normalize(body);
    for size in 1..body.len() {
        let mut out = BytesMut::new();
        let mut encoder = DataEncoder::new(TextPolicy::default());
        for chunk in body.chunks(size) {
            encoder.push(chunk, &mut out).expect("valid");
        }
        encoder.finish(&mut out).expect("valid");
        assert_eq!(out.to_vec(), whole, "chunks of {size}");
    }
    // Worst-case growth: every line is a single stuffed dot.
    let dots = b"\n.".repeat(10_000);
    let wire = normalize(&dots);
    assert_canonical(&wire);
    assert_eq!(wire.len(), 2 + 10_000 * 4 + 2 + 3 - 2);
}

#[test]
fn d7_line_length() {
    let ok = [vec![b'x'; 998], b"\r\n".to_vec()].concat();
    assert!(data(TextPolicy::default(), &ok).is_ok());
    let long = [vec![b'x'; 999], b"\r\n".to_vec()].concat();
    assert_eq!(
        data(TextPolicy::default(), &long),
        Err(DataError::LineTooLong)
    );
    // A stuffed dot does not count towards the limit: it is removed by the receiver.
    let dotted = [vec![b'.'; 998], b"\r\n".to_vec()].concat();
    assert!(data(TextPolicy::default(), &dotted).is_ok());
}

#[test]
fn d8_eight_bit_content() {
    let body = "Grüße\r\n".as_bytes();
    assert_eq!(data(TextPolicy::default(), body), Err(DataError::EightBit));
    let eight_bit = TextPolicy {
        allow_8bit: true,
        ..TextPolicy::default()
    };
    assert_eq!(
        data(eight_bit, body).expect("allowed"),
        [body, b".\r\n"].concat()
    );
    assert!(b"plain".is_ascii() && !body.is_ascii());
    // BINARYMIME carries anything, unchanged: NUL, bare CR and LF, long lines.
    let binary = [&b"\x00\r\n.\n\xff"[..], &vec![b'x'; 5000]].concat();
    let mut bdat = BdatEncoder::new(BdatContent::Binary, 1 << 20);
    bdat.push(&binary).expect("binary");
    bdat.finish().expect("binary");
    assert_eq!(
        bdat.next_chunk().map(|c| (c.data, c.last)),
        Some((bytes::Bytes::from(binary), true))
    );
    assert_eq!(bdat.next_chunk(), None);
}

#[test]
fn d13_bdat_framing() {
    let mut bdat = BdatEncoder::new(BdatContent::Text(TextPolicy::default()), 4);
    bdat.push(b"ab\ncd\r\n.e").expect("valid");
    bdat.finish().expect("valid");
    let mut wire = BytesMut::new();
    while let Some(chunk) = bdat.next_chunk() {
        chunk.encode(&mut wire);
    }
    assert_eq!(
        &wire[..],
        b"BDAT 4\r\nab\r\nBDAT 4\r\ncd\r\nBDAT 4 LAST\r\n.e\r\n"
    );

    let mut empty = BdatEncoder::new(BdatContent::Text(TextPolicy::default()), 4);
    empty.finish().expect("valid");
    let last = empty.next_chunk().expect("the LAST chunk");
    assert_eq!(
        last.command(),
        smtp_sansio::Command::Bdat {
            size: 0,
            last: true
        }
    );
    assert_eq!(empty.next_chunk(), None);
    assert_eq!(empty.push(b"x"), Err(DataError::Finished));

    let chunks: Vec<_> =
        BdatEncoder::binary_chunks(bytes::Bytes::from_static(b"0123456789"), 4).collect();
    let sizes: Vec<_> = chunks.iter().map(|c| (c.data.len(), c.last)).collect();
    assert_eq!(sizes, [(4, false), (4, false), (2, true)]);
    let whole: Vec<_> = BdatEncoder::binary_chunks(bytes::Bytes::new(), 4).collect();
    assert_eq!(whole.len(), 1);
    assert!(whole[0].last && whole[0].data.is_empty());
}

#[test]
fn d15_bdat_text_keeps_the_data_rules() {
    let mut bdat = BdatEncoder::new(BdatContent::Text(TextPolicy::default()), 1 << 16);
    assert_eq!(bdat.push(&vec![b'x'; 999]), Err(DataError::LineTooLong));
    let mut bdat = BdatEncoder::new(BdatContent::Text(REJECT), 1 << 16);
    assert_eq!(bdat.push(b"a\nb"), Err(DataError::BareLineEnding));
}

#[test]
fn finished_encoders_refuse_more() {
    let mut out = BytesMut::new();
    let mut encoder = DataEncoder::new(TextPolicy::default());
    encoder.finish(&mut out).expect("empty body");
    assert_eq!(encoder.push(b"late", &mut out), Err(DataError::Finished));
    assert_eq!(encoder.finish(&mut out), Err(DataError::Finished));
    assert_eq!(&out[..], b".\r\n");
}

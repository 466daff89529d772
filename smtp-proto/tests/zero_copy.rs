//! Bodies held in `Bytes` go out by reference: BDAT chunks are slices of the caller's buffer
//! (RFC 3030 §2), DATA sends the caller's lines between the dots it adds (RFC 5321 §4.5.2), and
//! a large body never sits in one transmission whole.

mod support;

use bytes::Bytes;
use proptest::prelude::*;
use smtp_sansio::{BdatEncoder, DataEncoder, TextPolicy};
use support::answering::send;

/// The most body octets one DATA transmission carries, plus room for the dots added to it.
const DATA_WINDOW: usize = 256 * 1024;

/// Mail-like text: 76-octet lines, one in `dot_every` starting with a dot.
fn text(octets: usize, dot_every: usize) -> Bytes {
    let mut body = Vec::with_capacity(octets + 80);
    let mut line = 0;
    while body.len() < octets {
        body.push(if line % dot_every == 0 { b'.' } else { b'x' });
        body.extend_from_slice(&[b'a'; 73]);
        body.extend_from_slice(b"\r\n");
        line += 1;
    }
    Bytes::from(body)
}

fn stuffed(body: &[u8]) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    DataEncoder::encode_all(TextPolicy::default(), body, &mut out).expect("canonical text");
    out.to_vec()
}

#[test]
fn rfc3030_bdat_chunks_are_slices_of_the_callers_body() {
    let body = text(3 << 20, 1000);
    let sent = send("250-CHUNKING\r\n", body.clone());
    assert!(sent.report.is_delivered());
    // All but the short last chunk, which is copied next to its command.
    assert!(body.len() - sent.referenced(&body) < 512);
    let mut expected = bytes::BytesMut::new();
    for chunk in BdatEncoder::binary_chunks(body.clone(), 256 * 1024) {
        chunk.encode(&mut expected);
    }
    expected.extend_from_slice(b"QUIT\r\n");
    assert!(sent.stream().ends_with(&expected));
}

#[test]
fn rfc5321_4_5_2_data_sends_the_callers_lines_between_added_dots() {
    let body = text(3 << 20, 1000);
    let sent = send("", body.clone());
    assert!(sent.report.is_delivered());
    let expected = [&b"DATA\r\n"[..], &stuffed(&body), b"QUIT\r\n"].concat();
    assert!(sent.stream().ends_with(&expected));
    assert!(sent.referenced(&body) * 100 >= body.len() * 99);
    assert!(sent.largest() <= DATA_WINDOW, "{}", sent.largest());
}

/// A body of nothing but dot lines is stuffed by copying, one bounded window at a time.
#[test]
fn rfc5321_4_5_2_dot_heavy_bodies_stay_bounded() {
    let body = Bytes::from(b".\r\n".repeat(400_000));
    let sent = send("", body.clone());
    let expected = [&b"DATA\r\n"[..], &stuffed(&body), b"QUIT\r\n"].concat();
    assert!(sent.stream().ends_with(&expected));
    assert!(sent.largest() <= DATA_WINDOW * 2, "{}", sent.largest());
}

/// RFC 5321 §2.3.8: a body with bare LFs is checked when queued, declared with its canonical
/// SIZE (RFC 1870), and made canonical a window at a time as it goes out, never copied whole.
#[test]
fn bare_line_feeds_are_canonicalised_a_window_at_a_time() {
    let lines = 600_000;
    let body = Bytes::from("line\n".repeat(lines));
    let canonical = "line\r\n".repeat(lines);
    let size = format!(" SIZE={}\r\n", canonical.len());
    for chunking in [false, true] {
        let extensions = if chunking {
            "250-SIZE 100000000\r\n250-CHUNKING\r\n"
        } else {
            "250-SIZE 100000000\r\n"
        };
        let sent = send(extensions, body.clone());
        assert!(sent.report.is_delivered());
        assert_eq!(sent.referenced(&body), 0);
        let stream = sent.stream();
        assert!(stream.windows(size.len()).any(|w| w == size.as_bytes()));
        let mut expected = bytes::BytesMut::new();
        if chunking {
            let chunks = BdatEncoder::binary_chunks(Bytes::from(canonical.clone()), 256 * 1024);
            chunks.for_each(|chunk| chunk.encode(&mut expected));
            assert!(sent.largest() <= 256 * 1024 + 32, "{}", sent.largest());
        } else {
            expected.extend_from_slice(b"DATA\r\n");
            expected.extend_from_slice(&stuffed(canonical.as_bytes()));
            assert!(sent.largest() <= DATA_WINDOW * 2, "{}", sent.largest());
        }
        expected.extend_from_slice(b"QUIT\r\n");
        assert!(stream.ends_with(&expected), "chunking {chunking}");
    }
}

/// With PIPELINING, BDAT chunks go out without waiting, but only until
/// `Config::max_unacknowledged_bytes` (4 MiB) await their replies, whether the chunks are
/// slices of the body or canonicalised copies (RFC 3030 §2, RFC 2920 §3.1).
#[test]
fn pipelined_chunks_stop_at_the_unacknowledged_bound() {
    let crlf = text(12 << 20, 1000);
    let bare_lf = Bytes::from("line\n".repeat(2_500_000));
    for body in [crlf, bare_lf] {
        let sent = send("250-PIPELINING\r\n250-CHUNKING\r\n", body);
        assert!(sent.report.is_delivered());
        assert!(sent.transmissions.len() > 3);
        let bound = 4 * 1024 * 1024 + 256 * 1024 + 64;
        assert!(sent.largest() <= bound, "{}", sent.largest());
    }
}

/// Lines of canonical text filling exactly `total` octets (`total` over 1000).
fn filler(total: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(total);
    while total - body.len() > 1000 {
        body.extend_from_slice(&[b'a'; 498]);
        body.extend_from_slice(b"\r\n");
    }
    let rest = total - body.len();
    body.extend(std::iter::repeat_n(b'b', rest - 2));
    body.extend_from_slice(b"\r\n");
    body
}

/// A line starting with a dot right where one window ends and the next begins.
#[test]
fn rfc5321_4_5_2_a_dot_line_at_a_window_boundary_is_stuffed() {
    for offset in DATA_WINDOW - 8..=DATA_WINDOW + 8 {
        let body = [filler(offset), b".dot\r\n..two\r\nend\r\n".to_vec()].concat();
        let body = Bytes::from(body);
        let sent = send("", body.clone());
        let expected = [&b"DATA\r\n"[..], &stuffed(&body), b"QUIT\r\n"].concat();
        assert!(sent.stream().ends_with(&expected), "dot line at {offset}");
    }
}

fn line() -> impl Strategy<Value = Vec<u8>> {
    (any::<bool>(), 0usize..998).prop_map(|(dot, len)| {
        let mut line = vec![b'l'; len];
        if dot && len > 0 {
            line[0] = b'.';
        }
        line.extend_from_slice(b"\r\n");
        line
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// RFC 5321 §4.5.2: however the body falls into windows, DATA sends exactly what the
    /// encoder makes of it.
    #[test]
    fn windows_never_change_the_data_stream(lines in prop::collection::vec(line(), 300..1500)) {
        let body = Bytes::from(lines.concat());
        let sent = send("", body.clone());
        let expected = [&b"DATA\r\n"[..], &stuffed(&body), b"QUIT\r\n"].concat();
        prop_assert!(sent.stream().ends_with(&expected));
    }
}

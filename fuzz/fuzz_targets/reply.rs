//! Invariant: any bytes, fed whole or split anywhere, give the same replies and errors, within
//! the limits; every reply re-encodes and re-parses to itself; framing and line parsing agree.
//! The first byte picks the split pattern; the rest is the server's bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_fuzz::{cuts_from_seed, decode, pieces, small_limits};
use smtp_sansio::fuzzing::{LineFault, reply_line};
use smtp_sansio::ReplyLimits;

fuzz_target!(|input: &[u8]| {
    let Some((&seed, data)) = input.split_first() else { return };
    let cuts = cuts_from_seed(seed, data.len());
    for limits in [ReplyLimits::default(), small_limits()] {
        let whole = decode(limits, &[data]);
        let split = decode(limits, &pieces(data, &cuts));
        assert_eq!(whole, split);
        for reply in &whole.replies {
            assert!(reply.lines().len() <= limits.max_lines);
            assert!(reply.encoded_len() <= limits.max_reply_len);
            let mut wire = bytes::BytesMut::new();
            reply.encode(&mut wire);
            assert_eq!(wire.len(), reply.encoded_len());
            let again = decode(limits, &[&wire]);
            assert_eq!(again.replies.as_slice(), std::slice::from_ref(reply));
            assert_eq!(again.error, None);
        }
    }
    // Each CRLF-framed line the decoder accepted parses the same way on its own.
    for line in data.split(|&b| b == b'\n') {
        if let Some(content) = line.strip_suffix(b"\r") {
            match reply_line(content) {
                Ok((code, _, text)) => assert!((200..=599).contains(&code.get()) && text.len() + 3 <= content.len()),
                Err(LineFault::CodeOutOfRange(code)) => assert!(code < 200 || code > 599),
                Err(LineFault::NotSmtp) => {}
            }
        }
    }
});

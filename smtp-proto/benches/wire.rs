//! Benchmarks of the wire layer. Run with `cargo bench -p smtp-sansio --bench wire`.
//!
//! The DATA encoder and BDAT chunker are measured next to a plain copy (`memcpy`) of the same
//! body into a buffer of the same size, in the same run, so their ratio to memory bandwidth is
//! visible whatever the machine.

use std::hint::black_box;
use std::sync::LazyLock;

use bytes::BytesMut;
use divan::Bencher;
use divan::counter::{BytesCount, ItemsCount};
use smtp_sansio::{
    BdatContent, BdatEncoder, Capabilities, Command, DataEncoder, MailCommand, MailParameters,
    Mailbox, ReplyDecoder, TextPolicy,
};

fn main() {
    divan::main();
}

const ONE_LINE: &[u8] = b"250 2.0.0 Ok: queued as 4BC1E21A3F\r\n";
const EHLO: &[u8] = b"250-smtp.example.com Hello client.example [192.0.2.1]\r\n\
250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n\
250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n\
250-DSN\r\n250 CHUNKING\r\n";
const BATCH: usize = 1000;

/// 10 MB of mail-like text: 76-octet lines, some starting with a dot.
static BODY: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut body = Vec::with_capacity(10_000_000);
    let mut n = 0u32;
    while body.len() < 10_000_000 {
        n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        if n.is_multiple_of(50) {
            body.push(b'.');
        }
        body.extend((0..74).map(|i| b'a' + ((n as usize + i) % 26) as u8));
        body.extend_from_slice(b"\r\n");
    }
    body
});

fn repeated(reply: &[u8]) -> Vec<u8> {
    reply.repeat(BATCH)
}

/// Replies per second for a one-line reply, fed as one read holding many replies.
#[divan::bench]
fn reply_one_line(bencher: Bencher) {
    let input = repeated(ONE_LINE);
    bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
        let mut decoder = ReplyDecoder::default();
        decoder.feed(black_box(&input));
        let mut n = 0;
        while let Ok(Some(reply)) = decoder.next_reply() {
            black_box(reply);
            n += 1;
        }
        n
    });
}

/// Replies per second for a ten-line EHLO reply.
#[divan::bench]
fn reply_ten_line_ehlo(bencher: Bencher) {
    let input = repeated(EHLO);
    bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
        let mut decoder = ReplyDecoder::default();
        decoder.feed(black_box(&input));
        let mut n = 0;
        while let Ok(Some(reply)) = decoder.next_reply() {
            black_box(reply);
            n += 1;
        }
        n
    });
}

/// EHLO replies read into capabilities per second.
#[divan::bench]
fn capabilities_from_ehlo(bencher: Bencher) {
    let mut decoder = ReplyDecoder::default();
    decoder.feed(EHLO);
    let reply = decoder.next_reply().ok().flatten().expect("reply");
    bencher.bench_local(|| Capabilities::from_ehlo_reply(black_box(&reply)));
}

/// MAIL and RCPT built, validated and encoded per second.
#[divan::bench]
fn encode_mail_and_rcpt(bencher: Bencher) {
    let mut decoder = ReplyDecoder::default();
    decoder.feed(EHLO);
    let reply = decoder.next_reply().ok().flatten().expect("reply");
    let caps = Capabilities::from_ehlo_reply(&reply).expect("caps");
    let mut out = BytesMut::with_capacity(1024);
    bencher.bench_local(|| {
        out.clear();
        let from = Mailbox::parse(black_box("sender@example.com")).expect("from");
        let params = MailParameters {
            size: Some(2048),
            ..MailParameters::default()
        };
        let mail = MailCommand::new(from.into(), params, &caps).expect("mail");
        Command::Mail(mail).encode(&mut out);
        let to = Mailbox::parse(black_box("recipient@example.net")).expect("to");
        let rcpt = smtp_sansio::RcptCommand::new(to.into(), Default::default(), &caps);
        Command::Rcpt(rcpt.expect("rcpt")).encode(&mut out);
        out.len()
    });
}

/// One output buffer per benchmark, allocated once and cleared between iterations, so the
/// figures are copy and encode throughput rather than page-fault cost.
fn output_buffer() -> BytesMut {
    BytesMut::with_capacity(BODY.len() + BODY.len() / 32 + 16)
}

/// The baseline: copying the 10 MB body into a fresh buffer.
#[divan::bench]
fn memcpy_10mb(bencher: Bencher) {
    let body = &*BODY;
    let mut out = output_buffer();
    bencher
        .counter(BytesCount::new(body.len()))
        .bench_local(move || {
            out.clear();
            out.extend_from_slice(black_box(body));
            out.len()
        });
}

/// The DATA encoder on the same 10 MB body, whole.
#[divan::bench]
fn data_encoder_10mb(bencher: Bencher) {
    let body = &*BODY;
    let mut out = output_buffer();
    bencher
        .counter(BytesCount::new(body.len()))
        .bench_local(move || {
            out.clear();
            DataEncoder::encode_all(TextPolicy::default(), black_box(body), &mut out)
                .expect("valid body");
            out.len()
        });
}

/// The DATA encoder on the same body pushed in 16 KiB chunks, as a streamed body arrives.
#[divan::bench]
fn data_encoder_10mb_streamed(bencher: Bencher) {
    let body = &*BODY;
    let mut out = output_buffer();
    bencher
        .counter(BytesCount::new(body.len()))
        .bench_local(move || {
            out.clear();
            let mut encoder = DataEncoder::new(TextPolicy::default());
            for chunk in black_box(body).chunks(16 * 1024) {
                encoder.push(chunk, &mut out).expect("valid body");
            }
            encoder.finish(&mut out).expect("valid body");
            out.len()
        });
}

/// The BDAT chunker on the same body, 64 KiB chunks.
#[divan::bench]
fn bdat_chunker_10mb(bencher: Bencher) {
    let body = &*BODY;
    bencher
        .counter(BytesCount::new(body.len()))
        .bench_local(|| {
            let mut encoder = BdatEncoder::new(BdatContent::Text(TextPolicy::default()), 64 * 1024);
            let mut chunks = 0usize;
            for piece in black_box(body).chunks(64 * 1024) {
                encoder.push(piece).expect("valid body");
                while let Some(chunk) = encoder.next_chunk() {
                    chunks += black_box(chunk).data.len();
                }
            }
            encoder.finish().expect("valid body");
            chunks
                + std::iter::from_fn(|| encoder.next_chunk())
                    .map(|c| c.data.len())
                    .sum::<usize>()
        });
}

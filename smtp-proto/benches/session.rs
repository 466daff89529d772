//! Benchmarks of the whole client on one large message: from `Client::send` to every
//! transmission handed out, against a server that answers at once. Run with
//! `cargo bench -p smtp-sansio --bench session`.
//!
//! A body whose lines already end in CRLF goes out by reference, so these are compared with a
//! plain copy (`memcpy`) of the same body in the same run, and with the same body written with
//! bare LFs, which the client must copy to make canonical.

use std::hint::black_box;
use std::sync::LazyLock;

use bytes::{Bytes, BytesMut};
use divan::Bencher;
use divan::counter::BytesCount;
use smtp_sansio::Transmission;

#[path = "../tests/support/answering.rs"]
#[allow(dead_code, unreachable_pub)]
mod answering;

fn main() {
    divan::main();
}

/// Body sizes in megabytes: one that fits this machine's 32 MiB L3 cache and one that does not.
const SIZES: [usize; 2] = [10, 60];

/// Mail-like text of each size with CRLF line ends, then the same with bare LF line ends.
static BODIES: LazyLock<Vec<(Bytes, Bytes)>> = LazyLock::new(|| {
    SIZES
        .iter()
        .map(|&mb| (text(mb, b"\r\n").into(), text(mb, b"\n").into()))
        .collect()
});

fn body(mb: usize) -> &'static Bytes {
    &BODIES[SIZES.iter().position(|&s| s == mb).expect("a listed size")].0
}

fn body_lf(mb: usize) -> &'static Bytes {
    &BODIES[SIZES.iter().position(|&s| s == mb).expect("a listed size")].1
}

/// 76-octet lines, one in fifty starting with a dot, `mb` million octets in all.
fn text(mb: usize, line_end: &[u8]) -> Vec<u8> {
    let octets = mb * 1_000_000;
    let mut body = Vec::with_capacity(octets + 80);
    let mut n = 0u32;
    while body.len() < octets {
        n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        if n.is_multiple_of(50) {
            body.push(b'.');
        }
        body.extend((0..74).map(|i| b'a' + ((n as usize + i) % 26) as u8));
        body.extend_from_slice(line_end);
    }
    body
}

/// EHLO keywords besides 8BITMIME.
const DATA_ONLY: &str = "";
const CHUNKING: &str = "250-CHUNKING\r\n";

/// Sends one message; returns the octets transmitted.
fn send(extensions: &str, body: Bytes) -> usize {
    let mut octets = 0;
    answering::send_each(extensions, body, |data: Transmission| {
        octets += data.len();
        black_box(data);
    });
    octets
}

/// The baseline: copying the body into a buffer allocated once.
#[divan::bench(args = SIZES)]
fn memcpy(bencher: Bencher, mb: usize) {
    let body = &**body(mb);
    let mut out = BytesMut::with_capacity(body.len());
    bencher
        .counter(BytesCount::new(body.len()))
        .bench_local(move || {
            out.clear();
            out.extend_from_slice(black_box(body));
            out.len()
        });
}

/// CRLF text with DATA: checked, then sent between the added dots by reference.
#[divan::bench(args = SIZES)]
fn send_data(bencher: Bencher, mb: usize) {
    let body = body(mb);
    bencher
        .counter(BytesCount::new(body.len()))
        .bench_local(|| send(DATA_ONLY, black_box(body.clone())));
}

/// CRLF text with BDAT: checked, then sent in chunks that are slices of it.
#[divan::bench(args = SIZES)]
fn send_bdat(bencher: Bencher, mb: usize) {
    let body = body(mb);
    bencher
        .counter(BytesCount::new(body.len()))
        .bench_local(|| send(CHUNKING, black_box(body.clone())));
}

/// Bare-LF text with DATA: made canonical in a copy first.
#[divan::bench(args = SIZES)]
fn send_data_bare_lf(bencher: Bencher, mb: usize) {
    let body = body_lf(mb);
    bencher
        .counter(BytesCount::new(body.len()))
        .bench_local(|| send(DATA_ONLY, black_box(body.clone())));
}

/// Bare-LF text with BDAT: made canonical in a copy first.
#[divan::bench(args = SIZES)]
fn send_bdat_bare_lf(bencher: Bencher, mb: usize) {
    let body = body_lf(mb);
    bencher
        .counter(BytesCount::new(body.len()))
        .bench_local(|| send(CHUNKING, black_box(body.clone())));
}

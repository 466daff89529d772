//! Helpers shared by the integration tests: feeding input under several splitting strategies.

#![allow(dead_code, unreachable_pub)]

pub mod answering;
pub mod model_server;
pub mod pool_sim;
pub mod reference;
pub mod session;
pub mod verdict_check;

use bytes::BytesMut;
pub use reference::{Decoded, decode_pieces};
use smtp_sansio::{Capabilities, Command, Mailbox, Reply, ReplyLimits};

/// Feeds `input` cut at the given lengths (the rest in one piece), draining after each piece.
pub fn decode_split(limits: ReplyLimits, input: &[u8], cuts: &[usize]) -> Decoded {
    let mut rest = input;
    let mut pieces: Vec<&[u8]> = Vec::new();
    for &cut in cuts {
        let (head, tail) = rest.split_at(cut.min(rest.len()));
        pieces.push(head);
        rest = tail;
    }
    pieces.push(rest);
    decode_pieces(limits, &pieces)
}

/// A small deterministic generator, so "random" splits are the same on every run.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1))
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

/// Cut lists for: whole, byte by byte, and five pseudo-random segmentations.
pub fn strategies(len: usize) -> Vec<(String, Vec<usize>)> {
    let mut all = vec![
        ("whole".to_string(), vec![]),
        ("byte by byte".to_string(), vec![1; len]),
    ];
    for seed in 0..5 {
        let mut rng = Lcg::new(seed);
        let mut cuts = Vec::new();
        let mut used = 0;
        while used < len {
            let cut = 1 + rng.below(12);
            cuts.push(cut);
            used += cut;
        }
        all.push((format!("random segments #{seed}"), cuts));
    }
    all
}

/// Decodes `input` under every strategy, asserts they agree, and returns the common result.
pub fn decode_every_way(limits: ReplyLimits, input: &[u8]) -> Decoded {
    let whole = decode_split(limits, input, &[]);
    for (name, cuts) in strategies(input.len()) {
        let other = decode_split(limits, input, &cuts);
        assert_eq!(other, whole, "fed {name}");
    }
    whole
}

/// Decodes under every strategy with the default limits.
pub fn decode(input: &[u8]) -> Decoded {
    decode_every_way(ReplyLimits::default(), input)
}

/// Decodes exactly one complete reply, under every strategy.
pub fn one_reply(input: &[u8]) -> Reply {
    let mut decoded = decode(input);
    assert_eq!(decoded.error, None, "{input:?}");
    assert_eq!(decoded.replies.len(), 1, "{input:?}");
    decoded.replies.remove(0)
}

/// Encodes one command.
pub fn encode(command: &Command) -> Vec<u8> {
    let mut out = BytesMut::new();
    command.encode(&mut out);
    out.to_vec()
}

pub fn caps(keywords: &str) -> Capabilities {
    let mut wire = String::from("250-mx.example\r\n");
    for k in keywords.split(',') {
        wire.push_str(&format!("250-{k}\r\n"));
    }
    wire.push_str("250 HELP\r\n");
    Capabilities::from_ehlo_reply(&one_reply(wire.as_bytes())).expect("250")
}

pub fn everything() -> Capabilities {
    caps(
        "SIZE 1000000,8BITMIME,SMTPUTF8,DSN,REQUIRETLS,MT-PRIORITY,DELIVERBY,AUTH PLAIN,BINARYMIME,CHUNKING",
    )
}

pub fn mailbox(s: &str) -> Mailbox {
    Mailbox::parse(s).expect("valid mailbox")
}

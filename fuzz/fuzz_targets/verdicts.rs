//! Invariant: against a model server that refuses and fails at random (4yz, 5yz, 421, a
//! malformed reply, EOF, reset, silence) at any command, with any bodies and any capabilities,
//! every queued message settles exactly once, and its verdict and each recipient's agree with
//! what the server read and said: delivered only after a 2yz to the end of the data, never
//! deferred for a permanent refusal, unknown only without an end-of-data reply, not attempted
//! only when the server never read the end of the data; and no MAIL ever comes inside an open
//! transaction (RFC 5321 §4.1.1.5, §6.1; RFC 3030 §2). The driver may also fail to write one
//! transmission before its deadline: no message may then be delivered with a hole in it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_fuzz::{Scenario, check_verdicts};

fuzz_target!(|input: (u8, Vec<(u8, Vec<u8>)>, Vec<u8>, bool, Option<u8>, Option<u8>)| {
    let (caps, messages, choices, quit, cut, stall) = input;
    let messages: Vec<(usize, Vec<u8>)> = messages
        .into_iter()
        .take(6)
        .map(|(rcpts, body)| (1 + usize::from(rcpts % 3), body.into_iter().take(512).collect()))
        .collect();
    if messages.is_empty() {
        return;
    }
    check_verdicts(&Scenario {
        caps: usize::from(caps),
        messages,
        choices: choices.into_iter().take(64).collect(),
        quit,
        cut: cut.map(usize::from),
        stall: stall.map(usize::from),
    });
});

//! Invariant: any EHLO reply gives capabilities without panicking, only from a 250 reply,
//! never more entries than the reply has lines, and keywords never from the first line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp_fuzz::{decode, small_limits};
use smtp_sansio::{Capabilities, ReplyCode, ReplyLimits};

fuzz_target!(|data: &[u8]| {
    for limits in [ReplyLimits::default(), small_limits()] {
        for reply in decode(limits, &[data]).replies {
            let caps = Capabilities::from_ehlo_reply(&reply);
            assert_eq!(caps.is_some(), reply.code() == ReplyCode::OK);
            if let Some(caps) = caps {
                assert!(caps.others().len() < reply.lines().len().max(1));
                if reply.lines().len() == 1 {
                    assert!(!caps.starttls() && !caps.pipelining() && caps.auth().is_none());
                }
                let _ = (caps.size(), caps.limits(), caps.mt_priority(), caps.deliver_by());
            }
        }
    }
    // The EHLO line parser on its own, on every line.
    for line in data.split(|&b| b == b'\n') {
        if let Some((keyword, rest)) = smtp_sansio::fuzzing::ehlo_line(line) {
            assert!(!keyword.is_empty() && keyword[0].is_ascii_alphanumeric());
            for param in smtp_sansio::fuzzing::ehlo_params(rest) {
                assert!(param.iter().all(|b| (33..=126).contains(b)));
            }
        }
    }
});

//! Invariant: any body, in any chunks, through the DATA encoder and the BDAT chunker gives the
//! same output (or the same error) as in one piece; the DATA stream has canonical line endings,
//! no end-of-data look-alike and exactly one terminator; un-stuffing returns the canonical body.
//! The first byte holds the policy flags and BDAT chunk size, the second picks the split
//! pattern, the rest is the body.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use smtp_fuzz::{cuts_from_seed, pieces, reference_canonical};
use smtp_fuzz::unstuff;
use smtp_sansio::{BareLineEndings, BdatContent, BdatEncoder, DataEncoder, TextPolicy};

fn data(policy: TextPolicy, chunks: &[&[u8]]) -> Result<Vec<u8>, smtp_sansio::DataError> {
    let mut out = BytesMut::new();
    let mut encoder = DataEncoder::new(policy);
    for chunk in chunks {
        encoder.push(chunk, &mut out)?;
    }
    encoder.finish(&mut out)?;
    Ok(out.to_vec())
}

fn bdat(content: BdatContent, size: usize, chunks: &[&[u8]]) -> Result<Vec<(usize, bool)>, smtp_sansio::DataError> {
    let mut encoder = BdatEncoder::new(content, size);
    let mut shape = Vec::new();
    for chunk in chunks {
        encoder.push(chunk)?;
        shape.extend(std::iter::from_fn(|| encoder.next_chunk()).map(|c| (c.data.len(), c.last)));
    }
    encoder.finish()?;
    shape.extend(std::iter::from_fn(|| encoder.next_chunk()).map(|c| (c.data.len(), c.last)));
    Ok(shape)
}

fuzz_target!(|input: &[u8]| {
    let [flags, seed, body @ ..] = input else { return };
    let (flags, body) = (*flags, body.to_vec());
    let cuts = cuts_from_seed(*seed, body.len());
    let policy = TextPolicy {
        bare_line_endings: if flags & 1 == 0 { BareLineEndings::Normalize } else { BareLineEndings::Reject },
        allow_8bit: flags & 2 != 0,
    };
    let split = pieces(&body, &cuts);
    let whole = data(policy, &[&body]);
    assert_eq!(whole, data(policy, &split));
    if let Ok(wire) = &whole {
        for (i, &b) in wire.iter().enumerate() {
            match b {
                b'\r' => assert_eq!(wire.get(i + 1), Some(&b'\n')),
                b'\n' => assert!(i > 0 && wire[i - 1] == b'\r'),
                0 => panic!("NUL in DATA"),
                _ => {}
            }
        }
        let eod = wire.windows(5).filter(|w| w == b"\r\n.\r\n").count();
        assert_eq!(eod, usize::from(wire.as_slice() != b".\r\n"));
        assert_eq!(unstuff(wire), Some(reference_canonical(&body)));
    }
    let size = usize::from(flags >> 2) + 1;
    for content in [BdatContent::Text(policy), BdatContent::Binary] {
        let whole = bdat(content, size, &[&body]);
        assert_eq!(whole, bdat(content, size, &split));
        if let Ok(shape) = whole {
            let (last, full) = shape.split_last().expect("a LAST chunk");
            assert!(last.1 && last.0 <= size && full.iter().all(|&(n, l)| n == size && !l));
        }
    }
});

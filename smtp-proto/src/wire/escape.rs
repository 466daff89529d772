//! Safe display of bytes that came from the network.

use core::fmt;

/// Displays bytes with everything but printable ASCII escaped: `\\`, `\t`, `\r`, `\n` and
/// `\xNN`, so that hostile server text (terminal escapes, NUL, invalid UTF-8) can reach a log or
/// a terminal without effect (SECURITY.md B12).
#[derive(Clone, Copy)]
pub struct Escaped<'a>(pub &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while !rest.is_empty() {
            let plain = rest
                .iter()
                .position(|&b| !(0x20..0x7f).contains(&b) || b == b'\\')
                .unwrap_or(rest.len());
            let (head, tail) = rest.split_at(plain);
            // Printable ASCII is valid UTF-8, so this never fails.
            f.write_str(core::str::from_utf8(head).map_err(|_| fmt::Error)?)?;
            let Some((&b, tail)) = tail.split_first() else {
                break;
            };
            match b {
                b'\\' => f.write_str("\\\\")?,
                b'\t' => f.write_str("\\t")?,
                b'\r' => f.write_str("\\r")?,
                b'\n' => f.write_str("\\n")?,
                _ => write!(f, "\\x{b:02x}")?,
            }
            rest = tail;
        }
        Ok(())
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn b12_hostile_text_is_escaped() {
        let shown = Escaped(b"\x1b[2J\x00boom \xff\xfe\\").to_string();
        assert_eq!(shown, "\\x1b[2J\\x00boom \\xff\\xfe\\\\");
        assert!(shown.bytes().all(|b| (0x20..0x7f).contains(&b)));
    }

    #[test]
    fn printable_text_is_unchanged() {
        assert_eq!(
            Escaped(b"250 2.0.0 Ok: queued").to_string(),
            "250 2.0.0 Ok: queued"
        );
    }
}

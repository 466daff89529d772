//! Helpers for integration tests against the Postfix that `scripts/postfix.sh` starts, shared
//! by both adapters' tests (included with `#[path]`).

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The plaintext port (STARTTLS offered, no AUTH).
pub const PLAIN_PORT: u16 = 10025;
/// A plaintext port that does not offer STARTTLS.
pub const NO_TLS_PORT: u16 = 10026;
/// The STARTTLS-required port, with AUTH after TLS.
pub const STARTTLS_PORT: u16 = 10587;
/// The implicit-TLS port, with AUTH.
pub const IMPLICIT_PORT: u16 = 10465;
/// The SASL user and password.
pub const USER: &str = "testuser";
pub const PASSWORD: &str = "testpass";

/// A running Postfix set up by `scripts/postfix.sh`.
pub struct Postfix {
    dir: PathBuf,
}

impl Postfix {
    /// The running server, or `None` (with a notice) when it is not set up. Under CI a missing
    /// server is a failure, not a skip.
    pub fn get() -> Option<Self> {
        match std::env::var_os("SMTP_POSTFIX_DIR") {
            Some(dir) => Some(Self { dir: dir.into() }),
            None if std::env::var_os("CI").is_some() => {
                panic!("SMTP_POSTFIX_DIR is not set: run scripts/postfix.sh before the tests")
            }
            None => {
                eprintln!("skipped: no Postfix (run `eval $(scripts/postfix.sh)` to enable)");
                None
            }
        }
    }

    /// The PEM of the CA that signed Postfix's certificate.
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.join("ca.pem")).expect("ca.pem written by scripts/postfix.sh")
    }

    /// The files of Postfix's certificate (for `localhost` and 127.0.0.1) and its key.
    pub fn cert_and_key(&self) -> (PathBuf, PathBuf) {
        (self.dir.join("server.pem"), self.dir.join("server.key"))
    }

    /// Waits up to twenty seconds for `expected` delivered messages holding `needle`; returns
    /// how many there are, each counted once.
    pub fn count_delivered(&self, needle: &str, expected: usize) -> usize {
        let new = self.dir.join("mail/catchall/new");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let count = std::fs::read_dir(&new)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|entry| {
                    std::fs::read_to_string(entry.path()).is_ok_and(|text| text.contains(needle))
                })
                .count();
            if count >= expected || Instant::now() >= deadline {
                return count;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits up to ten seconds for a delivered message holding `needle` and returns it.
    pub fn delivered(&self, needle: &str) -> Option<String> {
        let new = self.dir.join("mail/catchall/new");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            for entry in std::fs::read_dir(&new).into_iter().flatten().flatten() {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                if text.contains(needle) {
                    return Some(text);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

/// An envelope from `sender@example.com` to the given addresses.
pub fn envelope(to: &[&str]) -> smtp_sansio::Envelope {
    let to = to
        .iter()
        .map(|t| smtp_sansio::Mailbox::parse(t).expect("valid"));
    let from = smtp_sansio::Mailbox::parse("sender@example.com").expect("valid");
    smtp_sansio::Envelope::new(from, to)
}

/// A Message-ID no other test run uses.
pub fn unique_id(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{tag}.{nanos}.{}@smtp-test", std::process::id())
}

/// A small message carrying `id` as its Message-ID, with lines that start with dots (one
/// alone on its line) and a bare LF, which the client turns into CRLF.
pub fn message(id: &str, extra_body: &str) -> Vec<u8> {
    format!(
        "From: <sender@example.com>\r\nTo: <rcpt@example.net>\r\nSubject: integration test\r\n\
         Message-ID: <{id}>\r\n\r\nHello from the integration tests.\r\n.leading dot\r\n.\r\n\
         ..two dots\r\nbare\nlf\r\n{extra_body}"
    )
    .into_bytes()
}

/// A message of at least `octets` octets carrying `id`, every line ending in CRLF so that a
/// client can send it without a canonical copy; one line in eight starts with a dot.
pub fn canonical_message(id: &str, octets: usize) -> Vec<u8> {
    let mut message = format!(
        "From: <sender@example.com>\r\nTo: <big@example.net>\r\nSubject: large body\r\n\
         Message-ID: <{id}>\r\n\r\n"
    )
    .into_bytes();
    let mut line = 0;
    while message.len() < octets {
        let lead = if line % 8 == 0 { "." } else { "" };
        message.extend_from_slice(
            format!("{lead}{line:08} 0123456789 abcdefghijklmnop\r\n").as_bytes(),
        );
        line += 1;
    }
    message
}

/// The body of `sent` as a Maildir file holds it: line endings LF, everything after the header.
pub fn expected_body(sent: &[u8]) -> String {
    let text = String::from_utf8_lossy(sent).replace("\r\n", "\n");
    let body = text.split_once("\n\n").map_or("", |(_, body)| body);
    if body.ends_with('\n') {
        body.to_string()
    } else {
        format!("{body}\n")
    }
}

/// The body of a delivered message: everything after its header.
pub fn delivered_body(delivered: &str) -> &str {
    delivered.split_once("\n\n").map_or("", |(_, body)| body)
}

/// The `with ...` protocol Postfix recorded in the first Received header: ESMTP, ESMTPS (TLS),
/// ESMTPA (AUTH) or ESMTPSA (both).
pub fn received_with(message: &str) -> Option<String> {
    let received = message.split("Received:").nth(1)?;
    let after = received.split(" with ").nth(1)?;
    after.split_whitespace().next().map(str::to_string)
}

//! What the driver tells the pool of each try and of each session that ended: the verdict,
//! whether the session failed under the message, whether the server throttled it, and how a
//! lost session ended.

use crate::client::report::{Outcome, TransactionReport, Verdict};
use crate::wire::reply::Reply;

use super::pace::is_throttling;

/// What the pool needs to know of a message's report to decide its fate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attempt {
    /// The message's verdict.
    pub verdict: Verdict,
    /// Whether the session failed under the message rather than the server refusing it: a
    /// `421`, or a lost connection, a timeout or a malformed reply before the end of the data.
    /// That says nothing of the message, which goes again at once on another connection.
    pub session_failed: bool,
    /// Whether the server deferred the message for its sending rate (SES's `454 Throttling
    /// failure`): see
    /// [`PoolPolicy::pace_on_throttling`](super::PoolPolicy::pace_on_throttling). Such a
    /// message waits for its retry delay when the server also ended the session.
    pub throttled: bool,
}

impl Attempt {
    /// What a report says.
    pub fn of(report: &TransactionReport) -> Self {
        let session_failed = matches!(report.outcome, Outcome::Interrupted(_))
            || report.reply().is_some_and(|r| r.is_service_closing());
        Self {
            verdict: report.verdict,
            session_failed,
            throttled: report.verdict == Verdict::Deferred
                && report.reply().is_some_and(is_throttling),
        }
    }

    /// An attempt that came to `verdict`, the session intact and no throttling: for drivers
    /// that decide verdicts themselves, and for tests.
    pub fn new(verdict: Verdict) -> Self {
        Self {
            verdict,
            session_failed: false,
            throttled: false,
        }
    }

    /// The same, with the session failed under the message.
    pub fn with_session_failed(mut self) -> Self {
        self.session_failed = true;
        self
    }

    /// The same, deferred for the server's sending rate.
    pub fn with_throttled(mut self) -> Self {
        self.throttled = true;
        self
    }
}

/// Why a connection could not be opened, for [`Pool::open_failed`](super::Pool::open_failed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenFailure {
    /// Trying again later may help: the connection was refused or timed out, the greeting
    /// never came.
    Transient,
    /// Trying again cannot help: a certificate or credentials refused.
    Permanent,
    /// The server refused one more connection for its load: a `421` before the session was
    /// ready (RFC 5321 §3.8; Amazon SES: `421 Too many concurrent SMTP connections`).
    Full,
}

/// How a connection's session ended under it, for [`Pool::lost`](super::Pool::lost).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Loss {
    /// A connection lost, a timeout, a malformed reply: nothing to learn from.
    Failed,
    /// The server closed the session with `421` (RFC 5321 §3.8) for no reason the pool reads.
    /// Two sessions closed after the same number of messages teach that number as the
    /// server's cap per session; one alone (a restart, a fault) teaches nothing.
    Closed,
    /// The server closed the session because it carried as many messages as the server
    /// allows (Amazon SES: `421 Maximum message count per session reached`): later
    /// connections are retired before that many.
    SessionCap,
}

impl Loss {
    /// How a session that ended with `reply` ended: [`SessionCap`](Self::SessionCap) for a
    /// `421` whose text says that a count per session was reached, [`Closed`](Self::Closed)
    /// for another `421`, [`Failed`](Self::Failed) for anything else. A `421` for the sending
    /// rate is [`Failed`](Self::Failed): it says nothing of the session's length.
    pub fn of_reply(reply: Option<&Reply>) -> Self {
        let Some(reply) = reply.filter(|r| r.is_service_closing()) else {
            return Self::Failed;
        };
        if is_throttling(reply) {
            return Self::Failed;
        }
        let text: alloc::vec::Vec<u8> = reply
            .lines()
            .iter()
            .flat_map(|line| line.text().iter().map(u8::to_ascii_lowercase))
            .collect();
        let says = |needle: &[u8]| text.windows(needle.len()).any(|w| w == needle);
        if says(b"per session") || says(b"per connection") || says(b"message count") {
            Self::SessionCap
        } else {
            Self::Closed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::reply::ReplyCode;

    fn reply(code: u16, text: &str) -> Reply {
        let code = ReplyCode::new(code).expect("a reply code");
        Reply::new(code, [text]).expect("one line")
    }

    #[test]
    fn rfc5321_3_8_a_421_teaches_a_cap_only_when_it_says_so() {
        let cases = [
            (
                "Maximum message count per session reached",
                Loss::SessionCap,
            ),
            (
                "4.4.2 Maximum message count per session reached",
                Loss::SessionCap,
            ),
            ("4.7.0 Too many messages per connection", Loss::SessionCap),
            ("4.4.2 localhost closing transmission channel", Loss::Closed),
            ("4.3.2 Service shutting down", Loss::Closed),
            (
                "4.7.0 Throttling failure: Maximum sending rate exceeded.",
                Loss::Failed,
            ),
        ];
        for (text, loss) in cases {
            assert_eq!(Loss::of_reply(Some(&reply(421, text))), loss, "{text}");
        }
        let transient = reply(451, "4.3.0 Maximum message count per session reached");
        assert_eq!(Loss::of_reply(Some(&transient)), Loss::Failed);
        assert_eq!(Loss::of_reply(None), Loss::Failed);
    }
}

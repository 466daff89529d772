//! Time as the driver passes it in, and the per-command timeouts of RFC 5321 §4.5.3.2.

use core::time::Duration;

/// A point on the driver's monotonic clock: the time since an epoch the driver chose (for
/// example when it opened the connection). The core never reads a clock; every `handle_*` and
/// [`next_action`](crate::Client::next_action) call carries one of these.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(Duration);

impl Instant {
    /// The driver's epoch.
    pub const ZERO: Self = Self(Duration::ZERO);

    /// The instant `since_epoch` after the driver's epoch.
    pub const fn from_duration(since_epoch: Duration) -> Self {
        Self(since_epoch)
    }

    /// The time since the driver's epoch.
    pub const fn as_duration(self) -> Duration {
        self.0
    }

    /// `self + d`, saturating instead of overflowing.
    pub fn saturating_add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d))
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Self) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

/// How long each wait may take. Every wait gets an absolute deadline when it starts, and
/// partial data never extends it, so a server that drips one byte at a time still times out
/// (SECURITY.md F1, F2). The defaults are RFC 5321 §4.5.3.2's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// The `220` greeting (§4.5.3.2.1): 5 minutes.
    pub greeting: Duration,
    /// EHLO, HELO, STARTTLS, AUTH, RSET, NOOP, VRFY, EXPN, HELP and QUIT: 5 minutes, as
    /// Postfix uses (the RFC names no value for them).
    pub command: Duration,
    /// MAIL (§4.5.3.2.2): 5 minutes.
    pub mail: Duration,
    /// Each RCPT (§4.5.3.2.3): 5 minutes.
    pub rcpt: Duration,
    /// The `354` answer to DATA (§4.5.3.2.4): 2 minutes.
    pub data_initiation: Duration,
    /// Writing each block of data, and each BDAT chunk's reply (§4.5.3.2.5): 3 minutes.
    pub data_block: Duration,
    /// The reply to the end of data (§4.5.3.2.6): 10 minutes.
    pub data_termination: Duration,
    /// The TLS handshake, which RFC 5321 does not cover: 1 minute.
    pub tls_handshake: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        const MINUTE: u64 = 60;
        Self {
            greeting: Duration::from_secs(5 * MINUTE),
            command: Duration::from_secs(5 * MINUTE),
            mail: Duration::from_secs(5 * MINUTE),
            rcpt: Duration::from_secs(5 * MINUTE),
            data_initiation: Duration::from_secs(2 * MINUTE),
            data_block: Duration::from_secs(3 * MINUTE),
            data_termination: Duration::from_secs(10 * MINUTE),
            tls_handshake: Duration::from_secs(MINUTE),
        }
    }
}

impl Timeouts {
    /// The same timeout for every wait, for scripts and tests.
    pub const fn uniform(timeout: Duration) -> Self {
        Self {
            greeting: timeout,
            command: timeout,
            mail: timeout,
            rcpt: timeout,
            data_initiation: timeout,
            data_block: timeout,
            data_termination: timeout,
            tls_handshake: timeout,
        }
    }
}

//! A pool of SMTP connections as a sans-IO state machine: the policy that decides when to open,
//! reuse, check and retire connections, how fast messages go, and when a message is tried
//! again. Time comes in, decisions come out; a driver (the adapters' `Mailer`) opens the
//! connections, runs the sessions and reports back.
//!
//! ```
//! use smtp_sansio::pool::{Decision, Pool, PoolPolicy};
//! use smtp_sansio::Instant;
//!
//! let mut pool: Pool = Pool::new(PoolPolicy::default());
//! let now = Instant::ZERO;
//! let job = pool.submit(now);
//! // No connection yet: the pool asks for one, then gives it the message.
//! let Some(Decision::Open(conn)) = pool.poll(now) else { panic!() };
//! pool.opened(now, conn, true);
//! let Some(Decision::Send { conn: on, jobs }) = pool.poll(now) else { panic!() };
//! assert_eq!((on, jobs), (conn, vec![job]));
//! ```

mod attempt;
mod connections;
mod decide;
mod pace;
mod policy;
mod state;
mod window;

pub use attempt::{Attempt, Loss, OpenFailure};
pub use policy::{PoolPolicy, Rate};
pub use state::Pool;

use alloc::vec::Vec;

use crate::client::report::TransactionReport;

/// Names one message submitted to a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub(crate) u64);

/// Names one connection of a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub(crate) u64);

/// What the driver of a pool does next, from [`Pool::poll`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Decision<R = TransactionReport> {
    /// Open a new connection and run its session to ready; then call [`Pool::opened`], or
    /// [`Pool::open_failed`].
    Open(ConnId),
    /// Send these messages on this connection: a ready one, or a pipelining one still busy
    /// with an earlier batch, behind which they are queued (RFC 2920 §3.1). Report each with
    /// [`Pool::reported`] as it settles; once every message given so far is reported and the
    /// session is still usable, call [`Pool::batch_done`] with how many messages the
    /// connection received in all; if the session failed, [`Pool::lost`].
    Send {
        /// The connection.
        conn: ConnId,
        /// The messages, in the order to send them.
        jobs: Vec<JobId>,
    },
    /// The connection idled a while: check it with NOOP before reuse (RFC 5321 §4.1.1.9), then
    /// call [`Pool::checked`].
    Check(ConnId),
    /// QUIT the connection and close it (RFC 5321 §4.1.1.10); then call [`Pool::retired`].
    Retire(ConnId),
    /// The message's connection ended without its report (the driver's task failed): it may
    /// have been delivered, so it is not sent again.
    Vanished {
        /// The message.
        job: JobId,
    },
    /// The message is done: delivered, bounced, unknown, or given up after its tries (its last
    /// report says why). `None` if it never reached a server: the connections failed.
    Finish {
        /// The message.
        job: JobId,
        /// Its last report.
        report: Option<R>,
    },
}

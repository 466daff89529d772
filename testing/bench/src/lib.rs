//! Benchmark-only programs of the workspace, kept out of the published crates (this crate is
//! not published). They are examples, built and run by the benchmark scripts:
//!
//! - `examples/compare_lettre.rs`: the lettre baseline of `scripts/bench-e2e.sh` and
//!   `scripts/bench-pool.sh` (`cargo build --release -p smtp-bench --example compare_lettre`);
//! - `examples/ses_lettre.rs`: the lettre baseline of `scripts/bench-ses.sh`, lettre's pool
//!   over STARTTLS with AUTH against the simulated Amazon SES (`smtp-test-server`'s
//!   `ses_server` example), counting throttled messages;
//! - `examples/idle_sessions.rs`: the resident memory of idle smtp-tokio sessions, measured by
//!   `scripts/bench-pool.sh` against `smtp-test-server`'s `test_server` example running as
//!   another process.
//!
//! See `BENCHMARKS.md` at the root of the repository for the results.

#![forbid(unsafe_code)]

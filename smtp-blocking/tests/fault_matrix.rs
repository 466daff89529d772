//! The fault matrix (RFC 5321 §3.8, RFC 2920, RFC 3030) through the blocking adapter's public
//! API against the embedded test server: every verdict after a fault, and no duplicate on
//! retry. The model and the checks are in `testing/fault_matrix.rs`, shared with smtp-tokio.

#[path = "../../testing/fault_matrix.rs"]
mod fault_matrix;

use std::time::{Duration, Instant};

use bytes::Bytes;
use fault_matrix::{Case, FirstRun};
use smtp_blocking::smtp_sansio::{Envelope, Timeouts, TransactionReport, UsageError, Verdict};
use smtp_blocking::{Error, Options, connect};
use smtp_test_server::{ServerOptions, TestServer};
use tokio::runtime::Runtime;

/// The embedded server runs on a runtime of its own; the client under test is blocking code.
fn runtime() -> Runtime {
    Runtime::new().expect("runtime")
}

fn start(runtime: &Runtime, options: ServerOptions) -> TestServer {
    runtime
        .block_on(TestServer::start(options))
        .expect("server starts")
}

/// Runs one case: the faulty connection, then a retry of what may be sent again.
fn run(runtime: &Runtime, case: &Case) -> Vec<String> {
    let server = start(runtime, case.server_options());
    let port = server.addr().port();
    let first = match connect(fault_matrix::client_options(port)) {
        Err(e) => FirstRun::ConnectFailed(e),
        Ok(mut session) => {
            let reports = session.send_all(case.messages());
            let error = session.error().cloned();
            let noop = session.noop();
            let quit = session.quit();
            FirstRun::Sent {
                reports,
                error,
                noop,
                quit,
            }
        }
    };
    let retried = case.retryable_messages(&first);
    let retry = if retried.is_empty() {
        None
    } else {
        let messages = retried.iter().map(|&j| case.message(j));
        Some(send_all(fault_matrix::client_options(port), messages))
    };
    case.judge(&first, retry.as_ref(), &server.received())
}

/// Connects, sends `messages`, quits.
fn send_all(
    options: Options,
    messages: impl IntoIterator<Item = (Envelope, Bytes)>,
) -> Result<Vec<TransactionReport>, Error> {
    let mut session = connect(options)?;
    let reports = session.send_all(messages)?;
    session.quit()?;
    Ok(reports)
}

#[test]
fn rfc5321_3_8_fault_matrix_every_verdict_and_no_duplicate_on_retry() {
    let runtime = runtime();
    let started = Instant::now();
    let cases = fault_matrix::cases();
    let mismatches = cases.iter().flat_map(|case| run(&runtime, case)).collect();
    fault_matrix::report("blocking", cases.len(), mismatches, started.elapsed());
}

/// Every deadline saturates: a timeout of `Duration::MAX` means none in practice, never an
/// overflow.
#[test]
fn huge_timeouts_do_not_overflow() {
    let runtime = runtime();
    let server = start(&runtime, fault_matrix::healthy_server());
    let mut options: Options = fault_matrix::client_options(server.addr().port());
    options.config.timeouts = Timeouts::uniform(Duration::MAX);
    let reports = send_all(options, [fault_matrix::message("huge", 1)]).expect("sent");
    fault_matrix::check_batch("huge", 1, &reports, &server.received());
}

#[test]
fn an_unresolvable_host_is_transient_in_both_adapters() {
    let options: Options = fault_matrix::unresolvable_options();
    let error = connect(options).expect_err("no such host");
    assert!(matches!(error, Error::Resolve { .. }), "{error:?}");
    assert!(error.is_transient(), "{error:?}");
}

#[test]
fn reports_match_the_input_after_an_invalid_batch() {
    let runtime = runtime();
    let server = start(&runtime, fault_matrix::healthy_server());
    let mut session = connect(fault_matrix::client_options(server.addr().port())).expect("session");
    let batch = fault_matrix::invalid_batch();
    let error = session.send_all(batch).expect_err("an invalid batch");
    assert!(
        matches!(error, Error::Usage(UsageError::InBatch { index: 1, .. })),
        "{error:?}"
    );
    assert_eq!(server.received(), [], "nothing of an invalid batch is sent");
    let batch = (1..=3).map(|j| fault_matrix::message("valid", j));
    let reports = session.send_all(batch).expect("sent");
    assert!(reports.iter().all(|r| r.verdict == Verdict::Delivered));
    session.quit().expect("quit");
    fault_matrix::check_batch("valid", 3, &reports, &server.received());
}

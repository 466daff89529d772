//! The fault matrix (RFC 5321 §3.8, RFC 2920, RFC 3030) through the tokio adapter's public API
//! against the embedded test server: every verdict after a fault, and no duplicate on retry.
//! The model and the checks are in `testing/fault_matrix.rs`, shared with smtp-blocking.

#[path = "../../testing/fault_matrix.rs"]
mod fault_matrix;

use std::time::{Duration, Instant};

use bytes::Bytes;
use fault_matrix::{Case, FirstRun};
use smtp_test_server::TestServer;
use smtp_tokio::smtp_sansio::{Envelope, Timeouts, TransactionReport, UsageError, Verdict};
use smtp_tokio::{Error, Options, connect};

async fn server() -> TestServer {
    let options = fault_matrix::healthy_server();
    TestServer::start(options).await.expect("server starts")
}

/// Runs one case: the faulty connection, then a retry of what may be sent again.
async fn run(case: &Case) -> Vec<String> {
    let server = TestServer::start(case.server_options())
        .await
        .expect("server starts");
    let port = server.addr().port();
    let first = match connect(fault_matrix::client_options(port)).await {
        Err(e) => FirstRun::ConnectFailed(e),
        Ok(mut session) => {
            let reports = session.send_all(case.messages()).await;
            let error = session.error().cloned();
            let noop = session.noop().await;
            let quit = session.quit().await;
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
        Some(send_all(fault_matrix::client_options(port), messages).await)
    };
    case.judge(&first, retry.as_ref(), &server.received())
}

/// Connects, sends `messages`, quits.
async fn send_all(
    options: Options,
    messages: impl IntoIterator<Item = (Envelope, Bytes)>,
) -> Result<Vec<TransactionReport>, Error> {
    let mut session = connect(options).await?;
    let reports = session.send_all(messages).await?;
    session.quit().await?;
    Ok(reports)
}

#[tokio::test]
async fn rfc5321_3_8_fault_matrix_every_verdict_and_no_duplicate_on_retry() {
    let started = Instant::now();
    let cases = fault_matrix::cases();
    let mut mismatches = Vec::new();
    for case in &cases {
        mismatches.extend(run(case).await);
    }
    fault_matrix::report("tokio", cases.len(), mismatches, started.elapsed());
}

/// Every deadline saturates (`Clock::deadline`), the connect deadline included: a timeout of
/// `Duration::MAX` means none in practice, never an overflow.
#[tokio::test]
async fn huge_timeouts_do_not_overflow() {
    let server = server().await;
    let mut options: Options = fault_matrix::client_options(server.addr().port());
    options.config.timeouts = Timeouts::uniform(Duration::MAX);
    let reports = send_all(options, [fault_matrix::message("huge", 1)])
        .await
        .expect("sent");
    fault_matrix::check_batch("huge", 1, &reports, &server.received());
}

#[tokio::test]
async fn an_unresolvable_host_is_transient_in_both_adapters() {
    let options: Options = fault_matrix::unresolvable_options();
    let error = connect(options).await.expect_err("no such host");
    assert!(matches!(error, Error::Resolve { .. }), "{error:?}");
    assert!(error.is_transient(), "{error:?}");
}

#[tokio::test]
async fn reports_match_the_input_after_an_invalid_batch() {
    let server = server().await;
    let mut session = connect(fault_matrix::client_options(server.addr().port()))
        .await
        .expect("session");
    let batch = fault_matrix::invalid_batch();
    let error = session.send_all(batch).await.expect_err("an invalid batch");
    assert!(
        matches!(error, Error::Usage(UsageError::InBatch { index: 1, .. })),
        "{error:?}"
    );
    assert_eq!(server.received(), [], "nothing of an invalid batch is sent");
    let batch = (1..=3).map(|j| fault_matrix::message("valid", j));
    let reports = session.send_all(batch).await.expect("sent");
    assert!(reports.iter().all(|r| r.verdict == Verdict::Delivered));
    session.quit().await.expect("quit");
    fault_matrix::check_batch("valid", 3, &reports, &server.received());
}

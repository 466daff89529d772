//! Tracing under the target `smtp`: a span for each message, holding that message's part of
//! the redacted transcript; the session's own lines stay in the span around the session (a
//! pooled connection's).

use smtp_sansio::driver::MessageLog;
use smtp_sansio::pool::ConnId;
use smtp_sansio::{Event, TransactionId, TransactionReport};
use tracing::{Level, Span};

use crate::Error;

/// The span of a message given to the mailer, in the caller's span: it holds a span for each
/// try (`attempt`), and closes when the message's result is handed over.
pub(crate) fn message_span(recipients: usize) -> Span {
    tracing::debug_span!(target: "smtp", "message", recipients)
}

/// Whether message spans are wanted: without them a mailer hands none to its connections.
pub(crate) fn enabled() -> bool {
    tracing::enabled!(target: "smtp", Level::DEBUG)
}

/// Logs why a session ended, in the current span (the connection's): its error, or a clean
/// close.
pub(crate) fn ended(error: Option<&smtp_sansio::Error>) {
    match error {
        Some(error) => tracing::debug!(target: "smtp", %error, "session failed"),
        None => tracing::debug!(target: "smtp", "session closed"),
    }
}

/// Logs what became of one try of a pooled message on connection `conn`.
pub(crate) fn tried(message: Option<&Span>, conn: ConnId, report: &TransactionReport) {
    let verdict = &report.verdict;
    match message.filter(|span| !span.is_none()) {
        Some(span) => tracing::debug!(target: "smtp", parent: span, ?conn, %verdict, "tried"),
        None => tracing::debug!(target: "smtp", ?conn, %verdict, "tried"),
    }
}

/// Logs a pooled message's result, as its caller gets it.
pub(crate) fn finished(message: &Span, result: &Result<TransactionReport, Error>) {
    match result {
        Ok(report) => {
            let verdict = &report.verdict;
            tracing::debug!(target: "smtp", parent: message, %verdict, "finished");
        }
        Err(error) => tracing::debug!(target: "smtp", parent: message, %error, "not sent"),
    }
}

/// The spans of a session's messages that are not settled yet.
#[derive(Debug, Default)]
pub(crate) struct MessageSpans {
    open: MessageLog<Span>,
}

impl MessageSpans {
    /// Opens the span of message `id`, just queued. A pooled message's span (`attempt`) is a
    /// child of the mailer's span for the message and follows from the connection's; a
    /// session's own message span (`message`) is a child of the current span.
    pub(crate) fn open(&mut self, id: TransactionId, within: Option<&Span>) {
        let span = match within.filter(|message| !message.is_none()) {
            Some(message) => {
                tracing::debug_span!(target: "smtp", parent: message, "attempt", transaction = ?id)
            }
            None => tracing::debug_span!(target: "smtp", "message", transaction = ?id),
        };
        if !span.is_disabled() {
            if within.is_some() {
                span.follows_from(Span::current());
            }
            self.open.open(id, span);
        }
    }

    /// Logs an event worth logging in the span of the message it concerns, or in the current
    /// span; a settled message's span closes.
    pub(crate) fn log(&mut self, event: &Event) {
        self.open.log(event, enabled(), |line, span| match span {
            Some(span) => tracing::debug!(target: "smtp", parent: span, "{line}"),
            None => tracing::debug!(target: "smtp", "{line}"),
        });
    }
}

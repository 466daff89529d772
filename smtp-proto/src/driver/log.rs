//! A driver's log: a line for each event worth logging, and which message it belongs to, so a
//! driver can keep each message's lines together (in a tracing span, say) even when messages
//! are pipelined.

use alloc::string::{String, ToString};
use std::collections::HashMap;

use crate::client::event::{Event, TransactionId, TranscriptLine};

/// A line for a driver's log, for the events worth logging: the redacted transcript, the
/// session becoming ready, a message settling. [`message_of`] says which message's log the
/// line belongs in.
pub fn log_line(event: &Event) -> Option<String> {
    match event {
        Event::Transcript { line, .. } => Some(match line {
            TranscriptLine::Sent(line) => alloc::format!("C: {line}"),
            TranscriptLine::Received(line) => alloc::format!("S: {line}"),
        }),
        Event::Ready(_) => Some("session ready".to_string()),
        Event::Settled(id) => Some(alloc::format!("transaction {} settled", id.0)),
        _ => None,
    }
}

/// The message an event concerns: a line of its transcript (its MAIL, RCPT, DATA or BDAT, their
/// replies, its data) or its settling. `None` for the session's own events.
pub fn message_of(event: &Event) -> Option<TransactionId> {
    match event {
        Event::Transcript { transaction, .. } => *transaction,
        Event::Settled(id) => Some(*id),
        _ => None,
    }
}

/// What a driver keeps for each message's log (a tracing span, say) from the moment the
/// message is queued until it settles: [`log`](Self::log) hands each event's line to the
/// driver with the value of the message it belongs to.
#[derive(Debug)]
pub struct MessageLog<S> {
    open: HashMap<TransactionId, S>,
}

impl<S> Default for MessageLog<S> {
    fn default() -> Self {
        Self {
            open: HashMap::new(),
        }
    }
}

impl<S> MessageLog<S> {
    /// Keeps `value` for message `id`: call it when the message is queued
    /// ([`Client::send`](crate::Client::send) and friends), before driving.
    pub fn open(&mut self, id: TransactionId, value: S) {
        self.open.insert(id, value);
    }

    /// Call it with every event: unless `enabled` is false (the driver's log is off), hands the
    /// event's [`log_line`] to `write` with the value of the message it belongs to (`None` for
    /// the session's own lines, and for messages never opened). A message's value is dropped
    /// once it has settled ([`Event::Settled`]), after its last line.
    pub fn log(&mut self, event: &Event, enabled: bool, write: impl FnOnce(&str, Option<&S>)) {
        if enabled && let Some(line) = log_line(event) {
            write(&line, message_of(event).and_then(|id| self.open.get(&id)));
        }
        if let Event::Settled(id) = event {
            self.open.remove(id);
        }
    }

    /// How many messages have a value kept: those opened and not settled yet.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether no message has a value kept.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript(text: &str, transaction: Option<TransactionId>) -> Event {
        let line = TranscriptLine::Sent(text.to_string());
        Event::Transcript { line, transaction }
    }

    #[test]
    fn rfc2920_3_1_lines_go_to_their_message_until_it_settles() {
        let (one, two) = (TransactionId(1), TransactionId(2));
        let mut log = MessageLog::default();
        log.open(one, "one");
        log.open(two, "two");
        let mut written = alloc::vec::Vec::new();
        for event in [
            transcript("EHLO client.example", None),
            transcript("MAIL FROM:<a@example.com>", Some(one)),
            transcript("MAIL FROM:<b@example.com>", Some(two)),
            Event::Settled(one),
            transcript("RSET", None),
        ] {
            log.log(&event, true, |line, value| {
                written.push((line.to_string(), value.copied()));
            });
        }
        let expected = [
            ("C: EHLO client.example", None),
            ("C: MAIL FROM:<a@example.com>", Some("one")),
            ("C: MAIL FROM:<b@example.com>", Some("two")),
            ("transaction 1 settled", Some("one")),
            ("C: RSET", None),
        ];
        let expected: alloc::vec::Vec<_> =
            expected.iter().map(|&(l, v)| (l.to_string(), v)).collect();
        assert_eq!(written, expected);
        assert_eq!(log.len(), 1, "the settled message is forgotten");
        log.log(&Event::Settled(two), false, |_, _| panic!("the log is off"));
        assert!(log.is_empty(), "forgotten even with the log off");
    }
}

//! A settled transaction's report: its outcome, and the verdict of the message and of each
//! recipient, decided from the whole transaction and from how the session ended.

use alloc::vec::Vec;

use super::error::{Error, Stage};
use super::report::{Outcome, RecipientReport, TransactionReport, Verdict};
use super::transaction::{LocalFailure, Txn};
use crate::wire::reply::{Reply, ReplyCode};

impl Txn {
    /// The report of a settled transaction, or of one still open when the session failed with
    /// `failure`.
    pub(crate) fn report(self, failure: Option<&Error>) -> TransactionReport {
        let outcome = self.outcome(failure);
        let verdicts = self.recipient_verdicts(failure);
        let verdict = match &self.local {
            Some(LocalFailure::Cancelled) => Verdict::NotAttempted,
            Some(_) => Verdict::Bounced,
            None if !self.attempted(failure) => Verdict::NotAttempted,
            None => summary(&verdicts),
        };
        let recipients = self
            .envelope
            .recipients
            .into_iter()
            .zip(self.rcpts)
            .zip(self.deliveries)
            .zip(verdicts)
            .map(|(((r, reply), delivery), verdict)| RecipientReport {
                path: r.path,
                verdict,
                reply,
                delivery,
            })
            .collect();
        TransactionReport {
            id: self.id,
            verdict,
            outcome,
            recipients,
        }
    }

    /// Whether the end of the data may have reached a server that went on reading: it was
    /// transmitted, no reply to it came, and the session did not end with a `421` (after which
    /// the server reads no more, RFC 5321 §3.8).
    fn end_may_have_landed(&self, failure: Option<&Error>) -> bool {
        self.end_transmitted
            && self.end.is_none()
            && failure
                .is_some_and(|e| !matches!(e, Error::ServiceClosing(r) if r.is_service_closing()))
    }

    /// Whether the server saw the transaction at all: it answered one of its commands, the
    /// session failed while one of them waited, or its end may have landed.
    fn attempted(&self, failure: Option<&Error>) -> bool {
        self.answered || self.hit || self.end_may_have_landed(failure)
    }

    fn outcome(&self, failure: Option<&Error>) -> Outcome {
        if let Some(local) = &self.local {
            return match local {
                LocalFailure::Invalid(e) => Outcome::InvalidForServer(e.clone()),
                LocalFailure::Body(e) => Outcome::InvalidBody(*e),
                LocalFailure::TooLarge(limit) => Outcome::TooLarge { limit: *limit },
                LocalFailure::Cancelled => Outcome::Cancelled,
            };
        }
        if !self.attempted(failure) {
            return Outcome::NotAttempted;
        }
        let refused = |stage, reply: &Reply| Outcome::Rejected {
            stage,
            reply: reply.clone(),
        };
        if let Some(reply) = self.mail.as_ref().filter(|r| !r.is_positive_completion()) {
            return match self.end.as_ref().filter(|r| r.is_positive_completion()) {
                // The server took data in a transaction it had refused: its state was not
                // ours; it may have delivered the message (see `recipient_verdicts`).
                Some(end) => Outcome::Accepted(end.clone()),
                None => refused(Stage::Mail, reply),
            };
        }
        // RFC 2920 §3.1: with every recipient refused, what DATA or BDAT got next is explained
        // by the refusals, not a verdict of its own.
        let sent = self.rcpt_commands.len();
        let all_answered = sent > 0 && self.rcpts.iter().take(sent).all(Option::is_some);
        if self.mail.is_some() && all_answered && self.accepted_recipients() == 0 {
            return Outcome::NoRecipientAccepted;
        }
        if let Some(reply) = &self.chunk_failure {
            return refused(Stage::Bdat, reply);
        }
        if let Some(reply) = self.data_refusal() {
            return refused(Stage::Data, reply);
        }
        if let Some(reply) = &self.end {
            return if reply.is_positive_completion() {
                Outcome::Accepted(reply.clone())
            } else {
                refused(Stage::DataEnd, reply)
            };
        }
        let mut deliveries = self.deliveries.iter().flatten();
        if let Some(reply) = deliveries.clone().find(|r| r.is_positive_completion()) {
            return Outcome::Accepted(reply.clone());
        }
        if let Some(reply) = deliveries.next() {
            return refused(Stage::DataEnd, reply);
        }
        match failure {
            Some(e) if self.end_may_have_landed(failure) => Outcome::Unknown(e.clone()),
            Some(e) => Outcome::Interrupted(e.clone()),
            None => Outcome::NotAttempted,
        }
    }

    /// The reply to DATA, if it refused the data.
    fn data_refusal(&self) -> Option<&Reply> {
        self.data
            .as_ref()
            .filter(|r| r.code() != ReplyCode::START_MAIL_INPUT)
    }

    /// What became of the message for a recipient the server accepted: the reply that ended
    /// the data, or how the session ended.
    fn body_verdict(&self, failure: Option<&Error>) -> Verdict {
        let decided = self
            .chunk_failure
            .as_ref()
            .or_else(|| self.data_refusal())
            .or(self.end.as_ref());
        match decided {
            Some(reply) => Verdict::of_reply(reply),
            None if self.end_may_have_landed(failure) => Verdict::Unknown,
            None => Verdict::Deferred,
        }
    }

    fn recipient_verdicts(&self, failure: Option<&Error>) -> Vec<Verdict> {
        let everyone = |verdict| alloc::vec![verdict; self.rcpts.len()];
        match &self.local {
            Some(LocalFailure::Cancelled) => return everyone(Verdict::NotAttempted),
            Some(_) => return everyone(Verdict::Bounced),
            None if !self.attempted(failure) => return everyone(Verdict::NotAttempted),
            None => {}
        }
        if let Some(reply) = self.mail.as_ref().filter(|r| !r.is_positive_completion()) {
            if self.end.as_ref().is_some_and(Reply::is_positive_completion) {
                // Data accepted in a transaction the server had refused: never bounce what it
                // may have delivered.
                return everyone(Verdict::Unknown);
            }
            // A refused MAIL explains whatever its pipelined RCPTs got (RFC 2920 §3.1).
            return everyone(Verdict::of_reply(reply));
        }
        let body = self.body_verdict(failure);
        let sent = self.rcpt_commands.len();
        let per_recipient_end = self.deliveries.iter().any(Option::is_some);
        (0..self.rcpts.len())
            .map(|i| match (&self.rcpts[i], &self.deliveries[i]) {
                // RFC 9422: left out by RCPTMAX, for another transaction.
                _ if i >= sent => Verdict::NotAttempted,
                (Some(reply), _) if !reply.is_positive_completion() => Verdict::of_reply(reply),
                // RFC 2033 §4.2: LMTP answers the end of data once per accepted recipient.
                (Some(_), Some(delivery)) => Verdict::of_reply(delivery),
                (Some(_), None) if per_recipient_end && self.end_may_have_landed(failure) => {
                    Verdict::Unknown
                }
                (Some(_), None) => body,
                // Never answered: the session ended first (RFC 5321 §3.8).
                (None, _) if body == Verdict::Unknown => Verdict::Unknown,
                (None, _) => Verdict::Deferred,
            })
            .collect()
    }
}

/// A message's verdict from its recipients': delivered to anyone, else unknown for anyone, else
/// deferred if anyone may still get it, else bounced.
fn summary(verdicts: &[Verdict]) -> Verdict {
    let any = |v| verdicts.contains(&v);
    if any(Verdict::Delivered) {
        Verdict::Delivered
    } else if any(Verdict::Unknown) {
        Verdict::Unknown
    } else if any(Verdict::Deferred) || any(Verdict::NotAttempted) {
        Verdict::Deferred
    } else {
        Verdict::Bounced
    }
}

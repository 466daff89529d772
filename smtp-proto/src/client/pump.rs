//! What goes out next: application work in order, pipelined where the server allows.

use alloc::vec::Vec;

use super::event::{Event, TranscriptLine};
use super::transaction::{BodySource, LocalFailure, Next, Txn};
use super::{Client, Expect, Expected, Op, Phase, TransactionId};
use crate::error::InvalidInput;
use crate::types::params::BodyType;
use crate::wire::command::{Command, MailCommand, RcptCommand};
use crate::wire::ehlo::{Capabilities, SizeLimit};

/// How far the transaction being sent got.
pub(super) enum Progress {
    /// Something was emitted, or a step was taken: try again.
    Continue,
    /// It waits for a reply or for more body: nothing else may go out now.
    Blocked,
    /// No transaction is being sent: the next operation may start.
    Free,
}

impl Client {
    /// Emits as much queued work as the protocol allows now: one command at a time without
    /// PIPELINING; with it, groups ending at DATA, NOOP, VRFY, EXPN, HELP or QUIT
    /// (RFC 2920 §3.1), messages following one another's end of data in the same write.
    pub(super) fn pump(&mut self) {
        while self.phase == Phase::Ready && self.error.is_none() && self.may_emit() {
            match self.advance_emitting() {
                Progress::Continue => continue,
                Progress::Blocked => break,
                Progress::Free => {}
            }
            let Some(op) = self.ops.pop_front() else {
                break;
            };
            self.start_op(op);
        }
    }

    fn pipelining(&self) -> bool {
        self.config.pipelining && self.caps.as_ref().is_some_and(Capabilities::pipelining)
    }

    /// Without PIPELINING every command waits for the previous reply (RFC 5321 §4.3.1); with
    /// it, a group goes on until it must end, or too many octets or commands await replies.
    fn may_emit(&self) -> bool {
        self.expected.is_empty()
            || (self.pipelining()
                && self.group_open
                && self.unacknowledged < self.config.max_unacknowledged_bytes
                && self.expected.len() < self.config.max_unanswered_commands)
    }

    /// Writes a command, and records the reply it waits for.
    pub(super) fn emit(&mut self, command: Command, what: Expected, timeout: core::time::Duration) {
        self.mark_output();
        let before = self.out.len();
        command.encode(self.out.tail());
        let octets = self.out.len() - before;
        if self.config.transcript {
            let line =
                TranscriptLine::Sent(alloc::string::ToString::to_string(&command.redacted()));
            let transaction = what.transaction();
            self.events
                .push_back(Event::Transcript { line, transaction });
        }
        self.group_open = !command.ends_pipeline_group();
        self.expect(what, timeout);
        self.count_sent(octets);
    }

    /// Adds octets sent for the latest expectation (its command, or message data after it).
    pub(super) fn count_sent(&mut self, octets: usize) {
        if let Some(expect) = self.expected.back_mut() {
            expect.bytes += octets;
            self.unacknowledged += octets;
        }
    }

    /// Records a reply to wait for, with a deadline that starts now (SECURITY.md F1).
    pub(super) fn expect(&mut self, what: Expected, timeout: core::time::Duration) {
        if let Some(txn) = what.transaction().and_then(|id| self.txns.get_mut(id)) {
            txn.in_flight += 1;
        }
        let deadline = self.now.saturating_add(timeout);
        self.expected.push_back(Expect {
            what,
            deadline,
            // The greeting answers no command: it may arrive at any time.
            sent: what == Expected::Greeting,
            bytes: 0,
        });
    }

    /// Everything in the output buffer is being handed to the driver: replies to it are
    /// genuine from now on, and an end of data in it may reach the server.
    pub(super) fn mark_handed_out(&mut self) {
        // Commands join the back of the queue and are handed out together, so the ones not yet
        // handed out are a suffix.
        for index in (0..self.expected.len()).rev() {
            let expect = &mut self.expected[index];
            if expect.sent {
                break;
            }
            expect.sent = true;
            let what = expect.what;
            if what.is_end_of_data()
                && let Some(txn) = what.transaction().and_then(|id| self.txns.get_mut(id))
            {
                txn.end_transmitted = true;
            }
        }
    }

    pub(super) fn mark_output(&mut self) {
        if self.out.is_empty() {
            self.out_deadline = self.now.saturating_add(self.config.timeouts.data_block);
        }
    }

    pub(super) fn note_data(&mut self, id: TransactionId, octets: usize) {
        if self.config.transcript && octets > 0 {
            self.note_sent(id, alloc::format!("<{octets} octets of message data>"));
        }
    }

    /// Puts a line the client sent for message `id` in the transcript.
    pub(super) fn note_sent(&mut self, id: TransactionId, line: alloc::string::String) {
        if self.config.transcript {
            self.events.push_back(Event::Transcript {
                line: TranscriptLine::Sent(line),
                transaction: Some(id),
            });
        }
    }

    fn start_op(&mut self, op: Op) {
        let command_timeout = self.config.timeouts.command;
        match op {
            Op::Transaction(id) => self.start_transaction(id),
            Op::Rset { query } => {
                self.emit(Command::Rset, Expected::Rset { query }, command_timeout)
            }
            Op::Query(id, command) => self.emit(command, Expected::Query(id), command_timeout),
            Op::Quit => {
                self.phase = Phase::Quitting;
                self.emit(Command::Quit, Expected::Quit, command_timeout);
            }
        }
    }

    fn start_transaction(&mut self, id: TransactionId) {
        // Cancelled before it started: nothing to send.
        let Some(txn) = self.txns.get(id) else {
            return;
        };
        let prepared = self.prepare(txn);
        let Some(txn) = self.txns.get_mut(id) else {
            return;
        };
        let (mail, rcpts, use_bdat) = match prepared {
            Ok(prepared) => prepared,
            Err(failure) => {
                txn.local = Some(failure);
                return self.settle(id);
            }
        };
        txn.rcpt_commands = rcpts;
        txn.use_bdat = use_bdat;
        txn.next = Next::Rcpt(0);
        // Only a transaction whose MAIL goes out can leave server state behind.
        let previous = self.last_started.replace(id);
        // A pipelined BDAT message before this one may still fail a chunk; an RSET first keeps
        // this transaction independent of it (RFC 3030 §2, RFC 2920 §3.1 allow RSET anywhere).
        // Messages go out one after another, so only the one just before can still be open.
        let guard = previous.and_then(|p| self.txns.get(p)).is_some_and(|t| {
            t.use_bdat && t.next == Next::Done && t.in_flight > 0 && !t.reset_sent
        });
        if guard {
            self.emit(
                Command::Rset,
                Expected::Rset { query: None },
                self.config.timeouts.command,
            );
        }
        self.emitting = Some(id);
        self.emit(
            Command::Mail(mail),
            Expected::Mail(id),
            self.config.timeouts.mail,
        );
    }

    /// A transaction stopped short while it was being sent: an RSET goes out at once if the
    /// server may hold its state, before anything else can start (RFC 5321 §4.1.1.5), then it
    /// settles if nothing of it is in flight.
    pub(super) fn stop_short(&mut self, id: TransactionId) {
        let Some(txn) = self.txns.get_mut(id) else {
            return;
        };
        txn.aborted = true;
        txn.next = Next::Done;
        if txn.may_hold_state() {
            txn.reset_sent = true;
            self.emit(
                Command::Rset,
                Expected::Rset { query: None },
                self.config.timeouts.command,
            );
        }
        if self.emitting == Some(id) {
            self.emitting = None;
        }
        self.settle(id);
    }

    /// Builds and checks MAIL and every RCPT against the server's capabilities before anything
    /// is sent, adding SIZE, BODY and SMTPUTF8 where needed.
    fn prepare(&self, txn: &Txn) -> Result<(MailCommand, Vec<RcptCommand>, bool), LocalFailure> {
        let caps = self.caps.clone().unwrap_or_default();
        let envelope = &txn.envelope;
        let mut params = envelope.params.clone();
        let (size, eight_bit) = match &txn.body {
            BodySource::Whole { content, eight_bit } => (Some(content.len() as u64), *eight_bit),
            BodySource::Streamed(s) => (s.declared.size_hint, s.declared.eight_bit),
        };
        if let (Some(SizeLimit::Max(limit)), Some(size)) = (caps.size(), size)
            && size > limit
        {
            // RFC 1870: refuse locally what the server said it will not take.
            return Err(LocalFailure::TooLarge(limit));
        }
        if caps.size().is_some() && params.size.is_none() {
            params.size = size;
        }
        if eight_bit && params.body.is_none() {
            // RFC 6152: 8-bit text needs BODY=8BITMIME, refused if not advertised (D8).
            params.body = Some(BodyType::EightBitMime);
        }
        let paths_need_utf8 = envelope.from.needs_smtp_utf8()
            || envelope.recipients.iter().any(|r| r.path.needs_smtp_utf8());
        params.smtp_utf8 |= paths_need_utf8;
        if params.require_tls && self.tls.is_none() {
            return Err(LocalFailure::Invalid(InvalidInput::RequireTlsWithoutTls));
        }
        let binary = params.body == Some(BodyType::BinaryMime);
        let mail = MailCommand::new(envelope.from.clone(), params, &caps)
            .map_err(LocalFailure::Invalid)?;
        // RFC 9422 RCPTMAX: recipients past the limit are not sent; their reports say so
        // (no reply), and the caller can send them in another transaction.
        let max = caps
            .limits()
            .and_then(|l| l.rcpt_max)
            .map_or(usize::MAX, |m| m as usize);
        let rcpts = envelope
            .recipients
            .iter()
            .take(max)
            .map(|r| RcptCommand::new(r.path.clone(), r.params.clone(), &caps))
            .collect::<Result<Vec<_>, _>>()
            .map_err(LocalFailure::Invalid)?;
        let use_bdat = binary || (self.config.chunking && caps.chunking() && !self.config.lmtp);
        Ok((mail, rcpts, use_bdat))
    }

    fn advance_emitting(&mut self) -> Progress {
        let Some(id) = self.emitting else {
            return Progress::Free;
        };
        let Some(txn) = self.txns.get_mut(id) else {
            self.emitting = None;
            return Progress::Free;
        };
        if txn.is_cancelled() && txn.next != Next::Done {
            return match txn.next {
                // DATA is out: its reply decides (see phase.rs `on_go_ahead`).
                Next::AwaitGo => Progress::Blocked,
                // Part of the body is out: only dropping the connection stops it.
                Next::Body => {
                    self.fail(super::error::Error::Cancelled);
                    Progress::Blocked
                }
                _ => {
                    self.stop_short(id);
                    Progress::Continue
                }
            };
        }
        match txn.next {
            Next::Mail | Next::Done => {
                self.emitting = None;
                Progress::Free
            }
            Next::Rcpt(i) => {
                let Some(rcpt) = txn.rcpt_commands.get(i).cloned() else {
                    txn.next = Next::DataCommand;
                    return Progress::Continue;
                };
                txn.next = Next::Rcpt(i + 1);
                self.emit(
                    Command::Rcpt(rcpt),
                    Expected::Rcpt(id, i),
                    self.config.timeouts.rcpt,
                );
                Progress::Continue
            }
            Next::DataCommand => {
                let sent = txn.rcpt_commands.len();
                let answered =
                    txn.mail.is_some() && txn.rcpts.iter().take(sent).all(Option::is_some);
                if answered && (!txn.mail_accepted() || txn.accepted_recipients() == 0) {
                    // Without pipelining the replies are known: no DATA for nobody (D9, D10).
                    self.stop_short(id);
                } else if txn.use_bdat {
                    txn.next = Next::Chunks;
                } else {
                    txn.next = Next::AwaitGo;
                    let timeout = self.config.timeouts.data_initiation;
                    self.emit(Command::Data, Expected::Data(id), timeout);
                }
                Progress::Continue
            }
            Next::AwaitGo => Progress::Blocked,
            Next::Body => self.emit_body(id),
            Next::Chunks => self.emit_chunks(id),
        }
    }
}

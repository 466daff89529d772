//! Every state transition driven by a reply or a driver event, in one file (DESIGN.md §4.14).

use super::auth::{SaslStep, choose, nonce_ok};
use super::config::TlsMode;
use super::error::{Error, ProtocolError, Stage};
use super::event::{Event, TlsInfo, TranscriptLine};
use super::transaction::Next;
use super::{Client, Expected, Op, Phase};
use crate::types::mechanism::Mechanism;
use crate::wire::base64;
use crate::wire::command::Command;
use crate::wire::decoder::ReplyDecoder;
use crate::wire::ehlo::Capabilities;
use crate::wire::reply::{Reply, ReplyCode};

impl Client {
    /// Handles every complete reply the decoder holds, stopping at the first fatal error.
    pub(super) fn take_replies(&mut self) {
        while self.error.is_none() && self.phase != Phase::Closed {
            match self.decoder.next_reply() {
                Ok(Some(reply)) => self.on_reply(reply),
                Ok(None) => break,
                Err(e) => self.fail(ProtocolError::Reply(e).into()),
            }
        }
    }

    fn on_reply(&mut self, mut reply: Reply) {
        if !self
            .caps
            .as_ref()
            .is_some_and(Capabilities::enhanced_status_codes)
        {
            // RFC 2034 §3: only a server that advertised them sends enhanced status codes.
            reply.forget_enhanced_status();
        }
        if self.config.transcript {
            let line = TranscriptLine::Received(alloc::string::ToString::to_string(&reply));
            let transaction = self
                .expected
                .front()
                .filter(|e| e.sent)
                .and_then(|e| e.what.transaction());
            self.events
                .push_back(Event::Transcript { line, transaction });
        }
        let popped = self.expected.pop_front();
        if let Some(expect) = &popped {
            self.unacknowledged = self.unacknowledged.saturating_sub(expect.bytes);
        }
        let Some(expect) = popped.filter(|e| e.sent) else {
            // RFC 5321 §4.2: one reply per command; only 421 may come unasked (B14, F7).
            return self.fail(if reply.is_service_closing() {
                Error::ServiceClosing(reply)
            } else {
                ProtocolError::UnexpectedReply(reply).into()
            });
        };
        if let Some(txn) = expect
            .what
            .transaction()
            .and_then(|id| self.txns.get_mut(id))
        {
            txn.answered = true;
        }
        if expect.what != Expected::Quit && reply.is_service_closing() {
            // RFC 5321 §3.8: 421 at any step ends the session, with no RSET (F6, A3). It still
            // answers its command: a recipient's 421 is that recipient's, and a 421 to the end
            // of the data decides the message.
            if expect.what.transaction().is_some() {
                self.record(expect.what, reply.clone());
            }
            return self.fail(Error::ServiceClosing(reply));
        }
        if expect.what != Expected::Quit && reply.code() == ReplyCode::CLOSING {
            return self.fail(Error::ServiceClosing(reply));
        }
        if reply.is_intermediate() && !matches!(expect.what, Expected::Data(_) | Expected::Auth) {
            // A 3yz where none fits: 354 to MAIL, 334 outside AUTH (B7).
            return self.unexpected(expect.what.stage(), reply);
        }
        match expect.what {
            Expected::Greeting => self.on_greeting(reply),
            Expected::Hello => self.on_hello(reply),
            Expected::Helo => self.on_helo(reply),
            Expected::StartTls => self.on_starttls(reply),
            Expected::Auth => self.on_auth(reply),
            Expected::Rset { query } => self.on_rset(reply, query),
            Expected::Query(id) => self.answer(id, reply),
            Expected::Quit => self.closed(),
            Expected::Data(id) if reply.code() == ReplyCode::START_MAIL_INPUT => {
                self.on_go_ahead(id, reply)
            }
            // RFC 5321 §3.3: no data without 354; a 250 here is a desync (B7, D9).
            Expected::Data(_) if reply.is_positive_completion() => {
                self.unexpected(Stage::Data, reply)
            }
            what => self.record(what, reply),
        }
    }

    /// Applies a reply to the transaction command it answers.
    fn record(&mut self, what: Expected, reply: Reply) {
        let refused = !reply.is_positive_completion();
        match what {
            Expected::Mail(id) => self.with_txn(id, |txn| {
                txn.aborted |= refused;
                txn.mail = Some(reply);
            }),
            Expected::Rcpt(id, index) => self.with_txn(id, |txn| txn.rcpts[index] = Some(reply)),
            Expected::Data(id) => self.with_txn(id, |txn| {
                txn.aborted = true;
                txn.data = Some(reply);
            }),
            Expected::Bdat { id, last } => self.with_txn(id, |txn| {
                if refused {
                    // RFC 3030 §2: no more chunks after a failed one, then RSET (D14).
                    txn.aborted = true;
                    txn.rset_needed = true;
                }
                if last {
                    txn.end = Some(reply);
                } else if refused {
                    txn.chunk_failure.get_or_insert(reply);
                }
            }),
            Expected::DataEnd { id, rcpt } => self.with_txn(id, |txn| match rcpt {
                Some(index) => txn.deliveries[index] = Some(reply),
                None => txn.end = Some(reply),
            }),
            _ => {}
        }
    }

    /// Applies a reply to its transaction and counts it as answered; settles the transaction
    /// if that was all it waited for.
    fn with_txn(&mut self, id: super::TransactionId, apply: impl FnOnce(&mut super::Txn)) {
        if let Some(txn) = self.txns.get_mut(id) {
            txn.in_flight = txn.in_flight.saturating_sub(1);
            apply(txn);
            if txn.aborted && self.emitting == Some(id) {
                txn.next = Next::Done;
            }
        }
        self.settle(id);
    }

    fn unexpected(&mut self, stage: Stage, reply: Reply) {
        self.fail(ProtocolError::UnexpectedCode { stage, reply }.into());
    }

    fn on_greeting(&mut self, reply: Reply) {
        match reply.code().get() {
            220 => self.send_hello(),
            // RFC 5321 §3.1: after a 554 greeting the server waits for QUIT (A14).
            554 => self.polite_fail(Error::Rejected {
                stage: Stage::Greeting,
                reply,
            }),
            _ => self.unexpected(Stage::Greeting, reply),
        }
    }

    fn send_hello(&mut self) {
        let id = self.config.client_id.clone();
        let command = if self.config.lmtp {
            Command::Lhlo(id)
        } else {
            Command::Ehlo(id)
        };
        self.emit(command, Expected::Hello, self.config.timeouts.command);
        self.phase = Phase::Hello;
    }

    fn on_hello(&mut self, reply: Reply) {
        if let Some(caps) = Capabilities::from_ehlo_reply(&reply) {
            self.caps = Some(caps);
            return self.after_hello();
        }
        let code = reply.code().get();
        let plaintext_ok = self.tls.is_none() && self.config.tls.allows_plaintext();
        if matches!(code, 500 | 502) && plaintext_ok && !self.config.lmtp {
            // RFC 5321 §4.1.4 fallback for servers without EHLO, only where plaintext is
            // allowed: a HELO session cannot do STARTTLS (A4).
            let id = self.config.client_id.clone();
            return self.emit(
                Command::Helo(id),
                Expected::Helo,
                self.config.timeouts.command,
            );
        }
        if reply.is_positive_completion() {
            return self.unexpected(Stage::Ehlo, reply);
        }
        if matches!(code, 500 | 502) && self.tls.is_none() {
            return self.polite_fail(Error::StartTlsUnavailable);
        }
        // After TLS there is no fallback to anything learned before it (A9).
        self.polite_fail(Error::Rejected {
            stage: Stage::Ehlo,
            reply,
        });
    }

    fn on_helo(&mut self, reply: Reply) {
        if reply.code() == ReplyCode::OK {
            self.caps = Some(Capabilities::none());
            self.proceed_to_auth();
        } else if reply.is_positive_completion() {
            self.unexpected(Stage::Helo, reply);
        } else {
            self.polite_fail(Error::Rejected {
                stage: Stage::Helo,
                reply,
            });
        }
    }

    fn after_hello(&mut self) {
        let offered = self.caps.as_ref().is_some_and(Capabilities::starttls);
        // RFC 3207 §4.2: never STARTTLS inside TLS, whatever the server advertises (A10, G2).
        if self.tls.is_some() {
            return self.proceed_to_auth();
        }
        match self.config.tls {
            TlsMode::StartTls | TlsMode::StartTlsOpportunistic if offered => {
                self.emit(
                    Command::StartTls,
                    Expected::StartTls,
                    self.config.timeouts.command,
                );
                self.phase = Phase::StartTls;
            }
            TlsMode::StartTls | TlsMode::Implicit => self.polite_fail(Error::StartTlsUnavailable),
            TlsMode::StartTlsOpportunistic | TlsMode::InsecurePlaintext => self.proceed_to_auth(),
        }
    }

    fn on_starttls(&mut self, reply: Reply) {
        if reply.code() == ReplyCode::SERVICE_READY {
            // RFC 3207 §4.2: nothing read before the handshake may be used after it. A server
            // cannot legitimately send more here, since TLS starts with the client (A5, A6).
            if self.decoder.has_buffered_input() {
                return self.fail(ProtocolError::DataAfterStartTlsReply.into());
            }
            self.phase = Phase::Handshake;
            self.handshake_deadline = self.now.saturating_add(self.config.timeouts.tls_handshake);
        } else if !reply.is_positive_completion()
            && self.config.tls == TlsMode::StartTlsOpportunistic
        {
            self.proceed_to_auth();
        } else if reply.is_transient() || reply.is_permanent() {
            // RFC 3207 §4 leaves 454 to local policy; required TLS means abort (A2).
            self.polite_fail(Error::StartTlsRefused(reply));
        } else {
            self.unexpected(Stage::StartTls, reply);
        }
    }

    pub(super) fn on_tls_established(&mut self, info: TlsInfo) {
        let implicit = self.phase == Phase::TlsFirst;
        let peer_verified = info.peer_verified;
        self.tls = Some(info);
        // RFC 3207 §4.2: the session returns to its initial state; the capability store is
        // emptied now, not merely overwritten later (A8).
        self.caps = None;
        self.decoder = ReplyDecoder::new(self.config.reply_limits);
        let verified_enough = peer_verified
            || self.config.allow_unverified_tls
            || self.config.tls == TlsMode::StartTlsOpportunistic;
        if implicit {
            if !verified_enough {
                return self.fail(Error::TlsNotVerified);
            }
            self.phase = Phase::Greeting;
            self.expect(Expected::Greeting, self.config.timeouts.greeting);
        } else if !verified_enough {
            // RFC 3207 §4.1: QUIT at once when the negotiated security is not enough (A13).
            self.phase = Phase::Hello;
            self.polite_fail(Error::TlsNotVerified);
        } else {
            self.send_hello();
        }
    }

    fn proceed_to_auth(&mut self) {
        let Some(credentials) = self.config.credentials.clone() else {
            return self.ready();
        };
        let policy = &self.config.auth;
        let channel_ok = match &self.tls {
            Some(tls) => {
                tls.peer_verified || policy.allow_unverified_tls || policy.allow_without_tls
            }
            None => policy.allow_without_tls,
        };
        if !channel_ok {
            // RFC 8314 §5.1, RFC 4954 §14: no credentials in clear or to an unverified peer.
            return self.polite_fail(Error::AuthNeedsTls);
        }
        let offered = self
            .caps
            .as_ref()
            .and_then(Capabilities::auth)
            .unwrap_or_default();
        let binding = self.tls.as_ref().and_then(|t| t.channel_binding.clone());
        let nonce = self.config.sasl_nonce.clone();
        let usable = |m: Mechanism| {
            (!m.is_scram() || (cfg!(feature = "crypto") && nonce.as_deref().is_some_and(nonce_ok)))
                && (!m.binds_channel() || binding.is_some())
        };
        let Some(mechanism) = choose(&policy.preference, offered, &credentials, usable) else {
            return self.polite_fail(Error::AuthUnavailable { offered });
        };
        let setup = super::auth::Setup {
            nonce,
            binding,
            plus_offered: offered.iter().any(Mechanism::binds_channel),
        };
        let mut sasl = super::Sasl::new(mechanism, credentials, setup);
        let command = sasl.start();
        self.sasl = Some(sasl);
        self.sasl_cancelled = None;
        self.phase = Phase::Auth;
        self.emit(command, Expected::Auth, self.config.timeouts.command);
    }

    fn on_auth(&mut self, reply: Reply) {
        if let Some(reason) = self.sasl_cancelled.take() {
            // The answer to our `*` (E4, E6, E7): the exchange is over either way.
            self.sasl = None;
            return self.polite_fail(reason.into());
        }
        if reply.is_positive_completion() {
            let proved = self.sasl.take().is_none_or(|sasl| sasl.may_succeed());
            if !proved {
                // A `235` from a SCRAM server that never proved it knows the password.
                return self.polite_fail(ProtocolError::ScramServerSignature.into());
            }
            return self.ready();
        }
        if reply.code() != ReplyCode::AUTH_CHALLENGE {
            // 535, 534, 454, 538, 530: a final answer; no `*` follows it (E8, E15).
            let oauth = self
                .sasl
                .take()
                .and_then(|mut sasl| sasl.take_oauth_error());
            return self.polite_fail(match oauth {
                Some(error) => Error::OAuthRefused {
                    reply,
                    error: alloc::boxed::Box::new(error),
                },
                None => Error::AuthFailed(reply),
            });
        }
        let step = match (base64::decode(reply.first_text()), self.sasl.as_mut()) {
            (Some(challenge), Some(sasl)) => sasl.respond(&challenge),
            // RFC 4954 §4: a challenge that does not decode is cancelled (E4).
            (None, _) => SaslStep::Cancel(Some(ProtocolError::InvalidChallenge)),
            (Some(_), None) => SaslStep::Cancel(None),
        };
        let command = match step {
            SaslStep::Respond(command) => command,
            SaslStep::Cancel(reason) => {
                let reason = reason.unwrap_or(ProtocolError::TooManyChallenges);
                self.sasl_cancelled.get_or_insert(reason);
                Command::AuthCancel
            }
        };
        self.emit(command, Expected::Auth, self.config.timeouts.command);
    }

    fn ready(&mut self) {
        self.phase = Phase::Ready;
        self.group_open = false;
        let caps = self.caps.clone().unwrap_or_default();
        self.events.push_back(Event::Ready(caps));
    }

    /// `354` to DATA: the body goes out, or only the dot if nothing else was accepted.
    fn on_go_ahead(&mut self, id: super::TransactionId, reply: Reply) {
        let Some(txn) = self.txns.get(id) else {
            return;
        };
        if txn.is_cancelled() {
            // The application gave the message up: only dropping the connection now keeps the
            // server from taking a message (RFC 5321 §4.1.1.4).
            return self.fail(Error::Cancelled);
        }
        if !txn.mail_accepted() || txn.accepted_recipients() == 0 {
            // RFC 2920 §3.1: DATA accepted although nothing else was: send only the dot, the
            // transaction fails (D10).
            self.mark_output();
            self.out.put_slice(b".\r\n");
            self.note_sent(id, ".".into());
            // LMTP answers the end of data once per accepted recipient: here, never
            // (RFC 2033 §4.2).
            if !self.config.lmtp {
                let timeout = self.config.timeouts.data_termination;
                self.expect(Expected::DataEnd { id, rcpt: None }, timeout);
                self.count_sent(3);
            }
            return self.with_txn(id, |txn| {
                txn.data = Some(reply);
                txn.end_sent = true;
                txn.next = Next::Done;
            });
        }
        self.with_txn(id, |txn| {
            txn.data = Some(reply);
            txn.next = Next::Body;
        });
    }

    fn on_rset(&mut self, reply: Reply, query: Option<super::QueryId>) {
        let refused = !reply.is_positive_completion();
        if let Some(id) = query {
            self.answer(id, reply.clone());
        }
        if refused {
            // A failed RSET leaves server state unknown: the connection is not reused (F9).
            self.polite_fail(Error::Rejected {
                stage: Stage::Rset,
                reply,
            });
        }
    }

    fn answer(&mut self, id: super::QueryId, reply: Reply) {
        self.queries.answer(id, reply);
        self.events.push_back(Event::Answered(id));
    }

    /// Settles transaction `id` if the server has taken everything it will take: its report
    /// waits for the application, and an RSET follows if server state may remain from it.
    pub(super) fn settle(&mut self, id: super::TransactionId) {
        let Some(txn) = self.txns.get(id) else {
            return;
        };
        if !txn.is_settled() {
            return;
        }
        // A later transaction already started was preceded by its own RSET (see pump.rs).
        let later_started = self.last_started.is_some_and(|last| last > id);
        if txn.needs_rset() && !later_started && self.error.is_none() {
            self.ops.push_front(Op::Rset { query: None });
        }
        if self.emitting == Some(id) {
            self.emitting = None;
        }
        self.txns.settle(id, |txn| txn.report(None));
        self.events.push_back(Event::Settled(id));
    }

    /// Settles every transaction still held, for a session that ended with `error`.
    fn settle_all(&mut self, error: &Error) {
        for id in self.txns.live_ids() {
            self.txns.settle(id, |txn| txn.report(Some(error)));
            self.events.push_back(Event::Settled(id));
        }
    }

    /// Ends the session at once with `error`: nothing more is sent, every message still queued
    /// or in flight is reported.
    pub(super) fn fail(&mut self, error: Error) {
        if self.error.is_some() {
            return;
        }
        // A timeout, a lost connection or a malformed reply struck the command waiting at the
        // front: the server saw its transaction, whatever became of it.
        let waiting = matches!(
            error,
            Error::Timeout(_)
                | Error::ConnectionLost { .. }
                | Error::Protocol(ProtocolError::Reply(_))
        );
        let struck = self.expected.front().and_then(|e| e.what.transaction());
        if let Some(txn) = struck
            .filter(|_| waiting)
            .and_then(|id| self.txns.get_mut(id))
        {
            txn.hit = true;
        }
        self.out.clear();
        self.expected.clear();
        self.ops.clear();
        self.emitting = None;
        let error = self.quit_error.take().unwrap_or(error);
        self.settle_all(&error);
        self.error = Some(error);
    }

    /// Ends the session with `error` after a QUIT, when the server is still in step and waits
    /// for one (RFC 5321 §3.1, §4.1.1.10; SECURITY.md A1, A2, A14).
    pub(super) fn polite_fail(&mut self, error: Error) {
        if !self.expected.is_empty() {
            return self.fail(error);
        }
        self.settle_all(&error);
        self.ops.clear();
        self.emitting = None;
        self.quit_error = Some(error);
        self.phase = Phase::Quitting;
        self.emit(Command::Quit, Expected::Quit, self.config.timeouts.command);
    }

    /// The session is over: cleanly, or with the error a polite failure was holding.
    pub(super) fn closed(&mut self) {
        self.expected.clear();
        match self.quit_error.take() {
            Some(error) => self.fail(error),
            None => self.phase = Phase::Closed,
        }
    }
}

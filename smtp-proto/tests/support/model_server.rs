//! A model SMTP server for the property test and the session fuzz target (the fuzz crate
//! includes this file with `#[path]`): it reads what the client transmits, answers each command
//! as a strict server does (Postfix's 503 and 554 included), draws from a list of choices which
//! replies are refusals or faults, and records per message what it read and said, so every
//! report can be checked against what really happened.

#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;

/// How the server's side of the connection ended, if it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// It closed the connection (after a 421, or without a word).
    Eof,
    /// It reset the connection.
    Reset,
    /// It stopped answering: the client's deadline passes.
    Silent,
    /// It sent a reply the client must reject as malformed, and stopped.
    Malformed,
}

/// A reply the server gave: its code, and its place among every reply of the session (the
/// greeting is 0), so a check can tell whether the client read it.
pub type Said = (u16, usize);

/// What the server saw and said of one message, found by its sender `s{index}@example.com`.
/// Replies are codes; [`Seen::said`] keeps where each came in the session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Every reply to the message's commands, with its place in the session.
    pub said: Vec<Said>,
    /// Every reply code it gave to the message's commands, in order.
    pub replies: Vec<u16>,
    /// Its reply to MAIL.
    pub mail: Option<u16>,
    /// Its replies to RCPT, in order.
    pub rcpts: Vec<u16>,
    /// Its reply to DATA.
    pub data: Option<u16>,
    /// Its reply to a BDAT chunk other than the last, if one was refused.
    pub chunk_refused: Option<u16>,
    /// Whether it read the end of the data (the final dot, or the last chunk's octets).
    pub end_read: bool,
    /// Its reply to the end of the data.
    pub end: Option<u16>,
    /// The body as read: dot-stuffing removed, or the chunks joined.
    pub body: Vec<u8>,
    roles: Vec<(usize, Role)>,
}

/// Which command of the message a reply answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Role {
    Mail,
    Rcpt,
    Data,
    /// A refused chunk other than the last.
    Chunk,
    End,
    #[default]
    Other,
}

impl Seen {
    /// What the client can have learnt of it: the same record without the replies from place
    /// `read` on, which the client never read (it had failed or stopped before).
    pub fn as_read(&self, read: usize) -> Self {
        let mut view = Self {
            end_read: self.end_read,
            body: self.body.clone(),
            ..Self::default()
        };
        for &(code, place) in self.said.iter().filter(|(_, place)| *place < read) {
            view.said.push((code, place));
            view.replies.push(code);
            match self.role(place) {
                Role::Mail => view.mail = Some(code),
                Role::Rcpt => view.rcpts.push(code),
                Role::Data => view.data = Some(code),
                Role::Chunk => view.chunk_refused = view.chunk_refused.or(Some(code)),
                Role::End => view.end = Some(code),
                Role::Other => {}
            }
        }
        view
    }

    fn role(&self, place: usize) -> Role {
        self.roles
            .iter()
            .find(|(p, _)| *p == place)
            .map_or(Role::Other, |(_, role)| *role)
    }

    /// Whether any of its replies refused something for good.
    pub fn any_permanent(&self) -> bool {
        self.replies.iter().any(|&code| code >= 500)
    }
}

enum Mode {
    Commands,
    Data(Vec<u8>),
    Bdat { remaining: usize, last: bool },
}

pub struct ModelServer {
    input: Vec<u8>,
    out: Vec<u8>,
    pub ended: Option<End>,
    choices: VecDeque<u8>,
    mode: Mode,
    caps: &'static str,
    /// Every message by sender index; a message that never sent MAIL is absent.
    pub messages: std::collections::BTreeMap<usize, Seen>,
    current: Option<usize>,
    open: bool,
    accepted_rcpts: usize,
    /// MAIL while a transaction was open: the client forgot an RSET (RFC 5321 §4.1.1.5).
    pub nested_mail: bool,
    /// How many replies it produced, the greeting included.
    produced: usize,
}

impl ModelServer {
    /// A server that offers `caps` (EHLO keyword lines, each ending in CRLF) and takes its
    /// decisions from `choices`: most values mean "answer normally".
    pub fn new(caps: &'static str, choices: &[u8]) -> Self {
        let mut server = Self {
            input: Vec::new(),
            out: b"220 mx.example ESMTP\r\n".to_vec(),
            ended: None,
            choices: choices.iter().copied().collect(),
            mode: Mode::Commands,
            caps,
            messages: Default::default(),
            current: None,
            open: false,
            accepted_rcpts: 0,
            nested_mail: false,
            produced: 1,
        };
        server.ended = None;
        server
    }

    /// The replies produced so far, taken.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Reads bytes the client wrote and answers every complete command.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
        while self.ended.is_none() && self.step() {}
    }

    fn step(&mut self) -> bool {
        match &mut self.mode {
            Mode::Bdat { remaining, last } => {
                let take = (*remaining).min(self.input.len());
                let chunk: Vec<u8> = self.input.drain(..take).collect();
                *remaining -= take;
                let (done, last) = (*remaining == 0, *last);
                if let Some(seen) = self.current.and_then(|i| self.messages.get_mut(&i)) {
                    seen.body.extend_from_slice(&chunk);
                    seen.end_read |= done && last;
                }
                if done {
                    self.mode = Mode::Commands;
                    self.chunk_done(last);
                }
                done
            }
            Mode::Data(_) => {
                let Some(end) = find(&self.input, b"\r\n") else {
                    return false;
                };
                let line: Vec<u8> = self.input.drain(..end + 2).take(end).collect();
                if line == b"." {
                    let Mode::Data(body) = std::mem::replace(&mut self.mode, Mode::Commands) else {
                        return true;
                    };
                    self.data_done(body);
                } else if let Mode::Data(body) = &mut self.mode {
                    body.extend_from_slice(line.strip_prefix(b".").unwrap_or(&line));
                    body.extend_from_slice(b"\r\n");
                }
                true
            }
            Mode::Commands => {
                let Some(end) = find(&self.input, b"\r\n") else {
                    return false;
                };
                let line: Vec<u8> = self.input.drain(..end + 2).take(end).collect();
                self.command(&String::from_utf8_lossy(&line));
                true
            }
        }
    }

    fn command(&mut self, line: &str) {
        let upper = line.to_ascii_uppercase();
        let verb = upper.split(' ').next().unwrap_or("");
        match verb {
            "EHLO" | "LHLO" => {
                let reply = format!("250-mx.example\r\n{}250 8BITMIME", self.caps);
                self.answer(None, 250, &reply);
            }
            "MAIL" => {
                let index = sender_index(line);
                if self.open {
                    self.nested_mail = true;
                    return self.reply(index, 503, "503 5.5.1 nested MAIL command");
                }
                self.current = index;
                if let Some(i) = index {
                    self.messages.entry(i).or_default();
                }
                self.accepted_rcpts = 0;
                if let Some(code) = self.answer(index, 250, "250 2.1.0 Ok") {
                    self.open = code < 300;
                    self.mark(Role::Mail, |seen| seen.mail = Some(code));
                }
            }
            "RCPT" if !self.open => self.reply(self.current, 503, "503 5.5.1 need MAIL command"),
            "RCPT" => {
                if let Some(code) = self.answer(self.current, 250, "250 2.1.5 Ok") {
                    self.accepted_rcpts += usize::from(code < 300);
                    self.mark(Role::Rcpt, |seen| seen.rcpts.push(code));
                }
            }
            "DATA" if !self.open => self.reply(self.current, 503, "503 5.5.1 need RCPT command"),
            "DATA" if self.accepted_rcpts == 0 => {
                self.reply(self.current, 554, "554 5.5.1 no valid recipients");
                self.mark(Role::Data, |seen| seen.data = Some(554));
            }
            "DATA" => {
                if let Some(code) = self.answer(self.current, 354, "354 go ahead") {
                    self.mark(Role::Data, |seen| seen.data = Some(code));
                    if code == 354 {
                        self.mode = Mode::Data(Vec::new());
                    }
                }
            }
            "BDAT" => {
                let mut words = upper.split_ascii_whitespace().skip(1);
                let size = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                let last = words.next() == Some("LAST");
                self.mode = Mode::Bdat {
                    remaining: size,
                    last,
                };
                if size == 0 {
                    self.mode = Mode::Commands;
                    if let Some(seen) = self.current.and_then(|i| self.messages.get_mut(&i)) {
                        seen.end_read |= last;
                    }
                    self.chunk_done(last);
                }
            }
            "RSET" => {
                if self.answer(None, 250, "250 2.0.0 Ok").is_some() {
                    self.open = false;
                }
            }
            "QUIT" => {
                self.reply(None, 221, "221 2.0.0 Bye");
                self.ended = Some(End::Eof);
            }
            _ => self.reply(None, 250, "250 2.0.0 Ok"),
        }
    }

    fn data_done(&mut self, body: Vec<u8>) {
        self.record(|seen| {
            seen.end_read = true;
            seen.body = body;
        });
        if let Some(code) = self.answer(self.current, 250, "250 2.0.0 Ok: queued") {
            self.mark(Role::End, |seen| seen.end = Some(code));
            self.open = false;
        }
    }

    fn chunk_done(&mut self, last: bool) {
        // RFC 3030 §2: after a refused chunk the transaction has failed; so do its later chunks.
        let failed = self
            .current
            .and_then(|i| self.messages.get(&i))
            .is_some_and(|seen| seen.chunk_refused.is_some());
        if !self.open || self.accepted_rcpts == 0 || failed {
            let code = if self.open { 554 } else { 503 };
            self.record(|seen| {
                if last {
                    seen.end = Some(code);
                } else {
                    seen.chunk_refused.get_or_insert(code);
                }
            });
            return self.reply(
                self.current,
                code,
                &format!("{code} 5.5.1 no valid recipients"),
            );
        }
        let Some(code) = self.answer(self.current, 250, "250 2.0.0 Ok") else {
            return;
        };
        let role = match (last, code >= 300) {
            (true, _) => Role::End,
            (false, true) => Role::Chunk,
            (false, false) => Role::Other,
        };
        self.mark(role, |seen| {
            if last {
                seen.end = Some(code);
            } else if code >= 300 {
                seen.chunk_refused.get_or_insert(code);
            }
        });
        if last {
            self.open = false;
        }
    }

    /// Records what the reply just given answered.
    fn mark(&mut self, role: Role, apply: impl FnOnce(&mut Seen)) {
        let place = self.produced - 1;
        self.record(|seen| {
            seen.roles.push((place, role));
            apply(seen);
        });
    }

    fn record(&mut self, apply: impl FnOnce(&mut Seen)) {
        if let Some(seen) = self.current.and_then(|i| self.messages.get_mut(&i)) {
            apply(seen);
        }
    }

    /// Answers a command whose normal reply is `good` (`text`), unless the next choice says
    /// refuse or fail. The code given, or `None` if the server stopped.
    fn answer(&mut self, message: Option<usize>, good: u16, text: &str) -> Option<u16> {
        let choice = self.choices.pop_front().unwrap_or(0);
        let (code, text) = match choice {
            0..=199 => (good, text.to_string()),
            200..=214 => (451, "451 4.3.0 try again later".to_string()),
            215..=229 => (550, "550 5.7.1 refused".to_string()),
            230..=236 => (421, "421 4.4.2 closing".to_string()),
            237..=240 => return self.stop(End::Malformed),
            241..=245 => return self.stop(End::Eof),
            246..=250 => return self.stop(End::Reset),
            _ => return self.stop(End::Silent),
        };
        self.reply(message, code, &text);
        if code == 421 {
            self.ended = Some(End::Eof);
        }
        Some(code)
    }

    fn reply(&mut self, message: Option<usize>, code: u16, text: &str) {
        let place = self.produced;
        self.produced += 1;
        if let Some(seen) = message.and_then(|i| self.messages.get_mut(&i)) {
            seen.replies.push(code);
            seen.said.push((code, place));
        }
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    fn stop(&mut self, end: End) -> Option<u16> {
        if end == End::Malformed {
            self.out.extend_from_slice(b"2x0 garbled\r\n");
        }
        self.ended = Some(end);
        None
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The `i` of `MAIL FROM:<s{i}@example.com>`.
fn sender_index(line: &str) -> Option<usize> {
    let start = line.find("<s")? + 2;
    let end = line[start..].find('@')? + start;
    line[start..end].parse().ok()
}

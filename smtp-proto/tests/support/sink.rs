//! A lean scripted server for benchmarks: it answers every command at once (`354` to DATA,
//! `250` to the rest, `221` to QUIT), skips message data without keeping it, and costs a small
//! constant per octet, so what a benchmark measures is the client.

#![allow(dead_code, unreachable_pub)]

use smtp_sansio::{Action, Client, Disconnect, Event, Instant};

/// Where the sink is in the client's stream.
enum Mode {
    Commands,
    /// Inside DATA: how many octets of `\r\n.\r\n` were matched so far.
    Data(usize),
    /// Inside a BDAT chunk: octets left.
    Chunk(usize),
}

pub struct Sink {
    ehlo: Vec<u8>,
    pending: Vec<u8>,
    out: Vec<u8>,
    mode: Mode,
    closed: bool,
}

impl Sink {
    /// A sink that greets and offers `extensions` (EHLO lines ending in CRLF, beyond 8BITMIME).
    pub fn new(extensions: &str) -> Self {
        let ehlo = format!("250-sink\r\n{extensions}250 8BITMIME\r\n");
        Self {
            ehlo: ehlo.into_bytes(),
            pending: Vec::new(),
            out: b"220 sink\r\n".to_vec(),
            mode: Mode::Commands,
            closed: false,
        }
    }

    /// Reads what the client wrote and answers each complete command.
    pub fn receive(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match &mut self.mode {
                Mode::Chunk(left) => {
                    let take = (*left).min(bytes.len());
                    *left -= take;
                    bytes = &bytes[take..];
                    if *left == 0 {
                        self.mode = Mode::Commands;
                        self.out.extend_from_slice(b"250 2.0.0 Ok\r\n");
                    }
                }
                Mode::Data(matched) => {
                    const END: &[u8] = b"\r\n.\r\n";
                    let mut done = None;
                    for (i, &b) in bytes.iter().enumerate() {
                        *matched = if b == END[*matched] {
                            *matched + 1
                        } else {
                            usize::from(b == END[0])
                        };
                        if *matched == END.len() {
                            done = Some(i + 1);
                            break;
                        }
                    }
                    match done {
                        Some(n) => {
                            bytes = &bytes[n..];
                            self.mode = Mode::Commands;
                            self.out
                                .extend_from_slice(b"250 2.0.0 Ok: queued as SINK\r\n");
                        }
                        None => bytes = &[],
                    }
                }
                Mode::Commands => match bytes.iter().position(|&b| b == b'\n') {
                    Some(end) => {
                        self.pending.extend_from_slice(&bytes[..=end]);
                        bytes = &bytes[end + 1..];
                        let line = std::mem::take(&mut self.pending);
                        self.command(&line);
                    }
                    None => {
                        self.pending.extend_from_slice(bytes);
                        bytes = &[];
                    }
                },
            }
        }
    }

    fn command(&mut self, line: &[u8]) {
        let verb = line.get(..4).unwrap_or(line);
        if verb.eq_ignore_ascii_case(b"DATA") {
            // The CRLF before the first line of data is the one DATA's line ended with.
            self.mode = Mode::Data(2);
            self.out.extend_from_slice(b"354 go ahead\r\n");
        } else if verb.eq_ignore_ascii_case(b"BDAT") {
            let size = line[5..]
                .split(|&b| b == b' ' || b == b'\r')
                .next()
                .and_then(|n| std::str::from_utf8(n).ok()?.parse().ok())
                .unwrap_or(0);
            self.mode = Mode::Chunk(size);
            if size == 0 {
                self.mode = Mode::Commands;
                self.out.extend_from_slice(b"250 2.0.0 Ok\r\n");
            }
        } else if verb.eq_ignore_ascii_case(b"EHLO") {
            self.out.extend_from_slice(&self.ehlo);
        } else if verb.eq_ignore_ascii_case(b"QUIT") {
            self.out.extend_from_slice(b"221 bye\r\n");
            self.closed = true;
        } else {
            self.out.extend_from_slice(b"250 2.0.0 Ok\r\n");
        }
    }

    /// Runs the client against the sink until it waits for the application or the session
    /// ends; every report is taken as it settles and handed to `report`.
    pub fn drive(
        &mut self,
        client: &mut Client,
        mut report: impl FnMut(smtp_sansio::TransactionReport),
    ) {
        let now = Instant::ZERO;
        loop {
            match client.next_action(now) {
                Ok(Action::Transmit { data, .. }) => {
                    for segment in data.segments() {
                        self.receive(segment);
                    }
                }
                Ok(Action::Receive { .. }) if !self.out.is_empty() => {
                    let out = std::mem::take(&mut self.out);
                    client.handle_input(now, &out);
                }
                Ok(Action::Receive { .. }) if self.closed => {
                    client.handle_connection_lost(now, Disconnect::Closed)
                }
                Ok(Action::Event(Event::Settled(id))) => {
                    report(client.take_report(id).expect("a settled report"));
                }
                Ok(Action::Event(_)) => {}
                _ => return,
            }
        }
    }
}

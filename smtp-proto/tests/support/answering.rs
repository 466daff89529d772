//! One message to a server that answers each command as it comes, for the zero-copy tests and
//! the session benchmark: what the client transmitted, kept as it was handed out.

use bytes::{Buf, Bytes};
use smtp_sansio::{
    Action, Client, ClientId, Config, Envelope, Event, Instant, Mailbox, TlsMode,
    TransactionReport, Transmission,
};

pub struct Sent {
    pub transmissions: Vec<Transmission>,
    pub report: TransactionReport,
}

impl Sent {
    /// Everything sent, in one piece.
    pub fn stream(&self) -> Vec<u8> {
        self.transmissions
            .iter()
            .flat_map(|t| t.clone().into_bytes())
            .collect()
    }

    /// How many octets went out as slices of `body`'s own memory.
    pub fn referenced(&self, body: &Bytes) -> usize {
        let range = body.as_ptr_range();
        self.transmissions
            .iter()
            .flat_map(Transmission::segments)
            .filter(|segment| range.contains(&segment.as_ptr()))
            .map(Bytes::len)
            .sum()
    }

    /// The size of the largest transmission.
    pub fn largest(&self) -> usize {
        self.transmissions
            .iter()
            .map(Transmission::len)
            .max()
            .unwrap_or(0)
    }
}

/// One message to a server that answers one command at a time: `354` to DATA, `221` to QUIT,
/// `250` to anything else (each BDAT chunk included). Every transmission is kept.
pub fn send(extensions: &str, body: Bytes) -> Sent {
    let mut transmissions = Vec::new();
    let report = send_each(extensions, body, |t| transmissions.push(t));
    Sent {
        transmissions,
        report,
    }
}

/// The same, handing each transmission to `write` as a driver would, and keeping none.
pub fn send_each(
    extensions: &str,
    body: Bytes,
    mut write: impl FnMut(Transmission),
) -> TransactionReport {
    let config = Config::new(
        ClientId::parse("client.example").expect("valid"),
        TlsMode::InsecurePlaintext,
    );
    let now = Instant::ZERO;
    let mut client = Client::new(now, config);
    let from = Mailbox::parse("a@example.com").expect("valid");
    let to = Mailbox::parse("b@example.net").expect("valid");
    client
        .send(Envelope::new(from, [to]), body)
        .expect("queued");
    client.quit().expect("queued");
    let ehlo = format!("250-mx.example\r\n{extensions}250 8BITMIME\r\n");
    let mut replies = vec![b"220 mx.example ESMTP\r\n".to_vec(), ehlo.into_bytes()].into_iter();
    // The first four octets written since the last reply: the command being answered.
    let mut verb: Option<[u8; 4]> = None;
    let mut report = None;
    loop {
        match client.next_action(now).expect("no session error") {
            Action::Transmit { data, .. } => {
                if verb.is_none() {
                    let mut head = [0u8; 4];
                    let n = data.len().min(4);
                    data.clone().copy_to_slice(&mut head[..n]);
                    verb = Some(head);
                }
                write(data);
            }
            Action::Receive { .. } => {
                let reply = replies
                    .next()
                    .unwrap_or_else(|| match &verb.unwrap_or_default() {
                        b"DATA" => b"354 go ahead\r\n".to_vec(),
                        b"QUIT" => b"221 bye\r\n".to_vec(),
                        _ => b"250 Ok 0100019ac1b2c3d4-000000\r\n".to_vec(),
                    });
                verb = None;
                client.handle_input(now, &reply);
            }
            Action::Event(Event::Settled(id)) => report = client.take_report(id),
            Action::Close => break,
            _ => {}
        }
    }
    report.expect("the message was reported")
}

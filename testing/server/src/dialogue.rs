//! The SMTP dialogue of one connection: commands, replies, the mail transaction, and where
//! the armed fault strikes.

use std::io;

use super::conn::{Conn, End};
use super::fault::{FaultAction, FaultPoint};
use super::sasl::auth;
use super::{ServerOptions, Shared, store};

/// The mail transaction in progress.
#[derive(Default)]
pub(super) struct Transaction {
    /// The reverse-path of the accepted MAIL: a transaction is open while this is set.
    pub(super) from: Option<String>,
    /// The accepted recipients.
    pub(super) to: Vec<String>,
    /// The BDAT chunks received so far.
    chunks: Vec<u8>,
}

/// The state a connection keeps between commands.
#[derive(Default)]
struct Session {
    /// The authenticated user.
    user: Option<String>,
    txn: Transaction,
}

fn path(argument: &str) -> String {
    let start = argument.find('<').map_or(0, |i| i + 1);
    let end = argument[start..]
        .find('>')
        .map_or(argument.len(), |i| start + i);
    argument[start..end].to_string()
}

/// Runs the dialogue until QUIT, the client's close, or the armed fault.
pub(super) async fn run(shared: &Shared, conn: &mut Conn) -> io::Result<End> {
    let options = &shared.options;
    if options.implicit_tls {
        conn.start_tls(&shared.acceptor).await?;
    }
    if let Some(action) = conn.fault(FaultPoint::Greeting) {
        return Ok(End::Fault(action));
    }
    if conn.over_limit {
        conn.reply("421 4.7.0 Too many concurrent SMTP connections")
            .await?;
        return Ok(End::Fault(FaultAction::Eof));
    }
    let mut session = Session::default();
    conn.reply("220 localhost ESMTP smtp-test-server").await?;
    while let Some(line) = conn.line().await? {
        let (verb, argument) = line.split_once(' ').unwrap_or((&line, ""));
        let verb = verb.to_ascii_uppercase();
        if verb == "MAIL" {
            conn.messages += 1;
        }
        let point = match verb.as_str() {
            "EHLO" | "HELO" | "LHLO" => Some(FaultPoint::Ehlo),
            "MAIL" => Some(FaultPoint::Mail),
            "RCPT" => Some(FaultPoint::Rcpt),
            "DATA" => Some(FaultPoint::Data),
            _ => None,
        };
        if let Some(action) = point.and_then(|point| conn.fault(point)) {
            return Ok(End::Fault(action));
        }
        let txn = &mut session.txn;
        match verb.as_str() {
            "EHLO" => {
                *txn = Transaction::default();
                conn.reply(&ehlo(options, conn.tls)).await?;
            }
            "HELO" => {
                *txn = Transaction::default();
                conn.reply("250 localhost").await?;
            }
            "STARTTLS" if !conn.tls && options.starttls => {
                conn.reply("220 2.0.0 Ready to start TLS").await?;
                // Nothing sent before the handshake may be acted on after it (RFC 3207 §4.2).
                conn.discard_buffered();
                conn.start_tls(&shared.acceptor).await?;
                session = Session::default();
            }
            "AUTH" if !conn.tls => conn.reply("538 5.7.11 Encryption required").await?,
            "AUTH" => {
                if let Some(user) = auth(conn, options, argument).await? {
                    session.user = Some(user);
                }
            }
            "MAIL"
                if (options.auth.is_some()
                    || options.client_certificates
                    || options.bearer_token.is_some())
                    && session.user.is_none() =>
            {
                conn.reply("530 5.7.0 Authentication required").await?;
            }
            "MAIL"
                if options
                    .limits
                    .messages_per_session
                    .is_some_and(|n| conn.taken >= n) =>
            {
                conn.reply("421 4.4.2 Maximum message count per session reached")
                    .await?;
                return Ok(End::Fault(FaultAction::Eof));
            }
            "MAIL" if txn.from.is_some() => {
                conn.reply("503 5.5.1 Error: nested MAIL command").await?
            }
            "MAIL" => {
                let from = path(argument);
                if from.starts_with("tempfail") {
                    conn.reply("451 4.3.0 Temporary failure: try again later")
                        .await?;
                } else if from.starts_with("reject") {
                    conn.reply("550 5.7.1 Sender rejected").await?;
                } else {
                    *txn = Transaction {
                        from: Some(from),
                        ..Transaction::default()
                    };
                    conn.reply("250 2.1.0 Ok").await?;
                }
            }
            "RCPT" if txn.from.is_none() => {
                conn.reply("503 5.5.1 Error: need MAIL command").await?
            }
            "RCPT" => {
                let to = path(argument);
                if to.starts_with("reject") {
                    conn.reply("550 5.1.1 Recipient address rejected: User unknown")
                        .await?;
                } else if to.starts_with("tempfail") {
                    conn.reply("450 4.2.0 Recipient address rejected: try again later")
                        .await?;
                } else {
                    txn.to.push(to);
                    conn.reply("250 2.1.5 Ok").await?;
                }
            }
            "DATA" if txn.from.is_none() => {
                conn.reply("503 5.5.1 Error: need RCPT command").await?
            }
            "DATA" if txn.to.is_empty() => {
                conn.reply("554 5.5.1 Error: no valid recipients").await?
            }
            "DATA" => {
                if let Some(end) = data(shared, conn, &mut session).await? {
                    return Ok(end);
                }
            }
            "BDAT" => {
                if let Some(end) = bdat(shared, conn, &mut session, argument).await? {
                    return Ok(end);
                }
            }
            "RSET" => {
                *txn = Transaction::default();
                conn.reply("250 2.0.0 Ok").await?;
            }
            "NOOP" => conn.reply("250 2.0.0 Ok").await?,
            "QUIT" => {
                conn.reply("221 2.0.0 Bye").await?;
                break;
            }
            _ => {
                conn.reply("502 5.5.2 Error: command not recognized")
                    .await?
            }
        }
    }
    Ok(End::Closed)
}

/// The reply to EHLO: the extensions on offer.
fn ehlo(options: &ServerOptions, tls: bool) -> String {
    let mut lines = vec!["localhost".to_string(), format!("SIZE {}", options.size)];
    lines.extend(["8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"].map(String::from));
    if options.pipelining {
        lines.push("PIPELINING".into());
    }
    if options.chunking {
        lines.push("CHUNKING".into());
    }
    if !tls && options.starttls {
        lines.push("STARTTLS".into());
    }
    let mut mechanisms = Vec::new();
    if options.auth.is_some() {
        mechanisms.extend(["PLAIN", "LOGIN"]);
    }
    if options.client_certificates {
        mechanisms.push("EXTERNAL");
    }
    if options.bearer_token.is_some() {
        mechanisms.extend(["XOAUTH2", "OAUTHBEARER"]);
    }
    if tls && !mechanisms.is_empty() {
        lines.push(format!("AUTH {}", mechanisms.join(" ")));
    }
    let last = lines.len() - 1;
    let text: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("250{}{l}", if i == last { ' ' } else { '-' }))
        .collect();
    text.join("\r\n")
}

/// Ends the message at the end of its body: stores it and replies, or meets the armed fault
/// (which stores it first unless it replies 421). `chunked` tells a BDAT body, where a fault
/// meant for the first chunk strikes when that chunk is the LAST.
async fn finish(
    shared: &Shared,
    conn: &mut Conn,
    session: &mut Session,
    data: Vec<u8>,
    chunked: bool,
) -> io::Result<Option<End>> {
    let txn = std::mem::take(&mut session.txn);
    let mut fault = conn.fault(FaultPoint::DataEnd);
    if chunked {
        fault = fault.or(conn.fault(FaultPoint::Bdat));
    }
    if let Some(action) = fault {
        if action.stores_message() {
            store(shared, txn, data, conn.tls, &session.user);
        }
        return Ok(Some(End::Fault(action)));
    }
    if !shared.take_one() {
        conn.reply("454 4.7.0 Throttling failure: Maximum sending rate exceeded.")
            .await?;
        return Ok(None);
    }
    let id = store(shared, txn, data, conn.tls, &session.user);
    conn.taken += 1;
    conn.reply(&format!("250 Ok {id}")).await?;
    Ok(None)
}

/// DATA with an open transaction and recipients: reads the body, then finishes the message.
async fn data(shared: &Shared, conn: &mut Conn, session: &mut Session) -> io::Result<Option<End>> {
    conn.reply("354 End data with <CR><LF>.<CR><LF>").await?;
    let mut data = Vec::new();
    loop {
        // A client that closes before the final dot has sent no message.
        let Some(line) = conn.raw_line().await? else {
            return Ok(Some(End::Closed));
        };
        if line == b"." {
            break;
        }
        data.extend_from_slice(line.strip_prefix(b".").unwrap_or(&line));
        data.extend_from_slice(b"\r\n");
    }
    finish(shared, conn, session, data, false).await
}

/// One BDAT chunk: reads its octets, then replies, finishes the message, or meets the fault.
async fn bdat(
    shared: &Shared,
    conn: &mut Conn,
    session: &mut Session,
    argument: &str,
) -> io::Result<Option<End>> {
    let mut words = argument.split_ascii_whitespace();
    let size: usize = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let last = words.next().is_some_and(|w| w.eq_ignore_ascii_case("LAST"));
    let chunk = conn.exact(size).await?;
    let txn = &mut session.txn;
    if txn.to.is_empty() {
        // Refused, and the transaction stays open until RSET.
        let fault = if last {
            conn.fault(FaultPoint::DataEnd)
                .or(conn.fault(FaultPoint::Bdat))
        } else {
            conn.fault(FaultPoint::Bdat)
        };
        if let Some(action) = fault {
            return Ok(Some(End::Fault(action)));
        }
        conn.reply("554 5.5.1 Error: no valid recipients").await?;
        return Ok(None);
    }
    txn.chunks.extend_from_slice(&chunk);
    if last {
        let data = std::mem::take(&mut txn.chunks);
        return finish(shared, conn, session, data, true).await;
    }
    if let Some(action) = conn.fault(FaultPoint::Bdat) {
        return Ok(Some(End::Fault(action)));
    }
    conn.reply(&format!("250 2.0.0 {size} octets received"))
        .await?;
    Ok(None)
}

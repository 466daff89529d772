//! The SMTP dialogue of one connection: commands, replies, the mail transaction, and where
//! the armed fault strikes.

use std::io;

use super::conn::{Conn, End};
use super::fault::{FaultAction, FaultPoint};
use super::limits::Counters;
use super::replies::{Personality, ehlo};
use super::sasl::auth;
use super::{Shared, store};

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

/// The value of the `SIZE=` parameter of a MAIL command, if it has one.
fn declared_size(argument: &str) -> Option<u64> {
    let parameters = argument.rsplit_once('>').map_or("", |(_, rest)| rest);
    parameters.split_ascii_whitespace().find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.eq_ignore_ascii_case("SIZE")
            .then(|| value.parse().ok())
            .flatten()
    })
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
    let replies = options.personality.replies();
    let limits = &options.limits;
    if options.implicit_tls {
        conn.start_tls(&shared.acceptor).await?;
    }
    if let Some(action) = conn.fault(FaultPoint::Greeting) {
        return Ok(End::Fault(action));
    }
    if conn.over_limit {
        Counters::add(&shared.stats.refused_connections);
        conn.reply(replies.too_many_connections).await?;
        return Ok(End::Fault(FaultAction::Eof));
    }
    let mut session = Session::default();
    conn.reply(&options.personality.greeting()).await?;
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
                conn.reply(&format!("250 {}", replies.host)).await?;
            }
            "STARTTLS" if !conn.tls && options.starttls => {
                conn.reply(replies.starttls).await?;
                // Nothing sent before the handshake may be acted on after it (RFC 3207 §4.2).
                conn.discard_buffered();
                conn.start_tls(&shared.acceptor).await?;
                session = Session::default();
            }
            "AUTH" if !conn.tls => conn.reply(replies.encryption_required).await?,
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
                conn.reply(replies.auth_required).await?;
            }
            "MAIL" if limits.messages_per_session.is_some_and(|n| conn.taken >= n) => {
                Counters::add(&shared.stats.session_caps);
                conn.reply(replies.session_cap).await?;
                return Ok(End::Fault(FaultAction::Eof));
            }
            "MAIL" if txn.from.is_some() => conn.reply(replies.nested_mail).await?,
            "MAIL" if declared_size(argument).is_some_and(|n| n > options.size) => {
                conn.reply(replies.too_large).await?
            }
            "MAIL" => {
                let from = path(argument);
                if from.starts_with("tempfail") {
                    conn.reply(replies.sender_tempfail).await?;
                } else if from.starts_with("reject") {
                    conn.reply(replies.sender_reject).await?;
                } else {
                    *txn = Transaction {
                        from: Some(from),
                        ..Transaction::default()
                    };
                    conn.reply(replies.mail_ok).await?;
                }
            }
            "RCPT" if txn.from.is_none() => conn.reply(replies.need_mail).await?,
            "RCPT" => {
                let to = path(argument);
                let (too_many, at_rcpt) = replies.too_many_recipients;
                let full = limits
                    .recipients_per_message
                    .is_some_and(|n| txn.to.len() >= n);
                if to.starts_with("reject") {
                    conn.reply(&replies.rcpt_reject.replace("{path}", &to))
                        .await?;
                } else if to.starts_with("tempfail") {
                    conn.reply(replies.rcpt_tempfail).await?;
                } else if full && at_rcpt {
                    conn.reply(too_many).await?;
                } else {
                    txn.to.push(to);
                    conn.reply(replies.rcpt_ok).await?;
                }
            }
            "DATA" if txn.from.is_none() => conn.reply(replies.need_rcpt).await?,
            "DATA" if txn.to.is_empty() => conn.reply(replies.no_recipients).await?,
            "DATA" => {
                if let Some(end) = data(shared, conn, &mut session).await? {
                    return Ok(end);
                }
            }
            "BDAT" if options.personality == Personality::Ses && !options.chunking => {
                conn.reply(replies.unknown).await?
            }
            "BDAT" => {
                if let Some(end) = bdat(shared, conn, &mut session, argument).await? {
                    return Ok(end);
                }
            }
            "RSET" => {
                *txn = Transaction::default();
                conn.reply(replies.ok).await?;
            }
            "NOOP" => conn.reply(replies.ok).await?,
            "QUIT" => {
                conn.reply(replies.quit).await?;
                break;
            }
            _ => conn.reply(replies.unknown).await?,
        }
    }
    Ok(End::Closed)
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
    let options = &shared.options;
    let replies = options.personality.replies();
    // SES counts every transaction that reached the end of its data toward the session's cap.
    if options.personality == Personality::Ses {
        conn.taken += 1;
    }
    let limit = options.limits.recipients_per_message;
    let refusal = if data.len() as u64 > options.size {
        Some(replies.too_large.to_string())
    } else if let Some(limit) = limit.filter(|&n| txn.to.len() > n) {
        let (text, _) = replies.too_many_recipients;
        Some(text.replace("{limit}", &limit.to_string()))
    } else if !shared.admit(txn.to.len()) {
        Some(replies.throttled.to_string())
    } else {
        None
    };
    if let Some(refusal) = refusal {
        conn.reply(&refusal).await?;
        return Ok(None);
    }
    let id = store(shared, txn, data, conn.tls, &session.user);
    if options.personality != Personality::Ses {
        conn.taken += 1;
    }
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
        let replies = shared.options.personality.replies();
        conn.reply(replies.no_recipients).await?;
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

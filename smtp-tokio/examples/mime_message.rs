//! Builds a MIME message with the `mail-builder` crate (text and HTML alternatives, an
//! attachment, a Date and a Message-ID) and sends it through one `Session`. The SMTP crates
//! send bytes: building the message is the builder's job.
//!
//! ```text
//! cargo run -p smtp-tokio --example mime_message [-- HOST PORT FROM TO]
//! ```
//!
//! With no arguments it starts the embedded test server on 127.0.0.1 (STARTTLS, AUTH), sends
//! to it and checks that the server got the message byte for byte. With `HOST PORT FROM TO` it
//! sends to a real server, STARTTLS or implicit TLS chosen from the port by `Endpoint::new`
//! (25, 587, 2587: STARTTLS; 465, 2465: implicit TLS); set `SMTP_USER` and `SMTP_PASSWORD` to
//! authenticate, `SMTP_CA_FILE` to trust a private CA besides the usual roots. It prints the
//! verdict and exits 0 only if the message was delivered (69 if refused for good, 75 if it may
//! be tried again, 1 on an error).

use std::process::ExitCode;

use mail_builder::MessageBuilder;
use mail_builder::headers::date::Date;
use mail_builder::mime::make_boundary;
use smtp_test_server::{ServerOptions, TestServer};
use smtp_tokio::smtp_sansio::{ClientId, Credentials, Envelope, Mailbox, TlsMode, Verdict};
use smtp_tokio::{Endpoint, Options, connect};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The message: what the recipient's mail program shows. Its From and To headers are text for
/// the reader; they do not route the message (see the envelope in `run`).
fn build_message(from: &Mailbox, to: &Mailbox) -> Vec<u8> {
    // RFC 5322 §3.6.4: a Message-ID unique the world over, `<left@right>`. The left part is the
    // builder's unique token (nanosecond time, a per-message counter and a per-thread seed, in
    // hex); the right part is the sender's domain, which the sender controls.
    let message_id = format!("{}@{}", make_boundary("."), from.host());
    MessageBuilder::new()
        .from(("Example Sender", from.as_str()))
        .to(to.as_str())
        .subject("Quarterly report — Grüße")
        // RFC 5322 §3.3, the time of writing: "Wed, 2 Dec 2026 08:17:26 +0000" (UTC). The builder
        // adds Date and Message-ID itself when they are missing; here both are explicit.
        .date(Date::now())
        .message_id(message_id)
        // multipart/alternative: the reader's program shows the last part it can display.
        .text_body("Hello,\n\nthe report is attached.\n\nGrüße\n")
        .html_body("<p>Hello,</p><p>the report is <b>attached</b>.</p><p>Grüße</p>\n")
        // With an attachment the whole becomes multipart/mixed around the alternative.
        .attachment(
            "text/csv",
            "report.csv",
            &b"quarter,revenue\r\nQ1,100\r\nQ2,120\r\n"[..],
        )
        .write_to_vec()
        .expect("writing to a Vec cannot fail")
}

async fn run() -> Result<u8, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut server = None;
    let (options, from, to) = match args.as_slice() {
        [] => {
            let started = TestServer::start(ServerOptions::default()).await?;
            println!("embedded SMTP server on {}", started.addr());
            let endpoint =
                Endpoint::with_mode("localhost", started.addr().port(), TlsMode::StartTls);
            let mut options = Options::new(endpoint, ClientId::parse("localhost")?);
            options.tls.add_ca_pem(started.ca_pem().as_bytes())?;
            options.config.credentials = Some(Credentials::password("demo", "demo-password")?);
            server = Some(started);
            (options, "sender@example.com", "recipient@example.net")
        }
        [host, port, from, to] => {
            // Refuses a port whose TLS mode is not well known rather than guess it.
            let endpoint = Endpoint::new(host.as_str(), port.parse()?)?;
            // The EHLO name: use this host's own name where the server checks it.
            let mut options = Options::new(endpoint, ClientId::parse("localhost")?);
            if let Ok(path) = std::env::var("SMTP_CA_FILE") {
                options.tls.add_ca_file(path)?;
            }
            if let (Ok(user), Ok(password)) =
                (std::env::var("SMTP_USER"), std::env::var("SMTP_PASSWORD"))
            {
                options.config.credentials = Some(Credentials::password(&user, &password)?);
            }
            (options, from.as_str(), to.as_str())
        }
        _ => {
            eprintln!("usage: mime_message [HOST PORT FROM TO]");
            return Ok(64);
        }
    };
    let (from, to) = (Mailbox::parse(from)?, Mailbox::parse(to)?);

    let message = build_message(&from, &to);
    // mail-builder writes CRLF line endings throughout (a bare LF in a 7-bit text part becomes
    // CRLF) and encodes non-ASCII text as quoted-printable or base64, so the message is 7-bit and
    // needs no 8BITMIME. The core would turn stray bare LFs into CRLF anyway (or refuse them, with
    // `BareLineEndings::Reject`), but a body whose lines all end in CRLF goes out without a copy.
    let bare_lf = message
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || message[i - 1] != b'\r'));
    if bare_lf {
        return Err("the builder wrote a bare LF".into());
    }

    // The envelope: MAIL FROM and RCPT TO, where the server delivers the message and where
    // bounces go. The server never reads the headers for this. A Bcc recipient is in the
    // envelope only (mail-builder would write a Bcc header for everyone to read); a mailing list
    // has the list in To and each member in the envelope.
    let envelope = Envelope::new(from.clone(), [to.clone()]);

    let mut session = connect(options).await?;
    let report = session.send(envelope, message.clone().into()).await?;
    if let Err(error) = session.quit().await {
        // The verdict is final already: QUIT only ends the session.
        eprintln!("QUIT failed: {error}");
    }

    let status = match report.verdict {
        Verdict::Delivered => {
            let queue_id = report.message_id().unwrap_or("(none given)");
            println!("delivered to {to}: queue id {queue_id}");
            0
        }
        verdict => {
            // Why: the reply that refused the message, or those that refused its recipients.
            println!("{verdict}");
            if let Some(reply) = report.reply() {
                println!("  {reply}");
            }
            for recipient in &report.recipients {
                if let Some(reply) = &recipient.reply {
                    println!("  {}: {reply}", recipient.path);
                }
            }
            if verdict == Verdict::Bounced { 69 } else { 75 }
        }
    };
    if let Some(server) = server {
        // The embedded server keeps what it received: check it is the message, byte for byte.
        let received = server.received();
        let [got] = received.as_slice() else {
            return Err(format!("the server received {} messages", received.len()).into());
        };
        if got.data != message || Some(got.id.as_str()) != report.message_id() {
            return Err("the server's copy differs from the message sent".into());
        }
        println!("the server received it as sent:");
        let text = String::from_utf8_lossy(&got.data);
        for line in text.lines().take_while(|line| !line.is_empty()) {
            println!("  {line}");
        }
    }
    Ok(status)
}

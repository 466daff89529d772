//! Sends one message to Amazon SES on port 587 (STARTTLS) through a SOCKS5 proxy: the proxy
//! opens the TCP connection to SES, and `connect_over` runs the SMTP session over the proxied
//! stream exactly as `connect` would over its own, TLS and certificate checks included.
//!
//! ```text
//! SMTP_USER=AKIA... SMTP_PASSWORD=... \
//!     cargo run -p smtp-tokio --example socks5_proxy -- PROXY REGION FROM TO
//! ```
//!
//! `PROXY` is the proxy's `host:port` (`127.0.0.1:1080`, for example, for `ssh -D 1080`),
//! `REGION` an SES region such as `us-east-1`. Set `SOCKS5_USER` and `SOCKS5_PASSWORD` if the
//! proxy asks for a user name and password (RFC 1929), and `SMTP_USER` and `SMTP_PASSWORD` to
//! the SES SMTP credentials. It prints the verdict and exits 0 only if the message was
//! delivered (69 if refused for good, 75 if it may be tried again, 64 on bad arguments, 1 on an
//! error).
//!
//! An HTTP `CONNECT` proxy is the same pattern: open a TCP connection to the proxy, send
//! `CONNECT email-smtp.us-east-1.amazonaws.com:587 HTTP/1.1` with a `Host` header, read the
//! response up to its blank line, check that it is `200`, then hand the TCP stream to
//! `connect_over`. Any other tokio byte stream works too: a Unix socket, an SSH channel.

use std::env;
use std::process::ExitCode;
use std::time::Duration;

use smtp_tokio::smtp_sansio::{ClientId, Credentials, Envelope, Mailbox, Verdict};
use smtp_tokio::{Endpoint, Options, connect_over};
use tokio_socks::tcp::Socks5Stream;

/// How long the proxy may take to reach the server.
const PROXY_TIMEOUT: Duration = Duration::from_secs(30);

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

async fn run() -> Result<u8, Box<dyn std::error::Error>> {
    let args: Vec<String> = env::args().skip(1).collect();
    let [proxy, region, from, to] = args.as_slice() else {
        eprintln!("usage: socks5_proxy PROXY REGION FROM TO (see the example's documentation)");
        return Ok(64);
    };
    // STARTTLS on 587, from the port; 465 would be implicit TLS, over the proxy just the same.
    let endpoint = Endpoint::ses(region, 587)?;

    // The target goes to the proxy as a name, so the proxy resolves it: the client's own DNS
    // is never asked, and the certificate is checked against this same name.
    let target = (endpoint.host.as_str(), endpoint.port);
    let connecting = async {
        match (env::var("SOCKS5_USER"), env::var("SOCKS5_PASSWORD")) {
            (Ok(user), Ok(password)) => {
                Socks5Stream::connect_with_password(proxy.as_str(), target, &user, &password).await
            }
            _ => Socks5Stream::connect(proxy.as_str(), target).await,
        }
    };
    let stream = tokio::time::timeout(PROXY_TIMEOUT, connecting)
        .await
        .map_err(|_| "the proxy did not connect in time")??;
    // `connect` sets TCP_NODELAY on its own sockets; a proxied stream gets it here, so that
    // pipelined commands never wait on Nagle's algorithm.
    stream.set_nodelay(true)?;

    let mut options = Options::new(endpoint, ClientId::parse("localhost")?);
    let user = env::var("SMTP_USER").map_err(|_| "set SMTP_USER")?;
    let password = env::var("SMTP_PASSWORD").map_err(|_| "set SMTP_PASSWORD")?;
    options.config.credentials = Some(Credentials::password(&user, &password)?);

    let mut session = connect_over(stream, options).await?;
    let envelope = Envelope::new(Mailbox::parse(from)?, [Mailbox::parse(to)?]);
    let body = format!("From: {from}\r\nTo: {to}\r\nSubject: via SOCKS5\r\n\r\nHello.\r\n");
    let report = session.send(envelope, body.into()).await?;
    session.quit().await?;
    println!("{}: {:?}", report.verdict, report.reply());
    Ok(match report.verdict {
        Verdict::Delivered => 0,
        Verdict::Bounced => 69,
        _ => 75,
    })
}

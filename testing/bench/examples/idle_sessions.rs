//! Resident memory of idle sessions: opens N sessions at once to a server and keeps them open
//! and idle, then prints the process's resident set size before and after, per session.
//!
//! ```text
//! cargo run --release -p smtp-bench --example idle_sessions -- PORT N [CA_FILE]
//! ```
//! With CA_FILE the sessions run STARTTLS and AUTH (`demo` / `demo-password`, the embedded
//! test server's) to `localhost`; without it, plaintext to 127.0.0.1.

use smtp_tokio::smtp_sansio::{ClientId, Credentials, TlsMode};
use smtp_tokio::{Endpoint, Options, connect};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (port, count): (u16, usize) = match args.as_slice() {
        [_, port, count, ..] => (port.parse()?, count.parse()?),
        _ => return Err("usage: idle_sessions PORT N [CA_FILE]".into()),
    };
    let options = match args.get(3) {
        Some(ca) => {
            let endpoint = Endpoint::with_mode("localhost", port, TlsMode::StartTls);
            let mut options = Options::new(endpoint, ClientId::parse("localhost")?);
            options.tls.add_ca_file(ca)?;
            options.config.credentials = Some(Credentials::password("demo", "demo-password")?);
            options
        }
        None => {
            let endpoint = Endpoint::with_mode("127.0.0.1", port, TlsMode::InsecurePlaintext);
            Options::new(endpoint, ClientId::parse("localhost")?)
        }
    };
    // One session first, so that what is paid once (the TLS configuration, the runtime) does
    // not count per session.
    let first = connect(options.clone()).await?;
    let before = rss_kib();
    let mut sessions = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(100) {
        let opening: Vec<_> = chunk.iter().map(|_| connect(options.clone())).collect();
        for session in futures_join(opening).await {
            sessions.push(session?);
        }
    }
    let after = rss_kib();
    println!(
        "{count} idle sessions: {before} KiB before, {after} KiB after, {:.1} KiB per session",
        (after.saturating_sub(before)) as f64 / count as f64
    );
    drop(first);
    Ok(())
}

/// Awaits every future, in order.
async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut outputs = Vec::with_capacity(futures.len());
    for future in futures {
        outputs.push(future.await);
    }
    outputs
}

/// The process's resident set size in KiB, from /proc/self/status (0 where there is none).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

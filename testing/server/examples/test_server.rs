//! The embedded test server as a process of its own, for benchmarks and for trying a client
//! against it: listens on 127.0.0.1, prints its port, writes its CA certificate to CA_FILE, and
//! serves until its standard input closes.
//!
//! ```text
//! cargo run -p smtp-test-server --example test_server -- CA_FILE [plain]
//! ```
//! With `plain`, it offers neither STARTTLS nor AUTH.

use smtp_test_server::{ServerOptions, TestServer};
use tokio::io::AsyncReadExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let ca_file = args.get(1).ok_or("usage: test_server CA_FILE [plain]")?;
    let mut options = ServerOptions::default();
    if args.get(2).is_some_and(|a| a == "plain") {
        options.starttls = false;
        options.auth = None;
    }
    let server = TestServer::start(options).await?;
    std::fs::write(ca_file, server.ca_pem())?;
    println!("{}", server.addr().port());
    let mut rest = Vec::new();
    tokio::io::stdin().read_to_end(&mut rest).await?;
    Ok(())
}

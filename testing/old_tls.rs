//! A TLS server limited to one protocol version, for the TLS floor tests (SECURITY.md G7, A16):
//! `openssl s_server` (installed by `scripts/postfix.sh`) with Postfix's test certificate. It
//! sends nothing after the handshake and closes. Included with `#[path]`.

#![allow(dead_code, unreachable_pub)]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::postfix::Postfix;

/// A running `openssl s_server`; killed when dropped.
pub struct OldTlsServer {
    child: Child,
    port: u16,
}

impl OldTlsServer {
    /// Starts a server on 127.0.0.1 that speaks only the protocol `version_flag` names
    /// (`-tls1_1`, `-tls1_2`), with the legacy ciphers TLS 1.1 needs allowed.
    pub fn start(postfix: &Postfix, version_flag: &str) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let (cert, key) = postfix.cert_and_key();
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", version_flag])
            .args(["-cipher", "DEFAULT:@SECLEVEL=0"])
            .arg("-accept")
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl, installed by scripts/postfix.sh");
        let server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "openssl s_server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for OldTlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

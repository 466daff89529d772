//! SCRAM (RFC 5802, RFC 7677) and channel binding (RFC 9266) through the public API; needs the
//! `crypto` feature.
#![cfg(feature = "crypto")]

mod support;

use smtp_sansio::{
    Action, ChannelBinding, Client, Config, Credentials, Error, Instant, Mechanism, ProtocolError,
    TlsInfo, TlsMode,
};
use support::session::{Step::*, config, established, play};

fn with_preference(mut config: Config, preference: &[Mechanism]) -> Config {
    config.auth.preference = preference.to_vec();
    config
}

/// The RFC 7677 §3 example exchange, as the SMTP session carries it (RFC 4954 §4): the first
/// message as the initial response, the final message in answer to the first challenge, and an
/// empty line once the server's signature checks out.
fn scram_config() -> Config {
    let mut config = config(TlsMode::Implicit);
    config.credentials = Some(Credentials::password("user", "pencil").expect("valid"));
    config.sasl_nonce = Some("rOprNGfwEbeRWgbNEkqO".into());
    config
}

const SCRAM_EHLO: &[u8] = b"250-mx\r\n250 AUTH PLAIN SCRAM-SHA-256\r\n";
// base64 of the RFC 7677 messages.
const SCRAM_FIRST: &[u8] = b"AUTH SCRAM-SHA-256 biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8=\r\n";
const SERVER_FIRST: &[u8] = b"334 cj1yT3ByTkdmd0ViZVJXZ2JORWtxTyVodllEcFdVYTJSYVRDQWZ1eEZJbGopaE5sRiRrMCxzPVcyMlphSjBTTlk3c29Fc1VFamI2Z1E9PSxpPTQwOTY=\r\n";
const CLIENT_FINAL: &[u8] = b"Yz1iaXdzLHI9ck9wck5HZndFYmVSV2diTkVrcU8laHZZRHBXVWEyUmFUQ0FmdXhGSWxqKWhObEYkazAscD1kSHpiWmFwV0lrNGpVaE4rVXRlOXl0YWc5empmTUhnc3FtbWl6N0FuZFZRPQ==\r\n";

#[test]
fn rfc7677_scram_sha_256_is_preferred_over_plain_and_proves_the_server() {
    let mut steps = established(TlsMode::Implicit, SCRAM_EHLO);
    steps.extend([
        Client(SCRAM_FIRST),
        Server(SERVER_FIRST),
        Client(CLIENT_FINAL),
        Server(b"334 dj02cnJpVFJCaTIzV3BSUi93dHVwK21NaFVaVW4vZEI1bkxUSlJzamw5NUc0PQ==\r\n"),
        Client(b"\r\n"),
        Server(b"235 2.7.0 Authentication successful\r\n"),
    ]);
    let run = play(&scram_config(), |_| {}, &steps);
    assert!(run.is_ready() && run.error.is_none(), "{run:?}");
}

#[test]
fn rfc5802_9_a_server_that_cannot_prove_the_password_ends_the_session() {
    let mut steps = established(TlsMode::Implicit, SCRAM_EHLO);
    steps.extend([
        Client(SCRAM_FIRST),
        Server(SERVER_FIRST),
        Client(CLIENT_FINAL),
        // v= with a forged signature.
        Server(b"334 dj1BQUFBVFJCaTIzV3BSUi93dHVwK21NaFVaVW4vZEI1bkxUSlJzamw5NUc0PQ==\r\n"),
        Client(b"*\r\n"),
        Server(b"501 5.7.0 Authentication cancelled\r\n"),
        Client(b"QUIT\r\n"),
        Server(b"221 bye\r\n"),
    ]);
    let run = play(&scram_config(), |_| {}, &steps);
    let forged = ProtocolError::ScramServerSignature;
    assert_eq!(run.error, Some(Error::Protocol(forged)));
    assert!(!run.is_ready());
}

#[test]
fn without_a_nonce_scram_is_passed_over_and_preference_can_put_plain_first() {
    let mut no_nonce = scram_config();
    no_nonce.sasl_nonce = None;
    let mut steps = established(TlsMode::Implicit, SCRAM_EHLO);
    steps.extend([Client(b"AUTH PLAIN AHVzZXIAcGVuY2ls\r\n")]);
    play(&no_nonce, |_| {}, &steps);
    // RFC 5802 §5.1: a nonce too short or with a `,` is no nonce.
    for bad in ["short", "rOprNGfwEbeRWgbNEkqO,x"] {
        let mut bad_nonce = scram_config();
        bad_nonce.sasl_nonce = Some(bad.into());
        play(&bad_nonce, |_| {}, &steps);
    }
    let plain_first = with_preference(scram_config(), &[Mechanism::Plain, Mechanism::ScramSha256]);
    play(&plain_first, |_| {}, &steps);
}

#[test]
fn cram_md5_alone_is_a_clear_error() {
    let mut steps = established(TlsMode::Implicit, b"250-mx\r\n250 AUTH CRAM-MD5\r\n");
    steps.extend([Client(b"QUIT\r\n"), Server(b"221 bye\r\n")]);
    let run = play(&scram_config(), |_| {}, &steps);
    let error = run.error.expect("failed");
    assert!(
        matches!(&error, Error::AuthUnavailable { offered } if offered.contains(Mechanism::CramMd5))
    );
    assert_eq!(
        error.to_string(),
        "no usable auth mechanism; the server offers CRAM-MD5"
    );
}

#[test]
fn rfc9266_scram_plus_binds_the_exchange_to_the_tls_channel() {
    let mut client = Client::new(Instant::ZERO, scram_config());
    let now = Instant::ZERO;
    assert!(matches!(
        client.next_action(now),
        Ok(Action::UpgradeTls { .. })
    ));
    let binding = ChannelBinding::tls_exporter(vec![7; 32]);
    let info = TlsInfo::new(true).with_channel_binding(binding);
    client.handle_tls_established(now, info).expect("handshake");
    client.handle_input(now, b"220 mx\r\n");
    let _ = client.next_action(now);
    client.handle_input(
        now,
        b"250-mx\r\n250 AUTH SCRAM-SHA-256 SCRAM-SHA-256-PLUS\r\n",
    );
    let Ok(Action::Transmit { data, .. }) = client.next_action(now) else {
        panic!("AUTH");
    };
    let line = String::from_utf8(data.into_bytes().to_vec()).expect("ascii");
    // base64("p=tls-exporter,,n=user,r=rOprNGfwEbeRWgbNEkqO")
    assert_eq!(
        line,
        "AUTH SCRAM-SHA-256-PLUS cD10bHMtZXhwb3J0ZXIsLG49dXNlcixyPXJPcHJOR2Z3RWJlUldnYk5Fa3FP\r\n"
    );
    // Able to bind, but the server offers no -PLUS: the client says so with `y` (RFC 5802 §6).
    let mut client = Client::new(Instant::ZERO, scram_config());
    let _ = client.next_action(now);
    let info = TlsInfo::new(true).with_channel_binding(ChannelBinding::tls_exporter(vec![7; 32]));
    client.handle_tls_established(now, info).expect("handshake");
    client.handle_input(now, b"220 mx\r\n");
    let _ = client.next_action(now);
    client.handle_input(now, b"250-mx\r\n250 AUTH SCRAM-SHA-256\r\n");
    let Ok(Action::Transmit { data, .. }) = client.next_action(now) else {
        panic!("AUTH");
    };
    let line = String::from_utf8(data.into_bytes().to_vec()).expect("ascii");
    // base64("y,,n=user,r=rOprNGfwEbeRWgbNEkqO")
    assert_eq!(
        line,
        "AUTH SCRAM-SHA-256 eSwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8=\r\n"
    );
}

/// SMTP carries the server-final-message in a `334` (RFC 4954 §4): a `235` straight after the
/// client's proof skips the server's and is not trusted (RFC 5802 §9).
#[test]
fn rfc5802_9_success_without_the_servers_proof_is_refused() {
    let mut steps = established(TlsMode::Implicit, SCRAM_EHLO);
    steps.extend([
        Client(SCRAM_FIRST),
        Server(SERVER_FIRST),
        Client(CLIENT_FINAL),
        Server(b"235 2.7.0 Authentication successful\r\n"),
        Client(b"QUIT\r\n"),
        Server(b"221 bye\r\n"),
    ]);
    let run = play(&scram_config(), |_| {}, &steps);
    let forged = ProtocolError::ScramServerSignature;
    assert_eq!(run.error, Some(Error::Protocol(forged)));
    assert!(!run.is_ready());
}

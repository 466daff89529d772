//! SECURITY.md group E: AUTH (RFC 4954), through the public API.

mod support;

use smtp_sansio::{Config, Credentials, Error, Mechanism, MechanismSet, ProtocolError, TlsMode};
use support::session::{Step::*, config, config_with_password, established, one_message, play};

const EHLO_PLAIN_LOGIN: &[u8] = b"250-mx\r\n250 AUTH PLAIN LOGIN\r\n";

fn with_preference(mut config: Config, preference: &[Mechanism]) -> Config {
    config.auth.preference = preference.to_vec();
    config
}

#[test]
fn e1_no_credentials_in_clear() {
    for mode in [TlsMode::InsecurePlaintext, TlsMode::StartTlsOpportunistic] {
        let run = play(
            &config_with_password(mode),
            one_message,
            &[
                Server(b"220 mx\r\n"),
                Server(EHLO_PLAIN_LOGIN),
                Client(b"EHLO client.example\r\nQUIT\r\n"),
                Server(b"221 bye\r\n"),
            ],
        );
        assert_eq!(run.error, Some(Error::AuthNeedsTls), "{mode:?}");
    }
    let mut opted_in = config_with_password(TlsMode::InsecurePlaintext);
    opted_in.auth.allow_without_tls = true;
    let run = play(
        &opted_in,
        one_message,
        &[
            Server(b"220 mx\r\n"),
            Server(EHLO_PLAIN_LOGIN),
            Client(b"EHLO client.example\r\nAUTH PLAIN AHVzZXIAcGFzcw==\r\n"),
        ],
    );
    assert!(run.error.is_none());
}

#[test]
fn e2_no_plain_or_login_over_unverified_tls() {
    let mut cfg = config_with_password(TlsMode::Implicit);
    cfg.allow_unverified_tls = true;
    let run = play(
        &cfg,
        one_message,
        &[
            Tls { verified: false },
            Server(b"220 mx\r\n"),
            Server(EHLO_PLAIN_LOGIN),
            Client(b"EHLO client.example\r\nQUIT\r\n"),
        ],
    );
    assert!(run.error.is_none() && !run.is_ready());
    cfg.auth.allow_unverified_tls = true;
    let run = play(
        &cfg,
        one_message,
        &[
            Tls { verified: false },
            Server(b"220 mx\r\n"),
            Server(EHLO_PLAIN_LOGIN),
            Client(b"EHLO client.example\r\nAUTH PLAIN AHVzZXIAcGFzcw==\r\n"),
        ],
    );
    assert!(run.error.is_none());
}

#[test]
fn e3_mechanism_by_preference_from_the_post_tls_ehlo() {
    let creds = Credentials::oauth2("me@example.com", "tok").expect("valid");
    let mut cfg = config(TlsMode::Implicit);
    cfg.credentials = Some(creds);
    let mut steps = established(
        TlsMode::Implicit,
        b"250-mx\r\n250 AUTH PLAIN LOGIN XOAUTH2 OAUTHBEARER\r\n",
    );
    steps.push(Client(
        b"AUTH OAUTHBEARER bixhPW1lQGV4YW1wbGUuY29tLAFhdXRoPUJlYXJlciB0b2sBAQ==\r\n",
    ));
    play(&cfg, one_message, &steps);
    let cfg = with_preference(cfg, &[Mechanism::XOAuth2]);
    let mut steps = established(TlsMode::Implicit, b"250-mx\r\n250 AUTH XOAUTH2\r\n");
    steps.push(Client(
        b"AUTH XOAUTH2 dXNlcj1tZUBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB0b2sBAQ==\r\n",
    ));
    play(&cfg, one_message, &steps);
}

#[test]
fn e4_invalid_challenges_are_cancelled() {
    let cfg = with_preference(config_with_password(TlsMode::Implicit), &[Mechanism::Login]);
    for challenge in [&b"334 A=BC\r\n"[..], b"334 =AAA\r\n", b"334 #@!\r\n"] {
        let mut steps = established(TlsMode::Implicit, EHLO_PLAIN_LOGIN);
        steps.extend([
            Client(b"AUTH LOGIN\r\n"),
            Server(challenge),
            Client(b"*\r\n"),
            Server(b"501 5.7.0 cancelled\r\n"),
            Client(b"QUIT\r\n"),
            Server(b"221 bye\r\n"),
        ]);
        let run = play(&cfg, one_message, &steps);
        assert_eq!(
            run.error,
            Some(Error::Protocol(ProtocolError::InvalidChallenge))
        );
    }
}

#[test]
fn e5_e9_empty_challenge_for_plain_without_initial_response() {
    // A password long enough that AUTH PLAIN <ir> would pass 512 octets (RFC 4954 §4).
    let password = "p".repeat(400);
    let mut cfg = config(TlsMode::Implicit);
    cfg.credentials = Some(Credentials::password("user", &password).expect("valid"));
    let mut steps = established(TlsMode::Implicit, EHLO_PLAIN_LOGIN);
    steps.extend([
        Client(b"AUTH PLAIN\r\n"),
        Server(b"334 \r\n"),
        Skip,
        Server(b"235 ok\r\n"),
    ]);
    let run = play(&cfg, one_message, &steps);
    assert!(run.is_ready());
    let mut steps = established(TlsMode::Implicit, EHLO_PLAIN_LOGIN);
    steps.extend([
        Client(b"AUTH PLAIN\r\n"),
        Server(b"334\r\n"),
        Skip,
        Server(b"235 ok\r\n"),
    ]);
    assert!(play(&cfg, one_message, &steps).is_ready());
}

#[test]
fn e6_unexpected_extra_challenge() {
    let mut steps = established(TlsMode::Implicit, EHLO_PLAIN_LOGIN);
    steps.extend([
        Client(b"AUTH PLAIN AHVzZXIAcGFzcw==\r\n"),
        Server(b"334 \r\n"),
        Client(b"*\r\n"),
        Server(b"501 cancelled\r\n"),
        Client(b"QUIT\r\n"),
    ]);
    let run = play(
        &config_with_password(TlsMode::Implicit),
        one_message,
        &steps,
    );
    assert!(!run.is_ready());
}

#[test]
fn e7_endless_challenges_are_capped() {
    let cfg = with_preference(config_with_password(TlsMode::Implicit), &[Mechanism::Login]);
    let mut steps = established(TlsMode::Implicit, EHLO_PLAIN_LOGIN);
    steps.extend([Server(b"334 QnVHZ1liVWdHeQ==\r\n"); 3]);
    steps.extend([
        Client(b"AUTH LOGIN\r\ndXNlcg==\r\ncGFzcw==\r\n*\r\n"),
        Server(b"334 QnVHZ1liVWdHeQ==\r\n"),
        Client(b"QUIT\r\n"),
        Server(b"221 bye\r\n"),
    ]);
    let run = play(&cfg, one_message, &steps);
    assert_eq!(
        run.error,
        Some(Error::Protocol(ProtocolError::TooManyChallenges))
    );
}

#[test]
fn e8_final_failure_gets_no_cancel() {
    let mut steps = established(TlsMode::Implicit, EHLO_PLAIN_LOGIN);
    steps.extend([
        Client(b"AUTH PLAIN AHVzZXIAcGFzcw==\r\n"),
        Server(b"535-Invalid credentials\r\n535 see https://example.com\r\n"),
        Client(b"QUIT\r\n"),
        Server(b"221 bye\r\n"),
    ]);
    let run = play(
        &config_with_password(TlsMode::Implicit),
        one_message,
        &steps,
    );
    let error = run.error.expect("fatal");
    assert!(matches!(&error, Error::AuthFailed(reply) if reply.code().get() == 535));
    assert!(!error.is_transient());
}

#[test]
fn e10_e12_auth_ends_its_group_and_is_sent_once() {
    let mut steps = established(
        TlsMode::Implicit,
        b"250-mx\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n",
    );
    steps.extend([
        Client(b"AUTH PLAIN AHVzZXIAcGFzcw==\r\n"),
        Server(b"235 ok\r\n"),
        Client(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"),
    ]);
    assert!(
        play(
            &config_with_password(TlsMode::Implicit),
            one_message,
            &steps
        )
        .is_ready()
    );
}

#[test]
fn e14_login_by_step_with_any_prompt_text() {
    let cfg = with_preference(config_with_password(TlsMode::Implicit), &[Mechanism::Login]);
    let mut steps = established(TlsMode::Implicit, EHLO_PLAIN_LOGIN);
    steps.extend([
        Client(b"AUTH LOGIN\r\n"),
        Server(b"334 UGFzc3dvcmQ6\r\n"),
        Client(b"dXNlcg==\r\n"),
        Server(b"334 VXNlcm5hbWU6\r\n"),
        Client(b"cGFzcw==\r\n"),
        Server(b"334 \r\n"),
        Client(b"*\r\n"),
    ]);
    play(&cfg, one_message, &steps);
}

#[test]
fn e15_other_auth_codes() {
    for (reply, transient) in [
        (&b"534 5.7.9 mechanism too weak\r\n"[..], false),
        (b"454 4.7.0 temporary failure\r\n", true),
        (b"538 5.7.11 encryption required\r\n", false),
    ] {
        let mut steps = established(TlsMode::Implicit, EHLO_PLAIN_LOGIN);
        steps.extend([
            Skip,
            Server(reply),
            Client(b"QUIT\r\n"),
            Server(b"221 bye\r\n"),
        ]);
        let run = play(
            &config_with_password(TlsMode::Implicit),
            one_message,
            &steps,
        );
        let error = run.error.expect("fatal");
        assert!(matches!(error, Error::AuthFailed(_)));
        assert_eq!(error.is_transient(), transient);
    }
    let mut steps = established(TlsMode::Implicit, b"250 mx\r\n");
    steps.extend([
        Client(b"MAIL FROM:<a@example.com>\r\n"),
        Server(b"530 5.7.0 Authentication required\r\n"),
    ]);
    let run = play(&config(TlsMode::Implicit), one_message, &steps);
    assert!(
        matches!(&run.report().outcome, smtp_sansio::Outcome::Rejected { reply, .. } if reply.code().get() == 530)
    );
}

#[test]
fn auth_unavailable_when_nothing_suits() {
    let mut steps = established(TlsMode::Implicit, b"250-mx\r\n250 AUTH GSSAPI\r\n");
    steps.extend([Client(b"QUIT\r\n"), Server(b"221 bye\r\n")]);
    let run = play(
        &config_with_password(TlsMode::Implicit),
        one_message,
        &steps,
    );
    let none = MechanismSet::new();
    assert_eq!(run.error, Some(Error::AuthUnavailable { offered: none }));
    let mut steps = established(TlsMode::Implicit, b"250 mx\r\n");
    steps.extend([Client(b"QUIT\r\n"), Server(b"221 bye\r\n")]);
    assert_eq!(
        play(
            &config_with_password(TlsMode::Implicit),
            one_message,
            &steps
        )
        .error,
        Some(Error::AuthUnavailable { offered: none })
    );
}

fn oauth_config() -> Config {
    let mut config = config(TlsMode::Implicit);
    config.credentials = Some(Credentials::oauth2("me@example.com", "tok").expect("valid"));
    config
}

/// XOAUTH2's error challenge (the JSON after `334`) is answered with an empty line, and the
/// final `535` comes back with what the JSON said; an expired token is transient, so a pool
/// tries again with a fresh one (RFC 7628 §3.2.2, §3.2.3).
#[test]
fn rfc7628_3_2_2_xoauth2_error_challenge_is_decoded_and_surfaced() {
    let mut steps = established(TlsMode::Implicit, b"250-mx\r\n250 AUTH XOAUTH2\r\n");
    steps.extend([
        Client(b"AUTH XOAUTH2 dXNlcj1tZUBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB0b2sBAQ==\r\n"),
        Server(b"334 eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==\r\n"),
        Client(b"\r\n"),
        Server(b"535 5.7.8 Username and Password not accepted\r\n"),
        Client(b"QUIT\r\n"),
        Server(b"221 bye\r\n"),
    ]);
    let run = play(&oauth_config(), one_message, &steps);
    let error = run.error.expect("refused");
    let Error::OAuthRefused { reply, error: why } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(reply.code().get(), 535);
    assert_eq!(why.status.as_deref(), Some("401"));
    assert_eq!(why.scope.as_deref(), Some("https://mail.google.com/"));
    assert!(error.is_transient(), "a fresh token may succeed");
    assert_eq!(error.reply(), Some(reply));
    assert!(error.to_string().contains("status 401"), "{error}");
}

/// OAUTHBEARER answers the error challenge with %x01 (RFC 7628 §3.2.3); a scope problem is
/// not a token that a refresh fixes.
#[test]
fn rfc7628_3_2_3_oauthbearer_error_is_answered_with_0x01() {
    let mut steps = established(TlsMode::Implicit, b"250-mx\r\n250 AUTH OAUTHBEARER\r\n");
    steps.extend([
        Client(b"AUTH OAUTHBEARER bixhPW1lQGV4YW1wbGUuY29tLAFhdXRoPUJlYXJlciB0b2sBAQ==\r\n"),
        Server(b"334 eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJtYWlsIn0=\r\n"),
        Client(b"AQ==\r\n"),
        Server(b"535 5.7.8 Authentication failed\r\n"),
        Client(b"QUIT\r\n"),
        Server(b"221 bye\r\n"),
    ]);
    let run = play(&oauth_config(), one_message, &steps);
    let Some(Error::OAuthRefused { error, .. }) = &run.error else {
        panic!("{:?}", run.error);
    };
    assert!(error.is_token_expired());
    assert_eq!(error.scope.as_deref(), Some("mail"));
}

/// SASL EXTERNAL (RFC 4422 Appendix A): the identity is the TLS client certificate's; AUTH
/// carries only the authorization identity, empty as `=` (RFC 4954 §4).
#[test]
fn rfc4422_external_names_only_the_authorization_identity() {
    let ehlo = b"250-mx\r\n250 AUTH PLAIN EXTERNAL\r\n";
    for (credentials, line) in [
        (Credentials::external(), &b"AUTH EXTERNAL =\r\n"[..]),
        (
            Credentials::external_as("admin@example.com").expect("valid"),
            b"AUTH EXTERNAL YWRtaW5AZXhhbXBsZS5jb20=\r\n",
        ),
    ] {
        let mut config = config(TlsMode::Implicit);
        config.credentials = Some(credentials);
        let mut steps = established(TlsMode::Implicit, ehlo);
        steps.extend([Client(line), Server(b"235 2.7.0 ok\r\n")]);
        let run = play(&config, |_| {}, &steps);
        assert!(run.is_ready() && run.error.is_none(), "{run:?}");
    }
    // Not offered: a clear error, never a password mechanism.
    let mut config = config(TlsMode::Implicit);
    config.credentials = Some(Credentials::external());
    let mut steps = established(TlsMode::Implicit, b"250-mx\r\n250 AUTH PLAIN\r\n");
    steps.extend([Client(b"QUIT\r\n"), Server(b"221 bye\r\n")]);
    let run = play(&config, |_| {}, &steps);
    assert!(matches!(run.error, Some(Error::AuthUnavailable { .. })));
    assert!(Credentials::external_as("a\r\nb").is_err());
}

//! The blocking adapter against a real Postfix (`scripts/postfix.sh`), each message verified in
//! the delivered Maildir.

#[path = "../../testing/old_tls.rs"]
mod old_tls;
#[path = "../../testing/postfix.rs"]
mod postfix;

use std::time::Duration;

use bytes::Bytes;

use old_tls::OldTlsServer;
use postfix::{
    IMPLICIT_PORT, NO_TLS_PORT, PASSWORD, PLAIN_PORT, Postfix, STARTTLS_PORT, USER, envelope,
};
use smtp_blocking::smtp_sansio::pool::PoolPolicy;
use smtp_blocking::smtp_sansio::{
    ClientId, Credentials, Error as SmtpError, Mechanism, StreamedBody, Timeouts, TlsMode,
};
use smtp_blocking::{Endpoint, Error, Mailer, Options, connect};

fn options(postfix: &Postfix, port: u16, mode: TlsMode, auth: bool) -> Options {
    let endpoint = Endpoint::with_mode("localhost", port, mode);
    let mut options = Options::new(endpoint, ClientId::parse("client.example").expect("valid"));
    options.tls.add_ca_pem(&postfix.ca_pem()).expect("ca");
    options.config.timeouts = Timeouts::uniform(Duration::from_secs(20));
    if auth {
        options.config.credentials = Some(Credentials::password(USER, PASSWORD).expect("valid"));
    }
    options
}

fn deliver(postfix: &Postfix, options: Options) -> String {
    let id = postfix::unique_id("blocking");
    let body = postfix::message(&id, "");
    let mut session = connect(options).expect("session");
    let report = session
        .send(envelope(&["rcpt@example.net"]), body.clone().into())
        .expect("report");
    assert!(report.is_delivered(), "{report:?}");
    session.quit().expect("quit");
    let delivered = postfix.delivered(&id).expect("delivered");
    assert_eq!(
        postfix::delivered_body(&delivered),
        postfix::expected_body(&body),
        "body intact"
    );
    postfix::received_with(&delivered).expect("a Received header")
}

#[test]
fn starttls_with_auth_plain_and_login_is_esmtpsa() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    assert_eq!(
        deliver(
            &postfix,
            options(&postfix, STARTTLS_PORT, TlsMode::StartTls, true)
        ),
        "ESMTPSA"
    );
    let mut login = options(&postfix, STARTTLS_PORT, TlsMode::StartTls, true);
    login.config.auth.preference = vec![Mechanism::Login];
    assert_eq!(deliver(&postfix, login), "ESMTPSA");
}

/// Dovecot (behind Postfix) proves the password to us too: SCRAM-SHA-256 (RFC 7677) and
/// SCRAM-SHA-1 (RFC 5802), each alone in the preference so that only it can succeed, and PLAIN.
#[test]
fn rfc7677_rfc5802_scram_and_plain_against_dovecot_are_esmtpsa() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    for mechanism in [
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::Plain,
    ] {
        let mut opts = options(&postfix, STARTTLS_PORT, TlsMode::StartTls, true);
        opts.config.auth.preference = vec![mechanism];
        assert_eq!(deliver(&postfix, opts), "ESMTPSA", "{mechanism}");
    }
}

#[test]
fn implicit_tls_with_auth_is_esmtpsa() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    assert_eq!(
        deliver(
            &postfix,
            options(&postfix, IMPLICIT_PORT, TlsMode::Implicit, true)
        ),
        "ESMTPSA"
    );
}

#[test]
fn plaintext_only_by_explicit_choice() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    assert_eq!(
        deliver(
            &postfix,
            options(&postfix, PLAIN_PORT, TlsMode::InsecurePlaintext, false)
        ),
        "ESMTP"
    );
    let error = connect(options(
        &postfix,
        PLAIN_PORT,
        TlsMode::InsecurePlaintext,
        true,
    ))
    .expect_err("E1");
    assert!(
        matches!(error, Error::Smtp(SmtpError::AuthNeedsTls)),
        "{error:?}"
    );
}

#[test]
fn pipelined_chunking_batch_and_recipient_outcomes() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    let mut session =
        connect(options(&postfix, STARTTLS_PORT, TlsMode::StartTls, true)).expect("session");
    let ids: Vec<String> = (0..10)
        .map(|i| postfix::unique_id(&format!("bbatch{i}")))
        .collect();
    let messages = ids.iter().map(|id| {
        (
            envelope(&[
                "ok@example.net",
                "reject@example.net",
                "tempfail@example.net",
            ]),
            postfix::message(id, "").into(),
        )
    });
    let reports = session.send_all(messages).expect("reports");
    session.quit().expect("quit");
    for report in &reports {
        let codes: Vec<u16> = report
            .recipients
            .iter()
            .map(|r| r.reply.as_ref().map_or(0, |r| r.code().get()))
            .collect();
        assert_eq!(codes, [250, 550, 450]);
        assert!(report.is_delivered());
    }
    for id in &ids {
        assert!(postfix.delivered(id).is_some(), "{id} delivered");
    }
}

#[test]
fn a_25_megabyte_message_streamed_from_a_file() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    let id = postfix::unique_id("bstream");
    let line = "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,;:!?\r\n";
    let body = postfix::message(&id, &line.repeat(25 * 1024 * 1024 / line.len()));
    let path = std::env::temp_dir().join(format!("{id}.eml"));
    std::fs::write(&path, &body).expect("temporary file");
    let file = std::fs::File::open(&path).expect("open");
    let mut session =
        connect(options(&postfix, IMPLICIT_PORT, TlsMode::Implicit, true)).expect("session");
    let report = session
        .send_reader(
            envelope(&["big@example.net"]),
            file,
            StreamedBody::default(),
        )
        .expect("report");
    let _ = std::fs::remove_file(&path);
    assert!(report.is_delivered(), "{report:?}");
    session.quit().expect("quit");
    let delivered = postfix.delivered(&id).expect("delivered");
    assert_eq!(
        postfix::delivered_body(&delivered),
        postfix::expected_body(&body),
        "body intact"
    );
}

/// Whole bodies held in `Bytes` go out by reference (one vectored write in clear, gathered under
/// TLS): with DATA, the dots RFC 5321 §4.5.2 adds go between the caller's lines; with BDAT
/// (RFC 3030 §2), the chunks are slices of the body.
#[test]
fn large_bytes_bodies_with_data_and_bdat_in_clear_and_under_tls() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    for (port, mode, auth) in [
        (PLAIN_PORT, TlsMode::InsecurePlaintext, false),
        (IMPLICIT_PORT, TlsMode::Implicit, true),
    ] {
        for chunking in [false, true] {
            let id = postfix::unique_id("bwhole");
            let body = postfix::canonical_message(&id, 3 << 20);
            let mut options = options(&postfix, port, mode, auth);
            options.config.chunking = chunking;
            let mut session = connect(options).expect("session");
            let report = session
                .send(envelope(&["big@example.net"]), Bytes::from(body.clone()))
                .expect("report");
            assert!(report.is_delivered(), "{report:?}");
            // Postfix offers CHUNKING: the body went with BDAT exactly when chunking was on.
            let offered = session.capabilities().is_some_and(|c| c.chunking());
            assert!(offered, "CHUNKING on port {port}");
            session.quit().expect("quit");
            let delivered = postfix.delivered(&id).expect("delivered");
            assert_eq!(
                postfix::delivered_body(&delivered),
                postfix::expected_body(&body),
                "body intact on port {port}, chunking {chunking}"
            );
        }
    }
}

#[test]
fn refusals_surface_clearly() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    let mut wrong = options(&postfix, STARTTLS_PORT, TlsMode::StartTls, false);
    wrong.config.credentials = Some(Credentials::password(USER, "wrong").expect("valid"));
    let error = connect(wrong).expect_err("535");
    assert_eq!(error.reply().map(|r| r.code().get()), Some(535));
    let error = connect(options(&postfix, NO_TLS_PORT, TlsMode::StartTls, true)).expect_err("A1");
    assert!(
        matches!(error, Error::Smtp(SmtpError::StartTlsUnavailable)),
        "{error:?}"
    );
    let mut untrusting = options(&postfix, IMPLICIT_PORT, TlsMode::Implicit, true);
    untrusting.tls = smtp_blocking::TlsOptions::default();
    assert!(matches!(
        connect(untrusting).expect_err("A13"),
        Error::Smtp(smtp_sansio::Error::TlsHandshake(_))
    ));
    let error = connect(options(&postfix, STARTTLS_PORT, TlsMode::Implicit, true))
        .expect_err("plaintext greeting");
    assert!(
        matches!(error, Error::PlaintextGreeting { .. }),
        "{error:?}"
    );
}

/// SECURITY.md G7 and A16 (RFC 8314 §5, RFC 8997): a server that offers only TLS 1.1 fails the
/// handshake, so nothing is sent over it; the same server with TLS 1.2 gets past the handshake
/// (and, sending no greeting, ends the session another way).
#[test]
fn g7_a16_tls_below_1_2_fails_the_handshake() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    for (flag, refused) in [("-tls1_1", true), ("-tls1_2", false)] {
        let server = OldTlsServer::start(&postfix, flag);
        let mut options = options(&postfix, server.port(), TlsMode::Implicit, false);
        options.config.timeouts = Timeouts::uniform(Duration::from_secs(2));
        let error = connect(options).expect_err("no SMTP server");
        let handshake = matches!(error, Error::Smtp(smtp_sansio::Error::TlsHandshake(_)));
        assert_eq!(handshake, refused, "{flag}: {error:?}");
    }
}

/// The pooled mailer over implicit TLS and AUTH, from threads: 100 messages over up to 4
/// connections, each retired after 30 messages, every one delivered exactly once.
#[test]
fn mailer_delivers_every_message_once_over_pooled_implicit_tls_sessions() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    let tag = postfix::unique_id("blocking-mailer");
    let mut policy = PoolPolicy::default();
    policy.max_connections = 4;
    policy.max_messages_per_connection = Some(30);
    let options = options(&postfix, IMPLICIT_PORT, TlsMode::Implicit, true);
    let mailer = Mailer::with_policy(options, policy);
    let messages = (0..100).map(|i| {
        let body = postfix::message(&format!("{i}.{tag}"), "");
        (envelope(&["rcpt@example.net"]), Bytes::from(body))
    });
    let results = mailer.send_all(messages);
    for result in &results {
        let report = result.as_ref().expect("sent");
        assert!(report.is_delivered(), "{report:?}");
    }
    mailer.close();
    assert_eq!(postfix.count_delivered(&tag, 100), 100);
}

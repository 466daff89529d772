//! The tokio adapter against a real Postfix (`scripts/postfix.sh`), each message verified in
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
use smtp_tokio::smtp_sansio::pool::PoolPolicy;
use smtp_tokio::smtp_sansio::{
    ClientId, Credentials, Error as SmtpError, Mechanism, StreamedBody, Timeouts, TlsMode,
};
use smtp_tokio::{Endpoint, Error, Mailer, Options, connect};

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

async fn deliver(postfix: &Postfix, options: Options) -> String {
    let id = postfix::unique_id("tokio");
    let body = postfix::message(&id, "");
    let mut session = connect(options).await.expect("session");
    let report = session
        .send(envelope(&["rcpt@example.net"]), body.clone().into())
        .await
        .expect("report");
    assert!(report.is_delivered(), "{report:?}");
    assert!(report.message_id().is_some(), "Postfix's queue id");
    session.quit().await.expect("quit");
    let delivered = postfix.delivered(&id).expect("delivered");
    assert_eq!(
        postfix::delivered_body(&delivered),
        postfix::expected_body(&body),
        "body intact"
    );
    postfix::received_with(&delivered).expect("a Received header")
}

#[tokio::test]
async fn starttls_with_auth_is_esmtpsa() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    assert_eq!(
        deliver(
            &postfix,
            options(&postfix, STARTTLS_PORT, TlsMode::StartTls, true)
        )
        .await,
        "ESMTPSA"
    );
}

#[tokio::test]
async fn starttls_with_auth_login_is_esmtpsa() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    let mut opts = options(&postfix, STARTTLS_PORT, TlsMode::StartTls, true);
    opts.config.auth.preference = vec![Mechanism::Login];
    assert_eq!(deliver(&postfix, opts).await, "ESMTPSA");
}

/// Dovecot (behind Postfix) proves the password to us too: SCRAM-SHA-256 (RFC 7677) and
/// SCRAM-SHA-1 (RFC 5802), each alone in the preference so that only it can succeed, and PLAIN.
#[tokio::test]
async fn rfc7677_rfc5802_scram_and_plain_against_dovecot_are_esmtpsa() {
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
        assert_eq!(deliver(&postfix, opts).await, "ESMTPSA", "{mechanism}");
    }
}

#[tokio::test]
async fn implicit_tls_with_auth_is_esmtpsa() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    assert_eq!(
        deliver(
            &postfix,
            options(&postfix, IMPLICIT_PORT, TlsMode::Implicit, true)
        )
        .await,
        "ESMTPSA"
    );
}

#[tokio::test]
async fn opportunistic_upgrades_on_the_plain_port() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    assert_eq!(
        deliver(
            &postfix,
            options(&postfix, PLAIN_PORT, TlsMode::StartTlsOpportunistic, false)
        )
        .await,
        "ESMTPS"
    );
}

#[tokio::test]
async fn plaintext_only_by_explicit_choice() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    assert_eq!(
        deliver(
            &postfix,
            options(&postfix, PLAIN_PORT, TlsMode::InsecurePlaintext, false)
        )
        .await,
        "ESMTP"
    );
}

#[tokio::test]
async fn e1_credentials_never_go_out_in_clear() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    let error = connect(options(
        &postfix,
        PLAIN_PORT,
        TlsMode::InsecurePlaintext,
        true,
    ))
    .await
    .expect_err("refused locally");
    assert_eq!(error, Error::Smtp(SmtpError::AuthNeedsTls));
}

#[tokio::test]
async fn wrong_password_keeps_the_server_reply() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    let mut opts = options(&postfix, STARTTLS_PORT, TlsMode::StartTls, false);
    opts.config.credentials = Some(Credentials::password(USER, "wrong").expect("valid"));
    let error = connect(opts).await.expect_err("refused");
    let reply = error.reply().expect("the server's reply");
    assert_eq!(reply.code().get(), 535);
    assert!(reply.enhanced_status().is_some());
    assert!(
        error.to_string().contains("authentication failed"),
        "{error}"
    );
}

#[tokio::test]
async fn a1_starttls_required_against_a_port_without_it() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    let error = connect(options(&postfix, NO_TLS_PORT, TlsMode::StartTls, true))
        .await
        .expect_err("no STARTTLS offered");
    assert_eq!(error, Error::Smtp(SmtpError::StartTlsUnavailable));
}

#[tokio::test]
async fn a13_wrong_ca_is_refused_in_the_handshake() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    let mut opts = options(&postfix, IMPLICIT_PORT, TlsMode::Implicit, true);
    opts.tls = smtp_tokio::TlsOptions::default();
    opts.tls.webpki_roots = true;
    let error = connect(opts).await.expect_err("untrusted");
    assert!(
        matches!(error, Error::Smtp(smtp_sansio::Error::TlsHandshake(_))),
        "{error:?}"
    );
}

#[tokio::test]
async fn implicit_tls_against_the_starttls_port_is_a_clear_error() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    let error = connect(options(&postfix, STARTTLS_PORT, TlsMode::Implicit, true))
        .await
        .expect_err("the server greets in plaintext");
    assert_eq!(
        error,
        Error::PlaintextGreeting {
            port: STARTTLS_PORT
        }
    );
    assert!(
        error.to_string().contains("plaintext smtp greeting"),
        "{error}"
    );
}

#[tokio::test]
async fn pipelined_chunking_batch_and_recipient_outcomes() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    let mut session = connect(options(&postfix, STARTTLS_PORT, TlsMode::StartTls, true))
        .await
        .expect("session");
    let caps = session.capabilities().expect("capabilities").clone();
    assert!(caps.pipelining() && caps.chunking(), "Postfix offers both");
    let ids: Vec<String> = (0..10)
        .map(|i| postfix::unique_id(&format!("batch{i}")))
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
    let reports = session.send_all(messages).await.expect("reports");
    session.quit().await.expect("quit");
    for report in &reports {
        assert!(report.is_delivered(), "{report:?}");
        let codes: Vec<u16> = report
            .recipients
            .iter()
            .map(|r| r.reply.as_ref().map_or(0, |r| r.code().get()))
            .collect();
        assert_eq!(codes, [250, 550, 450]);
    }
    for id in &ids {
        assert!(postfix.delivered(id).is_some(), "{id} delivered");
    }
}

/// Whole bodies held in `Bytes` go out by reference (vectored writes, in clear and under TLS):
/// with DATA, the dots RFC 5321 §4.5.2 adds go between the caller's lines; with BDAT
/// (RFC 3030 §2), the chunks are slices of the body.
#[tokio::test]
async fn large_bytes_bodies_with_data_and_bdat_in_clear_and_under_tls() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    for (port, mode, auth) in [
        (PLAIN_PORT, TlsMode::InsecurePlaintext, false),
        (IMPLICIT_PORT, TlsMode::Implicit, true),
    ] {
        for chunking in [false, true] {
            let id = postfix::unique_id("whole");
            let body = postfix::canonical_message(&id, 3 << 20);
            let mut options = options(&postfix, port, mode, auth);
            options.config.chunking = chunking;
            let mut session = connect(options).await.expect("session");
            let report = session
                .send(envelope(&["big@example.net"]), Bytes::from(body.clone()))
                .await
                .expect("report");
            assert!(report.is_delivered(), "{report:?}");
            session.quit().await.expect("quit");
            let delivered = postfix.delivered(&id).expect("delivered");
            assert_eq!(
                postfix::delivered_body(&delivered),
                postfix::expected_body(&body),
                "body intact on port {port}, chunking {chunking}"
            );
        }
    }
}

#[tokio::test]
async fn a_25_megabyte_message_streamed_from_a_file() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    let id = postfix::unique_id("stream");
    let line = "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,;:!?\r\n";
    let filler = line.repeat(25 * 1024 * 1024 / line.len());
    let body = postfix::message(&id, &filler);
    let path = std::env::temp_dir().join(format!("{id}.eml"));
    std::fs::write(&path, &body).expect("temporary file");
    let file = tokio::fs::File::open(&path).await.expect("open");
    let mut session = connect(options(&postfix, IMPLICIT_PORT, TlsMode::Implicit, true))
        .await
        .expect("session");
    let report = session
        .send_reader(
            envelope(&["big@example.net"]),
            file,
            StreamedBody::default(),
        )
        .await
        .expect("report");
    let _ = std::fs::remove_file(&path);
    assert!(report.is_delivered(), "{report:?}");
    session.quit().await.expect("quit");
    let delivered = postfix.delivered(&id).expect("delivered");
    assert!(body.len() > 25_000_000);
    assert_eq!(
        postfix::delivered_body(&delivered),
        postfix::expected_body(&body),
        "body intact"
    );
}

/// SECURITY.md G7 and A16 (RFC 8314 §5, RFC 8997): a server that offers only TLS 1.1 fails the
/// handshake, so nothing is sent over it; the same server with TLS 1.2 gets past the handshake
/// (and, sending no greeting, ends the session another way).
#[tokio::test]
async fn g7_a16_tls_below_1_2_fails_the_handshake() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    for (flag, refused) in [("-tls1_1", true), ("-tls1_2", false)] {
        let server = OldTlsServer::start(&postfix, flag);
        let mut options = options(&postfix, server.port(), TlsMode::Implicit, false);
        options.config.timeouts = Timeouts::uniform(Duration::from_secs(2));
        let error = connect(options).await.expect_err("no SMTP server");
        let handshake = matches!(error, Error::Smtp(smtp_sansio::Error::TlsHandshake(_)));
        assert_eq!(handshake, refused, "{flag}: {error:?}");
    }
}

/// The pooled mailer over STARTTLS and AUTH: 100 messages over up to 4 connections, each
/// retired after 30 messages, every one delivered exactly once.
#[tokio::test]
async fn mailer_delivers_every_message_once_over_pooled_starttls_sessions() {
    let Some(postfix) = Postfix::get() else {
        return;
    };
    let tag = postfix::unique_id("tokio-mailer");
    let mut policy = PoolPolicy::default();
    policy.max_connections = 4;
    policy.max_messages_per_connection = Some(30);
    let options = options(&postfix, STARTTLS_PORT, TlsMode::StartTls, true);
    let mailer = Mailer::with_policy(options, policy);
    let messages = (0..100).map(|i| {
        let body = postfix::message(&format!("{i}.{tag}"), "");
        (envelope(&["rcpt@example.net"]), Bytes::from(body))
    });
    let results = mailer.send_all(messages).await;
    for result in &results {
        let report = result.as_ref().expect("sent");
        assert!(report.is_delivered(), "{report:?}");
    }
    mailer.close().await;
    assert_eq!(postfix.count_delivered(&tag, 100), 100);
}

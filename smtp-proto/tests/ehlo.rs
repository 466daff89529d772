//! EHLO replies into capabilities: real servers' replies and SECURITY.md A17, B15, B19.

mod support;

use smtp_sansio::{Capabilities, MailLimits, Mechanism, SizeLimit};
use support::one_reply;

fn caps(wire: &[u8]) -> Capabilities {
    Capabilities::from_ehlo_reply(&one_reply(wire)).expect("a 250 reply")
}

const POSTFIX: &[u8] = b"250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n\
250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n\
250 CHUNKING\r\n";
const POSTFIX_AFTER_TLS: &[u8] = b"250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n\
250-VRFY\r\n250-ETRN\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n\
250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";
const EXIM: &[u8] =
    b"250-mail.example.org Hello client.example [192.0.2.1]\r\n250-SIZE 52428800\r\n\
250-LIMITS MAILMAX=1000 RCPTMAX=50000\r\n250-8BITMIME\r\n250-PIPELINING\r\n250-PIPECONNECT\r\n\
250-AUTH PLAIN LOGIN\r\n250-CHUNKING\r\n250-STARTTLS\r\n250-PRDR\r\n250 HELP\r\n";
const GMAIL_AFTER_TLS: &[u8] = b"250-smtp.gmail.com at your service, [203.0.113.5]\r\n\
250-SIZE 35882577\r\n250-8BITMIME\r\n250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH\r\n\
250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n";
const OUTLOOK: &[u8] = b"250-MN2PR01CA0012.outlook.office365.com Hello [203.0.113.5]\r\n\
250-SIZE 157286400\r\n250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n\
250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n";
const SES: &[u8] = b"250-email-smtp.amazonaws.com\r\n250-8BITMIME\r\n250-STARTTLS\r\n\
250-AUTH PLAIN LOGIN\r\n250 Ok\r\n";
const SMTP_SINK: &[u8] = b"250-sink.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n\
250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n250-XFORWARD NAME ADDR PROTO HELO\r\n\
250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250 \r\n";

#[test]
fn postfix() {
    let c = caps(POSTFIX);
    assert_eq!(c.server_name(), b"mx.example.com");
    assert_eq!(c.size(), Some(SizeLimit::Max(10_240_000)));
    assert!(c.pipelining() && c.starttls() && c.enhanced_status_codes() && c.eight_bit_mime());
    assert!(c.dsn() && c.smtp_utf8() && c.chunking() && !c.binary_mime());
    assert_eq!(c.auth(), None);
    assert!(c.has_other("vrfy") && c.has_other("ETRN"));
    let tls = caps(POSTFIX_AFTER_TLS);
    let auth = tls.auth().expect("AUTH advertised");
    assert_eq!(
        auth.iter().collect::<Vec<_>>(),
        [Mechanism::Plain, Mechanism::Login]
    );
    assert!(!tls.starttls());
}

#[test]
fn exim() {
    let c = caps(EXIM);
    assert_eq!(c.server_name(), b"mail.example.org");
    assert_eq!(c.size(), Some(SizeLimit::Max(52_428_800)));
    assert_eq!(
        c.limits(),
        Some(MailLimits {
            rcpt_max: Some(50_000),
            mail_max: Some(1000),
            rcpt_domain_max: None
        })
    );
    assert!(c.pipelining() && c.chunking() && c.starttls());
    assert!(c.has_other("PIPECONNECT") && c.has_other("PRDR") && c.has_other("HELP"));
}

#[test]
fn gmail() {
    let c = caps(GMAIL_AFTER_TLS);
    let auth = c.auth().expect("AUTH");
    for m in [
        Mechanism::Login,
        Mechanism::Plain,
        Mechanism::XOAuth2,
        Mechanism::OAuthBearer,
    ] {
        assert!(auth.contains(m), "{m}");
    }
    assert_eq!(
        auth.iter().count(),
        4,
        "PLAIN-CLIENTTOKEN and XOAUTH are unknown and ignored"
    );
    assert!(c.chunking() && c.smtp_utf8() && c.pipelining());
}

#[test]
fn outlook() {
    let c = caps(OUTLOOK);
    assert!(c.binary_mime() && c.chunking() && c.dsn() && c.starttls());
    assert_eq!(c.size(), Some(SizeLimit::Max(157_286_400)));
}

#[test]
fn amazon_ses() {
    let c = caps(SES);
    assert_eq!(c.server_name(), b"email-smtp.amazonaws.com");
    assert!(c.starttls() && c.eight_bit_mime() && !c.pipelining());
    assert!(
        c.auth()
            .is_some_and(|a| a.contains(Mechanism::Plain) && a.contains(Mechanism::Login))
    );
    assert!(
        c.has_other("OK"),
        "SES's last line is kept as an unknown keyword"
    );
}

#[test]
fn smtp_sink_ends_with_an_empty_line() {
    let c = caps(SMTP_SINK);
    assert!(c.pipelining() && c.dsn() && c.enhanced_status_codes());
    assert_eq!(c.others().len(), 1);
    assert_eq!(c.others()[0].keyword, "XFORWARD");
    assert_eq!(c.others()[0].params.len(), 4);
}

#[test]
fn a17_spotting_starttls() {
    assert!(caps(b"250-mx\r\n250-starttls\r\n250 OK\r\n").starttls());
    assert!(caps(b"250-mx\r\n250-STARTTLS \r\n250 OK\r\n").starttls());
    assert!(caps(b"250-mx\r\n250 STARTTLS\r\n").starttls());
    assert!(
        !caps(b"250-STARTTLS\r\n250 PIPELINING\r\n").starttls(),
        "first line is the domain"
    );
    let stripped = caps(b"250-mx\r\n250-XXXXXXXX\r\n250 PIPELINING\r\n");
    assert!(!stripped.starttls() && stripped.has_other("XXXXXXXX"));
}

#[test]
fn b15_ehlo_reply_robustness() {
    let c = caps(
        b"250-mx\r\n250-   \r\n250-AUTH=PLAIN LOGIN\r\n250- 8BITMIME\r\n\
250-SIZE 99999999999999999999999\r\n250-SIZE\r\n250 starttls\r\n",
    );
    assert!(
        c.auth()
            .is_some_and(|a| a.contains(Mechanism::Plain) && a.contains(Mechanism::Login))
    );
    assert!(c.eight_bit_mime(), "leading whitespace is tolerated");
    assert_eq!(
        c.size(),
        Some(SizeLimit::Undeclared),
        "overflow means no usable limit"
    );
    assert!(c.starttls());
    assert_eq!(
        caps(b"250-mx\r\n250 SIZE\r\n").size(),
        Some(SizeLimit::Undeclared)
    );
    assert_eq!(
        caps(b"250-mx\r\n250 SIZE 0\r\n").size(),
        Some(SizeLimit::Undeclared)
    );
    assert_eq!(
        caps(b"250-mx\r\n250 SIZE 18446744073709551615\r\n").size(),
        Some(SizeLimit::Max(u64::MAX))
    );
}

#[test]
fn b15_keywords_only_from_a_250_reply() {
    for wire in [
        &b"502 5.5.2 Error: command not recognized\r\n"[..],
        b"421 4.3.2 bye\r\n",
        b"251-x\r\n251 STARTTLS\r\n",
    ] {
        assert_eq!(Capabilities::from_ehlo_reply(&one_reply(wire)), None);
    }
}

#[test]
fn b19_many_auth_mechanisms_with_junk() {
    let mut line = b"250-mx\r\n250 AUTH".to_vec();
    for i in 0..60 {
        line.extend_from_slice(format!(" JUNK-{i}").as_bytes());
    }
    line.extend_from_slice(b" SCRAM-SHA-256 \x01\xff PLAIN\r\n");
    let c = caps(&line);
    let auth = c.auth().expect("AUTH");
    assert_eq!(
        auth.iter().collect::<Vec<_>>(),
        [Mechanism::Plain, Mechanism::ScramSha256]
    );
}

#[test]
fn thousands_of_keywords_stay_within_limits() {
    let mut wire = b"250-mx\r\n".to_vec();
    for i in 0..5000 {
        wire.extend_from_slice(format!("250-X-{i}\r\n").as_bytes());
    }
    wire.extend_from_slice(b"250 END\r\n");
    let decoded = support::decode_split(Default::default(), &wire, &[]);
    assert!(matches!(
        decoded.error,
        Some(smtp_sansio::ReplyError::TooManyLines { .. })
    ));
    let mut limits = smtp_sansio::ReplyLimits::default();
    limits.max_lines = 10_000;
    limits.max_reply_len = 1 << 20;
    let decoded = support::decode_split(limits, &wire, &[]);
    let c = Capabilities::from_ehlo_reply(&decoded.replies[0]).expect("250");
    assert_eq!(c.others().len(), 5001);
}

#[test]
fn extension_parameters() {
    let c = caps(b"250-mx\r\n250-MT-PRIORITY MIXER\r\n250-DELIVERBY 240\r\n250-REQUIRETLS\r\n250 LIMITS RCPTMAX=0 RCPTDOMAINMAX=x MAILMAX=5\r\n");
    assert_eq!(c.mt_priority(), Some(Some(&b"MIXER"[..])));
    assert_eq!(c.deliver_by(), Some(Some(240)));
    assert!(c.requiretls());
    assert_eq!(
        c.limits(),
        Some(MailLimits {
            rcpt_max: None,
            mail_max: Some(5),
            rcpt_domain_max: None
        })
    );
    let bare = caps(b"250-mx\r\n250-MT-PRIORITY\r\n250 DELIVERBY\r\n");
    assert_eq!(
        (bare.mt_priority(), bare.deliver_by()),
        (Some(None), Some(None))
    );
}

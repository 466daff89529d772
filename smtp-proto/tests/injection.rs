//! Injection through emitted commands: SECURITY.md group C, through the public API.

mod support;

use smtp_sansio::{
    AuthParam, BodyType, ByMode, ClientId, Command, DeliverBy, EnvId, InvalidInput, MailCommand,
    MailParameters, MtPriority, Notify, OriginalRecipient, QueryArg, RcptCommand, RcptParameters,
    Ret, ReversePath,
};
use support::{caps, encode, everything, mailbox};

#[test]
fn c3_c12_injection_through_identity_and_queries_is_refused() {
    assert!(ClientId::parse("client.example\r\nMAIL FROM:<x@evil>").is_err());
    assert!(ClientId::parse("client\0").is_err());
    for bad in ["x\r\nDATA", "x\nDATA", "x\0", "a b", "<x>"] {
        assert!(QueryArg::parse(bad).is_err(), "{bad:?}");
    }
    assert!(QueryArg::quote("x\r\nDATA").is_err());
}

#[test]
fn c4_parameter_values_cannot_carry_line_breaks() {
    assert!(EnvId::new("id\r\nRCPT TO:<x@evil.example>").is_err());
    assert!(OriginalRecipient::rfc822("x@example.com\r\nRCPT TO:<y@evil>").is_err());
    // SIZE is an integer and AUTH= is xtext: no way to smuggle text through them.
    let params = MailParameters {
        size: Some(u64::MAX),
        auth: Some(AuthParam::Submitter(mailbox("\"a=b c\"@example.com"))),
        ..Default::default()
    };
    let line = encode(&Command::Mail(
        MailCommand::new(mailbox("a@example.com").into(), params, &everything()).expect("mail"),
    ));
    assert!(line.ends_with(b" SIZE=18446744073709551615 AUTH=\"a+3Db+20c\"@example.com\r\n"));
}

#[test]
fn c6_non_ascii_envelope_needs_smtputf8() {
    let no_utf8 = caps("8BITMIME");
    let utf8_from = mailbox("Böb@example.com");
    let err = MailCommand::new(
        utf8_from.clone().into(),
        MailParameters::default(),
        &no_utf8,
    );
    assert_eq!(err, Err(InvalidInput::NeedsSmtpUtf8));
    let flagged = MailParameters {
        smtp_utf8: true,
        ..Default::default()
    };
    assert_eq!(
        MailCommand::new(utf8_from.clone().into(), flagged.clone(), &no_utf8),
        Err(InvalidInput::NotAdvertised {
            extension: "SMTPUTF8"
        })
    );
    assert!(MailCommand::new(utf8_from.into(), flagged, &caps("SMTPUTF8")).is_ok());
    let utf8_domain = mailbox("bob@bücher.example");
    assert_eq!(
        RcptCommand::new(utf8_domain.into(), RcptParameters::default(), &no_utf8),
        Err(InvalidInput::NeedsSmtpUtf8)
    );
}

#[test]
fn c8_unadvertised_parameters_are_never_sent() {
    let bare = caps("PIPELINING");
    let from = || ReversePath::from(mailbox("a@example.com"));
    let cases: Vec<(MailParameters, &str)> = vec![
        (
            MailParameters {
                size: Some(1),
                ..Default::default()
            },
            "SIZE",
        ),
        (
            MailParameters {
                body: Some(BodyType::EightBitMime),
                ..Default::default()
            },
            "8BITMIME",
        ),
        (
            MailParameters {
                body: Some(BodyType::SevenBit),
                ..Default::default()
            },
            "8BITMIME",
        ),
        (
            MailParameters {
                body: Some(BodyType::BinaryMime),
                ..Default::default()
            },
            "BINARYMIME",
        ),
        (
            MailParameters {
                smtp_utf8: true,
                ..Default::default()
            },
            "SMTPUTF8",
        ),
        (
            MailParameters {
                ret: Some(Ret::Full),
                ..Default::default()
            },
            "DSN",
        ),
        (
            MailParameters {
                envid: EnvId::new("x").ok(),
                ..Default::default()
            },
            "DSN",
        ),
        (
            MailParameters {
                require_tls: true,
                ..Default::default()
            },
            "REQUIRETLS",
        ),
        (
            MailParameters {
                mt_priority: MtPriority::new(1),
                ..Default::default()
            },
            "MT-PRIORITY",
        ),
        (
            MailParameters {
                deliver_by: DeliverBy::new(9, ByMode::Notify, false),
                ..Default::default()
            },
            "DELIVERBY",
        ),
        (
            MailParameters {
                auth: Some(AuthParam::Unknown),
                ..Default::default()
            },
            "AUTH",
        ),
    ];
    for (params, extension) in cases {
        assert_eq!(
            MailCommand::new(from(), params, &bare),
            Err(InvalidInput::NotAdvertised { extension }),
            "{extension}"
        );
    }
    let binary_without_chunking = caps("BINARYMIME");
    let params = MailParameters {
        body: Some(BodyType::BinaryMime),
        ..Default::default()
    };
    assert_eq!(
        MailCommand::new(from(), params, &binary_without_chunking),
        Err(InvalidInput::NotAdvertised {
            extension: "CHUNKING"
        })
    );
    let notify = RcptParameters {
        notify: Some(Notify::NEVER),
        ..Default::default()
    };
    assert_eq!(
        RcptCommand::new(mailbox("b@example.com").into(), notify, &bare),
        Err(InvalidInput::NotAdvertised { extension: "DSN" })
    );
}

#[test]
fn c7_command_line_limits_include_extension_allowances() {
    // A maximal path with every MAIL parameter still fits 512 plus the RFC allowances.
    let local = "a".repeat(64);
    let domain = ["b".repeat(63), "c".repeat(63), "d".repeat(61)].join(".");
    let long = mailbox(&format!("{local}@{domain}"));
    let params = MailParameters {
        size: Some(u64::MAX),
        envid: Some(EnvId::new(&"+".repeat(100)).expect("envid")),
        ret: Some(Ret::Full),
        auth: Some(AuthParam::Submitter(long.clone())),
        ..Default::default()
    };
    let mail = MailCommand::new(long.clone().into(), params, &everything()).expect("fits");
    let line = encode(&Command::Mail(mail));
    assert!(
        line.len() > 512 && line.len() <= 512 + 26 + 100 + 500,
        "{}",
        line.len()
    );
    // Without the allowances, a line may not exceed 512 octets.
    let rcpt =
        RcptCommand::new(long.into(), RcptParameters::default(), &everything()).expect("fits");
    assert!(encode(&Command::Rcpt(rcpt)).len() <= 512);
}

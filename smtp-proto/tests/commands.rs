//! Command encoding through the public API: the exact bytes of every command (SECURITY.md C9,
//! C10, E9, E13); injection cases are in `injection.rs`.

mod support;

use bytes::Bytes;
use smtp_sansio::{
    AuthCommand, AuthParam, BodyType, ByMode, ClientId, Command, DeliverBy, EnvId, ForwardPath,
    InvalidInput, MailCommand, MailParameters, Mechanism, MtPriority, Notify, OriginalRecipient,
    QueryArg, RcptCommand, RcptParameters, Ret, ReversePath, SaslResponse, Secret,
};
use support::{caps, encode, everything, mailbox};

#[test]
fn every_simple_command() {
    let id = ClientId::parse("client.example").expect("id");
    let table: Vec<(Command, &[u8])> = vec![
        (Command::Ehlo(id.clone()), b"EHLO client.example\r\n"),
        (Command::Helo(id.clone()), b"HELO client.example\r\n"),
        (Command::Lhlo(id), b"LHLO client.example\r\n"),
        (
            Command::Ehlo(ClientId::parse("[192.0.2.1]").expect("id")),
            b"EHLO [192.0.2.1]\r\n",
        ),
        (Command::Data, b"DATA\r\n"),
        (Command::Rset, b"RSET\r\n"),
        (Command::Noop, b"NOOP\r\n"),
        (Command::Quit, b"QUIT\r\n"),
        (Command::StartTls, b"STARTTLS\r\n"),
        (Command::AuthCancel, b"*\r\n"),
        (
            Command::Bdat {
                size: 1234,
                last: false,
            },
            b"BDAT 1234\r\n",
        ),
        (
            Command::Bdat {
                size: 0,
                last: true,
            },
            b"BDAT 0 LAST\r\n",
        ),
        (
            Command::Vrfy(QueryArg::parse("postmaster").expect("arg")),
            b"VRFY postmaster\r\n",
        ),
        (
            Command::Expn(QueryArg::quote("staff list").expect("arg")),
            b"EXPN \"staff list\"\r\n",
        ),
        (Command::Help(None), b"HELP\r\n"),
        (
            Command::Help(Some(QueryArg::parse("MAIL").expect("arg"))),
            b"HELP MAIL\r\n",
        ),
    ];
    for (command, wire) in table {
        assert_eq!(encode(&command), wire, "{command:?}");
    }
}

#[test]
fn c9_no_parameters_on_rset_data_quit() {
    assert_eq!(encode(&Command::Rset), b"RSET\r\n");
    assert_eq!(encode(&Command::Data), b"DATA\r\n");
    assert_eq!(encode(&Command::Quit), b"QUIT\r\n");
}

#[test]
fn mail_with_every_parameter() {
    let params = MailParameters {
        size: Some(2048),
        body: Some(BodyType::EightBitMime),
        smtp_utf8: true,
        ret: Some(Ret::Headers),
        envid: Some(EnvId::new("QQ 3+1=4").expect("envid")),
        require_tls: true,
        mt_priority: MtPriority::new(-3),
        deliver_by: DeliverBy::new(120, ByMode::Return, true),
        auth: Some(AuthParam::Submitter(mailbox("e+x@example.com"))),
    };
    let mail =
        MailCommand::new(mailbox("Böb@example.com").into(), params, &everything()).expect("mail");
    assert_eq!(
        String::from_utf8(encode(&Command::Mail(mail))).expect("utf-8"),
        "MAIL FROM:<Böb@example.com> SIZE=2048 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ+203+2B1+3D4 \
         REQUIRETLS MT-PRIORITY=-3 BY=120;RT AUTH=e+2Bx@example.com\r\n"
    );
    let bounce = MailCommand::new(
        ReversePath::Null,
        MailParameters::default(),
        &caps("PIPELINING"),
    );
    assert_eq!(
        encode(&Command::Mail(bounce.expect("mail"))),
        b"MAIL FROM:<>\r\n"
    );
    let unknown = MailParameters {
        auth: Some(AuthParam::Unknown),
        ..Default::default()
    };
    let mail = MailCommand::new(mailbox("a@example.com").into(), unknown, &everything());
    assert_eq!(
        encode(&Command::Mail(mail.expect("mail"))),
        b"MAIL FROM:<a@example.com> AUTH=<>\r\n"
    );
}

#[test]
fn rcpt_with_dsn_parameters() {
    let params = RcptParameters {
        notify: Notify::on(true, true, true),
        orcpt: Some(OriginalRecipient::rfc822("a+b@example.com").expect("orcpt")),
    };
    let rcpt =
        RcptCommand::new(mailbox("a@example.com").into(), params, &everything()).expect("rcpt");
    assert_eq!(
        encode(&Command::Rcpt(rcpt)),
        b"RCPT TO:<a@example.com> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;a+2Bb@example.com\r\n"
    );
    let postmaster = RcptCommand::new(
        ForwardPath::Postmaster,
        RcptParameters::default(),
        &caps("X"),
    );
    assert_eq!(
        encode(&Command::Rcpt(postmaster.expect("rcpt"))),
        b"RCPT TO:<Postmaster>\r\n"
    );
}

#[test]
fn e9_auth_initial_response_encoding() {
    let plain = AuthCommand::new(
        Mechanism::Plain,
        Some(Secret::new(Bytes::from_static(b"\0user\0pass"))),
    );
    assert_eq!(
        encode(&Command::Auth(plain.expect("fits"))),
        b"AUTH PLAIN AHVzZXIAcGFzcw==\r\n"
    );
    let external = AuthCommand::new(Mechanism::External, Some(Secret::new(Bytes::new())));
    assert_eq!(
        encode(&Command::Auth(external.expect("fits"))),
        b"AUTH EXTERNAL =\r\n"
    );
    let bare = AuthCommand::new(Mechanism::Login, None);
    assert_eq!(
        encode(&Command::Auth(bare.expect("fits"))),
        b"AUTH LOGIN\r\n"
    );
    // 369 octets become 492 of base64: "AUTH PLAIN " + 492 + CRLF = 505 fits; 375 do not.
    assert!(
        AuthCommand::new(
            Mechanism::Plain,
            Some(Secret::new(Bytes::from(vec![1u8; 369])))
        )
        .is_ok()
    );
    assert!(matches!(
        AuthCommand::new(
            Mechanism::Plain,
            Some(Secret::new(Bytes::from(vec![1u8; 375])))
        ),
        Err(InvalidInput::TooLong { .. })
    ));
    let response = SaslResponse::new(Secret::new(Bytes::from_static(b"user"))).expect("fits");
    assert_eq!(encode(&Command::AuthResponse(response)), b"dXNlcg==\r\n");
    assert!(SaslResponse::new(Secret::new(Bytes::from(vec![0u8; 9300]))).is_err());
}

#[test]
fn e13_redacted_commands_hide_sasl_payloads() {
    let plain = AuthCommand::new(
        Mechanism::Plain,
        Some(Secret::new(Bytes::from_static(b"\0u\0hunter2"))),
    );
    let command = Command::Auth(plain.expect("fits"));
    assert_eq!(command.redacted().to_string(), "AUTH PLAIN <redacted>");
    assert!(!format!("{command:?}").contains("hunter2"));
    let response = Command::AuthResponse(
        SaslResponse::new(Secret::new(Bytes::from_static(b"hunter2"))).expect("fits"),
    );
    assert_eq!(response.redacted().to_string(), "<redacted>");
    assert!(!format!("{response:?}").contains("aHVudGVyMg"));
    assert_eq!(Command::Quit.redacted().to_string(), "QUIT");
}

#[test]
fn a11_e10_group_ending_commands() {
    let ends = [
        Command::StartTls,
        Command::Data,
        Command::Quit,
        Command::Noop,
        Command::AuthCancel,
    ];
    assert!(ends.iter().all(Command::ends_pipeline_group));
    assert!(!Command::Rset.ends_pipeline_group());
    assert!(
        !Command::Bdat {
            size: 1,
            last: true
        }
        .ends_pipeline_group()
    );
}

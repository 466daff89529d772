//! Invariant: values the validated types accept always encode to exactly one line of the
//! grammar; arbitrary strings either fail validation or encode safely (no CR, LF or NUL, no
//! break-out of the path's angle brackets).
#![no_main]

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use smtp_fuzz::assert_one_line;
use smtp_sansio::{
    AuthCommand, AuthParam, BodyType, Capabilities, ClientId, Command, EnvId, ForwardPath,
    LocalPart, MailCommand, MailParameters, Mailbox, Mechanism, MtPriority, Notify,
    OriginalRecipient, QueryArg, RcptCommand, RcptParameters, Reply, ReplyCode, ReversePath,
    SaslResponse, Secret,
};

#[derive(Arbitrary, Debug)]
struct Input {
    mailbox: String,
    local: String,
    client: String,
    query: String,
    envid: String,
    orcpt: String,
    size: Option<u64>,
    body: u8,
    priority: i8,
    notify: (bool, bool, bool),
    ir: Vec<u8>,
    advertised: Vec<String>,
}

fn encode(command: &Command) -> Vec<u8> {
    let mut out = BytesMut::new();
    command.encode(&mut out);
    out.to_vec()
}

fuzz_target!(|input: Input| {
    let lines: Vec<String> = std::iter::once("mx".to_string()).chain(input.advertised.iter().cloned()).collect();
    let caps = Reply::new(ReplyCode::OK, &lines).and_then(|r| Capabilities::from_ehlo_reply(&r)).unwrap_or_default();

    if let Ok(mailbox) = Mailbox::parse(&input.mailbox) {
        assert_eq!(mailbox.as_str(), input.mailbox);
        let params = MailParameters {
            size: input.size,
            body: [None, Some(BodyType::SevenBit), Some(BodyType::EightBitMime), Some(BodyType::BinaryMime)][usize::from(input.body % 4)],
            smtp_utf8: mailbox.needs_smtp_utf8(),
            envid: EnvId::new(&input.envid).ok(),
            mt_priority: MtPriority::new(input.priority),
            auth: Some(AuthParam::Submitter(mailbox.clone())),
            ..MailParameters::default()
        };
        if let Ok(mail) = MailCommand::new(ReversePath::Mailbox(mailbox.clone()), params, &caps) {
            let line = encode(&Command::Mail(mail));
            assert_one_line(&line);
            let prefix = format!("MAIL FROM:<{}>", mailbox.as_str());
            assert!(line.starts_with(prefix.as_bytes()));
        }
        let rcpt_params = RcptParameters {
            notify: Notify::on(input.notify.0, input.notify.1, input.notify.2),
            orcpt: OriginalRecipient::rfc822(&input.orcpt).ok(),
        };
        if let Ok(rcpt) = RcptCommand::new(ForwardPath::Mailbox(mailbox.clone()), rcpt_params, &caps) {
            let line = encode(&Command::Rcpt(rcpt));
            assert_one_line(&line);
            let prefix = format!("RCPT TO:<{}>", mailbox.as_str());
            assert!(line.starts_with(prefix.as_bytes()));
        }
    }
    if let Ok(local) = LocalPart::quote(&input.local) {
        assert!(Mailbox::parse(&format!("{local}@example.com")).is_ok() || local.as_str().len() > 64);
    }
    if let Ok(id) = ClientId::parse(&input.client) {
        let line = encode(&Command::Ehlo(id));
        assert_one_line(&line);
        assert!(!line[5..line.len() - 2].contains(&b' '));
    }
    for query in [QueryArg::parse(&input.query), QueryArg::quote(&input.query)] {
        if let Ok(query) = query {
            assert_one_line(&encode(&Command::Vrfy(query)));
        }
    }
    for mechanism in Mechanism::ALL {
        if let Ok(auth) = AuthCommand::new(mechanism, Some(Secret::new(Bytes::from(input.ir.clone())))) {
            let line = encode(&Command::Auth(auth));
            assert_one_line(&line);
            assert!(line.len() <= 512);
        }
    }
    if let Ok(response) = SaslResponse::new(Secret::new(Bytes::from(input.ir.clone()))) {
        assert_one_line(&encode(&Command::AuthResponse(response)));
    }
});

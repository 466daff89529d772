//! SCRAM (RFC 5802, RFC 7677): the client's side of the exchange, with channel binding for the
//! `-PLUS` variants (RFC 5929, RFC 9266). The nonce comes from the driver: the core has no
//! randomness of its own.

use alloc::string::String;
use alloc::vec::Vec;

use bytes::BytesMut;
use hmac::digest::Digest;
use hmac::{EagerHash, Hmac, KeyInit, Mac};

use super::error::ProtocolError;
use crate::types::secret::Secret;
use crate::wire::base64;

/// The fewest PBKDF2 iterations a server may ask for (RFC 7677 §4 and RFC 5802 §5.1: at least
/// 4096). Fewer would make the client proof, seen by anyone who can read the exchange, cheap
/// to attack offline for the password.
const MIN_ITERATIONS: u32 = 4096;

/// The most PBKDF2 iterations a server may ask for (servers use 4096 to 15000). The
/// computation runs inside `handle_input`: beyond this a hostile server could hold the
/// driver's thread for seconds.
const MAX_ITERATIONS: u32 = 1 << 17;

/// The most characters of a server's SCRAM error (`e=`) kept.
const MAX_ERROR: usize = 64;

/// The hash a SCRAM mechanism uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha1,
    Sha256,
}

/// Channel binding for the `-PLUS` variants: its name (`tls-exporter`, `tls-server-end-point`)
/// and data, or whether the client could have bound but the server offers no `-PLUS`.
#[derive(Clone, Debug)]
pub(crate) enum Binding {
    /// `p=<name>`: bound to this TLS connection.
    Bound(&'static str, Vec<u8>),
    /// `y`: the client supports channel binding, the server does not advertise it.
    Unused,
    /// `n`: no channel binding.
    None,
}

#[derive(Debug)]
enum State {
    /// The client-first-message was sent.
    First {
        bare: String,
    },
    /// The client-final-message was sent; the server's signature must match this.
    Final {
        server_signature: Vec<u8>,
    },
    /// The server proved it knows the password.
    Verified,
    Done,
}

/// One SCRAM exchange.
#[derive(Debug)]
pub(crate) struct Scram {
    hash: Hash,
    password: Secret<String>,
    nonce: String,
    gs2_header: String,
    binding: Vec<u8>,
    state: State,
}

impl Scram {
    /// Starts an exchange for `username` (acting as `authzid` if given); returns it and the
    /// client-first-message (RFC 5802 §7).
    pub(crate) fn start(
        hash: Hash,
        authzid: Option<&str>,
        username: &str,
        password: Secret<String>,
        nonce: &str,
        binding: Binding,
    ) -> (Self, Vec<u8>) {
        let flag = match &binding {
            Binding::Bound(name, _) => alloc::format!("p={name}"),
            Binding::Unused => "y".into(),
            Binding::None => "n".into(),
        };
        let authzid = authzid.map(|a| alloc::format!("a={}", sasl_name(a)));
        let gs2_header = alloc::format!("{flag},{},", authzid.unwrap_or_default());
        let bare = alloc::format!("n={},r={nonce}", sasl_name(username));
        let first = alloc::format!("{gs2_header}{bare}").into_bytes();
        let binding = match binding {
            Binding::Bound(_, data) => data,
            _ => Vec::new(),
        };
        let scram = Self {
            hash,
            password,
            nonce: nonce.into(),
            gs2_header,
            binding,
            state: State::First { bare },
        };
        (scram, first)
    }

    /// The answer to a challenge: the client-final-message to the server-first-message, an
    /// empty response once the server's signature is verified. Any fault is fatal: a nonce
    /// that does not extend ours, an unusable salt or count, a wrong server signature.
    pub(crate) fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        match core::mem::replace(&mut self.state, State::Done) {
            State::First { bare } => self.client_final(&bare, challenge),
            State::Final { server_signature } => {
                let text = core::str::from_utf8(challenge).map_err(|_| scram("not text"))?;
                if let Some(error) = text.strip_prefix("e=") {
                    // Server text: printable, short, before it reaches a log.
                    let error = error.split(',').next().unwrap_or_default();
                    let error = error.chars().take(MAX_ERROR);
                    let error = error.map(|c| if c.is_ascii_graphic() { c } else { '?' });
                    return Err(ProtocolError::ScramRefused(error.collect()));
                }
                // RFC 5802 §7: `v=` may be followed by extensions.
                let proof = text
                    .strip_prefix("v=")
                    .and_then(|rest| rest.split(',').next())
                    .ok_or(scram("no server signature"))?;
                let proof = base64::decode(proof.as_bytes()).ok_or(scram("bad base64"))?;
                // RFC 5802 §9: a server that cannot prove it knows the password is not trusted.
                if proof != server_signature {
                    return Err(ProtocolError::ScramServerSignature);
                }
                self.state = State::Verified;
                Ok(Vec::new())
            }
            State::Verified | State::Done => Err(ProtocolError::TooManyChallenges),
        }
    }

    /// Whether the server's signature was verified: a success reply before that is not
    /// trusted (RFC 5802 §9; SMTP carries the server-final-message in a `334`, RFC 4954 §4).
    pub(crate) fn is_verified(&self) -> bool {
        matches!(self.state, State::Verified)
    }

    fn client_final(&mut self, bare: &str, server_first: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        let text = core::str::from_utf8(server_first).map_err(|_| scram("not text"))?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attribute in text.split(',') {
            match attribute.split_once('=') {
                Some(("r", value)) => nonce = Some(value),
                Some(("s", value)) => salt = base64::decode(value.as_bytes()),
                Some(("i", value)) => iterations = value.parse::<u32>().ok(),
                Some(("m", _)) => return Err(scram("mandatory extension")),
                _ => {}
            }
        }
        let nonce = nonce.ok_or(scram("no nonce"))?;
        // RFC 5802 §5.1: the server's nonce starts with the client's.
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(scram("nonce does not extend ours"));
        }
        let salt = salt.filter(|s| !s.is_empty()).ok_or(scram("no salt"))?;
        let iterations = iterations.filter(|i| (MIN_ITERATIONS..=MAX_ITERATIONS).contains(i));
        let iterations = iterations.ok_or(scram("iteration count out of range"))?;
        let mut cbind = self.gs2_header.clone().into_bytes();
        cbind.extend_from_slice(&self.binding);
        let mut channel = BytesMut::new();
        base64::encode(&cbind, &mut channel);
        let channel = core::str::from_utf8(&channel).unwrap_or_default();
        let without_proof = alloc::format!("c={channel},r={nonce}");
        let auth_message = alloc::format!("{bare},{text},{without_proof}");
        let password = self.password.expose().as_bytes();
        let (proof, server_signature) = match self.hash {
            Hash::Sha1 => keys::<sha1::Sha1>(password, &salt, iterations, &auth_message),
            Hash::Sha256 => keys::<sha2::Sha256>(password, &salt, iterations, &auth_message),
        };
        self.state = State::Final { server_signature };
        let mut encoded = BytesMut::new();
        base64::encode(&proof, &mut encoded);
        let mut message = without_proof.into_bytes();
        message.extend_from_slice(b",p=");
        message.extend_from_slice(&encoded);
        Ok(message)
    }
}

/// RFC 5802 §3: the client proof and the server signature for `auth_message`.
fn keys<D: EagerHash + Digest>(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    auth_message: &str,
) -> (Vec<u8>, Vec<u8>) {
    let mut salted = alloc::vec![0u8; <D as Digest>::output_size()];
    pbkdf2::pbkdf2_hmac::<D>(password, salt, iterations, &mut salted);
    let client_key = hmac::<D>(&salted, b"Client Key");
    let stored_key = D::digest(&client_key).to_vec();
    let client_signature = hmac::<D>(&stored_key, auth_message.as_bytes());
    let proof = client_key
        .iter()
        .zip(&client_signature)
        .map(|(k, s)| k ^ s)
        .collect();
    let server_key = hmac::<D>(&salted, b"Server Key");
    (proof, hmac::<D>(&server_key, auth_message.as_bytes()))
}

fn hmac<D: EagerHash>(key: &[u8], data: &[u8]) -> Vec<u8> {
    let Ok(mut mac) = <Hmac<D> as KeyInit>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// RFC 5802 §5.1: `=` and `,` in a name are written `=3D` and `=2C`.
fn sasl_name(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

fn scram(reason: &'static str) -> ProtocolError {
    ProtocolError::ScramInvalid(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3: the SCRAM-SHA-256 example exchange.
    #[test]
    fn rfc7677_example_exchange() {
        let password = Secret::new(String::from("pencil"));
        let nonce = "rOprNGfwEbeRWgbNEkqO";
        let (mut scram, first) =
            Scram::start(Hash::Sha256, None, "user", password, nonce, Binding::None);
        assert_eq!(first, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                             s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let client_final = scram.respond(server_first).expect("client-final");
        assert_eq!(
            String::from_utf8(client_final).expect("text"),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        let server_final = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
        assert_eq!(scram.respond(server_final), Ok(Vec::new()));
    }

    /// RFC 5802 §5: the SCRAM-SHA-1 example exchange.
    #[test]
    fn rfc5802_example_exchange() {
        let password = Secret::new(String::from("pencil"));
        let nonce = "fyko+d2lbbFgONRv9qkxdawL";
        let (mut scram, first) =
            Scram::start(Hash::Sha1, None, "user", password, nonce, Binding::None);
        assert_eq!(first, b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
        let server_first =
            b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
        let client_final = scram.respond(server_first).expect("client-final");
        assert_eq!(
            String::from_utf8(client_final).expect("text"),
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
        );
        // RFC 5802 §7: extensions may follow the signature.
        assert_eq!(
            scram.respond(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=,x=ext"),
            Ok(Vec::new())
        );
        assert!(scram.is_verified());
    }

    /// A server's `e=` reaches logs: printable, at most 64 characters, extensions cut.
    #[test]
    fn a_server_error_is_kept_printable_and_short() {
        let password = Secret::new(String::from("pencil"));
        let nonce = "fyko+d2lbbFgONRv9qkxdawL";
        let (mut scram, _) = Scram::start(Hash::Sha1, None, "user", password, nonce, Binding::None);
        let server_first =
            b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
        scram.respond(server_first).expect("client-final");
        let mut hostile = b"e=invalid-proof\x1b[2J".to_vec();
        hostile.extend([b'x'; 200]);
        let Err(ProtocolError::ScramRefused(text)) = scram.respond(&hostile) else {
            panic!("refused");
        };
        assert!(
            text.starts_with("invalid-proof?[2J") && text.len() == MAX_ERROR,
            "{text}"
        );
        assert!(!scram.is_verified());
    }

    #[test]
    fn e_a_server_that_cannot_prove_the_password_is_refused() {
        let password = Secret::new(String::from("pencil"));
        let (mut scram, _) = Scram::start(
            Hash::Sha256,
            None,
            "user",
            password,
            "rOprNGfwEbeRWgbNEkqO",
            Binding::None,
        );
        let server_first = b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        scram.respond(server_first).expect("client-final");
        let forged = b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
        assert_eq!(
            scram.respond(forged),
            Err(ProtocolError::ScramServerSignature)
        );
    }

    #[test]
    fn hostile_first_messages_are_refused() {
        let cases: [&[u8]; 7] = [
            b"r=other,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            b"r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            b"r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4294967295",
            // RFC 7677 §4: fewer than 4096 iterations is a downgrade.
            b"r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095",
            b"r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1",
            b"r=abcdef,s=,i=4096",
            b"m=ext,r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        ];
        for case in cases {
            let password = Secret::new(String::from("p"));
            let (mut scram, _) =
                Scram::start(Hash::Sha256, None, "u", password, "abc", Binding::None);
            assert!(
                matches!(scram.respond(case), Err(ProtocolError::ScramInvalid(_))),
                "{case:?}"
            );
        }
    }

    #[test]
    fn channel_binding_goes_into_the_gs2_header_and_the_c_attribute() {
        let password = Secret::new(String::from("p"));
        let binding = Binding::Bound("tls-exporter", alloc::vec![1, 2, 3]);
        let (mut scram, first) =
            Scram::start(Hash::Sha256, Some("a,b"), "u=v", password, "abc", binding);
        assert_eq!(first, b"p=tls-exporter,a=a=2Cb,n=u=3Dv,r=abc");
        let client_final = scram
            .respond(b"r=abcdef,s=c2FsdA==,i=4096")
            .expect("client-final");
        // c = base64("p=tls-exporter,a=a=2Cb," ++ 01 02 03)
        let mut expected = BytesMut::new();
        base64::encode(b"p=tls-exporter,a=a=2Cb,\x01\x02\x03", &mut expected);
        let c = alloc::format!("c={}", core::str::from_utf8(&expected).expect("ascii"));
        assert!(client_final.starts_with(c.as_bytes()));
    }
}

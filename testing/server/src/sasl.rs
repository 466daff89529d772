//! AUTH (RFC 4954): PLAIN, LOGIN, EXTERNAL with a client certificate, and XOAUTH2 and
//! OAUTHBEARER with a bearer token, whose refusal carries the JSON error challenge of
//! RFC 7628 §3.2.2.

use std::io;

use super::ServerOptions;
use super::conn::Conn;
use super::replies::Replies;

/// A SASL response's octets (RFC 4954 §4), or `None` if it is not base64.
fn decode(response: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(response)
        .ok()
}

/// Runs AUTH to its final reply; returns the user if the credentials were right.
pub(super) async fn auth(
    conn: &mut Conn,
    options: &ServerOptions,
    argument: &str,
) -> io::Result<Option<String>> {
    let replies = options.personality.replies();
    let (mechanism, initial) = argument.split_once(' ').unwrap_or((argument, ""));
    if mechanism.eq_ignore_ascii_case("EXTERNAL") && options.client_certificates {
        return external(conn, initial, replies).await;
    }
    let oauth = ["XOAUTH2", "OAUTHBEARER"].map(|m| mechanism.eq_ignore_ascii_case(m));
    if let (Some(token), true) = (&options.bearer_token, oauth.contains(&true)) {
        return bearer(conn, initial, token, replies).await;
    }
    let credentials = match mechanism.to_ascii_uppercase().as_str() {
        "PLAIN" => {
            let response = if initial.is_empty() {
                conn.reply("334 ").await?;
                conn.line().await?.unwrap_or_default()
            } else {
                initial.to_string()
            };
            decode(&response).and_then(|plain| {
                let mut fields = plain.split(|&b| b == 0).skip(1);
                Some((fields.next()?.to_vec(), fields.next()?.to_vec()))
            })
        }
        "LOGIN" => {
            conn.reply("334 VXNlcm5hbWU6").await?;
            let name = conn.line().await?.unwrap_or_default();
            conn.reply("334 UGFzc3dvcmQ6").await?;
            let password = conn.line().await?.unwrap_or_default();
            decode(&name).zip(decode(&password))
        }
        _ => {
            conn.reply(replies.auth_unknown).await?;
            return Ok(None);
        }
    };
    let expected = options
        .auth
        .as_ref()
        .map(|(u, p)| (u.as_bytes().to_vec(), p.as_bytes().to_vec()));
    if credentials.is_some() && credentials == expected {
        conn.reply(replies.auth_ok).await?;
        Ok(options.auth.as_ref().map(|(u, _)| u.clone()))
    } else {
        conn.reply(replies.auth_failed).await?;
        Ok(None)
    }
}

/// AUTH EXTERNAL (RFC 4422 Appendix A): the client certificate's subject, if the client
/// presented one and asks to act as no one else.
async fn external(conn: &mut Conn, initial: &str, replies: &Replies) -> io::Result<Option<String>> {
    let response = if initial.is_empty() {
        conn.reply("334 ").await?;
        conn.line().await?.unwrap_or_default()
    } else {
        initial.to_string()
    };
    let authzid = if response == "=" {
        Some(Vec::new())
    } else {
        decode(&response)
    };
    let acts_as_itself =
        authzid.is_some_and(|a| a.is_empty() || a == crate::cert::CLIENT_NAME.as_bytes());
    if conn.client_certificate && acts_as_itself {
        conn.reply(replies.auth_ok).await?;
        Ok(Some(crate::cert::CLIENT_NAME.into()))
    } else {
        conn.reply(replies.auth_failed).await?;
        Ok(None)
    }
}

/// The error challenge for a refused token (RFC 7628 §3.2.2), as Google's XOAUTH2 sends it.
const TOKEN_REFUSED: &str =
    r#"{"status":"401","schemes":"bearer","scope":"https://mail.example/"}"#;

/// XOAUTH2 or OAUTHBEARER: `user=` or `a=` names the user, `auth=Bearer <token>` must carry
/// `expected`. A wrong token gets the error challenge, whose answer gets `535`.
async fn bearer(
    conn: &mut Conn,
    initial: &str,
    expected: &str,
    replies: &Replies,
) -> io::Result<Option<String>> {
    use base64::Engine;
    let response = if initial.is_empty() {
        conn.reply("334 ").await?;
        conn.line().await?.unwrap_or_default()
    } else {
        initial.to_string()
    };
    let message = decode(&response).unwrap_or_default();
    let message = String::from_utf8_lossy(&message);
    let mut user = None;
    let mut token = None;
    for field in message.split(['\x01', ',']) {
        if let Some(name) = field.strip_prefix("user=").or(field.strip_prefix("a=")) {
            user = Some(name.to_string());
        }
        if let Some(bearer) = field.strip_prefix("auth=Bearer ") {
            token = Some(bearer.to_string());
        }
    }
    if token.as_deref() == Some(expected) {
        conn.reply(replies.auth_ok).await?;
        return Ok(Some(user.unwrap_or_default()));
    }
    let challenge = base64::engine::general_purpose::STANDARD.encode(TOKEN_REFUSED);
    conn.reply(&format!("334 {challenge}")).await?;
    let _ = conn.line().await?;
    conn.reply(replies.token_failed).await?;
    Ok(None)
}

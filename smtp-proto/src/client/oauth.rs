//! The error an OAuth 2 server sends as a challenge before it refuses a token.
//!
//! RFC 7628 §3.2.2 defines it for OAUTHBEARER: a `334` whose decoded text is a JSON object
//! with `status` (an RFC 6750 §3.1 error code such as `invalid_token`), `scope` and
//! `openid-configuration`. Google's and Microsoft's XOAUTH2 send the same shape, with an HTTP
//! status code (`"400"`, `"401"`) as the status. The client answers it (empty for XOAUTH2,
//! `%x01` for OAUTHBEARER, RFC 7628 §3.2.3) and the server then sends its final failure, which
//! the session reports together with this.

use alloc::string::String;
use core::fmt;

/// The most characters of the server's challenge kept in [`OAuthError::raw`].
const MAX_RAW: usize = 512;

/// The server's explanation of why it refused an OAuth 2 token, decoded from its error
/// challenge (RFC 7628 §3.2.2). Every field is printable text from the server: log it, do not
/// trust it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OAuthError {
    /// `status`: `invalid_token`, `insufficient_scope` (RFC 6750 §3.1), or an HTTP status code
    /// such as `401`.
    pub status: Option<String>,
    /// `scope`: the scope a token needs to be accepted.
    pub scope: Option<String>,
    /// The whole challenge as text, control characters replaced by `?`, at most 512
    /// characters.
    pub raw: String,
}

impl OAuthError {
    /// Reads the decoded challenge. A challenge that is not the expected JSON still gives an
    /// error, with only [`raw`](Self::raw) set.
    pub(crate) fn parse(challenge: &[u8]) -> Self {
        let raw = challenge
            .iter()
            .take(MAX_RAW)
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '?'
                }
            })
            .collect();
        Self {
            status: string_member(challenge, "status"),
            scope: string_member(challenge, "scope"),
            raw,
        }
    }

    /// Whether the token was refused as invalid or expired (`invalid_token`, or HTTP `401`):
    /// a fresh token, on a new connection, may succeed.
    pub fn is_token_expired(&self) -> bool {
        matches!(self.status.as_deref(), Some("invalid_token" | "401"))
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.status, &self.scope) {
            (Some(status), Some(scope)) => write!(f, "status {status}, scope {scope}"),
            (Some(status), None) => write!(f, "status {status}"),
            _ => write!(f, "{}", self.raw),
        }
    }
}

/// The value of `"name": <string or number>` in a flat JSON object, escapes other than `\"`
/// and `\\` left as they are; `None` if absent or not printable ASCII.
fn string_member(json: &[u8], name: &str) -> Option<String> {
    let mut rest = json;
    loop {
        let at = find(rest, name.as_bytes())?;
        let before = at.checked_sub(1).map(|i| rest[i]);
        rest = &rest[at + name.len()..];
        if before != Some(b'"') || rest.first() != Some(&b'"') {
            continue;
        }
        let Some(value) = skip_space(&rest[1..]).strip_prefix(b":").map(skip_space) else {
            continue;
        };
        return match value.first()? {
            b'"' => quoted(&value[1..]),
            b'0'..=b'9' => {
                let digits = value.iter().take_while(|b| b.is_ascii_digit()).count();
                printable(&value[..digits])
            }
            _ => None,
        };
    }
}

fn quoted(text: &[u8]) -> Option<String> {
    let mut out = alloc::vec::Vec::new();
    let mut bytes = text.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'"' => return printable(&out),
            b'\\' => out.push(*bytes.next()?),
            _ => out.push(b),
        }
        if out.len() > MAX_RAW {
            return None;
        }
    }
    None
}

fn printable(bytes: &[u8]) -> Option<String> {
    let ok = bytes.iter().all(|&b| b.is_ascii_graphic() || b == b' ');
    ok.then(|| bytes.iter().map(|&b| b as char).collect())
}

fn skip_space(bytes: &[u8]) -> &[u8] {
    let n = bytes.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &bytes[n..]
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7628_3_2_2_error_challenge() {
        let json = br#"{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"}"#;
        let error = OAuthError::parse(json);
        assert_eq!(error.status.as_deref(), Some("invalid_token"));
        assert_eq!(error.scope.as_deref(), Some("example_scope"));
        assert!(error.is_token_expired());
        assert_eq!(
            error.to_string(),
            "status invalid_token, scope example_scope"
        );
    }

    #[test]
    fn xoauth2_error_with_an_http_status_and_spaces() {
        let json = br#"{ "status" : "401", "schemes":"bearer mac", "scope" : "https://mail.google.com/" }"#;
        let error = OAuthError::parse(json);
        assert_eq!(error.status.as_deref(), Some("401"));
        assert_eq!(error.scope.as_deref(), Some("https://mail.google.com/"));
        assert!(error.is_token_expired());
        let numeric = OAuthError::parse(br#"{"status":400}"#);
        assert_eq!(numeric.status.as_deref(), Some("400"));
        assert!(!numeric.is_token_expired());
    }

    #[test]
    fn anything_else_is_kept_as_printable_text() {
        let error = OAuthError::parse(b"not json\r\n\0\xff");
        assert_eq!(error.status, None);
        assert_eq!(error.raw, "not json????");
        assert_eq!(error.to_string(), "not json????");
        // A key inside a value, an unterminated string, a control character: no status.
        assert_eq!(OAuthError::parse(br#"{"x":"status","y":1}"#).status, None);
        let later = OAuthError::parse(br#"{"x":"status","status":"invalid_token"}"#);
        assert_eq!(later.status.as_deref(), Some("invalid_token"));
        assert_eq!(OAuthError::parse(br#"{"status":"abc"#).status, None);
        assert_eq!(OAuthError::parse(b"{\"status\":\"a\nb\"}").status, None);
        let long = [b'a'; 2000];
        assert_eq!(OAuthError::parse(&long).raw.len(), MAX_RAW);
    }

    #[test]
    fn escaped_quotes_stay_inside_the_value() {
        let error = OAuthError::parse(br#"{"status":"in\"valid"}"#);
        assert_eq!(error.status.as_deref(), Some("in\"valid"));
    }
}

//! Amazon SES SMTP credentials from IAM keys (feature `crypto`).

use alloc::string::String;

use bytes::BytesMut;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::client::config::Credentials;
use crate::endpoint::{EndpointError, check_ses_region};
use crate::types::secret::Secret;
use crate::wire::base64;

/// The SES SMTP password for an IAM user's secret access key in `region`: SES does not take the
/// secret key itself. `base64(0x04 || HMAC-SHA256 chain)`, where the chain starts with the key
/// `"AWS4" + secret` over `"11111111"`, then over the region, `"ses"`, `"aws4_request"` and
/// `"SendRawEmail"`, each step keyed with the digest of the one before. The SMTP user name is
/// the access key id. Regions where SES has no SMTP endpoint are refused.
///
/// ```
/// let password = smtp_sansio::ses_smtp_password("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1")?;
/// assert_eq!(password.expose(), "BLBM/9hSUELfq8Gw+rU1YcBjkOxGbhT2XG763xVLGWL9");
/// # Ok::<(), smtp_sansio::EndpointError>(())
/// ```
pub fn ses_smtp_password(
    secret_access_key: &str,
    region: &str,
) -> Result<Secret<String>, EndpointError> {
    check_ses_region(region)?;
    let mut key = alloc::format!("AWS4{secret_access_key}").into_bytes();
    for step in ["11111111", region, "ses", "aws4_request", "SendRawEmail"] {
        key = hmac_sha256(&key, step.as_bytes());
    }
    let mut signed = alloc::vec![0x04];
    signed.extend_from_slice(&key);
    let mut password = BytesMut::new();
    base64::encode(&signed, &mut password);
    let password = core::str::from_utf8(&password).unwrap_or_default();
    Ok(Secret::new(password.into()))
}

impl Credentials {
    /// Credentials for Amazon SES from an IAM user's access key id and secret access key (see
    /// [`ses_smtp_password`]).
    pub fn ses(
        access_key_id: &str,
        secret_access_key: &str,
        region: &str,
    ) -> Result<Self, SesCredentialsError> {
        let password = ses_smtp_password(secret_access_key, region)?;
        Ok(Self::password(access_key_id, password.expose())?)
    }
}

/// SES credentials that cannot be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SesCredentialsError {
    /// The region is not one SES takes SMTP in.
    #[error(transparent)]
    Region(#[from] EndpointError),
    /// The access key id holds a character a command cannot carry.
    #[error(transparent)]
    Invalid(#[from] crate::error::InvalidInput),
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> alloc::vec::Vec<u8> {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        return alloc::vec::Vec::new();
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example secret key of the AWS documentation, in two regions.
    #[test]
    fn known_passwords() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let cases = [
            ("us-east-1", "BLBM/9hSUELfq8Gw+rU1YcBjkOxGbhT2XG763xVLGWL9"),
            ("eu-west-1", "BMW5RDrXmmVs0lV7GpI4oLkHXpZ4stDsk6q91z1g38Pk"),
        ];
        for (region, expected) in cases {
            let password = ses_smtp_password(secret, region).expect("a region with smtp");
            assert_eq!(password.expose(), expected, "{region}");
        }
    }

    #[test]
    fn regions_without_smtp_and_bad_names_are_refused() {
        assert_eq!(
            ses_smtp_password("k", "me-south-1"),
            Err(EndpointError::NoSmtpEndpoint("me-south-1".into()))
        );
        assert!(matches!(
            ses_smtp_password("k", "US East"),
            Err(EndpointError::InvalidRegion(_))
        ));
        let credentials = Credentials::ses("AKIAEXAMPLE", "secret", "eu-west-1").expect("valid");
        assert!(credentials.suits(crate::types::mechanism::Mechanism::Plain));
        let debug = alloc::format!("{credentials:?}");
        assert!(
            !debug.contains("secret") && debug.contains("AKIAEXAMPLE"),
            "{debug}"
        );
    }
}

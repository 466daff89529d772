//! What both drivers' TLS options share: the connector cache, reading PEM files, and the
//! client certificate for mutual TLS.

use alloc::vec::Vec;
use std::path::Path;

use super::Error;

/// A driver's TLS connector, built once and shared by every clone of the options that made it
/// (loading a platform's certificate store takes tens of milliseconds), and built again only
/// if the settings it was built from change.
pub struct Built<K, C> {
    cell: std::sync::Arc<std::sync::Mutex<Option<(K, C)>>>,
}

impl<K, C> Clone for Built<K, C> {
    fn clone(&self) -> Self {
        Self {
            cell: self.cell.clone(),
        }
    }
}

impl<K, C> Default for Built<K, C> {
    fn default() -> Self {
        Self {
            cell: std::sync::Arc::default(),
        }
    }
}

impl<K, C> core::fmt::Debug for Built<K, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Built")
    }
}

impl<K: PartialEq, C: Clone> Built<K, C> {
    /// The connector built from `settings`: the one built before if the settings are the same,
    /// else a new one from `build`.
    pub fn get_or_build(
        &self,
        settings: K,
        build: impl FnOnce() -> Result<C, Error>,
    ) -> Result<C, Error> {
        let mut cell = match self.cell.lock() {
            Ok(cell) => cell,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((built_from, connector)) = cell.as_ref()
            && *built_from == settings
        {
            return Ok(connector.clone());
        }
        let connector = build()?;
        *cell = Some((settings, connector.clone()));
        Ok(connector)
    }
}

/// Reads a PEM file of CA certificates for a driver's TLS options.
pub fn read_pem_file(path: &std::path::Path) -> Result<alloc::vec::Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::TlsConfig(alloc::format!("{}: {e}", path.display())))
}

/// A TLS client certificate and its private key, as PEM, for servers that require mutual TLS
/// and for SASL EXTERNAL ([`Credentials::external`](crate::Credentials::external)). Give it to
/// a driver's TLS options (`client_certificate` in `smtp-tokio` and `smtp-blocking`). `Debug`
/// never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    chain_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

impl ClientCertificate {
    /// The certificate chain (the client's certificate first, then any intermediates) and its
    /// private key, as PEM. The key must be PKCS #8 (`-----BEGIN PRIVATE KEY-----`), the one
    /// form every TLS library takes; `openssl pkcs8 -topk8 -nocrypt` converts others. Checked
    /// when the driver builds its TLS configuration.
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, Error> {
        if !contains(chain_pem, b"-----BEGIN CERTIFICATE-----") {
            return Err(Error::TlsConfig(
                "no certificate in the client certificate pem".into(),
            ));
        }
        if !contains(key_pem, b"-----BEGIN PRIVATE KEY-----") {
            return Err(Error::TlsConfig(
                "the client key must be pkcs #8 pem (BEGIN PRIVATE KEY)".into(),
            ));
        }
        Ok(Self {
            chain_pem: chain_pem.to_vec(),
            key_pem: key_pem.to_vec(),
        })
    }

    /// The same, read from two PEM files.
    pub fn from_files(chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, Error> {
        Self::from_pem(
            &read_pem_file(chain.as_ref())?,
            &read_pem_file(key.as_ref())?,
        )
    }

    /// The certificate chain, as PEM.
    pub fn chain_pem(&self) -> &[u8] {
        &self.chain_pem
    }

    /// The private key, as PKCS #8 PEM.
    pub fn key_pem(&self) -> &[u8] {
        &self.key_pem
    }
}

impl core::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field(
                "chain_pem",
                &alloc::format!("{} octets", self.chain_pem.len()),
            )
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &[u8] = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const KEY: &[u8] = b"-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n";

    #[test]
    fn the_key_never_shows_and_only_pkcs8_is_taken() {
        let cert = ClientCertificate::from_pem(CERT, KEY).expect("valid");
        let shown = alloc::format!("{cert:?}");
        assert!(
            !shown.contains("secret") && shown.contains("redacted"),
            "{shown}"
        );
        let rsa = b"-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----\n";
        assert!(ClientCertificate::from_pem(CERT, rsa).is_err());
        assert!(ClientCertificate::from_pem(KEY, KEY).is_err());
    }
}

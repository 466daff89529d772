//! Which certificates to trust, and the rustls client configuration built from it.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsConnector;

use smtp_sansio::driver::{Built, ClientCertificate};

use crate::Error;

/// The roots of trust for the server's certificate. Verification of the chain and of the host
/// name is always on: there is no switch to turn it off. The same names as `smtp-blocking`'s,
/// which has no bundled roots.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TlsOptions {
    /// Trust the platform's store (cargo feature `native-roots`). The default when the
    /// `webpki-roots` feature is off.
    pub platform_roots: bool,
    /// Trust the Mozilla roots compiled in (cargo feature `webpki-roots`, on by default).
    pub webpki_roots: bool,
    /// More CA certificates, added with [`add_ca_pem`](Self::add_ca_pem).
    extra_roots: Vec<CertificateDer<'static>>,
    /// The certificate to present to a server that asks for one (mutual TLS).
    client_certificate: Option<ClientCertificate>,
    /// The connector, built once for these settings and shared by clones.
    built: Built<Settings, TlsConnector>,
}

type Settings = (
    bool,
    bool,
    Vec<CertificateDer<'static>>,
    Option<ClientCertificate>,
);

impl Default for TlsOptions {
    fn default() -> Self {
        Self {
            platform_roots: cfg!(feature = "native-roots") && !cfg!(feature = "webpki-roots"),
            webpki_roots: cfg!(feature = "webpki-roots"),
            extra_roots: Vec::new(),
            client_certificate: None,
            built: Built::default(),
        }
    }
}

impl TlsOptions {
    /// Adds every certificate in PEM text as a trusted root.
    pub fn add_ca_pem(&mut self, pem: &[u8]) -> Result<(), Error> {
        let before = self.extra_roots.len();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| Error::TlsConfig(format!("ca pem: {e}")))?;
            self.extra_roots.push(cert);
        }
        if self.extra_roots.len() == before {
            return Err(Error::TlsConfig("no certificate in the ca pem".into()));
        }
        Ok(())
    }

    /// Adds every certificate in a PEM file as a trusted root.
    pub fn add_ca_file(&mut self, path: impl AsRef<std::path::Path>) -> Result<(), Error> {
        self.add_ca_pem(&smtp_sansio::driver::read_pem_file(path.as_ref())?)
    }

    /// Presents `certificate` to servers that ask for one: mutual TLS, and the identity SASL
    /// EXTERNAL authenticates ([`Credentials::external`](smtp_sansio::Credentials::external)).
    /// Fails if rustls cannot read the chain or the key.
    pub fn set_client_certificate(&mut self, certificate: ClientCertificate) -> Result<(), Error> {
        client_auth(&certificate)?;
        self.client_certificate = Some(certificate);
        Ok(())
    }

    /// The rustls connector: TLS 1.2 or 1.3 only (RFC 8314 §5, RFC 8997), certificate and host
    /// name verified against the chosen roots. Built once (its `ClientConfig` in an `Arc`), then
    /// shared by every session opened with these options or their clones.
    pub(crate) fn connector(&self) -> Result<TlsConnector, Error> {
        let settings = (
            self.platform_roots,
            self.webpki_roots,
            self.extra_roots.clone(),
            self.client_certificate.clone(),
        );
        self.built.get_or_build(settings, || self.build())
    }

    fn build(&self) -> Result<TlsConnector, Error> {
        let mut roots = RootCertStore::empty();
        #[cfg(feature = "webpki-roots")]
        if self.webpki_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        #[cfg(feature = "native-roots")]
        if self.platform_roots {
            for cert in rustls_native_certs::load_native_certs().certs {
                // A platform store may hold certificates rustls cannot use; skip those.
                let _ = roots.add(cert);
            }
        }
        for cert in &self.extra_roots {
            roots
                .add(cert.clone())
                .map_err(|e| Error::TlsConfig(format!("ca certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(Error::TlsConfig("no trusted root certificates".into()));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| Error::TlsConfig(e.to_string()))?
            .with_root_certificates(roots);
        let config = match &self.client_certificate {
            Some(certificate) => {
                let (chain, key) = client_auth(certificate)?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| Error::TlsConfig(format!("client certificate: {e}")))?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(TlsConnector::from(Arc::new(config)))
    }
}

/// The client certificate's chain and key, as rustls takes them.
fn client_auth(
    certificate: &ClientCertificate,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let chain = CertificateDer::pem_slice_iter(certificate.chain_pem())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::TlsConfig(format!("client certificate pem: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(certificate.key_pem())
        .map_err(|e| Error::TlsConfig(format!("client key pem: {e}")))?;
    Ok((chain, key))
}

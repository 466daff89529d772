//! Which certificates to trust, and the rustls client configuration built from it.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio_rustls::TlsConnector;

use smtp_sansio::driver::Built;

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
    /// The connector, built once for these settings and shared by clones.
    built: Built<(bool, bool, Vec<CertificateDer<'static>>), TlsConnector>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        Self {
            platform_roots: cfg!(feature = "native-roots") && !cfg!(feature = "webpki-roots"),
            webpki_roots: cfg!(feature = "webpki-roots"),
            extra_roots: Vec::new(),
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

    /// The rustls connector: TLS 1.2 or 1.3 only (RFC 8314 §5, RFC 8997), certificate and host
    /// name verified against the chosen roots. Built once (its `ClientConfig` in an `Arc`), then
    /// shared by every session opened with these options or their clones.
    pub(crate) fn connector(&self) -> Result<TlsConnector, Error> {
        let settings = (
            self.platform_roots,
            self.webpki_roots,
            self.extra_roots.clone(),
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
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| Error::TlsConfig(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsConnector::from(Arc::new(config)))
    }
}

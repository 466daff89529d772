//! Which certificates to trust, and the native-tls connector built from it.

use native_tls::{Certificate, Identity, Protocol, TlsConnector};

use smtp_sansio::driver::{Built, ClientCertificate};

use crate::Error;

/// The roots of trust for the server's certificate. Verification of the chain and of the host
/// name is always on: there is no switch to turn it off. The same names as `smtp-tokio`'s.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TlsOptions {
    /// Trust the platform's store (OpenSSL's default paths on Linux). On by default.
    pub platform_roots: bool,
    /// More CA certificates, as PEM, added with [`add_ca_pem`](Self::add_ca_pem).
    extra_roots: Vec<Vec<u8>>,
    /// The certificate to present to a server that asks for one (mutual TLS).
    client_certificate: Option<ClientCertificate>,
    /// The connector, built once for these settings and shared by clones.
    built: Built<Settings, TlsConnector>,
}

/// What the connector is built from: platform roots, extra roots, client certificate.
type Settings = (bool, Vec<Vec<u8>>, Option<ClientCertificate>);

impl Default for TlsOptions {
    fn default() -> Self {
        Self {
            platform_roots: true,
            extra_roots: Vec::new(),
            client_certificate: None,
            built: Built::default(),
        }
    }
}

impl TlsOptions {
    /// Adds the certificate in PEM text as a trusted root.
    pub fn add_ca_pem(&mut self, pem: &[u8]) -> Result<(), Error> {
        Certificate::from_pem(pem).map_err(|e| Error::TlsConfig(format!("ca pem: {e}")))?;
        self.extra_roots.push(pem.to_vec());
        Ok(())
    }

    /// Adds the certificate in a PEM file as a trusted root.
    pub fn add_ca_file(&mut self, path: impl AsRef<std::path::Path>) -> Result<(), Error> {
        self.add_ca_pem(&smtp_sansio::driver::read_pem_file(path.as_ref())?)
    }

    /// Presents `certificate` to servers that ask for one: mutual TLS, and the identity SASL
    /// EXTERNAL authenticates ([`Credentials::external`](smtp_sansio::Credentials::external)).
    /// Fails if native-tls cannot read the chain or the key.
    pub fn set_client_certificate(&mut self, certificate: ClientCertificate) -> Result<(), Error> {
        identity(&certificate)?;
        self.client_certificate = Some(certificate);
        Ok(())
    }

    /// The connector: TLS 1.2 or later (RFC 8314 §5, RFC 8997), certificate and host name
    /// verified against the chosen roots. Built once, then shared by every session opened with
    /// these options or their clones.
    pub(crate) fn connector(&self) -> Result<TlsConnector, Error> {
        let settings = (
            self.platform_roots,
            self.extra_roots.clone(),
            self.client_certificate.clone(),
        );
        self.built.get_or_build(settings, || self.build())
    }

    fn build(&self) -> Result<TlsConnector, Error> {
        let mut builder = TlsConnector::builder();
        builder.min_protocol_version(Some(Protocol::Tlsv12));
        builder.disable_built_in_roots(!self.platform_roots);
        for pem in &self.extra_roots {
            let cert = Certificate::from_pem(pem).map_err(|e| Error::TlsConfig(e.to_string()))?;
            builder.add_root_certificate(cert);
        }
        if let Some(certificate) = &self.client_certificate {
            builder.identity(identity(certificate)?);
        }
        builder.build().map_err(|e| Error::TlsConfig(e.to_string()))
    }
}

/// The client certificate as native-tls takes it.
fn identity(certificate: &ClientCertificate) -> Result<Identity, Error> {
    Identity::from_pkcs8(certificate.chain_pem(), certificate.key_pem())
        .map_err(|e| Error::TlsConfig(format!("client certificate: {e}")))
}

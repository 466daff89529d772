//! The test server's certificates: a CA, a server certificate it signed, and on request a
//! client certificate it signed too, all made at start.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, SanType,
};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The common name of the client certificate, the user AUTH EXTERNAL authenticates.
pub(super) const CLIENT_NAME: &str = "client.example";

/// What [`tls_acceptor`] makes.
pub(super) struct Certificates {
    pub(super) acceptor: TlsAcceptor,
    pub(super) ca_pem: String,
    /// The client certificate and its PKCS #8 key, as PEM, when client certificates are
    /// required.
    pub(super) client: Option<(String, String)>,
}

/// A TLS acceptor whose certificate, for `name` and 127.0.0.1, is signed by a CA made here too.
/// With `require_client`, the handshake also requires a client certificate signed by that CA,
/// and one is made for the tests.
pub(super) fn tls_acceptor(name: &str, require_client: bool) -> Result<Certificates, BoxError> {
    // Distinct names: OpenSSL takes a certificate whose subject equals its issuer for
    // self-signed.
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name = DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "smtp-test-server CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let mut params = CertificateParams::new(vec![name.to_string()])?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    let chain = vec![CertificateDer::from(cert.der().to_vec())];
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let (builder, client) = if require_client {
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from(ca_cert.der().to_vec()))?;
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
        let client = client_certificate(&issuer)?;
        (builder.with_client_cert_verifier(verifier), Some(client))
    } else {
        (builder.with_no_client_auth(), None)
    };
    let config = builder.with_single_cert(chain, private)?;
    Ok(Certificates {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_pem: ca_cert.pem(),
        client,
    })
}

/// A client certificate for [`CLIENT_NAME`], signed by `issuer`, with its key.
fn client_certificate(issuer: &Issuer<'_, KeyPair>) -> Result<(String, String), BoxError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, CLIENT_NAME);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

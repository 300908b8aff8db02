//! Pinned-key TLS: a node's certificate is self-signed with its Ed25519 identity, and a peer
//! is accepted only if its certificate carries a key the roster lists. No certificate
//! authority, no host names, no validity dates: the key is the name.
//!
//! - [`certificate`] makes the self-signed certificate (rcgen, ring backend).
//! - [`client_config`] trusts exactly one key: the party being dialed.
//! - [`server_config`] requires a client certificate (mutual TLS) and accepts any roster key;
//!   the accepting side then learns which party connected from [`peer_key`].
//!
//! Both configurations are TLS 1.3 only, with the ring provider, Ed25519 signatures only, no
//! session resumption (a resumed session would skip the certificate check) and the ALPN
//! [`ALPN`], which carries the mesh's wire version. A certificate whose key is not allowed is
//! refused during the handshake and logged (`tracing` warn with the key's fingerprint). What
//! travels over the connection is [`super::frame`]'s business, not this module's.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::identity::{Identity, PublicKey};

/// Why a certificate or TLS configuration could not be built (wrapped by
/// [`super::QuicError::Tls`] on the mesh, and by the control plane's transport).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The identity's PKCS#8 key was refused by rcgen.
    #[error("loading the identity key: {0}")]
    IdentityKey(#[source] rcgen::Error),
    /// rcgen could not self-sign the certificate.
    #[error("self-signing the certificate: {0}")]
    SelfSign(#[source] rcgen::Error),
    /// rustls refused the configuration (protocol versions, certificate or key).
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
    /// The configuration offers no cipher suite QUIC can start with.
    #[error("{0}")]
    QuicSuite(#[from] quinn::crypto::rustls::NoInitialCipherSuite),
}

/// The ALPN protocol of the mesh; its suffix is [`super::frame::VERSION`].
pub const ALPN: &[u8] = b"quorate-mesh/2";

/// The name a dialer presents as SNI. Nobody checks it: keys are pinned instead.
pub(crate) const SERVER_NAME: &str = "quorate.invalid";

/// Ed25519 is the only signature scheme a peer may use.
static ED25519_ONLY: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[webpki::ring::ED25519],
    mapping: &[(SignatureScheme::ED25519, &[webpki::ring::ED25519])],
};

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4): SEQUENCE { SEQUENCE { OID
/// 1.3.101.112 }, BIT STRING (0 unused bits) } followed by the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// A self-signed certificate for `identity`, and its private key in the form rustls takes.
pub fn certificate(
    identity: &Identity,
) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), TlsError> {
    let pkcs8 = identity.pkcs8_der();
    let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &PrivatePkcs8KeyDer::from(&pkcs8[..]),
        &rcgen::PKCS_ED25519,
    )
    .map_err(TlsError::IdentityKey)?;
    let mut params = rcgen::CertificateParams::default();
    let mut name = rcgen::DistinguishedName::new();
    name.push(
        rcgen::DnType::CommonName,
        format!("quorate node {}", identity.public_key().fingerprint()),
    );
    params.distinguished_name = name;
    let cert = params.self_signed(&key_pair).map_err(TlsError::SelfSign)?;
    Ok((
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.to_vec())),
    ))
}

/// The Ed25519 key a certificate carries, if it parses and carries one.
pub fn peer_key(cert: &CertificateDer<'_>) -> Option<PublicKey> {
    let parsed = webpki::EndEntityCert::try_from(cert).ok()?;
    let spki = parsed.subject_public_key_info();
    let der: &[u8] = spki.as_ref();
    let key = der.strip_prefix(&ED25519_SPKI_PREFIX[..])?;
    Some(PublicKey::from_bytes(key.try_into().ok()?))
}

/// A client configuration that presents `identity` and accepts only a server holding
/// `expected`.
pub fn client_config(
    identity: &Identity,
    expected: PublicKey,
) -> Result<rustls::ClientConfig, TlsError> {
    let (cert, key) = certificate(identity)?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServer { expected }))
        .with_client_auth_cert(vec![cert], key)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    config.enable_early_data = false;
    Ok(config)
}

/// A server configuration that presents `identity`, requires a client certificate and
/// accepts any key in `allowed`.
pub fn server_config(
    identity: &Identity,
    allowed: impl IntoIterator<Item = PublicKey>,
) -> Result<rustls::ServerConfig, TlsError> {
    let keys = AllowedKeys::default();
    let _ = keys.set(allowed.into_iter().collect());
    deferred_server_config(identity, keys)
}

/// The keys a server accepts, fixed once (a node binds before it knows its roster). Until
/// they are set, every client is refused.
pub(crate) type AllowedKeys = Arc<OnceLock<HashSet<PublicKey>>>;

/// [`server_config`] with the allowed keys to be set later through `allowed`.
pub(crate) fn deferred_server_config(
    identity: &Identity,
    allowed: AllowedKeys,
) -> Result<rustls::ServerConfig, TlsError> {
    let (cert, key) = certificate(identity)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(PinnedClients { allowed }))
        .with_single_cert(vec![cert], key)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(config)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Checks a peer's certificate chain: exactly one certificate, carrying an Ed25519 key that
/// `allowed` accepts. The handshake signature (checked separately) proves the peer holds it.
fn check_chain(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    role: &str,
    allowed: impl Fn(&PublicKey) -> bool,
) -> Result<(), rustls::Error> {
    if !intermediates.is_empty() {
        tracing::warn!(
            role,
            "refused a {role} presenting a certificate chain instead of one self-signed certificate"
        );
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::ApplicationVerificationFailure,
        ));
    }
    let Some(key) = peer_key(end_entity) else {
        tracing::warn!(
            role,
            "refused a {role} whose certificate carries no Ed25519 key"
        );
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::BadEncoding,
        ));
    };
    if !allowed(&key) {
        tracing::warn!(role, key = %key.fingerprint(), "refused a {role} with key {} not pinned by the roster", key.fingerprint());
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::ApplicationVerificationFailure,
        ));
    }
    Ok(())
}

fn verify_signature(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls13_signature(message, cert, dss, &ED25519_ONLY)
}

/// The dialer's verifier: the server must hold one specific key.
#[derive(Debug)]
struct PinnedServer {
    expected: PublicKey,
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        check_chain(end_entity, intermediates, "server", |k| *k == self.expected)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not offered".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        ED25519_ONLY.supported_schemes()
    }
}

/// The accepting side's verifier: the client must present a roster key.
#[derive(Debug)]
struct PinnedClients {
    allowed: AllowedKeys,
}

impl ClientCertVerifier for PinnedClients {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        check_chain(end_entity, intermediates, "client", |k| {
            self.allowed.get().is_some_and(|keys| keys.contains(k))
        })?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not offered".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        ED25519_ONLY.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn certificates_carry_the_identity_key() {
        let id = Identity::generate(&mut ChaCha20Rng::seed_from_u64(9));
        let (cert, _) = certificate(&id).unwrap();
        assert_eq!(peer_key(&cert), Some(id.public_key()));
        assert_eq!(
            peer_key(&CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00])),
            None
        );
        let other = Identity::generate(&mut ChaCha20Rng::seed_from_u64(10)).public_key();
        let check = |allowed: PublicKey| check_chain(&cert, &[], "client", |k| *k == allowed);
        assert!(check(id.public_key()).is_ok());
        assert!(check(other).is_err());
        assert!(client_config(&id, other).is_ok());
        assert!(server_config(&id, [other]).is_ok());
        // Until the roster is known, every client is refused.
        let pending = PinnedClients {
            allowed: AllowedKeys::default(),
        };
        assert!(
            pending
                .verify_client_cert(&cert, &[], UnixTime::now())
                .is_err()
        );
        let _ = pending.allowed.set([id.public_key()].into_iter().collect());
        assert!(
            pending
                .verify_client_cert(&cert, &[], UnixTime::now())
                .is_ok()
        );
    }
}

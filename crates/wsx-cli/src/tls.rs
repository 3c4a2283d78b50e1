//! TLS client configurations for `wss://`: the default (Mozilla roots), a CA file (`--ca`), or,
//! for testing only, no certificate check at all (`--insecure`).

use crate::failure::{Failure, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::path::Path;
use std::sync::Arc;
use wsx::handshake::Target;

/// How to check the server's certificate.
#[derive(Debug, Clone, Default)]
pub enum Trust {
    /// The webpki (Mozilla) root certificates.
    #[default]
    System,
    /// Only the certificates in this PEM file.
    CaFile(std::path::PathBuf),
    /// No check at all: for testing against self-signed servers only.
    Insecure,
}

/// The rustls client configuration for `trust`, offering HTTP/1.1 by ALPN.
pub fn client_config(trust: &Trust) -> Result<Arc<rustls::ClientConfig>> {
    match trust {
        Trust::System => Ok(wsx::tls::default_client_config()?),
        Trust::CaFile(path) => Ok(wsx::tls::client_config(load_roots(path)?)?),
        Trust::Insecure => {
            let provider = wsx::tls::crypto_provider();
            let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| Failure::new(format!("TLS configuration: {e}")))?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Arc::new(config))
        }
    }
}

/// Why a TLS handshake with `peer` failed, as the library words it: [`wsx::TlsError::NotTls`]
/// for a peer that answered with something that is not TLS (a plain `ws://` server reached
/// with `wss://`; rustls alone says "received corrupt message of type InvalidContentType"),
/// else the rustls error or the I/O error.
///
/// The library makes the same distinction on its own connect path (`wsx::Client`), which
/// keeps it crate-private; `wsx connect` runs its own TLS over the stream driver, so it
/// classifies here, into the library's error type, so that both say the same thing.
pub fn handshake_error(peer: &str, err: std::io::Error) -> wsx::TlsError {
    let inner = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .cloned();
    let peer = peer.to_owned();
    match inner {
        // The first byte of the answer is not a TLS record type (RFC 8446 §5.1): "HTTP/1.1
        // 400 ..." starts with 'H' (0x48).
        Some(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)) => {
            wsx::TlsError::NotTls { server: peer }
        }
        Some(source) => wsx::TlsError::Handshake { peer, source },
        None => wsx::TlsError::Io { peer, source: err },
    }
}

/// A failed TLS handshake, in the library's words, with what to do about it: for a plain
/// server reached with `wss://`, the `ws://` URL to try instead; for a certificate that is not
/// trusted, the flags that trust it.
pub fn failure(err: wsx::TlsError, target: &Target, trust: &Trust) -> Failure {
    let hint = match &err {
        wsx::TlsError::NotTls { .. } => format!("; try {}", crate::refusal::url_of(target, false)),
        wsx::TlsError::Handshake {
            source: rustls::Error::InvalidCertificate(_),
            ..
        } => match trust {
            Trust::CaFile(path) => format!(
                "; check that {} holds the CA that signed the server's certificate (for testing only: \
                 --insecure)",
                path.display()
            ),
            Trust::System | Trust::Insecure => {
                "; to trust a private CA or a self-signed certificate give it with --ca FILE \
                 (for testing only: --insecure)"
                    .to_owned()
            }
        },
        _ => String::new(),
    };
    Failure::new(format!("{}{hint}", wsx::Error::from(err)))
}

/// Reads every certificate of a PEM file into a root store.
fn load_roots(path: &Path) -> Result<rustls::RootCertStore> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| Failure::new(format!("cannot read CA file {shown}: {e}")))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Failure::new(format!("cannot parse CA file {shown}: {e}")))?;
    if certs.is_empty() {
        return Err(Failure::new(format!(
            "CA file {shown} holds no PEM certificate"
        )));
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| Failure::new(format!("bad certificate in {shown}: {e}")))?;
    }
    Ok(roots)
}

/// A certificate verifier that accepts any certificate for any name: `--insecure`.
///
/// FOR TESTING ONLY. It still checks that the server holds the key of the certificate it
/// shows (the handshake signatures), but not who issued that certificate nor whom it names,
/// so anyone on the path can pose as the server.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

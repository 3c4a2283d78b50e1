//! TLS for `wss://` with rustls: the default client configuration trusts the Mozilla root
//! store from `webpki-roots`; servers bring their own `rustls::ServerConfig`. The crypto
//! provider is the process default when the application installed one, *ring* otherwise
//! ([`crypto_provider`]).
#![forbid(unsafe_code)]

use crate::error::{Error, TlsError};
use std::sync::Arc;

/// The rustls version wsx is built with, for building configurations (`RootCertStore`,
/// `pki_types::CertificateDer`, ...) that match it.
pub use rustls;

/// The server side of a TLS handshake with `peer` on `tcp`.
pub(crate) async fn accept(
    acceptor: &tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
) -> Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>, TlsError> {
    acceptor
        .accept(tcp)
        .await
        .map_err(|e| TlsError::from_handshake(peer.to_string(), e))
}

/// The client side of a TLS handshake on `tcp` with the server `host` (at `addr`, for
/// errors), with `config` or, when `None`, [`default_client_config`].
pub(crate) async fn connect(
    config: Option<&Arc<rustls::ClientConfig>>,
    tcp: tokio::net::TcpStream,
    host: &str,
    addr: &str,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, Error> {
    let config = match config {
        Some(config) => config.clone(),
        None => default_client_config()?,
    };
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|_| TlsError::InvalidServerName(host.to_owned()))?;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| TlsError::from_handshake(addr.to_owned(), e))?;
    Ok(stream)
}

/// The crypto provider wsx builds its TLS configurations with: the process default when the
/// application installed one (rustls' `CryptoProvider::install_default`: aws-lc-rs, for its
/// post-quantum key exchange, say), else *ring*, the provider wsx enables.
///
/// rustls 0.23.48 deprecates `rustls::crypto::ring::default_provider` for its lack of
/// post-quantum key exchange, with no other way to build the *ring* provider in 0.23; the
/// fallback calls it, without passing the deprecation on to the crates that build wsx (an
/// application that wants post-quantum key exchange installs aws-lc-rs as the default).
#[must_use]
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    if let Some(installed) = rustls::crypto::CryptoProvider::get_default() {
        return installed.clone();
    }
    #[allow(deprecated)]
    let ring = rustls::crypto::ring::default_provider();
    Arc::new(ring)
}

/// A client configuration trusting `roots`, offering HTTP/1.1 by ALPN (RFC 6455 runs over
/// HTTP/1.1).
///
/// # Errors
/// [`Error::Tls`] when rustls refuses the protocol versions (it does not, with the *ring* or
/// aws-lc-rs provider).
pub fn client_config(roots: rustls::RootCertStore) -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut config = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The default client configuration: the webpki (Mozilla) root certificates.
///
/// # Errors
/// As [`client_config`].
pub fn default_client_config() -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    client_config(roots)
}

/// A server configuration from a certificate chain and its private key (DER), offering
/// HTTP/1.1 by ALPN.
///
/// # Errors
/// [`Error::Tls`] when the key does not fit the certificate or is not supported.
pub fn server_config(
    cert_chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(cert_chain, key)
        .map_err(TlsError::Config)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

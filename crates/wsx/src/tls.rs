//! TLS for `wss://` with rustls (ring provider): the default client configuration trusts the
//! Mozilla root store from `webpki-roots`; servers bring their own `rustls::ServerConfig`.
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

/// The crypto provider wsx builds its TLS configurations with.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration trusting `roots`, offering HTTP/1.1 by ALPN (RFC 6455 runs over
/// HTTP/1.1).
///
/// # Errors
/// [`Error::Tls`] when rustls refuses the protocol versions (it does not, with the ring
/// provider).
pub fn client_config(roots: rustls::RootCertStore) -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
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
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(cert_chain, key)
        .map_err(TlsError::Config)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

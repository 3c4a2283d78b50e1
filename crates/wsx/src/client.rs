//! [`Client`]: connects to `ws://` and `wss://` URLs and returns a running [`Conn`].

use crate::config::Config;
use crate::conn::run::start;
use crate::conn::{Conn, Info};
use crate::connect::client_handshake;
use crate::error::{Error, HandshakeError};
use crate::handshake::{ClientOptions, Target};
use crate::proto::ExtensionFactory;
use crate::stream::WebSocket;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A WebSocket client. One client can open many connections.
#[derive(Clone)]
pub struct Client {
    config: Arc<Config>,
    tls: Option<Arc<rustls::ClientConfig>>,
    extensions: Vec<Arc<dyn ExtensionFactory>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .field("custom_tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client with `config` (checked on each connect).
    #[must_use]
    pub fn new(config: Config) -> Self {
        Self {
            config: Arc::new(config),
            tls: None,
            extensions: Vec::new(),
        }
    }

    /// Uses this TLS configuration for `wss://` instead of the default (webpki roots).
    #[must_use]
    pub fn with_tls_config(mut self, tls: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Trusts exactly these root certificates for `wss://` (e.g. a self-signed test CA).
    ///
    /// # Errors
    /// [`Error::Tls`] when the configuration cannot be built.
    pub fn with_root_certificates(self, roots: rustls::RootCertStore) -> Result<Self, Error> {
        Ok(self.with_tls_config(crate::tls::client_config(roots)?))
    }

    /// Offers an extension (e.g. permessage-deflate) on every connection.
    #[must_use]
    pub fn with_extension(mut self, factory: Arc<dyn ExtensionFactory>) -> Self {
        self.extensions.push(factory);
        self
    }

    /// Connects to `url` (`ws://` or `wss://`) sending `headers` (Origin, Authorization,
    /// cookies...) with the handshake, within `handshake_timeout`. The connection runs on its
    /// own tasks; register handlers on the returned [`Conn`] (an `on_open` registered now is
    /// still called, and messages that arrive before `on_message` is registered wait for it).
    ///
    /// # Errors
    /// [`Error::Config`], [`Error::Handshake`] (bad URL, refused handshake), [`Error::Tls`],
    /// [`Error::Io`], [`Error::Timeout`].
    pub async fn connect(&self, url: &str, headers: http::HeaderMap) -> Result<Conn, Error> {
        self.config.validate()?;
        let target = Target::parse(url)?;
        let options = ClientOptions {
            subprotocols: self.config.subprotocols.clone(),
            extensions: self
                .config
                .extensions()
                .into_iter()
                .chain(self.extensions.iter().cloned())
                .collect(),
            max_head_size: self.config.max_handshake_size,
            ..ClientOptions::default()
        };
        let ws_config = self.config.websocket_config();
        let handshake = async {
            let tcp = TcpStream::connect((target.host.as_str(), target.port)).await?;
            tcp.set_nodelay(true)?;
            let remote = tcp.peer_addr().ok();
            if !target.secure {
                let (ws, response) =
                    client_handshake(tcp, &target, &headers, &options, ws_config).await?;
                return Ok(self.start(ws, response, remote, &target));
            }
            let tls = match &self.tls {
                Some(tls) => tls.clone(),
                None => crate::tls::default_client_config()?,
            };
            let name =
                rustls::pki_types::ServerName::try_from(target.host.clone()).map_err(|_| {
                    HandshakeError::InvalidUrl(format!(
                        "{} is not a valid TLS server name",
                        target.host
                    ))
                })?;
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await
                .map_err(|e| Error::Tls(e.to_string()))?;
            let (ws, response) =
                client_handshake(stream, &target, &headers, &options, ws_config).await?;
            Ok(self.start(ws, response, remote, &target))
        };
        tokio::time::timeout(self.config.handshake_timeout, handshake)
            .await
            .map_err(|_| Error::Timeout("handshake"))?
    }

    fn start<S>(
        &self,
        ws: WebSocket<S>,
        response: http::Response<()>,
        remote_addr: Option<std::net::SocketAddr>,
        target: &Target,
    ) -> Conn
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let info = Info {
            id: crate::server::next_id(),
            remote_addr,
            subprotocol: ws.subprotocol().map(str::to_owned),
            headers: response.into_parts().0.headers,
            uri: target.path_and_query.parse().unwrap_or_default(),
            extension: ws.has_extension(),
        };
        let conn = Conn::new(info, self.config.max_pending_bytes);
        let config = self.config.clone();
        let running = start(&conn, ws);
        let task_conn = conn.clone();
        tokio::spawn(async move { running.drive(task_conn, &config, || {}).await });
        conn
    }
}

//! [`Client`]: connects to `ws://` and `wss://` URLs and returns a running [`Conn`]; over
//! HTTP/2 with [`Config::http2`] (`h2.rs`).
#![forbid(unsafe_code)]

#[cfg(feature = "hyper")]
mod h2;

use crate::error::Error;
use crate::event::config::Config;
use crate::event::conn::run::start;
use crate::event::conn::{Conn, Headers, Info, Owner};
use crate::handshake::{ClientOptions, Target};
use crate::handshake_io::client::client_handshake;
use crate::proto::ExtensionFactory;
use crate::proxy::Proxy;
use crate::stream::WebSocket;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// The connections a client (and its clones) keeps open: see [`Conn`] on who keeps a client
/// connection open. A connection leaves when it ends.
type Live = Mutex<HashMap<u64, Arc<Owner>>>;

/// A WebSocket client. One client can open many connections; clones share them.
///
/// A connection it opened stays open while the client or any handle
/// [`Client::connect`] returned is alive; once all are dropped it closes with 1000.
#[derive(Clone)]
pub struct Client {
    config: Arc<Config>,
    tls: Option<Arc<rustls::ClientConfig>>,
    extensions: Vec<Arc<dyn ExtensionFactory>>,
    live: Arc<Live>,
    proxy: ProxySetting,
    /// Open HTTP/2 connections by origin, shared by the WebSockets to it (RFC 8441).
    #[cfg(feature = "hyper")]
    h2: Arc<h2::Pool>,
}

/// Where a client's connections go through.
#[derive(Debug, Clone, Default)]
enum ProxySetting {
    /// Straight to the server.
    #[default]
    Direct,
    /// The proxy the environment names for each target ([`Proxy::from_env`]).
    Env,
    /// This proxy, for every connection.
    Explicit(Proxy),
}

impl Default for Client {
    /// A client with [`Config::default`].
    fn default() -> Self {
        Self::new(Config::default())
    }
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
            live: Arc::default(),
            proxy: ProxySetting::Direct,
            #[cfg(feature = "hyper")]
            h2: Arc::default(),
        }
    }

    /// Connects through `proxy` (HTTP CONNECT or SOCKS5, see [`crate::proxy`]).
    #[must_use]
    pub fn with_proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = ProxySetting::Explicit(proxy);
        self
    }

    /// Connects through the proxy the environment names for each URL (`HTTPS_PROXY` for
    /// `wss://`, `HTTP_PROXY` for `ws://`, `ALL_PROXY`, minus `NO_PROXY`), directly when it
    /// names none. Without this (or [`Self::with_proxy`]) the environment is not read.
    #[must_use]
    pub fn with_proxy_from_env(mut self) -> Self {
        self.proxy = ProxySetting::Env;
        self
    }

    /// Opens the TCP connection to `target`, through the proxy if there is one.
    async fn open_tcp(&self, target: &Target, addr: &str) -> Result<TcpStream, Error> {
        let proxy = match &self.proxy {
            ProxySetting::Direct => None,
            ProxySetting::Env => Proxy::from_env(&target.host, target.secure),
            ProxySetting::Explicit(proxy) => Some(proxy.clone()),
        };
        let tcp = match proxy {
            Some(proxy) => proxy.tunnel(&target.host, target.port).await?,
            None => TcpStream::connect((target.host.as_str(), target.port))
                .await
                .map_err(|source| Error::Connect {
                    addr: addr.to_owned(),
                    source,
                })?,
        };
        tcp.set_nodelay(true)?;
        Ok(tcp)
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

    /// Connects to `url` (`ws://` or `wss://`) with no extra headers: the shorthand of
    /// [`Self::connect`].
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), wsx::Error> {
    /// let conn = wsx::Client::default().connect_url("ws://127.0.0.1:8080/chat").await?;
    /// conn.write_text("hello")?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`Self::connect`].
    pub async fn connect_url(&self, url: &str) -> Result<Conn, Error> {
        self.connect(url, http::HeaderMap::new()).await
    }

    /// Connects with full control of the request: its URI (absolute, `ws://` or `wss://`)
    /// and its headers (Origin, Authorization, cookies...). The handshake's own headers
    /// (`Upgrade`, `Sec-WebSocket-*`, `Host`) are set by wsx.
    ///
    /// # Errors
    /// As [`Self::connect`].
    pub async fn connect_request(&self, request: http::Request<()>) -> Result<Conn, Error> {
        let (parts, ()) = request.into_parts();
        self.connect(&parts.uri.to_string(), parts.headers).await
    }

    /// Connects to `url` (`ws://` or `wss://`) sending `headers` (Origin, Authorization,
    /// cookies...) with the handshake, within `handshake_timeout`. The connection runs on its
    /// own tasks; register handlers on the returned [`Conn`] (an `on_open` registered now is
    /// still called, and messages that arrive before `on_message` is registered wait for it).
    ///
    /// # Errors
    /// [`Error::Config`]; [`Error::InvalidUrl`] before any connection is made;
    /// [`Error::Connect`] (naming the address) when TCP fails; [`Error::Tls`] (with a
    /// [`crate::TlsError`] cause: [`crate::TlsError::NotTls`] for a plain server reached with `wss://`);
    /// [`Error::Handshake`] for a refused handshake; [`Error::Timeout`].
    pub async fn connect(&self, url: &str, headers: http::HeaderMap) -> Result<Conn, Error> {
        self.config.validate()?;
        let target = Target::parse(url)?;
        let options = self.handshake_options();
        let ws_config = self.config.websocket_config();
        let addr = format!("{}:{}", target.host, target.port);
        #[cfg(feature = "hyper")]
        if self.config.http2 {
            let h2 = async {
                let tcp = self.open_tcp(&target, &addr);
                Ok(
                    match h2::open(
                        &self.h2,
                        self.tls.as_ref(),
                        tcp,
                        &target,
                        &headers,
                        &options,
                        ws_config,
                    )
                    .await?
                    {
                        h2::Opened::H2(ws, response, remote) => {
                            self.start(*ws, response, remote, &target, http::Version::HTTP_2)
                        }
                        h2::Opened::Http11(ws, response, remote) => {
                            self.start(*ws, response, remote, &target, http::Version::HTTP_11)
                        }
                    },
                )
            };
            return tokio::time::timeout(self.config.handshake_timeout, h2)
                .await
                .map_err(|_| Error::Timeout("opening handshake"))?;
        }
        let handshake = async {
            let tcp = self.open_tcp(&target, &addr).await?;
            let remote = tcp.peer_addr().ok();
            // The arms differ only in the transport type (a plain connection's poll path has
            // no TLS branch in it); the TLS steps are in `tls::connect`.
            if target.secure {
                let stream =
                    crate::tls::connect(self.tls.as_ref(), tcp, &target.host, &addr).await?;
                let (ws, response) =
                    client_handshake(stream, &target, &headers, &options, ws_config).await?;
                Ok(self.start(ws, response, remote, &target, http::Version::HTTP_11))
            } else {
                let (ws, response) =
                    client_handshake(tcp, &target, &headers, &options, ws_config).await?;
                Ok(self.start(ws, response, remote, &target, http::Version::HTTP_11))
            }
        };
        tokio::time::timeout(self.config.handshake_timeout, handshake)
            .await
            .map_err(|_| Error::Timeout("opening handshake"))?
    }

    /// Opens a connection over a transport the application set up itself (a Unix socket, a
    /// tunnel, an in-memory [`tokio::io::duplex`] pipe in tests): the opening handshake for
    /// `url` is written on `io` as is, within `handshake_timeout`. The URL gives the `Host`
    /// header and the request path; its scheme is not acted on (`wss://` does not add TLS
    /// here: wrap `io` first), and no proxy is used. See [`Server::serve_connection`] for an
    /// example.
    ///
    /// [`Server::serve_connection`]: crate::Server::serve_connection
    ///
    /// # Errors
    /// [`Error::Config`]; [`Error::InvalidUrl`]; [`Error::Handshake`] for a refused
    /// handshake; [`Error::Io`]; [`Error::Timeout`].
    pub async fn connect_io<S>(&self, io: S, url: &str) -> Result<Conn, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.config.validate()?;
        let target = Target::parse(url)?;
        let options = self.handshake_options();
        let ws_config = self.config.websocket_config();
        let headers = http::HeaderMap::new();
        let handshake = client_handshake(io, &target, &headers, &options, ws_config);
        let (ws, response) = tokio::time::timeout(self.config.handshake_timeout, handshake)
            .await
            .map_err(|_| Error::Timeout("opening handshake"))??;
        Ok(self.start(ws, response, None, &target, http::Version::HTTP_11))
    }

    /// What the opening handshake offers: the config's subprotocols and extensions, and the
    /// extensions added with [`Self::with_extension`].
    fn handshake_options(&self) -> ClientOptions {
        ClientOptions {
            subprotocols: self.config.subprotocols.clone(),
            extensions: self
                .config
                .extensions()
                .into_iter()
                .chain(self.extensions.iter().cloned())
                .collect(),
            max_head_size: self.config.max_handshake_size,
            ..ClientOptions::default()
        }
    }

    fn start<S>(
        &self,
        ws: WebSocket<S>,
        response: http::Response<()>,
        remote_addr: Option<std::net::SocketAddr>,
        target: &Target,
        version: http::Version,
    ) -> Conn
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let info = Info {
            id: crate::id::next_id(),
            remote_addr,
            subprotocol: ws.subprotocol().map(Box::from),
            headers: Headers::eager(response.into_parts().0.headers),
            uri: target.path_and_query.parse().unwrap_or_default(),
            version,
            encoding: ws.shared_encoding(),
        };
        let conn = Conn::new(info, self.config.max_pending_bytes, None);
        let running = start(ws);
        let (handle, owner) = conn.owned();
        let id = conn.id();
        crate::sync::lock(&self.live).insert(id, owner);
        let live: Weak<Live> = Arc::downgrade(&self.live);
        tokio::spawn(running.drive(conn, &self.config, move || {
            // Ended: the client no longer keeps it (dropped outside the lock).
            let owner = live
                .upgrade()
                .and_then(|l| crate::sync::lock(&l).remove(&id));
            drop(owner);
        }));
        handle
    }
}

//! [`Manager`]: one Engine.IO connection shared by the sockets of several namespaces
//! (socket.io-client's `Manager`), its reconnection events, and [`io`].

use super::driver;
use super::engine::{self, Context};
use super::error::ClientError;
use super::options::{ClientOptions, ServerUrl};
use super::shared::{Command, Hooks, Link, Shared};
use super::socket::Socket;
use super::socket_core::{Core, lock};
use std::sync::Arc;
use tokio::sync::mpsc;

/// A connection to a Socket.IO server, multiplexing the namespaces of its [`Socket`]s.
/// Cheap to clone (clones are the same manager).
///
/// The connection opens when the first socket connects and closes when the last one
/// disconnects; in between, a lost connection is reopened with exponential backoff (the
/// `reconnection*` options) and every socket that was connected connects again.
#[derive(Clone)]
pub struct Manager(Arc<Link>);

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("url", &self.0.shared.ctx.url)
            .finish_non_exhaustive()
    }
}

impl Manager {
    /// A manager for the server at `url` (`http(s)://` or `ws(s)://`; its path is ignored:
    /// namespaces are chosen with [`Self::socket`]). Nothing is opened until a socket
    /// connects. Must be called within a Tokio runtime (the manager's task is spawned).
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`]; [`ClientError::NoRuntime`] outside a Tokio runtime.
    pub fn new(url: &str, options: ClientOptions) -> Result<Self, ClientError> {
        let url = ServerUrl::parse(url)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ClientError::NoRuntime);
        }
        let ws = engine::ws_client(&options);
        let shared = Arc::new(Shared::new(Context {
            url: Arc::new(url),
            options: Arc::new(options),
            ws,
        }));
        let (commands, rx) = mpsc::unbounded_channel();
        tokio::spawn(driver::run(shared.clone(), rx));
        Ok(Self(Arc::new(Link { shared, commands })))
    }

    /// The socket of `namespace` (`/` when empty; a leading `/` is added), the same one for
    /// every call while it is alive. Not connected yet: register its handlers, then
    /// [`Socket::connect`].
    #[must_use]
    pub fn socket(&self, namespace: &str) -> Socket {
        let namespace = if namespace.starts_with('/') {
            namespace.to_owned()
        } else {
            format!("/{namespace}")
        };
        let mut sockets = lock(&self.0.shared.sockets);
        let core = match sockets.get(&namespace).and_then(std::sync::Weak::upgrade) {
            Some(core) => core,
            None => {
                let core = Arc::new(Core::new(namespace.clone()));
                sockets.insert(namespace, Arc::downgrade(&core));
                core
            }
        };
        Socket {
            core,
            link: self.0.clone(),
        }
    }

    /// Disconnects every socket and closes the connection; no reconnection follows.
    pub fn close(&self) {
        let _ = self.0.command(Command::Close);
    }

    /// The transport in use (`"polling"` or `"websocket"`), `None` while not connected.
    #[must_use]
    pub fn transport(&self) -> Option<&'static str> {
        *lock(&self.0.shared.transport)
    }

    /// The Engine.IO session id, while connected.
    #[must_use]
    pub fn engine_id(&self) -> Option<String> {
        lock(&self.0.shared.engine_id).clone()
    }

    /// Called before each reconnection attempt, with its number (from 1).
    pub fn on_reconnect_attempt(&self, f: impl Fn(u32) + Send + Sync + 'static) {
        self.hooks().reconnect_attempt.push(Arc::new(f));
    }

    /// Called when a reconnection succeeded, with the number of attempts it took.
    pub fn on_reconnect(&self, f: impl Fn(u32) + Send + Sync + 'static) {
        self.hooks().reconnect.push(Arc::new(f));
    }

    /// Called when a reconnection attempt failed, with why.
    pub fn on_reconnect_error(&self, f: impl Fn(&ClientError) + Send + Sync + 'static) {
        self.hooks().reconnect_error.push(Arc::new(f));
    }

    /// Called when `reconnection_attempts` attempts all failed: no more are made.
    pub fn on_reconnect_failed(&self, f: impl Fn() + Send + Sync + 'static) {
        self.hooks().reconnect_failed.push(Arc::new(f));
    }

    /// Called for every heartbeat ping from the server (it has been answered).
    pub fn on_ping(&self, f: impl Fn() + Send + Sync + 'static) {
        self.hooks().ping.push(Arc::new(f));
    }

    fn hooks(&self) -> std::sync::MutexGuard<'_, Hooks> {
        lock(&self.0.shared.hooks)
    }
}

impl Socket {
    /// The manager whose connection this socket uses.
    #[must_use]
    pub fn manager(&self) -> Manager {
        Manager(self.link.clone())
    }
}

/// The socket of the namespace `url`'s path names (`/` when none), on a new [`Manager`]:
/// `io("http://localhost:3000/admin", options)` as in the official client with `forceNew`.
/// Not connected yet: register its handlers, then [`Socket::connect`].
///
/// # Errors
/// As [`Manager::new`].
pub fn io(url: &str, options: ClientOptions) -> Result<Socket, ClientError> {
    let namespace = ServerUrl::parse(url)?.namespace;
    Ok(Manager::new(url, options)?.socket(&namespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manager_needs_a_url_and_a_runtime() {
        let bad = Manager::new("ftp://127.0.0.1", ClientOptions::default());
        assert!(matches!(bad, Err(ClientError::InvalidUrl(_))));
        let outside = Manager::new("http://127.0.0.1:1", ClientOptions::default());
        assert!(matches!(outside, Err(ClientError::NoRuntime)));
    }

    #[tokio::test]
    async fn socket_gives_the_same_socket_per_namespace() {
        let manager =
            Manager::new("http://127.0.0.1:1", ClientOptions::default()).expect("manager");
        let a = manager.socket("admin");
        assert_eq!(a.namespace(), "/admin");
        assert!(Arc::ptr_eq(&a.core, &manager.socket("/admin").core));
        assert!(!Arc::ptr_eq(&a.core, &manager.socket("/").core));
        assert_eq!(
            io("http://127.0.0.1:1/chat?x=1", ClientOptions::default())
                .expect("io")
                .namespace(),
            "/chat"
        );
    }
}

//! A loopback TCP proxy a test can cut, freeze or make refuse connections: a network fault
//! between the client and a server, seen by both as it would be on a real network.

use std::net::SocketAddr;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forwards.
    Pass,
    /// Drops every connection, and every new one at once.
    Refuse,
    /// Stops forwarding but keeps the connections open (a dead peer: no FIN, no RST).
    Freeze,
}

/// The proxy; its tasks end when it is dropped.
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
}

impl Proxy {
    /// Forwards `127.0.0.1:<free port>` to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (mode, rx) = watch::channel(Mode::Pass);
        tokio::spawn(async move {
            let mut closed = rx.clone();
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    changed = closed.changed() => match changed {
                        Ok(()) => continue,
                        Err(_) => return,
                    },
                };
                let Ok((client, _)) = accepted else { continue };
                if *rx.borrow() == Mode::Refuse {
                    continue;
                }
                let rx = rx.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        pipe(client, server, rx).await;
                    }
                });
            }
        });
        Self { addr, mode }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches mode: `Refuse` cuts every open connection (both sides see it closed).
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

async fn pipe(mut client: TcpStream, mut server: TcpStream, mut mode: watch::Receiver<Mode>) {
    tokio::select! {
        _ = copy_bidirectional(&mut client, &mut server) => return,
        _ = mode.wait_for(|m| *m != Mode::Pass) => {}
    }
    // Frozen: hold both ends open, silent, until cut (or the proxy is gone).
    let _ = mode.wait_for(|m| *m == Mode::Refuse).await;
}

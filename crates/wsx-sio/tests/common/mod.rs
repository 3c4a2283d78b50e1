//! A raw Engine.IO/Socket.IO client over wsx, for tests that speak the wire protocol directly,
//! and an in-process server on a free loopback port.
#![allow(dead_code)]

pub mod engine_cases;
pub mod http;

use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use wsx::{Message, WebSocket};
use wsx_sio::{Config, Server};

/// Starts `server` on a free loopback port.
pub async fn start(server: &Server) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = server.clone();
    tokio::spawn(async move { server.serve(listener).await });
    addr
}

/// Fast heartbeats for tests.
pub fn fast_config(ping_ms: u64, timeout_ms: u64) -> Config {
    let mut config = Config::default();
    config.engine.ping_interval = Duration::from_millis(ping_ms);
    config.engine.ping_timeout = Duration::from_millis(timeout_ms);
    config
}

/// A raw client.
pub struct Raw {
    pub ws: WebSocket<TcpStream>,
    /// The open packet's JSON.
    pub open: serde_json::Value,
}

pub const WAIT: Duration = Duration::from_secs(5);

impl Raw {
    /// Connects and reads the open packet.
    pub async fn connect(addr: SocketAddr) -> Self {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = wsx::connect(&url).await.expect("connect");
        let mut raw = Self {
            ws,
            open: serde_json::Value::Null,
        };
        let open = raw.text().await;
        let json = open.strip_prefix('0').expect("open packet");
        raw.open = serde_json::from_str(json).expect("open JSON");
        raw
    }

    /// Connects and joins namespace `/`, returning the socket id.
    pub async fn connect_root(addr: SocketAddr) -> (Self, String) {
        let mut raw = Self::connect(addr).await;
        raw.send("40").await;
        let answer = raw.text().await;
        let json = answer.strip_prefix("40").expect("CONNECT answer");
        let sid = serde_json::from_str::<serde_json::Value>(json).expect("JSON")["sid"]
            .as_str()
            .expect("sid")
            .to_owned();
        (raw, sid)
    }

    pub async fn send(&mut self, text: &str) {
        self.ws
            .send(Message::text(text.to_owned()))
            .await
            .expect("send");
    }

    pub async fn send_binary(&mut self, data: &[u8]) {
        self.ws
            .send(Message::binary(data.to_vec()))
            .await
            .expect("send");
    }

    /// The next message (text or binary), skipping nothing; `None` when closed.
    pub async fn next(&mut self) -> Option<Message> {
        match tokio::time::timeout(WAIT, self.ws.next())
            .await
            .expect("timed out")
        {
            Some(Ok(message)) => Some(message),
            _ => None,
        }
    }

    /// The next text message, answering pings `2` with `3` on the way.
    pub async fn text(&mut self) -> String {
        loop {
            match self.next().await {
                Some(Message::Text(t)) if t.as_str() == "2" => self.send("3").await,
                Some(Message::Text(t)) => return t.as_str().to_owned(),
                Some(Message::Close(_)) | None => panic!("closed while waiting for text"),
                Some(other) => panic!("unexpected {other:?}"),
            }
        }
    }

    /// The next binary message.
    pub async fn binary(&mut self) -> Vec<u8> {
        match self.next().await {
            Some(Message::Binary(b)) => b.to_vec(),
            other => panic!("expected binary, got {other:?}"),
        }
    }

    /// Reads until the connection closes; returns the close frame's code and reason.
    pub async fn closed(&mut self) -> Option<(u16, String)> {
        let mut frame = None;
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("not closed in time")
            {
                Some(Ok(Message::Close(f))) => {
                    frame = f.map(|f| (f.code.as_u16(), f.reason.to_string()));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return frame,
            }
        }
    }
}

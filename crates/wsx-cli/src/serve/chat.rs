//! The `/chat` endpoint: a room everyone is in, over wsx custom events (text messages
//! `{"event": NAME, "data": VALUE}`, see `wsx::events`). In: `join` (a nickname), `say`
//! (text). Out, to everyone: `joined` and `left` (nickname and online count), `said`
//! (nickname and text); to a new connection: `welcome` (the online count, and the HTTP
//! version its WebSocket was opened over: `HTTP/2` for an RFC 8441 extended CONNECT).

use serde_json::json;
use wsx::{Conn, Server};

/// A connection's nickname, kept on the connection itself.
#[derive(Clone)]
struct Nick(String);

/// The longest nickname and message kept (longer ones are cut).
const MAX_NICK: usize = 32;
const MAX_TEXT: usize = 2000;

fn cut(text: &str, max: usize) -> String {
    text.trim().chars().take(max).collect()
}

/// The chat server.
pub(crate) fn server() -> Server {
    let server = Server::new(super::config());
    let hub = server.clone();
    server.on_connection(move |conn: Conn| {
        let http = match conn.http_version() {
            wsx::http::Version::HTTP_2 => "HTTP/2",
            _ => "HTTP/1.1",
        };
        let _ = conn.emit(
            "welcome",
            json!({ "online": hub.connection_count(), "http": http }),
        );
        let h = hub.clone();
        conn.on("join", move |c: &Conn, data| {
            let nick = cut(data.as_str().unwrap_or_default(), MAX_NICK);
            let nick = if nick.is_empty() {
                format!("guest-{}", c.id())
            } else {
                nick
            };
            let first = c.set_state(Nick(nick.clone())).is_none();
            if first {
                let _ = h.emit(
                    "joined",
                    json!({ "nick": nick, "online": h.connection_count() }),
                );
            }
        });
        let h = hub.clone();
        conn.on("say", move |c: &Conn, data| {
            let text = cut(data.as_str().unwrap_or_default(), MAX_TEXT);
            if text.is_empty() {
                return;
            }
            let nick = c
                .state::<Nick>()
                .map_or_else(|| format!("guest-{}", c.id()), |n| n.0);
            let _ = h.emit("said", json!({ "nick": nick, "text": text }));
        });
        let h = hub.clone();
        conn.on_close(move |c: &Conn, _, _| {
            if let Some(Nick(nick)) = c.state::<Nick>() {
                // This connection has left the registry by now: the count is the others'.
                let _ = h.emit(
                    "left",
                    json!({ "nick": nick, "online": h.connection_count() }),
                );
            }
        });
    });
    server
}

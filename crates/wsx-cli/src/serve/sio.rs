//! The Socket.IO demo at `/socket.io/` (wsx-sio, official clients unchanged): the Socket.IO
//! chat tutorial's protocol. In: `chat message` (text). Out, to every socket of `/`: `chat
//! message` (the text), and `users` (the number of sockets) when one joins or leaves. The page
//! `/sio` talks to it with the official browser client, served from the npm package
//! `socket.io-client` (`--socketio-client`), never from a CDN.

use wsx_sio::{Args, Config, Server, Socket};

/// The Socket.IO server.
pub(crate) fn server() -> Server {
    let io = Server::new(Config::default());
    let hub = io.of("/").hub();
    io.on_connection(move |socket: Socket| {
        let hub = hub.clone();
        async move {
            socket.on("chat message", |s: Socket, args: Args| async move {
                let _ = s.hub().emit_args("chat message", args);
            });
            announce(&hub).await;
            let on_leave = hub.clone();
            socket.on_disconnect(move |_s: Socket, _reason| {
                let hub = on_leave.clone();
                async move { announce(&hub).await }
            });
        }
    });
    io
}

/// Tells everyone how many sockets are connected.
async fn announce(hub: &wsx_sio::Hub) {
    let count = hub.fetch_sockets().await.map_or(0, |s| s.len());
    let _ = hub.emit("users", &count);
}

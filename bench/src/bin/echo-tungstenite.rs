//! tokio-tungstenite echo server, written as its documentation shows: `accept_async`, then
//! the stream of text and binary messages forwarded into the sink. Default configuration
//! (its default buffer sizes are part of what is measured).
#![forbid(unsafe_code)]

use futures_util::{StreamExt, TryStreamExt, future};
use tokio::net::TcpStream;

async fn echo(tcp: TcpStream) {
    let ws = match tokio_tungstenite::accept_async(tcp).await {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("echo-tungstenite: handshake: {e}");
            return;
        }
    };
    let (sink, stream) = ws.split();
    let data = stream.try_filter(|m| future::ready(m.is_text() || m.is_binary()));
    if let Err(e) = data.forward(sink).await {
        eprintln!("echo-tungstenite: {e}");
    }
}

fn main() {
    wsx_bench_peers::serve("echo-tungstenite", echo)
}

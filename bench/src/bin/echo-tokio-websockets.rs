//! tokio-websockets echo server, written as its documentation shows: `ServerBuilder::accept`,
//! then a `next`/`send` loop for text and binary messages, with no frame or message size
//! limits and the task run `unconstrained` (as the crate's own echo example does).
#![forbid(unsafe_code)]

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_websockets::{Config, Limits, ServerBuilder};

async fn echo(tcp: TcpStream) {
    let accepted = ServerBuilder::new()
        .config(Config::default().frame_size(usize::MAX))
        .limits(Limits::unlimited())
        .accept(tcp)
        .await;
    let mut ws = match accepted {
        Ok((_request, ws)) => ws,
        Err(e) => {
            eprintln!("echo-tokio-websockets: handshake: {e}");
            return;
        }
    };
    while let Some(Ok(message)) = ws.next().await {
        if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
            break;
        }
    }
}

fn main() {
    wsx_bench_peers::serve("echo-tokio-websockets", |tcp| {
        tokio::task::unconstrained(echo(tcp))
    })
}

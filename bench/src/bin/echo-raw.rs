//! Raw TCP echo, no WebSocket at all: what loopback, the kernel and tokio cost by themselves,
//! the ceiling for the WebSocket servers (`wsx bench --raw` expects its own bytes back).
#![forbid(unsafe_code)]

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn echo(mut tcp: TcpStream) {
    // A 64 KiB frame fits one read. Reading into spare capacity never zero-fills, so an idle
    // connection only holds the pages it has received data into.
    let mut buf = Vec::with_capacity(66 * 1024);
    loop {
        buf.clear();
        match tcp.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if tcp.write_all(&buf).await.is_err() {
            break;
        }
    }
}

fn main() {
    wsx_bench_peers::serve("echo-raw", echo)
}

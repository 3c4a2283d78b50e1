//! fastwebsockets echo server, written as its documentation shows: a hyper 1 HTTP/1
//! connection with upgrades, `upgrade::upgrade` answering the handshake, then a
//! `FragmentCollector` loop of `read_frame`/`write_frame` with auto-pong and auto-close (the
//! defaults), the handler run `unconstrained` (as the crate's own echo example does).
#![forbid(unsafe_code)]

use fastwebsockets::{FragmentCollector, OpCode, WebSocketError, upgrade};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

async fn echo(upgrading: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = upgrading.await?;
    ws.set_auto_pong(true);
    ws.set_auto_close(true);
    let mut ws = FragmentCollector::new(ws);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}

async fn upgrade_request(
    mut request: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, upgrading) = upgrade::upgrade(&mut request)?;
    tokio::spawn(async move {
        if let Err(e) = tokio::task::unconstrained(echo(upgrading)).await {
            eprintln!("echo-fastwebsockets: {e}");
        }
    });
    Ok(response)
}

async fn serve_http(tcp: TcpStream) {
    let connection = http1::Builder::new()
        .serve_connection(TokioIo::new(tcp), service_fn(upgrade_request))
        .with_upgrades();
    if let Err(e) = connection.await {
        eprintln!("echo-fastwebsockets: http: {e}");
    }
}

fn main() {
    wsx_bench_peers::serve("echo-fastwebsockets", serve_http)
}

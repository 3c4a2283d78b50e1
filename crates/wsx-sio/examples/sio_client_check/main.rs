//! The demo contract (see `examples/sio_demo.rs`), run from the client side with
//! `wsx_sio::client` against any server that implements it (sio_demo, or Node's socket.io:
//! `tests/client/node_server.js`).
//!
//! Usage: `cargo run -p wsx-sio --example sio_client_check -- URL
//! [--transport default|websocket|polling] [--parser json|msgpack]`. Prints one `PASS name` / `FAIL name: why` line
//! per check, then `N passed, M failed`; exits 0 only when every check passed.

mod checks;

use wsx_sio::client::{Parser, Transports};

fn usage() -> ! {
    eprintln!(
        "usage: sio_client_check URL [--transport default|websocket|polling] [--parser json|msgpack]"
    );
    std::process::exit(2);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(url) = args.next() else { usage() };
    let mut transport = Transports::Default;
    let mut parser = Parser::Json;
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().as_deref()) {
            ("--transport", Some(name)) => {
                transport = parse_transport(name).unwrap_or_else(|| usage())
            }
            ("--parser", Some("json")) => parser = Parser::Json,
            ("--parser", Some("msgpack")) => parser = Parser::MsgPack,
            _ => usage(),
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("sio_client_check: cannot start the runtime: {err}");
            std::process::exit(1);
        }
    };
    let results = runtime.block_on(checks::run(&url, transport, parser));
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    println!("{} passed, {failed} failed", results.len() - failed);
    std::process::exit(i32::from(failed > 0));
}

/// `default`, `websocket` or `polling`.
fn parse_transport(name: &str) -> Option<Transports> {
    match name {
        "default" => Some(Transports::Default),
        "websocket" => Some(Transports::WebSocket),
        "polling" => Some(Transports::Polling),
        _ => None,
    }
}

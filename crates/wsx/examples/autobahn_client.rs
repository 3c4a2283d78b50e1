//! Runs the Autobahn TestSuite client protocol against a fuzzing server: asks for the case
//! count, runs every case echoing each message until the server closes, then asks the server to
//! write its reports.
//!
//! Usage: `cargo run --release -p wsx --example autobahn_client -- --url ws://127.0.0.1:9001 --agent wsx [--verbose] [--no-deflate]`
//!
//! permessage-deflate is offered unless `--no-deflate` is given. `--verbose` prints how each case ended (many end in a protocol error on purpose).

#[path = "shared/cli.rs"]
mod cli;
#[path = "shared/echo.rs"]
mod echo;

use std::process::ExitCode;
use wsx::handshake::ClientOptions;
use wsx::{Error, Message};

async fn open(url: &str, deflate: bool) -> Result<wsx::WebSocket<tokio::net::TcpStream>, Error> {
    let options = ClientOptions {
        extensions: echo::extensions(deflate),
        ..ClientOptions::default()
    };
    let (ws, _) = wsx::connect_with(
        url,
        &http::HeaderMap::new(),
        &options,
        echo::conformance_config(),
    )
    .await?;
    Ok(ws)
}

async fn case_count(base: &str, deflate: bool) -> Result<u32, String> {
    let mut ws = open(&format!("{base}/getCaseCount"), deflate)
        .await
        .map_err(|e| e.to_string())?;
    let mut count = None;
    while let Some(item) = ws.next().await {
        if let Ok(Message::Text(text)) = item {
            count = text.trim().parse().ok();
        }
    }
    count.ok_or_else(|| "no case count received".to_string())
}

async fn run(base: &str, agent: &str, verbose: bool, deflate: bool) -> Result<(), String> {
    let count = case_count(base, deflate).await?;
    eprintln!("{count} cases");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        match open(&url, deflate).await {
            Ok(mut ws) => {
                // Many cases end in an error on purpose (they send bad frames).
                if let Err(e) = echo::echo(&mut ws).await
                    && verbose
                {
                    eprintln!("case {case}: {e}");
                }
            }
            Err(e) => eprintln!("case {case}: connect failed: {e}"),
        }
    }
    let mut ws = open(&format!("{base}/updateReports?agent={agent}"), deflate)
        .await
        .map_err(|e| e.to_string())?;
    // The fuzzing server writes its reports and drops TCP, sometimes with a reset: how this
    // connection ends says nothing about the cases.
    let _ = ws.close(None).await;
    eprintln!("reports updated");
    Ok(())
}

fn main() -> ExitCode {
    let mut url = "ws://127.0.0.1:9001".to_string();
    let mut agent = "wsx".to_string();
    let mut verbose = false;
    let mut deflate = true;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        if arg == "--verbose" {
            verbose = true;
            continue;
        }
        if arg == "--no-deflate" {
            deflate = false;
            continue;
        }
        let value = it.next();
        match (arg.as_str(), value) {
            ("--url", Some(v)) => url = v,
            ("--agent", Some(v)) => agent = v,
            _ => {
                return cli::usage_error(
                    "usage: autobahn_client [--url ws://HOST:PORT] [--agent NAME] [--verbose] [--no-deflate]",
                );
            }
        }
    }
    let runtime = match cli::runtime("autobahn_client", 1) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = runtime.block_on(run(url.trim_end_matches('/'), &agent, verbose, deflate));
    cli::exit_code("autobahn_client", result)
}

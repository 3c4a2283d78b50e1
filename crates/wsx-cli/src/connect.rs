//! `wsx connect`: an interactive WebSocket client like wscat, on wsx's own driver.
//!
//! Standard input lines become text messages; lines starting with `/` are commands (`/ping`,
//! `/close`, `//` escapes a leading slash). Incoming messages go to stdout, one per line
//! (`< ` then the text, or the bytes in hex for binary); status lines (connected, closed,
//! errors) go to stderr, so stdout is only what the server sent. End of input, Ctrl-C or `-w`
//! running out start a normal close handshake (1000); a second Ctrl-C quits at once.
//!
//! One task does everything with `tokio::select!` over the connection, the input lines and the
//! timers: `WebSocket::next` keeps its state in the connection, so a branch that loses the race
//! loses nothing. Standard input is read on a plain thread (a blocking read cannot be
//! cancelled; the process exits without waiting for it).

use crate::failure::{Failure, Result};
use crate::refusal;
use crate::tls::{self, Trust};
use clap::Args;
use http::{HeaderMap, HeaderName, HeaderValue};
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use wsx::handshake::{ClientOptions, Target};
use wsx::proto::{DeflateConfig, ExtensionFactory, PerMessageDeflate};
use wsx::{CloseCode, CloseFrame, Message, WebSocket, WebSocketConfig};

/// Arguments of `wsx connect`.
#[derive(Debug, Args)]
#[command(after_help = "\
Input lines:
  TEXT                    sent as a text message
  /ping [DATA]            send a ping (DATA as its payload, at most 125 bytes);
                          its pong is printed as `< [pong] DATA`
  /close [CODE [REASON]]  start the close handshake (default 1000)
  //TEXT                  send /TEXT as a text message

Output: each message received is one line on stdout: `< TEXT`, or for binary
`< [binary N bytes] HEX`; status lines go to stderr. Exit status 0 after a
close handshake, 1 when the connection failed.

Examples (`wsx serve` serves /echo and /chat on 127.0.0.1:8080):
  wsx connect ws://127.0.0.1:8080/echo
  wsx connect ws://127.0.0.1:8080/echo -x hello -x world -w 1
  wsx connect wss://localhost:8080/chat --ca cert.pem -H 'Origin: https://localhost:8080'")]
pub struct ConnectArgs {
    /// The server's URL: ws://HOST[:PORT]/PATH or wss://... (TLS).
    pub url: String,

    /// Add a request header, written 'Name: value' (repeatable), e.g. -H 'Origin: http://x'.
    /// Headers the handshake sets itself (Host, Upgrade, Sec-WebSocket-*) cannot be replaced.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// Offer this subprotocol (Sec-WebSocket-Protocol; repeatable, most preferred first).
    #[arg(long = "subprotocol", value_name = "P")]
    pub subprotocols: Vec<String>,

    /// For wss://: trust only the CA certificates in this PEM file instead of the built-in
    /// Mozilla roots.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub ca: Option<std::path::PathBuf>,

    /// For wss://: accept ANY server certificate, unchecked. For testing against self-signed
    /// servers only: anyone on the path can pose as the server.
    #[arg(long)]
    pub insecure: bool,

    /// Print every ping and pong received (pings are answered automatically either way).
    /// Without it, only the pong that answers a /ping command is printed.
    #[arg(long)]
    pub show_ping_pong: bool,

    /// Send this line once connected instead of reading stdin (repeatable, sent in order; the
    /// same commands as input lines). Then wait -w seconds, close and exit.
    #[arg(short = 'x', long = "execute", value_name = "MESSAGE")]
    pub execute: Vec<String>,

    /// With -x: how long to wait for replies before closing (default 2). Without -x: how long
    /// to stay connected (stdin is still read) before closing.
    #[arg(short = 'w', long = "wait", value_name = "SECONDS", value_parser = parse_seconds)]
    pub wait: Option<Duration>,

    /// Do not offer permessage-deflate compression (offered by default).
    #[arg(long)]
    pub no_deflate: bool,

    /// Give up when the TCP connect, TLS and opening handshake take longer than this.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    pub connect_timeout: Duration,
}

/// Parses a non-negative, finite number of seconds (fractions allowed).
pub fn parse_seconds(text: &str) -> std::result::Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("{text:?} is not a valid number of seconds"))
}

/// Runs `wsx connect`.
pub fn run(args: ConnectArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(session(args))
}

/// Parses `Name: value` headers.
fn parse_headers(list: &[String]) -> Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    for item in list {
        let bad = || Failure::new(format!("bad header {item:?}: expected 'Name: value'"));
        let (name, value) = item.split_once(':').ok_or_else(bad)?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
        let value = HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
        headers.append(name, value);
    }
    Ok(headers)
}

async fn session(args: ConnectArgs) -> Result<ExitCode> {
    let target = Target::parse(&args.url)
        .map_err(|e| Failure::new(format!("invalid URL {:?}: {e}", args.url)))?;
    let headers = parse_headers(&args.headers)?;
    let mut options = ClientOptions {
        subprotocols: args.subprotocols.clone(),
        ..ClientOptions::default()
    };
    if !args.no_deflate {
        let deflate: Arc<dyn ExtensionFactory> =
            Arc::new(PerMessageDeflate::new(DeflateConfig::default()));
        options.extensions.push(deflate);
    }
    let trust = match (&args.ca, args.insecure) {
        (_, true) => Trust::Insecure,
        (Some(path), false) => Trust::CaFile(path.clone()),
        (None, false) => Trust::System,
    };
    let where_to = format!("{}:{}", target.host, target.port);
    let tcp = tokio::time::timeout(
        args.connect_timeout,
        TcpStream::connect((target.host.as_str(), target.port)),
    )
    .await
    .map_err(|_| Failure::new(format!("connecting to {where_to} timed out")))?
    .map_err(|e| Failure::new(format!("cannot connect to {where_to}: {e}")))?;
    tcp.set_nodelay(true)?;
    let config = WebSocketConfig::default();
    let timeout = args.connect_timeout;
    if target.secure {
        let tls = tls::client_config(&trust)?;
        let name = rustls::pki_types::ServerName::try_from(target.host.clone())
            .map_err(|_| Failure::new(format!("{} is not a valid TLS server name", target.host)))?;
        let stream = tokio::time::timeout(
            timeout,
            tokio_rustls::TlsConnector::from(tls).connect(name, tcp),
        )
        .await
        .map_err(|_| Failure::new("TLS handshake timed out"))?
        .map_err(|e| tls_failure(tls::handshake_error(&where_to, e), &target))?;
        let ws = handshake(stream, &target, &headers, &options, config, timeout).await?;
        talk(ws, &args).await
    } else {
        if args.ca.is_some() || args.insecure {
            crate::status!("wsx: note: --ca/--insecure only apply to wss:// URLs");
        }
        let ws = handshake(tcp, &target, &headers, &options, config, timeout).await?;
        talk(ws, &args).await
    }
}

async fn handshake<S>(
    stream: S,
    target: &Target,
    headers: &HeaderMap,
    options: &ClientOptions,
    config: WebSocketConfig,
    timeout: Duration,
) -> Result<WebSocket<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (ws, _response) = tokio::time::timeout(
        timeout,
        wsx::client_handshake(stream, target, headers, options, config),
    )
    .await
    .map_err(|_| Failure::new("opening handshake timed out"))?
    .map_err(|e| handshake_failure(e, target))?;
    let mut note = String::new();
    if let Some(protocol) = ws.subprotocol() {
        note.push_str(&format!(", subprotocol {protocol}"));
    }
    if ws.has_extension() {
        note.push_str(", permessage-deflate");
    }
    crate::status!("connected to {}{note}", target.host_header());
    Ok(ws)
}

/// A failed TLS handshake, in the library's words; for a plain server reached with `wss://`,
/// with the `ws://` URL to try instead.
fn tls_failure(err: wsx::TlsError, target: &Target) -> Failure {
    let plain = matches!(err, wsx::TlsError::NotTls { .. });
    let mut message = wsx::Error::from(err).to_string();
    if plain {
        message.push_str(&format!("; try {}", refusal::url_of(target, false)));
    }
    Failure::new(message)
}

/// A failed opening handshake: a refusal by HTTP status says what to check (see
/// [`refusal::explain`]).
fn handshake_failure(err: wsx::Error, target: &Target) -> Failure {
    match &err {
        wsx::Error::Handshake(wsx::HandshakeError::UnexpectedStatus(status)) => Failure::new(
            refusal::explain(&refusal::url_of(target, target.secure), *status),
        ),
        _ => Failure::from(err),
    }
}

/// Reads standard input on a thread: each line (lossy UTF-8, without its line ending) goes
/// to the channel; the channel closes at end of input.
fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(64);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut line = Vec::new();
        loop {
            line.clear();
            match input.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            let text = String::from_utf8_lossy(&line).into_owned();
            if tx.blocking_send(text).is_err() {
                break;
            }
        }
    });
    rx
}

/// Forwards each Ctrl-C to the channel.
fn interrupts() -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if tx.send(()).await.is_err() {
                break;
            }
        }
    });
    rx
}

/// What an input line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Send(Message),
    Close(Option<CloseFrame>),
    Usage(String),
}

/// Turns an input line into a command (pure, unit tested).
fn parse_line(line: &str) -> Command {
    if let Some(rest) = line.strip_prefix("//") {
        return Command::Send(Message::text(format!("/{rest}")));
    }
    let Some(command) = line.strip_prefix('/') else {
        return Command::Send(Message::text(line.to_owned()));
    };
    let (name, rest) = command.split_once(' ').unwrap_or((command, ""));
    match name {
        "ping" => Command::Send(Message::Ping(bytes::Bytes::from(rest.as_bytes().to_vec()))),
        "close" => {
            let rest = rest.trim_start();
            if rest.is_empty() {
                return Command::Close(Some(CloseFrame::new(CloseCode::NORMAL_CLOSURE, "")));
            }
            let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
            match code.parse::<u16>() {
                Ok(code) => Command::Close(Some(CloseFrame::new(code, reason))),
                Err(_) => Command::Usage(format!(
                    "bad close code {code:?}: usage /close [CODE [REASON]]"
                )),
            }
        }
        _ => Command::Usage(format!(
            "unknown command /{name}: use /ping [DATA], /close [CODE [REASON]], or // to send a line starting with /"
        )),
    }
}

/// Prints a received message as one line on stdout.
fn show(message: &Message, show_ping_pong: bool) {
    let line = match message {
        Message::Text(text) => format!("< {text}"),
        Message::Binary(data) => format!("< [binary {} bytes] {}", data.len(), hex(data)),
        Message::Ping(data) if show_ping_pong => format!("< [ping] {}", printable(data)),
        Message::Pong(data) if show_ping_pong => format!("< [pong] {}", printable(data)),
        Message::Ping(_) | Message::Pong(_) | Message::Close(_) => return,
    };
    let mut out = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) is not worth failing the connection for.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn hex(data: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(data.len() * 2);
    for b in data {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Text if the payload is UTF-8, else hex.
fn printable(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(text) => text.to_owned(),
        Err(_) => hex(data),
    }
}

/// The conversation: input lines out, messages in, until the connection is closed.
async fn talk<S>(mut ws: WebSocket<S>, args: &ConnectArgs) -> Result<ExitCode>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let scripted = !args.execute.is_empty();
    let mut lines = if scripted {
        let (tx, rx) = mpsc::channel(args.execute.len().max(1));
        for line in &args.execute {
            // Cannot fail: the channel has room for every line.
            let _ = tx.try_send(line.clone());
        }
        rx
    } else {
        stdin_lines()
    };
    let wait = args.wait.or(scripted.then_some(Duration::from_secs(2)));
    // The -w timer starts once the -x lines are sent (they are queued before the first poll).
    let deadline = wait.map(|w| tokio::time::Instant::now() + w);
    let mut interrupts = interrupts();
    let mut pings = AskedPings::default();
    let mut input_open = true;
    let mut closing = false;
    let far = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
    let timer = tokio::time::sleep_until(deadline.unwrap_or(far));
    tokio::pin!(timer);

    let outcome = loop {
        tokio::select! {
            item = ws.next() => match item {
                Some(Ok(message)) => {
                    let asked = matches!(&message, Message::Pong(data) if pings.answered(data));
                    show(&message, args.show_ping_pong || asked);
                }
                Some(Err(err)) => break Err(err),
                None => break Ok(()),
            },
            line = lines.recv(), if input_open && !closing => match line {
                Some(line) => match parse_line(&line) {
                    Command::Send(message) => {
                        let ping = match &message {
                            Message::Ping(data) => Some(data.clone()),
                            _ => None,
                        };
                        match ws.send(message).await {
                            Ok(()) => pings.sent(ping),
                            Err(err) => {
                                crate::status!("wsx: cannot send: {err}");
                                if matches!(err, wsx::Error::Io(_) | wsx::Error::ConnectionClosed) {
                                    break Err(err);
                                }
                            }
                        }
                    }
                    Command::Close(frame) => match ws.send(Message::Close(frame)).await {
                        Ok(()) => closing = true,
                        Err(err) => crate::status!("wsx: cannot close: {err}"),
                    },
                    Command::Usage(text) => crate::status!("wsx: {text}"),
                },
                None => {
                    input_open = false;
                    // End of stdin ends the session, unless -w says how long to stay.
                    if !scripted && deadline.is_none() {
                        closing = start_close(&mut ws).await;
                    }
                }
            },
            () = &mut timer, if !closing => {
                closing = start_close(&mut ws).await;
                timer.as_mut().reset(far);
            }
            signal = interrupts.recv() => {
                if closing || signal.is_none() {
                    crate::status!("wsx: interrupted");
                    return Ok(ExitCode::from(130));
                }
                closing = start_close(&mut ws).await;
            }
        }
    };
    report(&ws, outcome)
}

/// The payloads of the `/ping` commands whose pong has not come back yet, oldest first, so
/// that their pongs are printed even without `--show-ping-pong` (a user who types `/ping`
/// wants to see the answer) while unsolicited pongs stay hidden.
#[derive(Debug, Default)]
struct AskedPings(std::collections::VecDeque<bytes::Bytes>);

impl AskedPings {
    /// At most this many are remembered: a peer that never answers costs no more memory.
    const MAX: usize = 64;

    /// Remembers the payload of a ping just sent (`None`: the message was not a ping).
    fn sent(&mut self, ping: Option<bytes::Bytes>) {
        if let Some(data) = ping {
            if self.0.len() == Self::MAX {
                self.0.pop_front();
            }
            self.0.push_back(data);
        }
    }

    /// Whether a pong with `data` answers a ping we sent. RFC 6455 §5.5.3 lets the peer
    /// answer only the most recent of several pings, so the matching ping and every older one
    /// count as answered.
    fn answered(&mut self, data: &[u8]) -> bool {
        match self.0.iter().position(|sent| sent.as_ref() == data) {
            Some(at) => {
                self.0.drain(..=at);
                true
            }
            None => false,
        }
    }
}

/// Starts the close handshake with a normal close frame. A failure means it is closing or
/// closed already: the read side then ends the loop. Returns `true` (the session is closing).
async fn start_close<S>(ws: &mut WebSocket<S>) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame::new(CloseCode::NORMAL_CLOSURE, "");
    let _ = ws.send(Message::Close(Some(frame))).await;
    true
}

/// Prints how the connection ended and picks the exit status.
fn report<S>(ws: &WebSocket<S>, outcome: std::result::Result<(), wsx::Error>) -> Result<ExitCode>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match outcome {
        Ok(()) => {
            let code = ws.close_code();
            let reason = ws.close_frame().map_or("", |f| f.reason.as_str());
            if reason.is_empty() {
                crate::status!("closed: {code}");
            } else {
                crate::status!("closed: {code} {reason}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => Err(Failure::new(format!("connection failed: {err}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_commands() {
        assert_eq!(parse_line("hello"), Command::Send(Message::text("hello")));
        assert_eq!(parse_line("//x y"), Command::Send(Message::text("/x y")));
        assert_eq!(
            parse_line("/ping abc"),
            Command::Send(Message::Ping(bytes::Bytes::from_static(b"abc")))
        );
        assert_eq!(
            parse_line("/ping"),
            Command::Send(Message::Ping(bytes::Bytes::new()))
        );
        assert_eq!(
            parse_line("/close 4000 bye now"),
            Command::Close(Some(CloseFrame::new(4000, "bye now")))
        );
        assert_eq!(
            parse_line("/close"),
            Command::Close(Some(CloseFrame::new(1000, "")))
        );
        assert!(matches!(parse_line("/close x"), Command::Usage(_)));
        assert!(matches!(parse_line("/nope"), Command::Usage(_)));
    }

    #[test]
    fn headers_parse_or_fail_in_one_line() {
        let h = parse_headers(&["Origin: http://a".into(), "X-A:b".into()]).expect("valid");
        assert_eq!(h["origin"], "http://a");
        assert_eq!(h["x-a"], "b");
        assert!(parse_headers(&["nocolon".into()]).is_err());
        assert!(parse_headers(&["bad name: v".into()]).is_err());
    }

    #[test]
    fn seconds_parse() {
        assert_eq!(parse_seconds("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("nan").is_err());
        assert!(parse_seconds("x").is_err());
    }

    #[test]
    fn only_pongs_of_our_pings_count_as_asked() {
        let mut pings = AskedPings::default();
        assert!(!pings.answered(b""), "an unsolicited pong");
        pings.sent(Some(bytes::Bytes::from_static(b"a")));
        pings.sent(None);
        pings.sent(Some(bytes::Bytes::from_static(b"b")));
        // The peer may answer only the latest ping: "a" is answered with it.
        assert!(pings.answered(b"b"));
        assert!(!pings.answered(b"a"));
        for i in 0..100u8 {
            pings.sent(Some(bytes::Bytes::from(vec![i])));
        }
        assert_eq!(pings.0.len(), AskedPings::MAX);
        assert!(!pings.answered(&[0]), "forgotten: older than the last 64");
        assert!(pings.answered(&[99]));
    }

    #[test]
    fn hex_is_lowercase_pairs() {
        assert_eq!(hex(&[0, 1, 0xab]), "0001ab");
    }
}

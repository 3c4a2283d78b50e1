//! The Socket.IO demo server the interop tests drive with the official clients.
//!
//! Usage: `cargo run --release -p wsx-sio --example sio_demo -- --addr 127.0.0.1:PORT
//! [--parser json|msgpack] [--protocol-test] [--ping-interval MS] [--ping-timeout MS]
//! [--redis URL [--name NAME] [--advertise HOST:PORT|auto] [--forward-timeout MS]]` (port 0
//! picks a free port). Prints `listening on ADDR` once it accepts connections.
//!
//! `--ping-interval` and `--ping-timeout` replace the demo's 2000 ms heartbeat settings.
//! `--recovery` turns connection state recovery on (2 minutes; with `--redis-adapter
//! streams`, across the cluster through the stream).
//!
//! `--advertise` (with `--redis`, either adapter) turns on forwarding
//! (`wsx_sio::server::forward`): the node advertises `HOST:PORT` (`auto`: the address it
//! listens on) through Redis, and serves a
//! request for a session another node owns by forwarding it there, so that the nodes can sit
//! behind a balancer without sticky sessions. `--forward-timeout` is how long an owner may
//! take to answer (default 10,000 ms; a poll gets the ping interval more).
//!
//! `--parser msgpack` speaks npm `socket.io-msgpack-parser` instead of the default JSON parser
//! (the clients need the same `parser` option); the contract is the same.
//!
//! `--admin-ui` serves the admin UI (npm `@socket.io/admin-ui`, [`wsx_sio::admin`]) on
//! namespace `/admin-ui`, development mode, basic authentication as user `admin` with password
//! `changeit`; `--admin-ui-origin ORIGIN` (repeatable) lets the pages of ORIGIN (where the
//! dashboard is served, e.g. `http://127.0.0.1:8080`) connect, besides
//! `https://admin.socket.io`. Not with `--protocol-test`.
//!
//! `--protocol-test` serves instead what the official Socket.IO protocol suite
//! (`test-suite/` of socketio/socket.io-protocol) expects: pingInterval 300 ms, pingTimeout
//! 200 ms, connectTimeout 1000 ms, maxPayload 1,000,000; on connection to `/` or `/custom`
//! the server emits `auth` with the CONNECT payload (or `{}`); `message` -> `message-back`
//! with the same args; `message-with-ack` -> the ack gets the same args.
//!
//! pingInterval 2000 ms, pingTimeout 2000 ms, maxPayload 2,000,000 bytes (a 1,000,000-byte
//! argument plus its packet framing fits). The contract:
//! - namespace `/`:
//!   - `echo` (any args, binary anywhere) -> `echo` with the same args, to the sender only;
//!   - `echo-ack` -> the ack gets the same args;
//!   - `join(room)` -> joins, ack `true`;
//!   - `to-room(room, payload)` -> `room-msg(payload)` to everyone in the room but the sender;
//!   - `broadcast(payload)` -> `broadcast(payload)` to every socket of `/`, sender included;
//!   - on connect the server emits `server-ask(v)` with a number and an ack; when the ack
//!     returns `r` it emits `server-ask-ok(r)` (an ack that never comes is tolerated);
//!   - `recovered` with an ack -> whether the socket was recovered (beyond the contract);
//!   - `ask-room(room, payload)` with an ack -> `question(payload)` to every socket in the
//!     room, the sender too if it is in it, on every server, each asked for an ack within
//!     1,500 ms; then the sender's ack gets `{"timedOut": bool, "responses": [..]}` (each
//!     answer's first argument, binary included), as soon as every answer is in, or at the
//!     timeout with the answers that came (a broadcast with acknowledgements);
//! - namespace `/admin`: `whoami` with an ack -> the ack gets the socket's id;
//! - every namespace matching `^/dyn-[0-9]+$` (a dynamic namespace, `Server::of_matching`):
//!   the events of `/` above (`echo`, `echo-ack`, `join`, `to-room`, `broadcast`, the
//!   connect-time `server-ask`), each scoped to its own namespace;
//! - any other namespace -> CONNECT_ERROR `{"message":"Invalid namespace"}`.
//!
//! Cluster events (namespace `/`; with `--redis URL` (feature `redis`) they span every server
//! on that Redis, Node's `tests/cluster/node_server.js` included):
//! - `node-name` with an ack -> the `--name` of the server the socket is on;
//! - `fetch-sockets(room or null)` with an ack -> the sorted ids of the sockets in the room
//!   (or all), on every server (`{"error": ..}` when a server did not answer in time);
//! - `set-data(value)` with an ack -> the socket's `data` becomes `value`; ack `true`;
//! - `fetch-data` with an ack -> `[{id, data}]` of every socket on every server, sorted by id
//!   (`socket.data` as `fetchSockets` carries it between servers);
//! - `sockets-join(sid, room)` with an ack -> that socket joins, wherever it is; ack `true`;
//! - `sockets-leave(sid, room)` with an ack -> that socket leaves, wherever it is; ack `true`;
//! - `disconnect-sockets(room)` with an ack -> every socket in the room, on every server, is
//!   disconnected from `/`; ack `true`;
//! - `server-side(payload)` -> server-side event `relay(payload)` to the other servers, which
//!   emit `relayed(payload)` to their own sockets;
//! - `server-side-ack(payload)` with an ack -> server-side `ping-nodes(payload)` with an ack;
//!   each other server answers `{"node": name, "got": payload}`; the ack gets the answers.

use std::time::Duration;
use wsx_sio::{Args, Config, EngineConfig, Parser, Server, Socket};

fn usage() -> ! {
    eprintln!(
        "usage: sio_demo [--addr HOST:PORT] [--redis URL[,URL..]] [--redis-adapter classic|sharded|sharded-dynamic|sharded-static|streams|streams-sharded] [--redis-cluster] [--name NAME] [--parser json|msgpack] [--admin-ui [--admin-ui-origin ORIGIN]...] [--protocol-test] [--ping-interval MS] [--ping-timeout MS] [--advertise HOST:PORT|auto] [--forward-timeout MS] [--recovery] [--per-message-deflate THRESHOLD]"
    );
    std::process::exit(2);
}

/// The command line's settings.
struct Options {
    redis: Option<String>,
    name: String,
    parser: Parser,
    protocol_test: bool,
    /// `--admin-ui`: the origins given with `--admin-ui-origin`.
    admin_ui: Option<Vec<String>>,
    ping_interval: Option<Duration>,
    ping_timeout: Option<Duration>,
    /// `--advertise`: forwarding on, this address advertised (`auto`: the one listened on).
    advertise: Option<String>,
    forward_timeout: Option<Duration>,
    /// `--redis-adapter`: which Redis adapter (classic by default).
    adapter: RedisAdapterKind,
    /// `--redis-cluster`: `--redis` lists the nodes of a Redis Cluster (sharded adapters only).
    cluster: bool,
    /// `--recovery`: connection state recovery on.
    recovery: bool,
    /// `--per-message-deflate THRESHOLD`: permessage-deflate on (`Config::per_message_deflate`),
    /// messages under THRESHOLD bytes uncompressed.
    deflate: Option<usize>,
}

/// Which Redis adapter `--redis-adapter` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
enum RedisAdapterKind {
    Classic,
    ShardedDynamic,
    ShardedStatic,
    Streams,
    /// The Streams adapter, its requests over sharded pub/sub (Node's `useShardedPubSub`).
    StreamsSharded,
}

fn millis(value: Option<String>) -> Duration {
    match value.and_then(|v| v.parse().ok()) {
        Some(ms) => Duration::from_millis(ms),
        None => usage(),
    }
}

fn main() {
    let mut addr = "127.0.0.1:3000".to_owned();
    let mut options = Options {
        redis: None,
        name: "wsx".to_owned(),
        parser: Parser::Json,
        protocol_test: false,
        admin_ui: None,
        ping_interval: None,
        ping_timeout: None,
        advertise: None,
        forward_timeout: None,
        adapter: RedisAdapterKind::Classic,
        cluster: false,
        recovery: false,
        deflate: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().unwrap_or_else(|| usage()),
            "--redis" => options.redis = Some(args.next().unwrap_or_else(|| usage())),
            "--name" => options.name = args.next().unwrap_or_else(|| usage()),
            "--protocol-test" => options.protocol_test = true,
            "--admin-ui" => options.admin_ui = Some(options.admin_ui.unwrap_or_default()),
            "--admin-ui-origin" => {
                let origin = args.next().unwrap_or_else(|| usage());
                options.admin_ui.get_or_insert_with(Vec::new).push(origin);
            }
            "--ping-interval" => options.ping_interval = Some(millis(args.next())),
            "--ping-timeout" => options.ping_timeout = Some(millis(args.next())),
            "--advertise" => options.advertise = Some(args.next().unwrap_or_else(|| usage())),
            "--redis-adapter" => {
                options.adapter = match args.next().as_deref() {
                    Some("classic") => RedisAdapterKind::Classic,
                    Some("sharded" | "sharded-dynamic") => RedisAdapterKind::ShardedDynamic,
                    Some("sharded-static") => RedisAdapterKind::ShardedStatic,
                    Some("streams") => RedisAdapterKind::Streams,
                    Some("streams-sharded") => RedisAdapterKind::StreamsSharded,
                    _ => usage(),
                }
            }
            "--redis-cluster" => options.cluster = true,
            "--recovery" => options.recovery = true,
            "--per-message-deflate" => {
                options.deflate = Some(
                    args.next()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or_else(|| usage()),
                );
            }
            "--forward-timeout" => options.forward_timeout = Some(millis(args.next())),
            "--parser" => {
                options.parser = match args.next().as_deref() {
                    Some("json") => Parser::Json,
                    Some("msgpack") => Parser::MsgPack,
                    _ => usage(),
                }
            }
            _ => usage(),
        }
    }
    if options.advertise.is_some() && options.redis.is_none() {
        eprintln!("sio_demo: --advertise needs --redis (the nodes find each other there)");
        std::process::exit(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("sio_demo: cannot start the runtime: {err}");
            std::process::exit(1);
        }
    };
    if options.cluster && options.adapter == RedisAdapterKind::Classic {
        usage();
    }
    if let Err(err) = runtime.block_on(run(&addr, options)) {
        eprintln!("sio_demo: {err}");
        std::process::exit(1);
    }
}

async fn run(addr: &str, options: Options) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let mut config = config().parser(options.parser);
    if let Some(interval) = options.ping_interval {
        config.engine.ping_interval = interval;
    }
    if let Some(timeout) = options.ping_timeout {
        config.engine.ping_timeout = timeout;
    }
    if let Some(origins) = &options.admin_ui {
        config = admin_ui_config(config, origins);
    }
    if options.recovery {
        config.recovery = Some(wsx_sio::Recovery::default());
    }
    if let Some(threshold) = options.deflate {
        config = config.per_message_deflate(wsx_sio::DeflateOptions {
            threshold,
            ..wsx_sio::DeflateOptions::default()
        });
    }
    let io = match options.redis.as_deref() {
        None if options.protocol_test => protocol_test_server(),
        None => {
            let io = Server::new(config);
            install(&io, options.name.clone());
            io
        }
        Some(url) => redis_server(url, config, &options, local).await?,
    };
    if options.admin_ui.is_some() && !options.protocol_test {
        admin_ui_instrument(&io).map_err(std::io::Error::other)?;
    }
    println!("listening on {local}");
    io.serve(listener).await
}

/// The demo's settings: 2 s heartbeats, messages up to 2,000,000 bytes.
pub fn config() -> Config {
    Config {
        engine: EngineConfig {
            ping_interval: Duration::from_millis(2000),
            ping_timeout: Duration::from_millis(2000),
            max_payload: 2_000_000,
        },
        ..Config::default()
    }
}

/// The demo server on the Redis adapter, with forwarding when `--advertise` asks for it;
/// returns once its namespaces are subscribed, so that its first clients miss nothing the
/// other servers send.
#[cfg(feature = "redis")]
async fn redis_server(
    url: &str,
    mut config: Config,
    options: &Options,
    local: std::net::SocketAddr,
) -> std::io::Result<Server> {
    use wsx_sio::adapter::redis::sharded::{ShardedOptions, ShardedRedis, SubscriptionMode};
    use wsx_sio::adapter::redis::{Redis, RedisOptions};
    let mode = match options.adapter {
        RedisAdapterKind::Streams | RedisAdapterKind::StreamsSharded => {
            return streams_server(url, config, options, local).await;
        }
        RedisAdapterKind::Classic => None,
        RedisAdapterKind::ShardedDynamic => Some(SubscriptionMode::Dynamic),
        RedisAdapterKind::ShardedStatic => Some(SubscriptionMode::Static),
    };
    if let Some(subscription_mode) = mode {
        let sharded_options = ShardedOptions {
            subscription_mode,
            requests_timeout: Duration::from_secs(3),
            ..ShardedOptions::default()
        };
        let redis = if options.cluster {
            let nodes: Vec<&str> = url.split(',').collect();
            ShardedRedis::connect_cluster(&nodes, sharded_options).await
        } else {
            ShardedRedis::connect(url, sharded_options).await
        }
        .map_err(std::io::Error::other)?;
        config.forwarding = forwarding(&redis, options, local).await?;
        let io = Server::with_adapter(config, redis.factory());
        install(&io, options.name.clone());
        if !redis.wait_subscribed(Duration::from_secs(10)).await {
            return Err(std::io::Error::other("not subscribed to Redis within 10 s"));
        }
        return Ok(io);
    }
    let redis_options = RedisOptions {
        requests_timeout: Duration::from_secs(3),
        ..RedisOptions::default()
    };
    let redis = Redis::connect(url, redis_options)
        .await
        .map_err(std::io::Error::other)?;
    config.forwarding = forwarding(&redis, options, local).await?;
    let io = Server::with_adapter(config, redis.factory());
    install(&io, options.name.clone());
    if !redis.wait_subscribed(Duration::from_secs(10)).await {
        return Err(std::io::Error::other("not subscribed to Redis within 10 s"));
    }
    Ok(io)
}

/// [`redis_server`] on the Streams adapter (`--redis-adapter streams`, or `streams-sharded`
/// for sharded pub/sub; forwarding on its pub/sub connection).
#[cfg(feature = "redis")]
async fn streams_server(
    url: &str,
    mut config: Config,
    options: &Options,
    local: std::net::SocketAddr,
) -> std::io::Result<Server> {
    use wsx_sio::adapter::redis::streams::{StreamsOptions, StreamsRedis};
    let streams_options = StreamsOptions {
        requests_timeout: Duration::from_secs(3),
        use_sharded_pub_sub: options.adapter == RedisAdapterKind::StreamsSharded,
        ..StreamsOptions::default()
    };
    let redis = StreamsRedis::connect(url, streams_options)
        .await
        .map_err(std::io::Error::other)?;
    if let Some(recovery) = &mut config.recovery {
        *recovery = redis.recovery(recovery.max_disconnection_duration);
    }
    config.forwarding = forwarding(redis.pubsub(), options, local).await?;
    let io = Server::with_adapter(config, redis.factory());
    install(&io, options.name.clone());
    if !redis.wait_subscribed(Duration::from_secs(10)).await {
        return Err(std::io::Error::other("not subscribed to Redis within 10 s"));
    }
    Ok(io)
}

/// With `--advertise`, forwarding on the adapter's Redis connection (either adapter's).
#[cfg(feature = "redis")]
async fn forwarding<D>(
    redis: &D,
    options: &Options,
    local: std::net::SocketAddr,
) -> std::io::Result<Option<wsx_sio::server::Forwarding>>
where
    D: wsx_sio::server::Directory + Clone,
{
    use wsx_sio::server::{ForwardOptions, Forwarding};
    let Some(advertise) = &options.advertise else {
        return Ok(None);
    };
    let address = match advertise.as_str() {
        "auto" => local.to_string(),
        other => other.to_owned(),
    };
    let mut forward = ForwardOptions::default();
    if let Some(timeout) = options.forward_timeout {
        forward.timeout = timeout;
    }
    let forwarding = Forwarding::start(redis.clone(), address, forward)
        .await
        .map_err(std::io::Error::other)?;
    println!("node {} at {}", forwarding.node(), forwarding.address());
    Ok(Some(forwarding))
}

#[cfg(not(feature = "redis"))]
async fn redis_server(
    _url: &str,
    _config: Config,
    _options: &Options,
    _local: std::net::SocketAddr,
) -> std::io::Result<Server> {
    Err(std::io::Error::other(
        "--redis needs the `redis` feature (cargo run --features redis ...)",
    ))
}

/// The bcrypt hash of the admin UI's password, `changeit` (bcryptjs `hashSync("changeit",
/// 10)`, as Node's admin UI takes it).
pub const ADMIN_UI_PASSWORD_HASH: &str =
    "$2a$10$/Il/Bs1ET8CPQC4iDvO4q.NSLESWBkL8EC510VJLBTVIMUBVznh2O";

/// `--admin-ui`'s settings: the dashboard's pages (of `origins` and of
/// <https://admin.socket.io>) may connect, with credentials, as the dashboard asks.
pub fn admin_ui_config(config: Config, origins: &[String]) -> Config {
    let mut allowed = vec!["https://admin.socket.io".to_owned()];
    allowed.extend(origins.iter().cloned());
    Config {
        cors: Some(wsx_sio::Cors::origins(allowed).with_credentials()),
        ..config
    }
}

/// `--admin-ui`: the admin UI on `/admin-ui`, development mode, user `admin`, password
/// `changeit`.
pub fn admin_ui_instrument(io: &Server) -> Result<(), wsx_sio::admin::AdminError> {
    use wsx_sio::admin::{AdminAuth, AdminMode, AdminOptions, instrument};
    instrument(
        io,
        AdminOptions {
            namespace: "/admin-ui".to_owned(),
            auth: AdminAuth::basic("admin", ADMIN_UI_PASSWORD_HASH)?,
            mode: AdminMode::Development,
            ..AdminOptions::default()
        },
    )
}

/// The demo server, with the contract's handlers (the interop tests run this very code).
pub fn server() -> Server {
    server_with(config())
}

/// The demo's handlers on a server with `config` (the recovery interop test turns
/// connection state recovery on).
pub fn server_with(config: Config) -> Server {
    let io = Server::new(config);
    install(&io, "wsx".to_owned());
    io
}

/// The cluster events of the contract (see the module docs).
fn cluster_handlers(socket: &Socket, name: &std::sync::Arc<str>) {
    let name = name.clone();
    socket.on_with_ack("node-name", move |_s: Socket, _: Args, ack| {
        let name = name.clone();
        async move {
            let _ = ack.send(&name.as_ref());
        }
    });
    socket.on_with_ack(
        "set-data",
        |s: Socket, data: serde_json::Value, ack| async move {
            s.set_data(data);
            let _ = ack.send(&true);
        },
    );
    socket.on_with_ack("fetch-data", |s: Socket, (), ack| async move {
        let _ = match s.hub().fetch_sockets().await {
            Ok(found) => {
                let mut entries: Vec<serde_json::Value> = found
                    .iter()
                    .map(|r| serde_json::json!({"id": r.id(), "data": r.data()}))
                    .collect();
                entries.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
                ack.send(&entries)
            }
            Err(err) => ack.send(&serde_json::json!({"error": err.to_string()})),
        };
    });
    socket.on_with_ack(
        "fetch-sockets",
        |s: Socket, room: Option<String>, ack| async move {
            let found = match room {
                Some(room) => s.hub().to(room).fetch_sockets().await,
                None => s.hub().fetch_sockets().await,
            };
            let _ = match found {
                Ok(found) => {
                    let mut ids: Vec<&str> = found.iter().map(|r| r.id()).collect();
                    ids.sort_unstable();
                    ack.send(&ids)
                }
                Err(err) => ack.send(&serde_json::json!({"error": err.to_string()})),
            };
        },
    );
    socket.on_with_ack(
        "sockets-join",
        |s: Socket, (sid, room): (String, String), ack| async move {
            s.hub().to(sid).sockets_join(room);
            let _ = ack.send(&true);
        },
    );
    socket.on_with_ack(
        "sockets-leave",
        |s: Socket, (sid, room): (String, String), ack| async move {
            s.hub().to(sid).sockets_leave(&room);
            let _ = ack.send(&true);
        },
    );
    socket.on_with_ack(
        "disconnect-sockets",
        |s: Socket, room: String, ack| async move {
            s.hub().to(room).disconnect_sockets(false);
            let _ = ack.send(&true);
        },
    );
    socket.on(
        "server-side",
        |s: Socket, payload: serde_json::Value| async move {
            let _ = s.hub().server_side_emit("relay", &payload);
        },
    );
    socket.on_with_ack(
        "server-side-ack",
        |s: Socket, payload: serde_json::Value, ack| async move {
            let _ = match s
                .hub()
                .server_side_emit_with_ack("ping-nodes", &payload)
                .await
            {
                Ok(answers) => ack.send(&answers),
                Err(err) => ack.send(&serde_json::json!({"error": err.to_string()})),
            };
        },
    );
}

/// Registers the contract's handlers on `io`.
fn install(io: &Server, name: String) {
    let name: std::sync::Arc<str> = name.into();
    let root = io.of("/");
    let hub = root.hub();
    root.on_server_side("relay", move |args, _ack| {
        let hub = hub.clone();
        async move {
            let payload = args.into_iter().next().unwrap_or_default();
            let _ = hub.local().emit("relayed", &payload);
        }
    });
    let me = name.clone();
    root.on_server_side("ping-nodes", move |args, ack| {
        let me = me.clone();
        async move {
            let got = args.into_iter().next().unwrap_or_default();
            let _ = ack.send(&serde_json::json!({"node": &*me, "got": got}));
        }
    });

    io.on_connection(move |socket: Socket| {
        cluster_handlers(&socket, &name);
        contract_handlers(socket)
    });

    io.of("/admin").on_connection(|socket: Socket| async move {
        socket.on_with_ack("whoami", |s: Socket, _: Args, ack| async move {
            let _ = ack.send(&s.id().as_str());
        });
    });

    // Dynamic namespaces: every `/dyn-<digits>` is created on its first CONNECT and behaves
    // as `/` for the contract's events, within itself.
    match wsx_sio::Regex::new(r"^/dyn-[0-9]+$") {
        Ok(pattern) => io.of_matching(pattern).on_connection(contract_handlers),
        Err(err) => eprintln!("sio_demo: dynamic namespaces off: {err}"),
    }
}

/// The contract's events of namespace `/`.
async fn contract_handlers(socket: Socket) {
    {
        socket.on("echo", |s: Socket, args: Args| async move {
            let _ = s.emit_args("echo", args);
        });
        socket.on_with_ack("echo-ack", |_s: Socket, args: Args, ack| async move {
            let _ = ack.send_args(args);
        });
        socket.on_with_ack("join", |s: Socket, room: String, ack| async move {
            s.join(room);
            let _ = ack.send(&true);
        });
        socket.on("to-room", |s: Socket, args: Args| async move {
            let Args {
                mut values,
                attachments,
            } = args;
            if values.is_empty() {
                return;
            }
            let room = values.remove(0);
            let Some(room) = room.as_str() else { return };
            let payload = Args {
                values,
                attachments,
            };
            let _ = s.to(room).emit_args("room-msg", payload);
        });
        socket.on("broadcast", |s: Socket, args: Args| async move {
            let _ = s.hub().emit_args("broadcast", args);
        });
        socket.on_with_ack("ask-room", |s: Socket, args: Args, ack| async move {
            // On a task of its own: the wait (up to 1,500 ms) must not hold this client's
            // next events, and concurrent asks are independent.
            tokio::spawn(ask_room(s, args, ack));
        });
        // Beyond the contract: whether this socket was recovered (connection state recovery).
        socket.on_with_ack("recovered", |s: Socket, _: Args, ack| async move {
            let _ = ack.send(&s.recovered());
        });

        let ask = socket.emit_with_ack("server-ask", &42);
        tokio::spawn(async move {
            if let Ok(answer) = ask.await {
                let _ = socket.emit_args("server-ask-ok", answer);
            }
        });
    }
}

/// `ask-room(room, payload)`: a broadcast with acknowledgements to the room; the ack gets
/// `{"timedOut", "responses"}`.
async fn ask_room(s: Socket, args: Args, ack: wsx_sio::AckSender) {
    use wsx_sio::packet::binary::Data;
    let Args {
        mut values,
        attachments,
    } = args;
    let room = match values.first().and_then(serde_json::Value::as_str) {
        Some(room) => room.to_owned(),
        None => {
            let _ = ack.send(&serde_json::json!({"error": "ask-room(room, payload)"}));
            return;
        }
    };
    values.remove(0);
    let payload = Args {
        values,
        attachments,
    };
    let asked = s
        .hub()
        .to(room)
        .timeout(Duration::from_millis(1500))
        .emit_args_with_ack("question", payload)
        .await;
    let acks = match asked {
        Ok(acks) => acks,
        Err(err) => {
            let _ = ack.send(&serde_json::json!({"error": err.to_string()}));
            return;
        }
    };
    // Each answer's first argument (as Node's `responses`), its binary kept.
    let responses = acks
        .responses
        .into_iter()
        .map(|answer| {
            answer
                .into_data()
                .ok()
                .and_then(|data| data.into_iter().next())
                .unwrap_or(Data::Json(serde_json::Value::Null))
        })
        .collect();
    let answer = Data::Object(vec![
        ("timedOut".to_owned(), Data::Json(acks.timed_out.into())),
        ("responses".to_owned(), Data::Array(responses)),
    ]);
    let _ = ack.send_args(Args::from_data(vec![answer]));
}

/// The official Socket.IO protocol suite's settings.
pub fn protocol_test_config() -> Config {
    Config {
        engine: EngineConfig {
            ping_interval: Duration::from_millis(300),
            ping_timeout: Duration::from_millis(200),
            max_payload: 1_000_000,
        },
        connect_timeout: Duration::from_millis(1000),
        ..Config::default()
    }
}

/// The server the official Socket.IO protocol suite expects (see the module docs).
pub fn protocol_test_server() -> Server {
    let io = Server::new(protocol_test_config());
    for namespace in ["/", "/custom"] {
        io.of(namespace).on_connection(|socket: Socket| async move {
            socket.on("message", |s: Socket, args: Args| async move {
                let _ = s.emit_args("message-back", args);
            });
            socket.on_with_ack(
                "message-with-ack",
                |_s: Socket, args: Args, ack| async move {
                    let _ = ack.send_args(args);
                },
            );
            // A moment after the CONNECT answer, not in the same write: the suite's client
            // (npm `ws` 8.5) hands over every message of one TCP read at once, and the suite
            // listens for the next message only after its `await` for the CONNECT answer
            // resumed, so an `auth` read together with the answer would be missed.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let auth = socket.auth().clone();
            let _ = socket.emit("auth", &auth);
        });
    }
    io
}

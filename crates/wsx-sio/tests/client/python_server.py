# python-socketio's server (ASGI, on uvicorn) running the sio_demo contract
# (crates/wsx-sio/examples/sio_demo.rs lists the events), for crates/wsx-sio/tests/client.rs:
# wsx-sio's client against a second independent server implementation.
# Usage: python python_server.py   (prints "listening on 127.0.0.1:PORT" on a free port;
# stops when stdin closes or on SIGTERM). Needs requirements.txt (a venv at
# target/sio-client-venv, see tests/client.rs).
import asyncio
import socket
import sys

import socketio
import uvicorn

# ASGI rather than aiohttp: python-engineio's aiohttp driver reads a polling POST body with one
# `StreamReader.read(length)`, which returns what has arrived so far, so a large body that
# comes in several TCP reads is cut (JSONDecodeError); its ASGI driver reads to the end.
sio = socketio.AsyncServer(
    async_mode="asgi",
    ping_interval=2,
    ping_timeout=2,
    max_http_buffer_size=2_000_000,
    namespaces="*",
)


@sio.on("connect", namespace="*")
async def refuse(namespace, sid, environ, auth=None):
    # Namespaces other than / and /admin (which have their own connect handlers).
    raise socketio.exceptions.ConnectionRefusedError("Invalid namespace")


@sio.on("connect")
async def connect(sid, environ, auth=None):
    def answered(*answer):
        asyncio.ensure_future(sio.emit("server-ask-ok", answer, to=sid))

    # After the CONNECT answer (a handler's emits would go out before it).
    async def ask():
        await asyncio.sleep(0.05)
        await sio.emit("server-ask", 42, to=sid, callback=answered)

    asyncio.ensure_future(ask())


@sio.on("echo")
async def echo(sid, *args):
    await sio.emit("echo", args, to=sid)


@sio.on("echo-ack")
async def echo_ack(sid, *args):
    return args


@sio.on("join")
async def join(sid, room):
    await sio.enter_room(sid, room)
    return True


@sio.on("to-room")
async def to_room(sid, room, *payload):
    await sio.emit("room-msg", payload, room=room, skip_sid=sid)


@sio.on("broadcast")
async def broadcast(sid, *payload):
    await sio.emit("broadcast", payload)


@sio.on("connect", namespace="/admin")
async def admin_connect(sid, environ, auth=None):
    return True


@sio.on("whoami", namespace="/admin")
async def whoami(sid, *args):
    return sid


async def main():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        socketio.ASGIApp(sio), ws="wsproto", log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve(sockets=[listener]))
    while not server.started:
        await asyncio.sleep(0.01)
    print(f"listening on 127.0.0.1:{listener.getsockname()[1]}", flush=True)
    # Until stdin closes.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.should_exit = True
    await serving


asyncio.run(main())

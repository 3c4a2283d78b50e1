"""python-socketio against the sio_demo contract (see crates/wsx-sio/examples/sio_demo.rs), on
one transport setting: websocket (`transports=["websocket"]`, over websocket-client), default
(the client's defaults: HTTP long-polling over requests, then the upgrade), or polling
(`transports=["polling"]`).

Usage: python client.py http://127.0.0.1:PORT [websocket|default|polling]
Prints one "ok - NAME" or "not ok - NAME: ERROR" line per check; exits 1 if any failed.
"""

import os
import queue
import sys
import threading
import time
import traceback

import socketio

URL = sys.argv[1] if len(sys.argv) > 1 else None
MODE = sys.argv[2] if len(sys.argv) > 2 else "websocket"
TRANSPORTS = {"websocket": ["websocket"], "default": None, "polling": ["polling"]}
WAIT = 5.0
failures = 0
clients = []


def check(name):
    def run(body):
        global failures
        try:
            body()
            print(f"ok - {name}", flush=True)
        except Exception:  # noqa: BLE001 - report every failure and go on
            failures += 1
            print(f"not ok - {name}: {traceback.format_exc()}", flush=True)
        return body

    return run


class Recorder:
    """Queues every occurrence of the given events, for all namespaces given."""

    def __init__(self, client, events, namespace="/"):
        self.queues = {e: queue.Queue() for e in events}
        for event in events:
            client.on(event, self._handler(event), namespace=namespace)

    def _handler(self, event):
        def handler(*args):
            self.queues[event].put(list(args))

        return handler

    def next(self, event, timeout=WAIT):
        return self.queues[event].get(timeout=timeout)

    def none(self, event, within=0.5):
        try:
            got = self.queues[event].get(timeout=within)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected {event}: {got!r}")


def client(events=(), namespaces=("/",), handlers=None):
    sio = socketio.Client(reconnection=False)
    recorder = Recorder(sio, list(events))
    for (event, ns), fn in (handlers or {}).items():
        sio.on(event, fn, namespace=ns)
    sio.connect(URL, transports=TRANSPORTS[MODE], namespaces=list(namespaces), wait_timeout=WAIT)
    clients.append(sio)
    return sio, recorder


def main():
    @check(f"the transport is right for mode {MODE}")
    def _():
        sio, rec = client(["echo"])
        want = "websocket" if MODE == "default" else MODE
        deadline = time.monotonic() + WAIT
        # In default mode the client opens over polling and upgrades in the background.
        while sio.transport() != want and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sio.transport() == want, sio.transport()
        sio.emit("echo", ("after", b"\x01"))
        assert rec.next("echo") == ["after", b"\x01"]
        sio.disconnect()

    @check("server-ask is acked, then server-ask-ok arrives after the ack")
    def _():
        acked = threading.Event()

        def ask(v):
            assert isinstance(v, int), v
            time.sleep(0.3)
            acked.set()
            return v + 1, "py"

        ok_at = queue.Queue()
        sio, _rec = client(
            handlers={
                ("server-ask", "/"): ask,
                ("server-ask-ok", "/"): lambda *a: ok_at.put((acked.is_set(), list(a))),
            }
        )
        was_acked, args = ok_at.get(timeout=WAIT)
        assert was_acked, "server-ask-ok came before the ack"
        assert args == [43, "py"], args
        sio.disconnect()

    @check("echo returns the same JSON arguments exactly")
    def _():
        sio, rec = client(["echo"])
        args = [
            9007199254740991, -9007199254740991, 0, -0.5, 0.1, 1e300, -1.5e-300, 5e-324,
            "😀𝄞 astral", "\u2028\u2029 separators", "", "quote\" backslash\\",
            {"b": 1, "a": [True, None, {}], "é": "x"}, [], False, None,
        ]
        sio.emit("echo", tuple(args))
        back = rec.next("echo")
        assert back == args, back
        assert [type(x) for x in back] == [type(x) for x in args]
        assert list(back[12].keys()) == ["b", "a", "é"], "key order changed"
        sio.disconnect()

    @check("echo returns binary at several depths and zero-length buffers")
    def _():
        sio, rec = client(["echo"])
        args = [
            b"\x01\x02\x03",
            {"a": {"b": [b"", {"c": b"x"}]}, "n": 1},
            [[[b"\xff\x00"]]],
            b"",
            "text",
        ]
        sio.emit("echo", tuple(args))
        assert rec.next("echo") == args
        sio.disconnect()

    @check("echo-ack acknowledges with the same arguments, binary included")
    def _():
        sio, _rec = client()
        args = (1, "two", {"three": b"\x03"}, [b""])
        back = sio.call("echo-ack", args, timeout=WAIT)
        assert list(back) == list(args), back
        assert sio.call("echo-ack", {"k": "v"}, timeout=WAIT) == {"k": "v"}
        sio.disconnect()

    @check("join acks true; to-room reaches the room but the sender; broadcast reaches all")
    def _():
        (a, ra), (b, rb), (c, rc) = [client(["room-msg", "broadcast"]) for _ in range(3)]
        assert a.call("join", "room-py", timeout=WAIT) is True
        assert b.call("join", "room-py", timeout=WAIT) is True
        payload = {"p": 1, "bin": b"\x09\x08", "deep": [{"z": b""}]}
        a.emit("to-room", ("room-py", payload))
        assert rb.next("room-msg") == [payload]
        ra.none("room-msg")
        rc.none("room-msg", within=0.1)
        a.emit("broadcast", {"hello": "all", "bin": b"\x01"})
        for rec in (ra, rb, rc):
            assert rec.next("broadcast") == [{"hello": "all", "bin": b"\x01"}]
        for s in (a, b, c):
            s.disconnect()

    @check("/admin alone: whoami acks the socket id")
    def _():
        sio, _rec = client(namespaces=["/admin"])
        assert sio.call("whoami", namespace="/admin", timeout=WAIT) == sio.get_sid("/admin")
        sio.disconnect()

    @check("/admin multiplexed with / on one connection")
    def _():
        sio, rec = client(["echo"], namespaces=["/", "/admin"])
        admin_id = sio.get_sid("/admin")
        assert admin_id and admin_id != sio.get_sid("/")
        assert sio.call("whoami", namespace="/admin", timeout=WAIT) == admin_id
        sio.emit("echo", "multiplexed")
        assert rec.next("echo") == ["multiplexed"]
        sio.disconnect()

    @check("another namespace gets CONNECT_ERROR Invalid namespace")
    def _():
        errors = queue.Queue()
        sio = socketio.Client(reconnection=False)
        sio.on("connect_error", lambda data: errors.put(data), namespace="/nope")
        try:
            sio.connect(URL, transports=TRANSPORTS[MODE], namespaces=["/nope"], wait_timeout=WAIT)
            raise AssertionError("connected to /nope")
        except socketio.exceptions.ConnectionError:
            pass
        data = errors.get(timeout=WAIT)
        assert data == {"message": "Invalid namespace"}, data
        sio.disconnect()

    @check("after DISCONNECT a socket is out of its rooms and gets nothing more")
    def _():
        (a, _ra), (d, rd), (w, rw) = [client(["room-msg"]) for _ in range(3)]
        assert d.call("join", "gone-py", timeout=WAIT) is True
        assert w.call("join", "gone-py", timeout=WAIT) is True
        d.disconnect()
        d2, rd2 = client(["room-msg"])
        a.emit("to-room", ("gone-py", "after"))
        assert rw.next("room-msg") == ["after"]
        rd.none("room-msg", within=0.1)
        rd2.none("room-msg")
        for s in (a, w, d2):
            s.disconnect()

    @check("100 emits come back in order")
    def _():
        sio, rec = client(["echo"])
        for i in range(100):
            sio.emit("echo", i)
        got = [rec.next("echo")[0] for _ in range(100)]
        assert got == list(range(100)), got
        sio.disconnect()

    @check("900 KB and 1,000,000-byte payloads, text and binary")
    def _():
        sio, rec = client(["echo"])
        for size in (900 * 1024, 1_000_000):
            text = "x" * size
            sio.emit("echo", text)
            assert rec.next("echo", timeout=10) == [text]
            data = bytes([7]) * size
            sio.emit("echo", data)
            assert rec.next("echo", timeout=10) == [data]
        sio.disconnect()

    @check("several heartbeat cycles keep the connection up")
    def _():
        sio, rec = client(["echo"])
        time.sleep(7)  # pingInterval 2 s: at least three ping/pong cycles
        assert sio.connected
        sio.emit("echo", "still")
        assert rec.next("echo") == ["still"]
        sio.disconnect()

    @check("clean disconnect")
    def _():
        reasons = queue.Queue()
        sio, _rec = client(handlers={("disconnect", "/"): lambda *a: reasons.put(a)})
        sio.disconnect()
        reasons.get(timeout=WAIT)
        assert not sio.connected

    for sio in clients:
        try:
            sio.disconnect()
        except Exception:  # noqa: BLE001
            pass
    print("all checks passed" if failures == 0 else f"{failures} checks failed", flush=True)
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    if not URL or MODE not in TRANSPORTS:
        print("usage: python client.py http://127.0.0.1:PORT [websocket|default|polling]", file=sys.stderr)
        sys.exit(2)
    timer = threading.Timer(
        150, lambda: (print("not ok - the whole run took more than 150 s", flush=True), os._exit(1))
    )
    timer.daemon = True
    timer.start()
    code = main()
    sys.stdout.flush()
    # python-socketio's background threads may linger: leave at once.
    os._exit(code)

"""python-socketio against a cluster of sio_demo nodes behind a round-robin balancer without
sticky sessions (tests/round_robin.rs starts them and nginx): a dozen clients, each its own
connection, with the client's default options (polling over requests, then the upgrade over
websocket-client) or on polling only. The same checks as round_robin.js: all connect, the
sessions are spread over the nodes, all join a room, every echo once and in order, room emits
and broadcasts reach everyone once in each sender's order, all stay connected through several
heartbeats.

Usage: python round_robin.py http://127.0.0.1:PORT default|polling CLIENTS STAY_MS
Prints one "ok - NAME" or "not ok - NAME: ERROR" line per check; exits 1 if any failed.
"""

import sys
import threading
import time
import traceback

import socketio

URL = sys.argv[1]
MODE = sys.argv[2] if len(sys.argv) > 2 else "default"
N = int(sys.argv[3]) if len(sys.argv) > 3 else 12
STAY = (int(sys.argv[4]) if len(sys.argv) > 4 else 3000) / 1000
TRANSPORTS = {"default": None, "polling": ["polling"]}[MODE]
ECHOES = 20
ROOM_MSGS = 5
BROADCASTS = 3
failures = 0


def check(name, body):
    global failures
    try:
        body()
        print(f"ok - {name}", flush=True)
    except Exception:  # noqa: BLE001 - report every failure and go on
        failures += 1
        print(f"not ok - {name}: {traceback.format_exc()}", flush=True)


def until(cond, seconds, what):
    deadline = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {what}")
        time.sleep(0.01)


def by_sender(messages):
    out = {}
    for m in messages:
        out.setdefault(m["from"], []).append(m["n"])
    return out


class Client:
    def __init__(self, i):
        self.i = i
        self.echoes = []
        self.room = []
        self.broadcasts = []
        self.disconnects = []
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("echo", lambda *args: self.echoes.append(list(args)))
        self.sio.on("room-msg", lambda payload: self.room.append(payload))
        self.sio.on("broadcast", lambda payload: self.broadcasts.append(payload))
        self.sio.on("server-ask", lambda v: v)
        self.sio.on("disconnect", lambda *reason: self.disconnects.append(reason))

    def connect(self):
        self.sio.connect(URL, transports=TRANSPORTS, wait_timeout=10)


def main():
    clients = [Client(i) for i in range(N)]

    def connect_all():
        threads = [threading.Thread(target=c.connect) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        until(lambda: all(c.sio.connected for c in clients), 10, "every client connected")

    check(f"all {N} clients connect ({MODE})", connect_all)

    def spread():
        names = [c.sio.call("node-name", timeout=5) for c in clients]
        count = {n: names.count(n) for n in set(names)}
        print(f"# sessions per node: {count}", flush=True)
        assert len(count) >= 2, f"all on one node: {count}"

    check("the sessions are spread over both nodes", spread)

    def join():
        assert [c.sio.call("join", "rr", timeout=5) for c in clients] == [True] * N

    check("every client joins the room", join)

    def echoes():
        for c in clients:
            for k in range(ECHOES):
                c.sio.emit("echo", (c.i, k))
        until(lambda: all(len(c.echoes) >= ECHOES for c in clients), 20, "every echo")
        time.sleep(0.2)
        for c in clients:
            assert [a[1] for a in c.echoes] == list(range(ECHOES)), f"client {c.i}: {c.echoes}"
            assert all(a[0] == c.i for a in c.echoes), f"client {c.i} got another's echo"

    check(f"every echo comes back once and in order ({ECHOES} each)", echoes)

    def room():
        for c in clients:
            for n in range(ROOM_MSGS):
                c.sio.emit("to-room", ("rr", {"from": c.i, "n": n}))
        want = (N - 1) * ROOM_MSGS
        until(lambda: all(len(c.room) >= want for c in clients), 20, "every room message")
        time.sleep(0.3)
        for c in clients:
            assert len(c.room) == want, f"client {c.i}: {len(c.room)} room messages"
            got = by_sender(c.room)
            assert c.i not in got, f"client {c.i} got its own room message"
            for other in clients:
                if other.i != c.i:
                    assert got.get(other.i) == list(range(ROOM_MSGS)), f"client {c.i} from {other.i}"

    check(f"room emits reach every other member once, in order ({ROOM_MSGS} from each)", room)

    def broadcasts():
        for c in clients:
            for n in range(BROADCASTS):
                c.sio.emit("broadcast", {"from": c.i, "n": n})
        want = N * BROADCASTS
        until(lambda: all(len(c.broadcasts) >= want for c in clients), 20, "every broadcast")
        time.sleep(0.3)
        for c in clients:
            assert len(c.broadcasts) == want, f"client {c.i}: {len(c.broadcasts)} broadcasts"
            got = by_sender(c.broadcasts)
            for other in clients:
                assert got.get(other.i) == list(range(BROADCASTS)), f"client {c.i} from {other.i}"

    check(f"broadcasts reach everyone once, in order ({BROADCASTS} from each)", broadcasts)

    want = "websocket" if MODE == "default" else "polling"

    def transports():
        until(lambda: all(c.sio.transport() == want for c in clients), 10, f"every client on {want}")

    check(f"every client is on {want}", transports)

    def stay():
        time.sleep(STAY)
        for c in clients:
            assert c.disconnects == [], f"client {c.i} disconnected: {c.disconnects}"
            assert c.sio.connected, f"client {c.i} not connected"
        answers = [c.sio.call("echo-ack", {"still": c.i}, timeout=5) for c in clients]
        assert answers == [{"still": c.i} for c in clients], answers

    check(f"all stay connected for {int(STAY * 1000)} ms (several heartbeats), then still echo", stay)

    for c in clients:
        c.sio.disconnect()


if __name__ == "__main__":
    try:
        main()
    except Exception:  # noqa: BLE001
        failures += 1
        print(f"not ok - the script: {traceback.format_exc()}", flush=True)
    sys.exit(1 if failures else 0)

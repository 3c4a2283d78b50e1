// The official Socket.IO client (npm socket.io-client) against a cluster of sio_demo nodes
// behind a round-robin balancer without sticky sessions (tests/round_robin.rs starts them and
// nginx): a dozen clients, each its own connection (`forceNew`), with the client's default
// options (polling, then the upgrade) or on polling only. Every request of a session may land
// on any node; the nodes forward to the session's owner.
//
// Checks: all connect; the sessions are spread over the nodes; all join a room; every echo
// comes back once and in order (binary included); room emits and broadcasts reach everyone
// once, in each sender's order; with default options every client upgraded to WebSocket; all
// stay connected through several heartbeats, and still echo afterwards.
//
// Mode `killed` (polling only): once all are connected, joined and spread, prints
// "# kill a" and waits for a line on stdin (the test kills node `a` meanwhile); then every
// client must be connected again, on node `b`, and echo.
//
// Usage: node round_robin.js http://127.0.0.1:PORT default|polling|killed CLIENTS STAY_MS
// Prints "ok - NAME" / "not ok - NAME: ERROR" lines; exits 1 if any check failed.
"use strict";

const { io } = require("socket.io-client");
const assert = require("node:assert/strict");
const { sleep, within } = require("./support");

const [url, mode = "default", clientsArg = "12", stayArg = "3000"] = process.argv.slice(2);
if (!url || !["default", "polling", "killed"].includes(mode)) {
  console.error("usage: node round_robin.js http://127.0.0.1:PORT default|polling|killed CLIENTS STAY_MS");
  process.exit(2);
}
const N = Number(clientsArg);
const STAY = Number(stayArg);
const ECHOES = 30;
const ROOM_MSGS = 5;
const BROADCASTS = 3;

let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (err) {
    failed++;
    console.log(`not ok - ${name}: ${err && err.stack ? err.stack : err}`);
  }
}

/** Waits until `cond()` holds (polling every 10 ms), at most `ms`. */
function until(cond, ms, what) {
  return within(
    (async () => {
      while (!cond()) await sleep(10);
    })(),
    ms,
    what,
  );
}

/** Per sender, the `n`s in arrival order. */
function bySender(messages) {
  const out = {};
  for (const m of messages) (out[m.from] ??= []).push(m.n);
  return out;
}

const range = (n) => Array.from({ length: n }, (_, i) => i);

async function main() {
  const opts = { forceNew: true };
  if (mode !== "default") opts.transports = ["polling"];
  const clients = range(N).map((i) => {
    const socket = io(url, opts);
    const c = { i, socket, echoes: [], room: [], broadcasts: [], disconnects: [], errors: [], connects: 0 };
    socket.on("connect", () => c.connects++);
    socket.on("echo", (...args) => c.echoes.push(args));
    socket.on("room-msg", (payload) => c.room.push(payload));
    socket.on("broadcast", (payload) => c.broadcasts.push(payload));
    socket.on("server-ask", (v, ack) => ack(v));
    socket.on("disconnect", (reason) => c.disconnects.push(reason));
    socket.on("connect_error", (err) => c.errors.push(String(err && err.message)));
    return c;
  });

  await check(`all ${N} clients connect (${mode})`, async () => {
    await until(() => clients.every((c) => c.socket.connected), 15000, "every client connected");
  });

  await check("the sessions are spread over both nodes", async () => {
    const names = await Promise.all(clients.map((c) => c.socket.timeout(5000).emitWithAck("node-name")));
    const count = {};
    for (const n of names) count[n] = (count[n] || 0) + 1;
    console.log(`# sessions per node: ${JSON.stringify(count)}`);
    assert.ok(Object.keys(count).length >= 2, `all on one node: ${JSON.stringify(count)}`);
  });

  await check("every client joins the room", async () => {
    const acks = await Promise.all(clients.map((c) => c.socket.timeout(5000).emitWithAck("join", "rr")));
    assert.deepEqual(acks, clients.map(() => true));
  });

  if (mode === "killed") {
    const onA = [];
    for (const c of clients) {
      if ((await c.socket.timeout(5000).emitWithAck("node-name")) === "a") onA.push(c);
    }
    console.log(`# ${onA.length} clients on node a`);
    console.log("# kill a");
    await new Promise((resolve) => process.stdin.once("data", resolve));
    await check(`the ${onA.length} clients of the killed node reconnect`, async () => {
      await until(
        () => onA.every((c) => c.connects >= 2 && c.socket.connected),
        20000,
        "every client of a connected again",
      );
    });
    await check("every client is connected, on node b, and echoes", async () => {
      await until(() => clients.every((c) => c.socket.connected), 20000, "every client connected");
      const names = await Promise.all(clients.map((c) => c.socket.timeout(5000).emitWithAck("node-name")));
      assert.deepEqual(names, clients.map(() => "b"));
      const answers = await Promise.all(
        clients.map((c) => c.socket.timeout(5000).emitWithAck("echo-ack", { after: c.i })),
      );
      assert.deepEqual(answers, clients.map((c) => ({ after: c.i })));
    });
    for (const c of clients) c.socket.close();
    return;
  }

  await check(`every echo comes back once and in order (${ECHOES} each, binary included)`, async () => {
    for (const c of clients) {
      for (const k of range(ECHOES)) {
        if (k % 10 === 9) c.socket.emit("echo", c.i, k, Buffer.from([c.i, k]));
        else c.socket.emit("echo", c.i, k);
      }
    }
    await until(() => clients.every((c) => c.echoes.length >= ECHOES), 15000, "every echo");
    await sleep(200);
    for (const c of clients) {
      assert.deepEqual(c.echoes.map((a) => a[1]), range(ECHOES), `client ${c.i}`);
      assert.ok(c.echoes.every((a) => a[0] === c.i), `client ${c.i} got another's echo`);
      for (const a of c.echoes.filter((a) => a[1] % 10 === 9)) {
        assert.deepEqual([...a[2]], [c.i, a[1]], `client ${c.i} binary`);
      }
    }
  });

  await check(`room emits reach every other member once, in order (${ROOM_MSGS} from each)`, async () => {
    for (const c of clients) {
      for (const n of range(ROOM_MSGS)) c.socket.emit("to-room", "rr", { from: c.i, n });
    }
    const want = (N - 1) * ROOM_MSGS;
    await until(() => clients.every((c) => c.room.length >= want), 15000, "every room message");
    await sleep(300);
    for (const c of clients) {
      assert.equal(c.room.length, want, `client ${c.i}: ${c.room.length} room messages`);
      const got = bySender(c.room);
      assert.equal(got[c.i], undefined, `client ${c.i} got its own room message`);
      for (const other of clients.filter((o) => o.i !== c.i)) {
        assert.deepEqual(got[other.i], range(ROOM_MSGS), `client ${c.i} from ${other.i}`);
      }
    }
  });

  await check(`broadcasts reach everyone once, in order (${BROADCASTS} from each)`, async () => {
    for (const c of clients) {
      for (const n of range(BROADCASTS)) c.socket.emit("broadcast", { from: c.i, n });
    }
    const want = N * BROADCASTS;
    await until(() => clients.every((c) => c.broadcasts.length >= want), 15000, "every broadcast");
    await sleep(300);
    for (const c of clients) {
      assert.equal(c.broadcasts.length, want, `client ${c.i}: ${c.broadcasts.length} broadcasts`);
      const got = bySender(c.broadcasts);
      for (const other of clients) {
        assert.deepEqual(got[other.i], range(BROADCASTS), `client ${c.i} from ${other.i}`);
      }
    }
  });

  if (mode === "default") {
    await check("every client upgraded to WebSocket", async () => {
      await until(
        () => clients.every((c) => c.socket.io.engine && c.socket.io.engine.transport.name === "websocket"),
        10000,
        "every upgrade",
      );
    });
  } else {
    await check("every client is still on polling", async () => {
      assert.ok(clients.every((c) => c.socket.io.engine.transport.name === "polling"));
    });
  }

  await check(`all stay connected for ${STAY} ms (several heartbeats), then still echo`, async () => {
    await sleep(STAY);
    for (const c of clients) {
      assert.deepEqual(c.disconnects, [], `client ${c.i} disconnected`);
      assert.ok(c.socket.connected, `client ${c.i} not connected`);
    }
    const answers = await Promise.all(
      clients.map((c) => c.socket.timeout(5000).emitWithAck("echo-ack", { still: c.i })),
    );
    assert.deepEqual(answers, clients.map((c) => ({ still: c.i })));
  });

  await check("no connection error, no disconnection", async () => {
    for (const c of clients) {
      assert.deepEqual(c.errors, [], `client ${c.i} errors`);
      assert.deepEqual(c.disconnects, [], `client ${c.i} disconnects`);
    }
  });

  for (const c of clients) c.socket.close();
}

main()
  .catch((err) => {
    failed++;
    console.log(`not ok - the script: ${err && err.stack ? err.stack : err}`);
  })
  .finally(() => process.exit(failed ? 1 : 0));

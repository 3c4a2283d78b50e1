// The official Socket.IO client (npm socket.io-client, default options: polling, then the
// upgrade) against sio_demo with connection state recovery on: a client whose connection
// drops reconnects and is recovered (same id, its room, every packet sent meanwhile, in
// order, nothing twice).
//
// Usage: node recovery.js http://127.0.0.1:PORT
// Prints "ok - NAME" / "not ok - NAME: ERROR" lines; exits 1 if any check failed.
"use strict";

const { io } = require("socket.io-client");
const assert = require("node:assert/strict");
const { sleep, within } = require("./support");

const url = process.argv[2];
if (!url) {
  console.error("usage: node recovery.js http://127.0.0.1:PORT");
  process.exit(2);
}


function connected(socket) {
  return within(new Promise((resolve) => socket.once("connect", resolve)), 5000, "connect");
}

async function main() {
  const opts = { forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 200 };
  const s = io(url, opts);
  const other = io(url, { ...opts, reconnection: false });
  await Promise.all([connected(s), connected(other)]);
  assert.equal(s.recovered, false);
  const firstId = s.id;
  assert.equal(await s.timeout(5000).emitWithAck("join", "rec"), true);
  assert.equal(await s.timeout(5000).emitWithAck("recovered"), false);

  // room-msg carries the offset as its last argument (the Node server does the same).
  const got = [];
  s.on("room-msg", (payload) => got.push(payload));
  s.on("broadcast", (payload) => got.push(payload));
  other.emit("to-room", "rec", "before");
  await within(
    (async () => {
      while (!got.includes("before")) await sleep(10);
    })(),
    5000,
    "room-msg before the drop",
  );

  // The connection drops; while it is down, the room and everyone get packets.
  const reconnected = within(new Promise((resolve) => s.io.once("reconnect", resolve)), 10000, "reconnect");
  s.io.engine.close();
  assert.equal(s.connected, false);
  for (let i = 1; i <= 20; i++) other.emit("to-room", "rec", `missed-${i}`);
  other.emit("broadcast", "missed-broadcast");
  await reconnected;
  await within(
    (async () => {
      while (!s.connected) await sleep(10);
    })(),
    5000,
    "connected again",
  );

  const checks = [];
  const check = (name, fn) => {
    try {
      fn();
      console.log(`ok - ${name}`);
    } catch (err) {
      checks.push(name);
      console.log(`not ok - ${name}: ${err && err.stack ? err.stack : err}`);
    }
  };
  check("the client is recovered, with the same id", () => {
    assert.equal(s.recovered, true);
    assert.equal(s.id, firstId);
  });
  const serverSays = await s.timeout(5000).emitWithAck("recovered");
  check("the server's socket.recovered() is true", () => assert.equal(serverSays, true));
  await sleep(300);
  const missed = Array.from({ length: 20 }, (_, i) => `missed-${i + 1}`);
  check("every missed packet arrived once, in order", () => {
    assert.deepEqual(got, ["before", ...missed, "missed-broadcast"]);
  });
  other.emit("to-room", "rec", "after");
  await sleep(300);
  check("its room is back", () => assert.equal(got[got.length - 1], "after"));
  check("the recovered connection upgraded to WebSocket", () => {
    assert.equal(s.io.engine.transport.name, "websocket");
  });
  s.disconnect();
  other.disconnect();
  console.log(checks.length === 0 ? "all checks passed" : `${checks.length} checks failed`);
  process.exit(checks.length === 0 ? 0 : 1);
}

setTimeout(() => {
  console.log("not ok - the run took more than 30 s");
  process.exit(1);
}, 30000).unref();

main().catch((err) => {
  console.log(`not ok - crashed: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});

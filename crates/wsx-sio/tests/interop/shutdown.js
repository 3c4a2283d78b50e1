// The official Socket.IO client (npm socket.io-client) against a wsx-sio server that shuts
// down (Server::shutdown, Node's io.close()): a client on WebSocket, one with the default
// options (polling, then the upgrade) and one on polling only each get their DISCONNECT, so
// the client reports "io server disconnect" and does not try to reconnect.
//
// Usage: node shutdown.js http://127.0.0.1:PORT
// Prints "ok - NAME" / "not ok - NAME: ERROR" lines; exits 1 if any check failed.
"use strict";

const { io } = require("socket.io-client");
const assert = require("node:assert/strict");
const { sleep, within } = require("./support");

const url = process.argv[2];
if (!url) {
  console.error("usage: node shutdown.js http://127.0.0.1:PORT");
  process.exit(2);
}


async function main() {
  const opts = { forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 200 };
  const clients = {
    websocket: io(url, { ...opts, transports: ["websocket"] }),
    default: io(url, opts),
    polling: io(url, { ...opts, transports: ["polling"] }),
  };
  const reasons = {};
  let reconnects = 0;
  // Every listener is on before the first await: a client may connect while another is
  // awaited.
  const connects = Object.entries(clients).map(([name, s]) => {
    s.on("disconnect", (reason) => (reasons[name] = reason));
    s.io.on("reconnect_attempt", () => reconnects++);
    const connected = s.connected ? Promise.resolve() : new Promise((resolve) => s.once("connect", resolve));
    return within(connected, 10000, `${name} connects`);
  });
  await Promise.all(connects);
  // The default client upgrades first, so that its shutdown is seen on WebSocket.
  await within(
    (async () => {
      while (clients.default.io.engine.transport.name !== "websocket") await sleep(10);
    })(),
    5000,
    "the upgrade",
  );
  assert.equal(await clients.websocket.timeout(5000).emitWithAck("shutdown"), true);
  await within(
    (async () => {
      while (Object.keys(reasons).length < 3) await sleep(10);
    })(),
    10000,
    "every client disconnected",
  );
  await sleep(1000);

  const failed = [];
  const check = (name, fn) => {
    try {
      fn();
      console.log(`ok - ${name}`);
    } catch (err) {
      failed.push(name);
      console.log(`not ok - ${name}: ${err && err.stack ? err.stack : err}`);
    }
  };
  for (const name of Object.keys(clients)) {
    check(`${name}: "io server disconnect"`, () => assert.equal(reasons[name], "io server disconnect"));
    check(`${name}: not connected, not reconnecting`, () => {
      assert.equal(clients[name].connected, false);
      assert.equal(clients[name].active, false);
    });
  }
  check("no reconnection attempt", () => assert.equal(reconnects, 0));
  console.log(failed.length === 0 ? "all checks passed" : `${failed.length} checks failed`);
  process.exit(failed.length === 0 ? 0 : 1);
}

setTimeout(() => {
  console.log("not ok - the run took more than 30 s");
  process.exit(1);
}, 30000).unref();

main().catch((err) => {
  console.log(`not ok - crashed: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});

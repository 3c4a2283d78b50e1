// The official Socket.IO client (npm socket.io-client, whose Node WebSocket is `ws`, offering
// permessage-deflate) against a wsx-sio server with `Config::per_message_deflate`
// (tests/compression.rs): the extension is negotiated with server_no_context_takeover, and
// compressed broadcasts (text and binary), compress(false) broadcasts and compressed and
// uncompressed emits to one socket all arrive intact, on two clients at once.
//
// Usage: node compression.js http://127.0.0.1:PORT
// Prints "ok - NAME" / "not ok - NAME: ERROR" lines; exits 1 if any check failed.
"use strict";

const { io } = require("socket.io-client");
const assert = require("node:assert/strict");
const { within } = require("./support");

const url = process.argv[2];
if (!url) {
  console.error("usage: node compression.js http://127.0.0.1:PORT");
  process.exit(2);
}

// What the server sends as "big" (tests/compression.rs `big()`), and the binary one.
const BIG = "the quick brown fox jumps over the lazy dog; ".repeat(60);
const BIN = Buffer.alloc(3000, 7);

let failed = 0;
async function check(name, body) {
  try {
    await body();
    console.log(`ok - ${name}`);
  } catch (err) {
    failed++;
    console.log(`not ok - ${name}: ${err && err.stack ? err.stack : err}`);
  }
}

/** The next `event` on `socket`, within 5 s. */
function next(socket, event) {
  return within(new Promise((resolve) => socket.once(event, (...args) => resolve(args))), 5000, event);
}

async function main() {
  const opts = { forceNew: true, reconnection: false, transports: ["websocket"] };
  const a = io(url, opts);
  const b = io(url, opts);
  await within(Promise.all([a, b].map((s) => new Promise((r) => s.once("connect", r)))), 10000, "connect");

  await check("permessage-deflate negotiated with server_no_context_takeover", async () => {
    const ws = a.io.engine.transport.ws;
    const extensions = ws && ws._extensions ? Object.keys(ws._extensions) : [];
    assert.deepEqual(extensions, ["permessage-deflate"]);
    const params = ws._extensions["permessage-deflate"].params;
    assert.equal(params.server_no_context_takeover, true, JSON.stringify(params));
  });

  for (let round = 0; round < 3; round++) {
    await check(`round ${round}: a compressed broadcast reaches both clients`, async () => {
      const got = Promise.all([next(a, "big"), next(b, "big")]);
      a.emit("bcast");
      for (const [data] of await got) assert.equal(data, BIG);
    });
    await check(`round ${round}: a compress(false) broadcast reaches both clients`, async () => {
      const got = Promise.all([next(a, "big"), next(b, "big")]);
      b.emit("bcast-plain");
      for (const [data] of await got) assert.equal(data, BIG);
    });
    await check(`round ${round}: a compressed binary broadcast reaches both clients`, async () => {
      const got = Promise.all([next(a, "bin"), next(b, "bin")]);
      a.emit("bcast-bin");
      for (const [data] of await got) assert.ok(Buffer.from(data).equals(BIN));
    });
    await check(`round ${round}: compressed and compress(false) emits to one socket`, async () => {
      const got = new Promise((resolve) => {
        const seen = [];
        const on = (data) => {
          seen.push(data);
          if (seen.length === 2) {
            a.off("big", on);
            resolve(seen);
          }
        };
        a.on("big", on);
      });
      a.emit("self");
      assert.deepEqual(await within(got, 5000, "self"), [BIG, BIG]);
    });
  }
  a.close();
  b.close();
  if (failed === 0) console.log("all checks passed");
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((err) => {
  console.log(`not ok - main: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});

// The official Socket.IO client (npm socket.io-client) against the sio_demo contract (see
// crates/wsx-sio/examples/sio_demo.rs), on one transport setting:
// - websocket: `transports: ["websocket"]`;
// - default: the client's defaults (HTTP long-polling first, then the upgrade to WebSocket);
// - polling: `transports: ["polling"]` (what a client behind a proxy that breaks WebSockets
//   gets).
// The third argument picks the parser: `json` (socket.io-parser, the default) or `msgpack`
// (`parser: require("socket.io-msgpack-parser")`, for `sio_demo --parser msgpack`).
//
// Usage: node client.js http://127.0.0.1:PORT [websocket|default|polling] [json|msgpack]
// Prints one "ok - NAME" or "not ok - NAME: ERROR" line per check (TAP-like); exits 1 if any
// check failed.
"use strict";

const { io, Manager } = require("socket.io-client");
const assert = require("node:assert/strict");
const { sleep, within } = require("./support");

const url = process.argv[2];
const mode = process.argv[3] || "websocket";
const parserName = process.argv[4] || "json";
const transports = { websocket: ["websocket"], default: undefined, polling: ["polling"] };
if (!url || !(mode in transports) || !["json", "msgpack"].includes(parserName)) {
  console.error(
    "usage: node client.js http://127.0.0.1:PORT [websocket|default|polling] [json|msgpack]",
  );
  process.exit(2);
}
const transportOpts = {
  ...(transports[mode] ? { transports: transports[mode] } : {}),
  ...(parserName === "msgpack" ? { parser: require("socket.io-msgpack-parser") } : {}),
};
const opts = { ...transportOpts, forceNew: true, reconnection: false, timeout: 5000 };
const open = [];

function connect(ns = "/") {
  const socket = io(url + ns, opts);
  open.push(socket);
  return socket;
}

function once(socket, event, ms = 5000) {
  return within(new Promise((resolve) => socket.once(event, (...args) => resolve(args))), ms, event);
}

function connected(socket) {
  if (socket.connected) return Promise.resolve();
  return within(
    new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    }),
    5000,
    "connect",
  );
}

/** Resolves with the events `event` that arrived within `ms`. */
function collect(socket, event, ms) {
  const got = [];
  const listener = (...args) => got.push(args);
  socket.on(event, listener);
  return new Promise((resolve) =>
    setTimeout(() => {
      socket.off(event, listener);
      resolve(got);
    }, ms),
  );
}

let failures = 0;

async function check(name, body) {
  try {
    await body();
    console.log(`ok - ${name}`);
  } catch (err) {
    failures += 1;
    console.log(`not ok - ${name}: ${err && err.stack ? err.stack : err}`);
  }
}

async function main() {
  await check(`the transport is right for mode ${mode}`, async () => {
    const s = connect();
    await connected(s);
    const engine = s.io.engine;
    if (mode === "default") {
      // Opened over polling, then upgraded (the server announced `upgrades: ["websocket"]`).
      if (engine.transport.name !== "websocket") {
        await within(new Promise((resolve) => engine.once("upgrade", resolve)), 5000, "upgrade");
      }
      assert.equal(engine.transport.name, "websocket");
    } else {
      await sleep(300);
      assert.equal(engine.transport.name, mode);
    }
    const kinds = new Set();
    engine.on("packet", (p) => p.type === "message" && kinds.add(typeof p.data));
    s.emit("echo", "after", Buffer.from([1]));
    assert.deepStrictEqual(await once(s, "echo"), ["after", Buffer.from([1])]);
    // JSON: a text packet and a binary attachment; msgpack: one binary message.
    assert.deepEqual([...kinds].sort(), parserName === "json" ? ["object", "string"] : ["object"]);
    s.disconnect();
  });

  if (parserName === "msgpack") {
    await check("msgpack: the encoder's quirks (Uint8Array, undefined, Date) read as JSON would", async () => {
      const s = connect();
      await connected(s);
      s.emit("echo", new Uint8Array([1, 2, 3]), undefined, { k: undefined, d: new Date(0) }, new Uint8Array([7]));
      const back = await once(s, "echo");
      assert.deepStrictEqual(back, [
        Buffer.from([1, 2, 3]),
        null,
        { d: "1970-01-01T00:00:00.000Z" },
        Buffer.from([7]),
      ]);
      s.disconnect();
    });
  }

  await check("server-ask is acked, then server-ask-ok arrives after the ack", async () => {
    const s = io(url, opts);
    open.push(s);
    let ackedAt = null;
    const ok = new Promise((resolve) => s.on("server-ask-ok", (...args) => resolve({ args, at: Date.now() })));
    s.on("server-ask", (v, ack) => {
      assert.equal(typeof v, "number");
      assert.equal(typeof ack, "function");
      setTimeout(() => {
        ackedAt = Date.now();
        ack(v + 1, "r");
      }, 300);
    });
    await connected(s);
    const got = await within(ok, 5000, "server-ask-ok");
    assert.ok(ackedAt !== null && got.at >= ackedAt, "server-ask-ok came before the ack");
    assert.deepEqual(got.args, [43, "r"]);
    s.disconnect();
  });

  await check("an unanswered server-ask is tolerated", async () => {
    const s = connect();
    const asked = once(s, "server-ask"); // no ack from this client
    await connected(s);
    await asked;
    await sleep(200);
    s.emit("echo", "alive");
    assert.deepEqual(await once(s, "echo"), ["alive"]);
    s.disconnect();
  });

  await check("echo returns the same JSON arguments exactly", async () => {
    const s = connect();
    await connected(s);
    const args = [
      9007199254740991, -9007199254740991, 0, -0.5, 0.1, 1e300, -1.5e-300, 5e-324,
      "😀𝄞 astral", "\u2028\u2029 separators", "", "quote\" backslash\\ nul\u0000",
      { b: 1, a: [true, null, {}], "é": "x" }, [], false, null,
    ];
    if (parserName === "msgpack") {
      // notepack.io writes a number that is an integer as a 64-bit integer: past 2^64 (1e300)
      // it writes 0 (cf 00..00). The client loses it before any server sees it.
      args.splice(args.indexOf(1e300), 1);
    }
    s.emit("echo", ...args);
    const back = await once(s, "echo");
    assert.deepStrictEqual(back, args);
    assert.equal(JSON.stringify(back), JSON.stringify(args));
    s.disconnect();
  });

  await check("echo returns binary at several depths and zero-length buffers", async () => {
    const s = connect();
    await connected(s);
    const args = [
      Buffer.from([1, 2, 3]),
      { a: { b: [Buffer.alloc(0), { c: Buffer.from("x") }] }, n: 1 },
      [[[Buffer.from([255, 0])]]],
      Buffer.alloc(0),
      "text",
    ];
    s.emit("echo", ...args);
    const back = await once(s, "echo");
    assert.deepStrictEqual(back, args);
    s.disconnect();
  });

  await check("echo-ack acknowledges with the same arguments, binary included", async () => {
    const s = connect();
    await connected(s);
    const args = [1, "two", { three: Buffer.from([3]) }, [Buffer.alloc(0)]];
    const back = await within(
      new Promise((resolve) => s.emit("echo-ack", ...args, (...ack) => resolve(ack))),
      5000,
      "echo-ack",
    );
    assert.deepStrictEqual(back, args);
    const single = await s.timeout(5000).emitWithAck("echo-ack", { k: "v" });
    assert.deepStrictEqual(single, { k: "v" });
    s.disconnect();
  });

  await check("join acks true; to-room reaches the room but the sender; broadcast reaches all", async () => {
    const [a, b, c] = [connect(), connect(), connect()];
    await Promise.all([a, b, c].map(connected));
    assert.equal(await a.timeout(5000).emitWithAck("join", "room-1"), true);
    assert.equal(await b.timeout(5000).emitWithAck("join", "room-1"), true);
    const payload = { p: 1, bin: Buffer.from([9, 8]), deep: [{ z: Buffer.alloc(0) }] };
    const aGot = collect(a, "room-msg", 500);
    const cGot = collect(c, "room-msg", 500);
    a.emit("to-room", "room-1", payload);
    assert.deepStrictEqual(await once(b, "room-msg"), [payload]);
    assert.deepEqual(await aGot, [], "the sender got its own room-msg");
    assert.deepEqual(await cGot, [], "a socket outside the room got room-msg");

    const all = [a, b, c].map((s) => once(s, "broadcast"));
    a.emit("broadcast", { hello: "all", bin: Buffer.from([1]) });
    for (const got of await Promise.all(all)) {
      assert.deepStrictEqual(got, [{ hello: "all", bin: Buffer.from([1]) }]);
    }
    [a, b, c].forEach((s) => s.disconnect());
  });

  await check("ask-room collects every answer of the room at once, the sender's and binary included", async () => {
    const [a, b, c] = [connect(), connect(), connect()];
    await Promise.all([a, b, c].map(connected));
    assert.equal(await a.timeout(5000).emitWithAck("join", "ask-1"), true);
    assert.equal(await b.timeout(5000).emitWithAck("join", "ask-1"), true);
    a.on("question", (p, cb) => cb({ from: "a", got: p }));
    b.on("question", (p, cb) => cb({ from: "b", got: p, bin: Buffer.from([2, 3]) }));
    const cGot = collect(c, "question", 300);
    const started = Date.now();
    const res = await a.timeout(5000).emitWithAck("ask-room", "ask-1", { q: Buffer.from([1]) });
    const elapsed = Date.now() - started;
    assert.equal(res.timedOut, false);
    assert.ok(elapsed < 1000, `took ${elapsed} ms: not acked as soon as the answers were in`);
    const sorted = [...res.responses].sort((x, y) => x.from.localeCompare(y.from));
    assert.deepStrictEqual(sorted, [
      { from: "a", got: { q: Buffer.from([1]) } },
      { from: "b", got: { q: Buffer.from([1]) }, bin: Buffer.from([2, 3]) },
    ]);
    assert.deepEqual(await cGot, [], "a socket outside the room was asked");
    [a, b, c].forEach((s) => s.disconnect());
  });

  await check("ask-room with a silent member acks once, at the timeout, with the answers that came", async () => {
    const [a, b, silent] = [connect(), connect(), connect()];
    await Promise.all([a, b, silent].map(connected));
    for (const s of [b, silent]) assert.equal(await s.timeout(5000).emitWithAck("join", "ask-2"), true);
    b.on("question", (p, cb) => cb("b"));
    const lateAnswer = new Promise((resolve) => silent.on("question", (p, cb) => resolve(cb)));
    let acks = 0;
    a.io.on("packet", (packet) => {
      if (packet.nsp === "/" && (packet.type === 3 || packet.type === 6)) acks += 1;
    });
    const started = Date.now();
    const res = await a.timeout(5000).emitWithAck("ask-room", "ask-2", "anyone?");
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 1400 && elapsed < 3000, `acked after ${elapsed} ms, not at the 1,500 ms timeout`);
    assert.deepStrictEqual(res, { timedOut: true, responses: ["b"] });
    (await lateAnswer)("too late");
    await sleep(300);
    assert.equal(acks, 1, "a second ack came");
    [a, b, silent].forEach((s) => s.disconnect());
  });

  await check("ask-room to an empty room acks at once; concurrent asks stay apart", async () => {
    const [a, x, y] = [connect(), connect(), connect()];
    await Promise.all([a, x, y].map(connected));
    const started = Date.now();
    assert.deepStrictEqual(await a.timeout(5000).emitWithAck("ask-room", "nobody-here", 1), {
      timedOut: false,
      responses: [],
    });
    assert.ok(Date.now() - started < 1000);
    assert.equal(await x.timeout(5000).emitWithAck("join", "ask-x"), true);
    assert.equal(await y.timeout(5000).emitWithAck("join", "ask-y"), true);
    // x answers late (200 ms), y at once: the two asks overlap and must not mix.
    x.on("question", (p, cb) => setTimeout(() => cb(`x:${p}`), 200));
    y.on("question", (p, cb) => cb(`y:${p}`));
    const [rx, ry] = await Promise.all([
      a.timeout(5000).emitWithAck("ask-room", "ask-x", 1),
      a.timeout(5000).emitWithAck("ask-room", "ask-y", 2),
    ]);
    assert.deepStrictEqual(rx, { timedOut: false, responses: ["x:1"] });
    assert.deepStrictEqual(ry, { timedOut: false, responses: ["y:2"] });
    [a, x, y].forEach((s) => s.disconnect());
  });

  await check("/admin alone: whoami acks the socket id", async () => {
    const s = connect("/admin");
    await connected(s);
    assert.equal(await s.timeout(5000).emitWithAck("whoami"), s.id);
    s.disconnect();
  });

  await check("/admin multiplexed with / on one connection", async () => {
    const manager = new Manager(url, { ...transportOpts, reconnection: false });
    const root = manager.socket("/");
    const admin = manager.socket("/admin");
    root.connect();
    admin.connect();
    await Promise.all([connected(root), connected(admin)]);
    assert.notEqual(root.id, admin.id);
    assert.equal(await admin.timeout(5000).emitWithAck("whoami"), admin.id);
    root.emit("echo", "multiplexed");
    assert.deepEqual(await once(root, "echo"), ["multiplexed"]);
    root.disconnect();
    admin.disconnect();
  });

  await check("/dyn-N namespaces: echo, echo-ack, join, to-room, broadcast, each in its own", async () => {
    const [a, b, c, other, root] = [
      connect("/dyn-1"),
      connect("/dyn-1"),
      connect("/dyn-1"),
      connect("/dyn-2"),
      connect("/"),
    ];
    await Promise.all([a, b, c, other, root].map(connected));
    a.emit("echo", 1, { bin: Buffer.from([5]) });
    assert.deepStrictEqual(await once(a, "echo"), [1, { bin: Buffer.from([5]) }]);
    assert.deepStrictEqual(await a.timeout(5000).emitWithAck("echo-ack", { k: "dyn" }), { k: "dyn" });
    for (const s of [a, b, other, root]) {
      assert.equal(await s.timeout(5000).emitWithAck("join", "dyn-room"), true);
    }
    const outside = [a, c, other, root].map((s) => collect(s, "room-msg", 500));
    a.emit("to-room", "dyn-room", "only /dyn-1");
    assert.deepStrictEqual(await once(b, "room-msg"), ["only /dyn-1"]);
    for (const got of await Promise.all(outside)) assert.deepEqual(got, []);

    const elsewhere = [other, root].map((s) => collect(s, "broadcast", 500));
    const all = [a, b, c].map((s) => once(s, "broadcast"));
    b.emit("broadcast", { to: "/dyn-1" });
    for (const got of await Promise.all(all)) assert.deepStrictEqual(got, [{ to: "/dyn-1" }]);
    for (const got of await Promise.all(elsewhere)) assert.deepEqual(got, []);
    [a, b, c, other, root].forEach((s) => s.disconnect());
  });

  await check("/dyn-x, /dyn- and /dyn-12a get CONNECT_ERROR Invalid namespace", async () => {
    for (const ns of ["/dyn-x", "/dyn-", "/dyn-12a"]) {
      const s = connect(ns);
      const err = await within(
        new Promise((resolve) => s.once("connect_error", resolve)),
        5000,
        `connect_error for ${ns}`,
      );
      assert.equal(err.message, "Invalid namespace", ns);
      s.disconnect();
    }
  });

  await check("another namespace gets CONNECT_ERROR Invalid namespace", async () => {
    const s = connect("/nope");
    const err = await within(
      new Promise((resolve) => s.once("connect_error", resolve)),
      5000,
      "connect_error",
    );
    assert.equal(err.message, "Invalid namespace");
    s.disconnect();
  });

  await check("after DISCONNECT a socket is out of its rooms and gets nothing more", async () => {
    const [a, d, witness] = [connect(), connect(), connect()];
    await Promise.all([a, d, witness].map(connected));
    assert.equal(await d.timeout(5000).emitWithAck("join", "gone"), true);
    assert.equal(await witness.timeout(5000).emitWithAck("join", "gone"), true);
    const oldId = d.id;
    d.disconnect();
    await sleep(200);
    d.connect(); // a new socket on a new connection, in no room
    await connected(d);
    assert.notEqual(d.id, oldId);
    const dGot = collect(d, "room-msg", 500);
    a.emit("to-room", "gone", "after");
    assert.deepEqual(await once(witness, "room-msg"), ["after"]);
    assert.deepEqual(await dGot, []);
    [a, d, witness].forEach((s) => s.disconnect());
  });

  await check("100 emits come back in order", async () => {
    const s = connect();
    await connected(s);
    const got = [];
    const done = new Promise((resolve) =>
      s.on("echo", (n) => {
        got.push(n);
        if (got.length === 100) resolve();
      }),
    );
    for (let i = 0; i < 100; i++) s.emit("echo", i);
    await within(done, 10000, "100 echoes");
    assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => i));
    s.disconnect();
  });

  await check("900 KB and 1,000,000-byte payloads, text and binary", async () => {
    const s = connect();
    await connected(s);
    for (const size of [900 * 1024, 1_000_000]) {
      const text = "x".repeat(size);
      s.emit("echo", text);
      const [back] = await once(s, "echo", 10000);
      assert.equal(back.length, size);
      assert.equal(back, text);
      const bin = Buffer.alloc(size, 7);
      s.emit("echo", bin);
      const [binBack] = await once(s, "echo", 10000);
      assert.ok(Buffer.isBuffer(binBack) && binBack.equals(bin));
    }
    s.disconnect();
  });

  await check("several heartbeat cycles keep the connection up", async () => {
    const s = connect();
    await connected(s);
    let pings = 0;
    s.io.engine.on("ping", () => (pings += 1));
    await sleep(7000);
    assert.ok(pings >= 3, `only ${pings} pings in 7 s`);
    assert.ok(s.connected);
    s.emit("echo", "still");
    assert.deepEqual(await once(s, "echo"), ["still"]);
    s.disconnect();
  });

  await check("clean disconnect", async () => {
    const s = connect();
    await connected(s);
    const reason = once(s, "disconnect");
    s.disconnect();
    assert.deepEqual((await reason).slice(0, 1), ["io client disconnect"]);
    assert.ok(!s.connected);
  });

  for (const s of open) s.disconnect();
  console.log(failures === 0 ? "all checks passed" : `${failures} checks failed`);
  process.exit(failures === 0 ? 0 : 1);
}

setTimeout(() => {
  console.log("not ok - the whole run took more than 120 s");
  process.exit(1);
}, 120000).unref();

main().catch((err) => {
  console.log(`not ok - crashed: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});

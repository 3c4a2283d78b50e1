// The Node half of the mixed cluster in crates/wsx-sio/tests/cluster.rs: socket.io 4.8 with
// @socket.io/redis-adapter 8.3 running the same contract as examples/sio_demo.rs with --redis
// (its module docs list the events).
// Usage: node node_server.js REDIS_URL NAME   (prints "listening on 127.0.0.1:PORT", port 0:
// a free one). Stops on SIGTERM or when stdin closes.
"use strict";

const { createServer } = require("node:http");
const { Server } = require("socket.io");
const { createClient } = require("redis");
const { createAdapter } = require("@socket.io/redis-adapter");

async function main() {
  const [redisUrl, name] = process.argv.slice(2);
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  pub.on("error", () => {});
  sub.on("error", () => {});
  await Promise.all([pub.connect(), sub.connect()]);

  const httpServer = createServer();
  const io = new Server(httpServer, {
    pingInterval: 2000,
    pingTimeout: 2000,
    maxHttpBufferSize: 2_000_000,
    serveClient: false,
    adapter: createAdapter(pub, sub, { requestsTimeout: 3000 }),
  });
  const ids = (sockets) => sockets.map((s) => s.id).sort();

  io.on("connection", (socket) => {
    socket.on("join", (room, ack) => {
      socket.join(room);
      if (typeof ack === "function") ack(true);
    });
    socket.on("to-room", (room, ...payload) => socket.to(room).emit("room-msg", ...payload));
    socket.on("broadcast", (...payload) => io.of("/").emit("broadcast", ...payload));
    socket.on("node-name", (ack) => ack(name));
    socket.on("fetch-sockets", async (room, ack) => {
      try {
        const found = room ? await io.in(room).fetchSockets() : await io.fetchSockets();
        ack(ids(found));
      } catch (err) {
        ack({ error: String(err) });
      }
    });
    socket.on("set-data", (data, ack) => {
      socket.data = data;
      ack(true);
    });
    socket.on("fetch-data", async (ack) => {
      try {
        const found = await io.fetchSockets();
        const entries = found.map((s) => ({ id: s.id, data: s.data }));
        entries.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
        ack(entries);
      } catch (err) {
        ack({ error: String(err) });
      }
    });
    socket.on("sockets-join", (sid, room, ack) => {
      io.in(sid).socketsJoin(room);
      ack(true);
    });
    // A broadcast with acknowledgements to a room, on every node (the demo contract's
    // ask-room): the answers that came, and whether one did not within 1,500 ms.
    socket.on("ask-room", (room, payload, ack) => {
      io.to(room)
        .timeout(1500)
        .emit("question", payload, (err, responses) => ack({ timedOut: !!err, responses }));
    });
    socket.on("server-side", (payload) => io.serverSideEmit("relay", payload));
    socket.on("server-side-ack", async (payload, ack) => {
      try {
        ack(await io.serverSideEmitWithAck("ping-nodes", payload));
      } catch (err) {
        ack({ error: String(err) });
      }
    });
  });
  io.on("relay", (payload) => io.local.emit("relayed", payload));
  io.on("ping-nodes", (payload, ack) => ack({ node: name, got: payload }));

  // The adapter subscribes without waiting; replies on one connection come in order, so once
  // this subscription is confirmed the adapter's are too: only then take clients.
  await sub.subscribe("wsx-cluster-test-ready", () => {});

  httpServer.listen(0, "127.0.0.1", () => {
    console.log(`listening on 127.0.0.1:${httpServer.address().port}`);
  });
  const stop = () => {
    io.close();
    Promise.allSettled([pub.quit(), sub.quit()]).then(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on("SIGTERM", stop);
  process.stdin.on("end", stop);
  process.stdin.resume();
}

main().catch((err) => {
  console.error(`node_server: ${err.stack || err}`);
  process.exit(1);
});

// The Node half of the mixed cluster in crates/wsx-sio/tests/cluster.rs: socket.io 4.8 with
// @socket.io/redis-adapter 8.3 (or @socket.io/redis-streams-adapter 0.3) running the same
// contract as examples/sio_demo.rs with --redis (its module docs list the events).
// Usage: node node_server.js REDIS_URL NAME [ADAPTER [cluster]]   (prints "listening on
// 127.0.0.1:PORT", port 0: a free one). ADAPTER is classic (createAdapter, the default),
// sharded-dynamic / sharded (createShardedAdapter, subscriptionMode "dynamic") or
// sharded-static (subscriptionMode "static"), streams (@socket.io/redis-streams-adapter's
// createAdapter, its defaults: classic pub/sub for requests) or streams-sharded
// (useShardedPubSub: true), as sio_demo's --redis-adapter; with "cluster",
// REDIS_URL is a comma-separated list of Redis Cluster nodes (redis' createCluster). Stops on
// SIGTERM or when stdin closes. NODE_SERVER_RECOVERY_MS (environment): see below.
"use strict";

const { createServer } = require("node:http");
const { Server } = require("socket.io");
const { createClient, createCluster } = require("redis");
const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");

function streamsAdapter(pub, options) {
  // Required only here: the other kinds run without the package.
  return require("@socket.io/redis-streams-adapter").createAdapter(pub, options);
}

function makeAdapter(kind, pub, sub) {
  switch (kind) {
    case "classic":
      return createAdapter(pub, sub, { requestsTimeout: 3000 });
    case "sharded":
    case "sharded-dynamic":
      return createShardedAdapter(pub, sub, { subscriptionMode: "dynamic" });
    case "sharded-static":
      return createShardedAdapter(pub, sub, { subscriptionMode: "static" });
    case "streams":
      return streamsAdapter(pub, {});
    case "streams-sharded":
      return streamsAdapter(pub, { useShardedPubSub: true });
    default:
      throw new Error(`unknown adapter ${kind}`);
  }
}

async function main() {
  const [redisUrl, name, kind = "classic", topology] = process.argv.slice(2);
  // The name marks the adapter's own connections too (duplicates keep it): see the wait for
  // the stream's reader below.
  const clientName = `wsx-test-node-${process.pid}`;
  const pub =
    topology === "cluster"
      ? createCluster({ rootNodes: redisUrl.split(",").map((url) => ({ url })) })
      : createClient({ url: redisUrl, name: clientName });
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
    adapter: makeAdapter(kind, pub, sub),
    // NODE_SERVER_RECOVERY_MS=n turns on connection state recovery (n ms of disconnection,
    // middlewares skipped), for the recovery tests on the Streams adapter.
    ...(process.env.NODE_SERVER_RECOVERY_MS
      ? {
          connectionStateRecovery: {
            maxDisconnectionDuration: Number(process.env.NODE_SERVER_RECOVERY_MS),
            skipMiddlewares: true,
          },
        }
      : {}),
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
    socket.on("sockets-leave", (sid, room, ack) => {
      io.in(sid).socketsLeave(room);
      ack(true);
    });
    socket.on("disconnect-sockets", (room, ack) => {
      io.in(room).disconnectSockets();
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
  // this subscription is confirmed the adapter's are too: only then take clients. (On a
  // cluster, each shard's connection has its own order: wait until every namespace channel
  // counts this server.)
  if (topology === "cluster") {
    for (let i = 0; i < 200 && (await io.of("/").adapter.serverCount()) < 1; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } else if (kind.startsWith("streams")) {
    // The Streams adapter subscribes and starts reading the stream (from its end, "$") on
    // connections of its own, without waiting: wait until Redis counts this server on the
    // namespace channel and until the reader's first XREAD is in (its client, named as ours,
    // last ran xread), so that nothing written after "listening" is missed.
    const reading = async () =>
      (await pub.sendCommand(["CLIENT", "LIST"]))
        .split("\n")
        .some((line) => line.includes(` name=${clientName} `) && line.includes(" cmd=xread"));
    for (let i = 0; i < 200; i++) {
      if ((await io.of("/").adapter.serverCount()) >= 1 && (await reading())) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  } else if (kind === "classic") {
    await sub.subscribe("wsx-cluster-test-ready", () => {});
  } else {
    await sub.sSubscribe("wsx-cluster-test-ready", () => {});
  }

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

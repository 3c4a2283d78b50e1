// Prints, in hex, what socket.io 4.8 with @socket.io/redis-streams-adapter 0.3 publishes over
// pub/sub (its "ephemeral" messages), for the byte-for-byte tests of
// crates/wsx-sio/src/adapter/redis/streams/ephemeral.rs.
// Usage: node streams_capture.js REDIS_URL [sharded]   (two servers in this process, on the
// adapter's default classic pub/sub, or with useShardedPubSub; a third client listens).
"use strict";

const { Server } = require("socket.io");
const { createClient } = require("redis");
const { createAdapter } = require("@socket.io/redis-streams-adapter");

async function main() {
  const [url, mode] = process.argv.slice(2);
  const sharded = mode === "sharded";
  const listener = createClient({ url });
  await listener.connect();
  const seen = [];
  const onMessage = (payload, channel) =>
    seen.push(`${channel.toString()} ${Buffer.from(payload).toString("hex")}`);
  if (sharded) {
    for (const ch of ["socket.io#/#"]) await listener.sSubscribe(ch, onMessage, true);
  } else {
    await listener.pSubscribe("socket.io#*", onMessage, true);
  }
  const servers = [];
  for (let i = 0; i < 2; i++) {
    const pub = createClient({ url });
    await pub.connect();
    servers.push(new Server({ adapter: createAdapter(pub, { useShardedPubSub: sharded }) }));
  }
  const [one, two] = servers;
  // Both adapters subscribed (with sharded pub/sub the listener counts too, as a server that
  // never answers: the requests time out after 5 s, their messages are captured all the same).
  const want = sharded ? 3 : 2;
  while ((await one.of("/").adapter.serverCount()) < want) {
    await new Promise((r) => setTimeout(r, 20));
  }
  two.on("ping-nodes", (payload, ack) => ack({ got: payload, n: 1.5 }));
  console.log(`uids ${one.of("/").adapter.uid} ${two.of("/").adapter.uid}`);
  one.serverSideEmit("relay", "x", 1);
  await one.serverSideEmitWithAck("ping-nodes", [2]).catch(() => {});
  await one.in("r").fetchSockets().catch(() => {});
  await new Promise((resolve) => one.to("r").timeout(300).emit("q", Buffer.from([7]), () => resolve()));
  await new Promise((r) => setTimeout(r, 300));
  for (const line of seen) console.log(line);
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

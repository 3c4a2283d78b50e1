// Prints what socket.io 4.8 with @socket.io/redis-streams-adapter 0.3 publishes over pub/sub
// (its "ephemeral" messages), one `LABEL CHANNEL HEX` line each, after a `uids ASKER ANSWERER`
// line: the fixture streams_node_capture.txt, which the byte-for-byte tests read
// (src/adapter/redis/streams/ephemeral.rs, tests/adapters.rs).
// Usage: node streams_capture.js REDIS_URL > streams_node_capture.txt   (two servers in this
// process on the adapter's defaults, classic pub/sub; a third client listens with PSUBSCRIBE,
// which PUBSUB NUMSUB does not count).
"use strict";

const { Server } = require("socket.io");
const { createClient } = require("redis");
const { createAdapter } = require("@socket.io/redis-streams-adapter");
const { decode } = require("@msgpack/msgpack");

function label(message) {
  const names = { 3: "ask", 7: "fetch", 8: "fetch-response", 11: "client-count" };
  if (message.type === 9) return message.data.requestId ? "server-side-ack" : "server-side";
  if (message.type === 10) return "server-side-response";
  return names[message.type] || `type-${message.type}`;
}

async function main() {
  const [url] = process.argv.slice(2);
  const listener = createClient({ url });
  await listener.connect();
  const seen = [];
  await listener.pSubscribe(
    "socket.io#*",
    (payload, channel) => {
      const hex = Buffer.from(payload).toString("hex");
      seen.push(`${label(decode(payload))} ${channel.toString()} ${hex}`);
    },
    true
  );
  const servers = [];
  for (let i = 0; i < 2; i++) {
    const pub = createClient({ url });
    await pub.connect();
    servers.push(new Server({ adapter: createAdapter(pub) }));
  }
  const [one, two] = servers;
  while ((await one.of("/").adapter.serverCount()) < 2) {
    await new Promise((r) => setTimeout(r, 20));
  }
  two.on("ping-nodes", (payload, ack) => ack({ got: payload, n: 1.5 }));
  one.serverSideEmit("relay", "x");
  await one.serverSideEmitWithAck("ping-nodes", [2]);
  await one.in("r").fetchSockets();
  await new Promise((resolve) =>
    one.to("r").timeout(300).emit("q", Buffer.from([7]), () => resolve())
  );
  await new Promise((r) => setTimeout(r, 300));
  console.log(`uids ${one.of("/").adapter.uid} ${two.of("/").adapter.uid}`);
  for (const line of seen) console.log(line);
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

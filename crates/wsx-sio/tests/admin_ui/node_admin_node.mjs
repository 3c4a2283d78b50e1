// A Node node of a Redis cluster, instrumented by @socket.io/admin-ui itself: the other half
// of tests/admin_cluster.rs's mixed cluster (a wsx-sio node instrumented by wsx_sio::admin).
//
// usage: node node_admin_node.mjs REDIS_URL
//
// socket.io 4.8 with @socket.io/redis-adapter 8.3; namespace `/`: `join(room)` with an ack
// joins and acks true. The admin UI on `/admin`, server id `node`, basic auth user `admin`
// with the bcrypt hash of `s3cret` (cost 4), stats every 2 s (Node's fixed period). Prints
// `listening on 127.0.0.1:PORT`.
import { createAdapter } from "@socket.io/redis-adapter";
import { instrument } from "@socket.io/admin-ui";
import { createClient } from "redis";
import { Server } from "socket.io";
import { createServer } from "node:http";

const pub = createClient({ url: process.argv[2] });
const sub = pub.duplicate();
await Promise.all([pub.connect(), sub.connect()]);
const http = createServer();
const io = new Server(http, { adapter: createAdapter(pub, sub) });
io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack(true);
  });
});
instrument(io, {
  namespaceName: "/admin",
  serverId: "node",
  auth: {
    type: "basic",
    username: "admin",
    password: "$2a$04$J.W2YPLIEwZMMwoZAlvIqOui/m3hCZvYOuTInVW/gzEhMP.soH5Ie",
  },
});
http.listen(0, "127.0.0.1", () => console.log(`listening on 127.0.0.1:${http.address().port}`));

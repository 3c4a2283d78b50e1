// Node's socket.io server running the same contract as crates/wsx-sio/examples/sio_demo.rs,
// as the yardstick of scripts/sio_bench.sh.
// Usage: node sio_demo.js PORT     (prints "listening on 127.0.0.1:PORT")
"use strict";

const { createServer } = require("node:http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 3000);
const httpServer = createServer();
// Both transports, as sio_demo and the socketioxide bench server serve them: the WebSocket
// clients of sio_load open a WebSocket straight away; `sio_load idle --transport polling` holds
// polling sessions.
const io = new Server(httpServer, {
  pingInterval: 2000,
  pingTimeout: 2000,
  maxHttpBufferSize: 2_000_000,
  serveClient: false,
});

io.on("connection", (socket) => {
  socket.on("echo", (...args) => socket.emit("echo", ...args));
  socket.on("echo-ack", (...args) => {
    const ack = args.pop();
    if (typeof ack === "function") ack(...args);
  });
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack(true);
  });
  socket.on("to-room", (room, ...payload) => socket.to(room).emit("room-msg", ...payload));
  socket.on("broadcast", (...payload) => io.of("/").emit("broadcast", ...payload));
  socket.timeout(5000).emit("server-ask", 42, (err, ...answer) => {
    if (!err) socket.emit("server-ask-ok", ...answer);
  });
});

io.of("/admin").on("connection", (socket) => {
  socket.on("whoami", (...args) => {
    const ack = args.pop();
    if (typeof ack === "function") ack(socket.id);
  });
});

httpServer.listen(port, "127.0.0.1", () => console.log(`listening on 127.0.0.1:${port}`));

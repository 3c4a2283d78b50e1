// Node's socket.io 4.8 running the sio_demo contract (crates/wsx-sio/examples/sio_demo.rs
// lists the events), for crates/wsx-sio/tests/client.rs: wsx-sio's client against the
// reference server.
// Usage: node node_server.js [--recovery] [--msgpack]   (prints "listening on 127.0.0.1:PORT"
// on a free port; --recovery turns connection state recovery on, --msgpack uses
// socket.io-msgpack-parser). Stops on SIGTERM or when stdin closes.
"use strict";

const { createServer } = require("node:http");
const { Server } = require("socket.io");

const recovery = process.argv.includes("--recovery");
const msgpack = process.argv.includes("--msgpack");
const httpServer = createServer();
const io = new Server(httpServer, {
  pingInterval: 2000,
  pingTimeout: 2000,
  maxHttpBufferSize: 2_000_000,
  serveClient: false,
  ...(msgpack ? { parser: require("socket.io-msgpack-parser") } : {}),
  ...(recovery
    ? { connectionStateRecovery: { maxDisconnectionDuration: 60_000, skipMiddlewares: true } }
    : {}),
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
  socket.on("recovered", (...args) => {
    const ack = args.pop();
    if (typeof ack === "function") ack(socket.recovered);
  });
  socket.emit("server-ask", 42, (...answer) => socket.emit("server-ask-ok", ...answer));
});

io.of("/admin").on("connection", (socket) => {
  socket.on("whoami", (...args) => {
    const ack = args.pop();
    if (typeof ack === "function") ack(socket.id);
  });
});

httpServer.listen(0, "127.0.0.1", () => {
  console.log(`listening on 127.0.0.1:${httpServer.address().port}`);
});
const stop = () => {
  io.close();
  setTimeout(() => process.exit(0), 200).unref();
};
process.on("SIGTERM", stop);
process.stdin.on("end", stop);
process.stdin.resume();

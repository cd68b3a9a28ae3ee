// Node's socket.io speaking roomkit's room protocol, for comparison:
// `node benchmarks/node_server.js PORT` serves /chat with "join room" (acked) and
// "message" (relayed to the room, sender skipped, same payload shape as roomkit's).
// It listens on 127.0.0.1 only, with socket.io's defaults (no per-message deflate).
"use strict";

const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error("usage: node node_server.js PORT");
  process.exit(2);
}

const httpServer = http.createServer();
const io = new Server(httpServer, { cors: { origin: "*" }, serveClient: false });

io.of("/chat").on("connection", (socket) => {
  const auth = socket.handshake.auth || {};
  const name = typeof auth.name === "string" ? auth.name : `guest-${socket.id.slice(0, 6)}`;
  socket.on("join room", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack({ ok: true, room });
  });
  socket.on("message", (data) => {
    socket.to(data.room).emit("message", {
      user: socket.id,
      name,
      room: data.room,
      text: data.text,
    });
  });
});

// benchmarks/servers.py waits for this line: the port accepts connections now.
httpServer.listen(port, "127.0.0.1", () =>
  console.log(`node socket.io serving on http://127.0.0.1:${port}`),
);
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));

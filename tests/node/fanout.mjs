// The official socket.io-client on every transport receives a burst into one
// room; prints one JSON report on stdout. Usage: node fanout.mjs <url> <messages>
import { createRequire } from "node:module";
import { resolve } from "node:path";

const require = createRequire(resolve(process.cwd(), "package.json"));
const { io } = require("socket.io-client");

const [url, countArg] = process.argv.slice(2);
const count = Number(countArg);
const got = {};
const deadline = setTimeout(() => {
  console.log(JSON.stringify({ error: "timed out", got }));
  process.exit(2);
}, 20000);

// Defaults otherwise: the client offers permessage-deflate, as browsers do.
const open = (name, transports) =>
  io(url + "/chat", { auth: { name }, forceNew: true, transports, reconnection: false });
const connected = (socket) =>
  new Promise((ok, fail) => {
    socket.once("connect", ok);
    socket.once("connect_error", fail);
  });

const kinds = {
  websocket1: ["websocket"],
  websocket2: ["websocket"],
  polling1: ["polling"],
  polling2: ["polling"],
  upgrading1: ["polling", "websocket"],
  upgrading2: ["polling", "websocket"],
};
const sockets = {};
const finished = [];
for (const [name, transports] of Object.entries(kinds)) {
  const socket = open(name, transports);
  sockets[name] = socket;
  got[name] = [];
  finished.push(
    new Promise((ok) =>
      socket.on("message", (message) => {
        got[name].push(Number(message.text.split(" ")[0]));
        if (got[name].length === count) ok();
      }),
    ),
  );
}
await Promise.all(Object.values(sockets).map(connected));
for (const socket of Object.values(sockets)) await socket.emitWithAck("join room", "burst");
const sender = open("sender", ["websocket"]);
await connected(sender);
await sender.emitWithAck("join room", "burst");
// No waiting for the upgrades: some happen during the burst.
for (let n = 0; n < count; n++) {
  sender.emit("message", { room: "burst", text: `${n} ` + "z".repeat(n % 7 === 0 ? 1500 : 20) });
}
await Promise.all(finished);
const extensions = {};
for (const [name, socket] of Object.entries(sockets)) {
  const transport = socket.io.engine.transport;
  extensions[name] = transport.name === "websocket" ? transport.ws.extensions : null;
}
console.log(JSON.stringify({ got, extensions }));
clearTimeout(deadline);
for (const socket of [sender, ...Object.values(sockets)]) socket.disconnect();
process.exit(0);

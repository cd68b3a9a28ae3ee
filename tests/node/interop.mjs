// Drives a roomkit server with the official socket.io-client, exactly as the
// course's source example does (emits without acks), and prints one JSON
// report on stdout. Usage: node interop.mjs <url> <admin token>
import { createRequire } from "node:module";
import { resolve } from "node:path";

const require = createRequire(resolve(process.cwd(), "package.json"));
const { io } = require("socket.io-client");

const [url, adminToken] = process.argv.slice(2);
const deadline = setTimeout(() => {
  console.log(JSON.stringify({ error: "timed out" }));
  process.exit(2);
}, 15000);

const open = (namespace, auth) =>
  // forceNew: the JS client would otherwise share one connection per URL.
  io(url + namespace, { auth, forceNew: true, transports: ["websocket"], reconnection: false });

const connected = (socket) =>
  new Promise((ok, fail) => {
    socket.once("connect", ok);
    socket.once("connect_error", fail);
  });

const refusal = (socket) =>
  new Promise((ok) => {
    socket.once("connect", () => ok("accepted"));
    socket.once("connect_error", (err) => ok(err.message));
  });

const received = (socket, event) => new Promise((ok) => socket.once(event, ok));

const seen = { alice: [], bob: [], carol: [] };
const alice = open("/chat", { name: "alice" });
const bob = open("/chat", { name: "bob" });
const carol = open("/chat", { name: "carol" });
for (const [name, socket] of Object.entries({ alice, bob, carol })) {
  socket.on("message", (msg) => seen[name].push(msg));
}
await Promise.all([alice, bob, carol].map(connected));

// bob and carol join with acks so the room exists before alice speaks.
await bob.emitWithAck("join room", "general");
await carol.emitWithAck("join room", "random");
const bobHearsJoin = received(bob, "user joined");
// Listening before either arrives: the server may write both in one go, and
// the client then emits them in the same tick.
const bobHearsMessage = received(bob, "message");

// The source's client code: plain emits, no callbacks.
alice.emit("join room", "general");
alice.emit("message", { room: "general", text: "Hello!" });

const joinedId = await bobHearsJoin;
const bobGot = await bobHearsMessage;
// Barrier: a round trip on alice's and carol's own connections.
await alice.emitWithAck("list rooms");
await carol.emitWithAck("list rooms");

const wrong = await refusal(open("/admin", { token: "wrong" }));
const missing = await refusal(open("/admin", {}));
const adminSocket = open("/admin", { token: adminToken });
const right = await refusal(adminSocket);

console.log(
  JSON.stringify({
    aliceId: alice.id,
    joinedId,
    bobGot,
    aliceGot: seen.alice,
    carolGot: seen.carol,
    admin: { wrong, missing, right },
  }),
);
clearTimeout(deadline);
for (const socket of [alice, bob, carol, adminSocket]) socket.disconnect();
process.exit(0);

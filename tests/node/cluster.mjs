// Two roomkit servers sharing one Redis, driven by the official socket.io-client:
// alice (server A) and bob (server B) share "general", carol (B) is in "random",
// an admin speaks on A. Prints one JSON report. Usage:
//   node cluster.mjs <url A> <url B> <admin token>
import { createRequire } from "node:module";
import { resolve } from "node:path";

const require = createRequire(resolve(process.cwd(), "package.json"));
const { io } = require("socket.io-client");

const [urlA, urlB, adminToken] = process.argv.slice(2);
const deadline = setTimeout(() => {
  console.log(JSON.stringify({ error: "timed out" }));
  process.exit(2);
}, 20000);

const open = (url, namespace, auth) =>
  io(url + namespace, { auth, forceNew: true, transports: ["websocket"], reconnection: false });
const connected = (socket) =>
  new Promise((ok, fail) => {
    socket.once("connect", ok);
    socket.once("connect_error", fail);
  });
const received = (socket, event) => new Promise((ok) => socket.once(event, ok));

const alice = open(urlA, "/chat", { name: "alice" });
const bob = open(urlB, "/chat", { name: "bob" });
const carol = open(urlB, "/chat", { name: "carol" });
const admin = open(urlA, "/admin", { token: adminToken });
await Promise.all([alice, bob, carol, admin].map(connected));

const carolGot = [];
carol.on("message", (msg) => carolGot.push(msg));
const aliceGot = [];
alice.on("message", (msg) => aliceGot.push(msg));

await alice.emitWithAck("join room", "general");
const aliceHearsBob = received(alice, "user joined");
await bob.emitWithAck("join room", "general");
await carol.emitWithAck("join room", "random");
const joined = await aliceHearsBob;

// The source's client code: a plain emit, no callback.
const bobHears = received(bob, "message");
alice.emit("message", { room: "general", text: "Hello from A" });
const bobGot = await bobHears;

const membersOnA = await alice.emitWithAck("members", "general");
const membersOnB = await bob.emitWithAck("members", "general");
const roomsOnA = await alice.emitWithAck("list rooms");
const roomsOnB = await carol.emitWithAck("list rooms");

const bobHearsAdmin = received(bob, "system message");
const carolHearsAdmin = received(carol, "system message");
const adminReply = await admin.emitWithAck("system message", "maintenance at 5");
const systemOnB = [await bobHearsAdmin, await carolHearsAdmin];

// Barrier on carol's and alice's own connections before reporting silence.
await carol.emitWithAck("list rooms");
await alice.emitWithAck("list rooms");

console.log(
  JSON.stringify({
    bobId: bob.id,
    aliceId: alice.id,
    joined,
    bobGot,
    aliceGot,
    carolGot,
    membersOnA,
    membersOnB,
    roomsOnA,
    roomsOnB,
    adminReply,
    systemOnB,
  }),
);
clearTimeout(deadline);
for (const socket of [alice, bob, carol, admin]) socket.disconnect();
process.exit(0);

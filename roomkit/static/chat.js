// The roomkit chat page: one Socket.IO connection to the /chat namespace.
// Plain browser JavaScript, no build step; `io` comes from the vendored
// official client (/static/vendor/socket.io.min.js). The protocol is in
// docs/protocol.md; every refusal the server sends is shown in the alert bar.
"use strict";

(() => {
  const ANSWER_TIMEOUT_MS = 8000;
  // A UI refresh of the room list's member counts: the server does not push
  // them, so a visible page asks again now and then, and after joins and
  // leaves it sees. Every open page asking for the whole list every 3 s was a
  // load of its own (docs/security.md), so: every 30 s, never from a hidden
  // tab, and at most every 5 s however busy its rooms are.
  const ROOM_LIST_REFRESH_MS = 30000;
  const ROOM_LIST_MIN_GAP_MS = 5000;
  // Member lists are asked again after presence events, at most this often: in
  // a join storm a page sees many of them.
  const MEMBERS_MIN_GAP_MS = 1000;
  const NAME_KEY = "roomkit.name";
  // The page keeps the newest entries only (all rooms together), so a busy room
  // cannot grow it without bound; older ones are dropped from memory and screen.
  const MAX_LOG_ENTRIES = 1000;
  // New entries are drawn together at most this often: one layout per batch
  // instead of one per message (a flood of messages used to freeze the page).
  const RENDER_BATCH_MS = 50;

  const $ = (id) => document.getElementById(id);
  const ui = {
    nameForm: $("name-form"),
    name: $("name"),
    connect: $("connect"),
    status: $("status"),
    missingClient: $("missing-client"),
    alert: $("alert"),
    alertText: $("alert-text"),
    dismissAlert: $("dismiss-alert"),
    refreshRooms: $("refresh-rooms"),
    roomList: $("room-list"),
    noRooms: $("no-rooms"),
    roomForm: $("room-form"),
    room: $("room"),
    topic: $("topic"),
    private: $("private"),
    join: $("join"),
    create: $("create"),
    invites: $("invites"),
    inviteList: $("invite-list"),
    roomTitle: $("room-title"),
    roomPrivacy: $("room-privacy"),
    roomTopic: $("room-topic"),
    leave: $("leave"),
    messages: $("messages"),
    messageForm: $("message-form"),
    message: $("message"),
    send: $("send"),
    memberCount: $("member-count"),
    memberList: $("member-list"),
    noMembers: $("no-members"),
    inviteForm: $("invite-form"),
    invitee: $("invitee"),
    invite: $("invite"),
  };

  // What the page knows. `joined` maps each room this connection is in to
  // {topic, private, members (array or null before the first answer), unread}.
  const state = {
    socket: null,
    name: "",
    connected: false,
    joined: new Map(),
    current: null,
    listed: [],
    log: [],
    invites: new Map(),
    refreshTimer: null,
    // Entries added since the last batch was drawn, and whether the room list
    // (unread counts) needs drawing too.
    pending: [],
    roomListStale: false,
    renderTimer: null,
  };

  const VERBS = {
    "join room": "join the room",
    "leave room": "leave the room",
    message: "send the message",
    "create room": "create the room",
    invite: "send the invitation",
    "list rooms": "list the rooms",
    members: "list the members",
  };

  // -- small helpers -----------------------------------------------------------

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function clock() {
    return new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  class ServerRefusal extends Error {
    constructor(event, reason) {
      super(reason);
      this.event = event;
    }
  }

  // Emit with an ack; resolves with the reply, rejects with the server's reason.
  function call(event, ...args) {
    return new Promise((resolve, reject) => {
      if (!state.socket) {
        reject(new ServerRefusal(event, "not connected: choose a name and connect first"));
        return;
      }
      state.socket.timeout(ANSWER_TIMEOUT_MS).emit(event, ...args, (timedOut, reply) => {
        if (timedOut) reject(new ServerRefusal(event, "the server did not answer in time"));
        else if (reply && reply.ok === false) reject(new ServerRefusal(event, reply.error));
        else resolve(reply);
      });
    });
  }

  function showError(event, reason) {
    const verb = VERBS[event];
    ui.alertText.textContent = verb
      ? `Could not ${verb}: ${reason}`
      : event
        ? `"${event}" failed: ${reason}`
        : reason;
    ui.alert.hidden = false;
  }

  function report(error) {
    if (error instanceof ServerRefusal) showError(error.event, error.message);
    else showError(null, String(error && error.message ? error.message : error));
  }

  function setStatus(stateName, text) {
    ui.status.dataset.state = stateName;
    ui.status.textContent = text;
  }

  // Runs `task` now, or once more right after the run in progress: bursts of
  // presence events cost at most two round trips instead of one each.
  function coalesced(task) {
    let running = false;
    let again = false;
    return async () => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          await task();
        } while (again);
      } finally {
        running = false;
      }
    };
  }

  // At most one run of `task` per `gapMs`: a call inside the gap schedules one
  // run at its end instead.
  function throttled(task, gapMs) {
    let last = -Infinity;
    let timer = null;
    return () => {
      if (timer !== null) return;
      const wait = last + gapMs - Date.now();
      const run = () => {
        timer = null;
        last = Date.now();
        task();
      };
      if (wait <= 0) run();
      else timer = setTimeout(run, wait);
    };
  }

  // -- rendering ---------------------------------------------------------------

  function updateControls() {
    const online = state.connected;
    const inRoom = online && state.current !== null;
    for (const control of [ui.room, ui.topic, ui.private, ui.join, ui.create, ui.refreshRooms]) {
      control.disabled = !online;
    }
    ui.message.disabled = !inRoom;
    ui.send.disabled = !inRoom;
    ui.leave.disabled = !inRoom;
    ui.invitee.disabled = !inRoom;
    ui.invite.disabled = !inRoom;
    ui.message.placeholder = inRoom ? `Message #${state.current}` : "Join a room to chat";
  }

  function renderRoomList() {
    const rooms = new Map();
    for (const listed of state.listed) rooms.set(listed.name, listed);
    for (const [name, info] of state.joined) {
      if (!rooms.has(name)) {
        const count = info.members ? info.members.length : 1;
        rooms.set(name, { name, topic: info.topic, members: count, private: info.private });
      }
    }
    const names = [...rooms.keys()].sort((a, b) => a.localeCompare(b));
    ui.roomList.replaceChildren(
      ...names.map((name) => {
        const room = rooms.get(name);
        const joined = state.joined.get(name);
        const item = element("li");
        item.dataset.room = name;
        if (joined) item.classList.add("joined");
        const button = element("button", "room-item");
        button.type = "button";
        if (name === state.current) button.setAttribute("aria-current", "true");
        button.title = room.topic ? `${name}: ${room.topic}` : name;
        const mark = element("span", room.private ? "room-mark private" : "room-mark");
        mark.setAttribute("aria-hidden", "true");
        button.append(mark, element("span", "room-name", name));
        if (room.private) button.append(element("span", "visually-hidden", " (private)"));
        if (joined && joined.unread > 0) {
          button.append(element("span", "unread", `${joined.unread} new`));
        }
        const count = element("span", "count", String(room.members));
        count.title = "members online";
        button.append(count);
        button.append(element("span", "visually-hidden", room.members === 1 ? " member" : " members"));
        button.addEventListener("click", () => (joined ? openRoom(name) : joinRoom(name)));
        item.append(button);
        return item;
      }),
    );
    ui.noRooms.hidden = names.length > 0;
  }

  function renderRoomHead() {
    const info = state.current ? state.joined.get(state.current) : null;
    ui.roomTitle.dataset.kind = info ? (info.private ? "private" : "public") : "none";
    ui.roomPrivacy.hidden = !(info && info.private);
    if (!info) {
      ui.roomTitle.textContent = state.connected ? "No room open" : "Not connected";
      ui.roomTopic.textContent = state.connected
        ? "Join a room from the list, or type a name and press Join or Create room."
        : "Pick a display name and connect.";
      return;
    }
    ui.roomTitle.textContent = state.current;
    ui.roomTopic.textContent = info.topic || (info.private ? "Private room" : "No topic");
  }

  function renderMembers() {
    const info = state.current ? state.joined.get(state.current) : null;
    const members = info && info.members ? [...info.members] : [];
    members.sort((a, b) => a.name.localeCompare(b.name) || a.user.localeCompare(b.user));
    ui.memberList.replaceChildren(
      ...members.map((member) => {
        const item = element("li", "member");
        item.dataset.user = member.user;
        const dot = element("span", "presence");
        dot.setAttribute("aria-hidden", "true");
        item.append(dot, element("span", "member-name", member.name));
        if (state.socket && member.user === state.socket.id) {
          item.classList.add("me");
          item.append(element("span", "you", "(you)"));
        }
        item.title = `${member.name} is online`;
        return item;
      }),
    );
    ui.memberCount.hidden = !info;
    ui.memberCount.textContent = info ? `${members.length} online` : "";
    ui.noMembers.hidden = Boolean(info);
  }

  function entryElement(entry) {
    if (entry.kind === "notice") return element("li", "notice", entry.text);
    const item = element("li", `msg ${entry.kind}`);
    const meta = element("div", "meta");
    if (entry.kind === "system") {
      meta.append(element("span", "tag", "System"));
    } else {
      meta.append(element("span", "author", entry.name));
      if (entry.own) item.classList.add("own");
    }
    const time = element("time", "", entry.time);
    meta.append(time);
    if (entry.own) {
      entry.stateNode = element("span", "delivery");
      meta.append(entry.stateNode);
    }
    item.append(meta, element("p", "text", entry.text));
    entry.node = item;
    setDelivery(entry, entry.delivery);
    return item;
  }

  function setDelivery(entry, delivery) {
    entry.delivery = delivery;
    if (!entry.node || !entry.own) return;
    entry.node.dataset.state = delivery;
    entry.stateNode.textContent = { sending: "sending…", sent: "sent", failed: "not sent" }[delivery];
  }

  function visible(entry) {
    return entry.room === null || entry.room === state.current;
  }

  function renderMessages() {
    state.pending = [];
    ui.messages.replaceChildren(...state.log.filter(visible).map(entryElement));
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  // Draws the entries added since the last batch, in one go.
  function renderPending() {
    state.renderTimer = null;
    const fresh = state.pending.filter((entry) => visible(entry) && !entry.dropped);
    state.pending = [];
    if (fresh.length > 0) {
      const atBottom =
        ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 40;
      const batch = document.createDocumentFragment();
      batch.append(...fresh.map(entryElement));
      ui.messages.append(batch);
      while (ui.messages.childElementCount > MAX_LOG_ENTRIES) {
        ui.messages.firstElementChild.remove();
      }
      if (atBottom || fresh.some((entry) => entry.own)) {
        ui.messages.scrollTop = ui.messages.scrollHeight;
      }
    }
    if (state.roomListStale) {
      state.roomListStale = false;
      renderRoomList();
    }
  }

  function scheduleRender() {
    if (state.renderTimer === null) state.renderTimer = setTimeout(renderPending, RENDER_BATCH_MS);
  }

  function addEntry(entry) {
    entry.time = clock();
    state.log.push(entry);
    if (state.log.length > MAX_LOG_ENTRIES) {
      for (const old of state.log.splice(0, state.log.length - MAX_LOG_ENTRIES)) {
        old.dropped = true;
      }
    }
    if (visible(entry)) {
      state.pending.push(entry);
      if (state.pending.length > MAX_LOG_ENTRIES) state.pending.shift();
    } else if (entry.kind === "message" && state.joined.has(entry.room)) {
      state.joined.get(entry.room).unread += 1;
      state.roomListStale = true;
    }
    scheduleRender();
    return entry;
  }

  function renderAll() {
    updateControls();
    renderRoomList();
    renderRoomHead();
    renderMembers();
    renderMessages();
  }

  // -- server requests ---------------------------------------------------------

  const refreshRooms = coalesced(async () => {
    if (!state.connected) return;
    try {
      const reply = await call("list rooms");
      state.listed = reply.rooms;
      for (const listed of reply.rooms) {
        const info = state.joined.get(listed.name);
        // A private room is listed only to its members, so what a join
        // could not know before (topic, privacy) is learnt here.
        if (info) Object.assign(info, { topic: listed.topic, private: listed.private });
      }
      renderRoomList();
      renderRoomHead();
    } catch (error) {
      report(error);
    }
  });

  // Presence events carry only a session id, not the room, so every joined
  // room's member list is asked for again; the differences become notices.
  const refreshMembers = coalesced(async () => {
    for (const room of [...state.joined.keys()]) {
      let reply;
      try {
        reply = await call("members", room);
      } catch (error) {
        report(error);
        continue;
      }
      const info = state.joined.get(room);
      if (!info) continue; // left while we were asking
      if (info.members) noticeChanges(room, info.members, reply.members);
      info.members = reply.members;
    }
    renderMembers();
    renderRoomList();
  });
  const refreshRoomsSoon = throttled(refreshRooms, ROOM_LIST_MIN_GAP_MS);
  const refreshMembersSoon = throttled(refreshMembers, MEMBERS_MIN_GAP_MS);

  function noticeChanges(room, before, after) {
    const was = new Set(before.map((member) => member.user));
    const is = new Set(after.map((member) => member.user));
    for (const member of after) {
      if (!was.has(member.user)) addEntry({ kind: "notice", room, text: `${member.name} joined` });
    }
    for (const member of before) {
      if (!is.has(member.user)) addEntry({ kind: "notice", room, text: `${member.name} left` });
    }
  }

  function enterRoom(name, topic, isPrivate, text) {
    if (!state.joined.has(name)) {
      state.joined.set(name, { topic, private: isPrivate, members: null, unread: 0 });
    }
    addEntry({ kind: "notice", room: name, text });
    openRoom(name);
    refreshMembers();
    refreshRooms();
  }

  async function joinRoom(name) {
    try {
      const reply = await call("join room", name);
      const listed = state.listed.find((room) => room.name === reply.room);
      state.invites.delete(reply.room);
      renderInvites();
      enterRoom(
        reply.room,
        listed ? listed.topic : "",
        listed ? listed.private : false,
        `You joined ${reply.room}`,
      );
      return true;
    } catch (error) {
      report(error);
      return false;
    }
  }

  async function createRoom(name, topic, isPrivate) {
    try {
      const reply = await call("create room", { name, topic, private: isPrivate });
      const room = reply.room;
      enterRoom(
        room.name,
        room.topic,
        room.private,
        `You created ${room.private ? "the private room" : "room"} ${room.name}`,
      );
      return true;
    } catch (error) {
      report(error);
      return false;
    }
  }

  async function leaveRoom(name) {
    try {
      await call("leave room", name);
    } catch (error) {
      report(error);
      return;
    }
    state.joined.delete(name);
    state.log = state.log.filter((entry) => entry.room !== name);
    if (state.current === name) state.current = state.joined.keys().next().value ?? null;
    renderAll();
    refreshRooms();
  }

  async function sendMessage(text) {
    const room = state.current;
    const entry = addEntry({
      kind: "message",
      room,
      name: state.name,
      text,
      own: true,
      delivery: "sending",
    });
    try {
      await call("message", { room, text });
      setDelivery(entry, "sent");
    } catch (error) {
      setDelivery(entry, "failed");
      report(error);
    }
  }

  async function sendInvite(room, name) {
    try {
      await call("invite", { room, name });
      addEntry({ kind: "notice", room, text: `You invited ${name} to ${room}` });
      return true;
    } catch (error) {
      report(error);
      return false;
    }
  }

  function openRoom(name) {
    state.current = name;
    const info = state.joined.get(name);
    if (info) info.unread = 0;
    renderAll();
    ui.message.focus();
  }

  function renderInvites() {
    ui.inviteList.replaceChildren(
      ...[...state.invites.values()].map(({ room, by }) => {
        const item = element("li", "invite-item");
        item.append(element("span", "", `${by} invited you to ${room}`));
        const accept = element("button", "small", `Join ${room}`);
        accept.type = "button";
        accept.addEventListener("click", () => joinRoom(room));
        const decline = element("button", "ghost small", "Dismiss");
        decline.type = "button";
        decline.setAttribute("aria-label", `Dismiss the invitation to ${room}`);
        decline.addEventListener("click", () => {
          state.invites.delete(room);
          renderInvites();
        });
        const actions = element("div", "row");
        actions.append(accept, decline);
        item.append(actions);
        return item;
      }),
    );
    ui.invites.hidden = state.invites.size === 0;
  }

  // -- the connection ----------------------------------------------------------

  function startRefreshTimer() {
    stopRefreshTimer();
    state.refreshTimer = setInterval(() => {
      if (!document.hidden) refreshRoomsSoon();
    }, ROOM_LIST_REFRESH_MS);
  }

  function stopRefreshTimer() {
    if (state.refreshTimer !== null) clearInterval(state.refreshTimer);
    state.refreshTimer = null;
  }

  function connectAs(name) {
    if (state.socket) {
      state.socket.removeAllListeners();
      state.socket.disconnect();
    }
    stopRefreshTimer();
    Object.assign(state, {
      name,
      connected: false,
      joined: new Map(),
      current: null,
      listed: [],
      log: [],
      invites: new Map(),
    });
    renderInvites();
    renderAll();
    setStatus("connecting", `Connecting as ${name}…`);
    // forceNew: a new name needs a new handshake, never the old shared connection.
    const socket = io("/chat", { forceNew: true, auth: { name } });
    state.socket = socket;

    socket.on("connect", async () => {
      state.connected = true;
      // Socket.IO starts on HTTP long-polling and upgrades to WebSocket when it
      // can; the status says which transport carries the chat right now.
      const engine = socket.io.engine;
      const showTransport = () =>
        setStatus("online", `Connected as ${name} · ${engine.transport.name}`);
      showTransport();
      engine.once("upgrade", showTransport);
      // After a lost connection the server knows a new session with no rooms:
      // join again the rooms this page was in.
      const rooms = [...state.joined.keys()];
      const current = state.current;
      state.joined.clear();
      state.current = null;
      renderAll();
      startRefreshTimer();
      refreshRooms();
      for (const room of rooms) await joinRoom(room);
      if (current && state.joined.has(current)) openRoom(current);
    });
    socket.on("disconnect", (reason) => {
      state.connected = false;
      stopRefreshTimer();
      if (reason === "io server disconnect") {
        setStatus("offline", "Disconnected by the server");
      } else if (reason === "io client disconnect") {
        setStatus("offline", "Offline");
      } else {
        setStatus("connecting", "Connection lost: reconnecting…");
      }
      updateControls();
      renderRoomHead();
    });
    socket.on("connect_error", (error) => {
      if (socket.active) {
        setStatus("connecting", "Cannot reach the server: retrying…");
      } else {
        // The namespace refused us (e.g. an invalid name): no retry will help.
        setStatus("offline", "Connection refused");
        showError(null, `The server refused the connection: ${error.message}`);
      }
    });
    socket.on("message", (message) => {
      addEntry({ kind: "message", room: message.room, name: message.name, text: message.text });
    });
    socket.on("system message", (message) => {
      addEntry({ kind: "system", room: null, text: message.text });
    });
    socket.on("user joined", () => {
      refreshMembersSoon();
      refreshRoomsSoon();
    });
    socket.on("user left", () => {
      refreshMembersSoon();
      refreshRoomsSoon();
    });
    // Past a room's presence budget the server sums joins and leaves up.
    socket.on("presence", () => {
      refreshMembersSoon();
      refreshRoomsSoon();
    });
    socket.on("invited", ({ room, by }) => {
      state.invites.set(room, { room, by });
      renderInvites();
      addEntry({ kind: "notice", room: null, text: `${by} invited you to ${room}` });
    });
    socket.on("error", (problem) => showError(problem.event, problem.error));
  }

  // -- controls ----------------------------------------------------------------

  ui.nameForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = ui.name.value.trim();
    if (!name) {
      showError(null, "Type a display name first.");
      return;
    }
    localStorage.setItem(NAME_KEY, name);
    connectAs(name);
  });

  ui.roomForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = ui.room.value.trim();
    if (!name) {
      showError("join room", "type a room name first");
      return;
    }
    if (state.joined.has(name)) {
      openRoom(name);
      ui.room.value = "";
      return;
    }
    if (await joinRoom(name)) ui.room.value = "";
  });

  ui.create.addEventListener("click", async () => {
    const name = ui.room.value.trim();
    if (!name) {
      showError("create room", "type a room name first");
      return;
    }
    if (await createRoom(name, ui.topic.value.trim(), ui.private.checked)) {
      ui.room.value = "";
      ui.topic.value = "";
      ui.private.checked = false;
    }
  });

  ui.leave.addEventListener("click", () => {
    if (state.current) leaveRoom(state.current);
  });

  ui.messageForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = ui.message.value;
    if (!text.trim() || !state.current) return;
    ui.message.value = "";
    sendMessage(text);
  });

  ui.inviteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = ui.invitee.value.trim();
    if (!name || !state.current) return;
    if (await sendInvite(state.current, name)) ui.invitee.value = "";
  });

  ui.refreshRooms.addEventListener("click", () => refreshRooms());
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refreshRoomsSoon();
  });
  ui.dismissAlert.addEventListener("click", () => {
    ui.alert.hidden = true;
  });

  // -- start -------------------------------------------------------------------

  if (typeof io !== "function") {
    // The vendored client was not installed (no Node.js/npm at set-up time).
    ui.missingClient.hidden = false;
    setStatus("offline", "Unavailable");
    return;
  }
  ui.name.disabled = false;
  ui.connect.disabled = false;
  ui.name.value = localStorage.getItem(NAME_KEY) || "";
  renderAll();
  ui.name.focus();
})();

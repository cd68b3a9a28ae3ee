// The roomkit admin page: one Socket.IO connection to the /admin namespace,
// authenticated by the admin token. It sends system messages to every /chat
// room and shows the `metrics` reports each server pushes to room `metrics`.
// Plain browser JavaScript, no build step; `io` comes from the vendored client.
"use strict";

(() => {
  const ANSWER_TIMEOUT_MS = 8000;
  // A server that has not reported for this long is dropped from the table.
  const NODE_STALE_MS = 10000;
  // The page's own clock: once a second it ages the reports and samples the
  // sparkline, whatever the servers' metrics interval is.
  const TICK_MS = 1000;
  const HISTORY_SAMPLES = 60;

  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $("status"),
    missingClient: $("missing-client"),
    alert: $("alert"),
    alertText: $("alert-text"),
    dismissAlert: $("dismiss-alert"),
    tokenForm: $("token-form"),
    token: $("token"),
    connect: $("connect"),
    disconnect: $("disconnect"),
    systemForm: $("system-form"),
    systemText: $("system-text"),
    send: $("send"),
    sent: $("sent"),
    age: $("metrics-age"),
    connections: $("total-connections"),
    rooms: $("total-rooms"),
    rate: $("total-rate"),
    nodeCount: $("total-nodes"),
    sparkLine: $("spark-line"),
    nodeRows: $("node-rows"),
  };

  const state = {
    socket: null,
    nodes: new Map(), // node id -> {connections, rooms, rate, at}
    history: [],
    lastReport: null,
    ticker: null,
  };

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function setStatus(stateName, text) {
    ui.status.dataset.state = stateName;
    ui.status.textContent = text;
  }

  function showError(text) {
    ui.alertText.textContent = text;
    ui.alert.hidden = false;
  }

  function setSignedIn(signedIn) {
    ui.systemText.disabled = !signedIn;
    ui.send.disabled = !signedIn;
    ui.disconnect.disabled = state.socket === null;
  }

  function formatRate(rate) {
    return rate >= 10 ? rate.toFixed(0) : rate.toFixed(1);
  }

  // -- metrics -----------------------------------------------------------------

  function renderMetrics() {
    const nodes = [...state.nodes.entries()].sort(([a], [b]) => a.localeCompare(b));
    if (nodes.length === 0) {
      for (const tile of [ui.connections, ui.rooms, ui.rate, ui.nodeCount]) tile.textContent = "–";
      const row = element("tr", "placeholder");
      const cell = element("td", "", state.socket ? "Waiting for the first report…" : "No report yet: connect with the admin token.");
      cell.colSpan = 5;
      row.append(cell);
      ui.nodeRows.replaceChildren(row);
    } else {
      let connections = 0;
      let rate = 0;
      let rooms = 0;
      for (const [, report] of nodes) {
        connections += report.connections;
        rate += report.rate;
        // Every server counts the same shared rooms: show the largest, not a sum.
        rooms = Math.max(rooms, report.rooms);
      }
      ui.connections.textContent = String(connections);
      ui.rooms.textContent = String(rooms);
      ui.rate.textContent = formatRate(rate);
      ui.nodeCount.textContent = String(nodes.length);
      const now = Date.now();
      ui.nodeRows.replaceChildren(
        ...nodes.map(([node, report]) => {
          const row = element("tr");
          row.dataset.node = node;
          const seconds = Math.max(0, Math.round((now - report.at) / 1000));
          for (const text of [
            node,
            String(report.connections),
            String(report.rooms),
            formatRate(report.rate),
            seconds === 0 ? "just now" : `${seconds} s ago`,
          ]) {
            row.append(element("td", "", text));
          }
          row.firstChild.className = "mono";
          return row;
        }),
      );
    }
    if (state.lastReport === null) {
      ui.age.textContent = state.socket ? "waiting for the first report" : "not connected";
    } else {
      const seconds = Math.max(0, Math.round((Date.now() - state.lastReport) / 1000));
      ui.age.textContent = seconds === 0 ? "updated just now" : `updated ${seconds} s ago`;
    }
  }

  function renderSparkline() {
    const samples = state.history;
    const top = Math.max(1, ...samples);
    const step = 300 / (HISTORY_SAMPLES - 1);
    const offset = HISTORY_SAMPLES - samples.length;
    const points = samples.map(
      (value, index) =>
        `${((offset + index) * step).toFixed(1)},${(58 - (value / top) * 54).toFixed(1)}`,
    );
    ui.sparkLine.setAttribute("points", points.join(" "));
  }

  function tick() {
    const now = Date.now();
    for (const [node, report] of state.nodes) {
      if (now - report.at > NODE_STALE_MS) state.nodes.delete(node);
    }
    if (state.nodes.size > 0) {
      let rate = 0;
      for (const report of state.nodes.values()) rate += report.rate;
      state.history.push(rate);
      if (state.history.length > HISTORY_SAMPLES) state.history.shift();
    }
    renderMetrics();
    renderSparkline();
  }

  // -- the connection ----------------------------------------------------------

  function closeSocket() {
    if (state.socket) {
      state.socket.removeAllListeners();
      state.socket.disconnect();
    }
    state.socket = null;
    if (state.ticker !== null) clearInterval(state.ticker);
    state.ticker = null;
  }

  function connectWith(token) {
    closeSocket();
    state.nodes.clear();
    state.history = [];
    state.lastReport = null;
    setStatus("connecting", "Signing in…");
    // forceNew: each attempt must send its own token in a fresh handshake, and
    // must not share a connection with any other socket of this page.
    const socket = io("/admin", { forceNew: true, auth: { token } });
    state.socket = socket;
    setSignedIn(false);
    renderMetrics();

    socket.on("connect", () => {
      setStatus("online", "Signed in");
      ui.alert.hidden = true;
      setSignedIn(true);
      if (state.ticker === null) state.ticker = setInterval(tick, TICK_MS);
    });
    socket.on("disconnect", (reason) => {
      setSignedIn(false);
      if (reason === "io server disconnect") setStatus("offline", "Disconnected by the server");
      else setStatus("connecting", "Connection lost: reconnecting…");
    });
    socket.on("connect_error", (error) => {
      if (socket.active) {
        setStatus("connecting", "Cannot reach the server: retrying…");
        return;
      }
      // The namespace's token check refused us; retrying the same token is useless.
      closeSocket();
      setSignedIn(false);
      setStatus("offline", "Signed out");
      showError(`The server refused the admin token: ${error.message}`);
      renderMetrics();
    });
    socket.on("metrics", (report) => {
      const at = Date.now();
      state.nodes.set(report.node, {
        connections: report.connections,
        rooms: report.rooms,
        rate: report.messages_per_second,
        at,
      });
      state.lastReport = at;
      renderMetrics();
    });
    socket.on("error", (problem) => showError(`"${problem.event}" failed: ${problem.error}`));
  }

  // -- controls ----------------------------------------------------------------

  ui.tokenForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = ui.token.value;
    if (!token) {
      showError("Type the admin token first.");
      return;
    }
    connectWith(token);
  });

  ui.disconnect.addEventListener("click", () => {
    closeSocket();
    setSignedIn(false);
    setStatus("offline", "Signed out");
    renderMetrics();
  });

  ui.systemForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = ui.systemText.value;
    if (!text.trim() || !state.socket) return;
    state.socket.timeout(ANSWER_TIMEOUT_MS).emit("system message", text, (timedOut, reply) => {
      if (timedOut) {
        showError("Could not send the system message: the server did not answer in time");
      } else if (reply && reply.ok === false) {
        showError(`Could not send the system message: ${reply.error}`);
      } else {
        ui.systemText.value = "";
        ui.sent.textContent = `Sent to every room: “${text}”`;
      }
    });
  });

  ui.dismissAlert.addEventListener("click", () => {
    ui.alert.hidden = true;
  });

  // -- start -------------------------------------------------------------------

  if (typeof io !== "function") {
    ui.missingClient.hidden = false;
    setStatus("offline", "Unavailable");
    return;
  }
  ui.token.disabled = false;
  ui.connect.disabled = false;
  ui.token.focus();
})();

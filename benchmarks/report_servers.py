"""The server-side sections of ``docs/benchmarks.md`` besides fan-out: memory per
connection, scale-out over Redis, and the load generator's client kinds."""

from __future__ import annotations

from typing import Any

from benchmarks.report_tables import label, number, table, unavailable

__all__ = ["client_section", "memory_section", "scaleout_section"]

# Measured once (not by make bench): tracemalloc in a process serving roomkit's app,
# 300 idle websocket connections, allocations grouped by the code that made them.
MEMORY_NOTES = [
    "What one idle websocket connection of `roomkit serve` holds, measured once with "
    "tracemalloc (Python allocations only, 300 connections, 20.7 KiB each): aiohttp's "
    "HTTP request, protocol, parser and handler task about 7.8 KiB; aiohttp's websocket "
    "response and writer about 2.7 KiB; engine.io's session, its WSGI-style environ "
    "(every request header, kept for the connection's life) and packets about 2.9 KiB; "
    "roomkit's transport and engine glue (the reading coroutine, the outbox, the ping "
    "timer) about 2.8 KiB; roomkit's handshake (views of that environ, not a second "
    "copy of the headers) about 1.1 KiB; socket.io's room membership about 1.0 KiB; "
    "roomkit's chat state (room index, rate-limit bucket) about 1.1 KiB; asyncio about "
    "1.1 KiB. Compared with before: no writer task, no task and timer per read, no "
    "sleeping ping task, no second copy of the headers, and no deflate state (a zlib "
    "stream per direction per connection, which is most of the bare python-socketio "
    "server's figure: it accepts deflate).",
]


def memory_section(memory: dict[str, Any]) -> list[str]:
    """The memory-per-idle-connection section."""
    out = ["## Memory per idle connection", ""]
    reason = unavailable(memory)
    if reason:
        return [*out, f"Not available: {reason}", ""]
    out.append(
        f"Server RSS with one idle `/chat` connection, then with "
        f"{memory.get('clients')} more (websocket, connected to `/chat`, in no room)."
    )
    out.append("")
    rows = [
        [
            label(name),
            number(figures.get("rss_before_mib"), 1),
            number(figures.get("rss_after_mib"), 1),
            number(figures.get("kib_per_connection"), 1),
        ]
        for name, figures in memory.get("servers", {}).items()
    ]
    out += table(["server", "RSS before (MiB)", "RSS after (MiB)", "KiB per connection"], rows)
    return [*out, "", *MEMORY_NOTES, ""]


def scaleout_section(scaleout: dict[str, Any]) -> list[str]:
    """The scale-out-over-Redis section."""
    out = ["## Scale-out over Redis", ""]
    reason = unavailable(scaleout)
    if reason:
        return [*out, f"Not available: {reason}", ""]
    one, two = scaleout["one_server"], scaleout["two_servers"]
    spread = scaleout.get("two_servers_spread")
    out.append(
        f"`roomkit serve --redis-url` on one server, then on two (receivers split "
        f"between them), N={scaleout['receivers']}, {scaleout['messages']} messages a "
        f"burst, {scaleout.get('runs', 'the usual number of')} runs per figure (median): "
        "first with the sender on the first server, then with a sender on each, "
        "sending in turn (as users spread over servers by a load balancer would). Server 1 "
        "is pinned to core 0 and server 2 to core 1; the load generator and Redis float, "
        "so with two servers they compete with server 2 for its core."
    )
    out.append("")
    setups = [("1 server + Redis", one), ("2 servers + Redis, the sender on server 1", two)]
    if isinstance(spread, dict):
        setups.append(("2 servers + Redis, a sender on each", spread))
    rows = [
        [
            setup,
            number(figures.get("rate")),
            number(figures.get("server_cpu"), 2),
            number(figures.get("server_us_per_delivery"), 2),
            number(figures.get("busiest_server_us_per_delivery"), 2),
        ]
        for setup, figures in setups
    ]
    out += table(
        [
            "setup",
            "deliveries/s",
            "server CPU (sum)",
            "server µs per delivery (sum)",
            "busiest server µs per delivery",
        ],
        rows,
    )
    out += ["", f"Measured, two servers deliver {number(scaleout.get('ratio'), 2)}x one"]
    if isinstance(spread, dict):
        out[-1] += f" ({number(scaleout.get('spread_ratio'), 2)}x with a sender on each)"
    out[-1] += "."
    projected = scaleout.get("projected_ratio")
    if isinstance(projected, int | float):
        out[-1] += (
            " With a core for each server (and others for Redis and the load generator, "
            "which this run did not have), two servers would be as fast as the busier of "
            "them: with one sender, server 1, which also reads and publishes every message. "
            f"Its CPU time per delivered message projects {number(projected, 2)}x one server"
        )
        spread_projected = scaleout.get("spread_projected_ratio")
        if isinstance(spread_projected, int | float):
            out[-1] += f", and {number(spread_projected, 2)}x with a sender on each"
        out[-1] += ": projections from CPU time, not measurements."
    out.append("")
    capped = scaleout.get("capped")
    if isinstance(capped, dict):
        out += _capped_lines(capped)
    return out


def _capped_lines(capped: dict[str, Any]) -> list[str]:
    """The scale-out measured with a CPU quota per server."""
    reason = unavailable(capped)
    if reason:
        return [f"Not measured with CPU quotas: {reason}.", ""]
    share = capped["core_share"]
    out = [
        f"**Measured with a core's worth each.** The same three setups again "
        f"({capped.get('messages')} messages a burst), each server "
        f"held to {share:g} of a core by a CPU quota (a cgroup, `benchmarks/cpu_quota.py`) "
        "and not pinned, so that two servers, the load generator and Redis fit in two "
        "cores; a quota's server is a slower core of its own. Target: two servers at "
        "least 1.8x one.",
        "",
    ]
    setups = [
        ("1 server + Redis", capped["one_server"], None, None),
        (
            "2 servers + Redis, the sender on server 1",
            capped["two_servers"],
            capped["ratio"],
            capped.get("ratio_runs"),
        ),
        (
            "2 servers + Redis, a sender on each",
            capped["two_servers_spread"],
            capped["spread_ratio"],
            capped.get("spread_ratio_runs"),
        ),
    ]
    rows = []
    for setup, figures, ratio, runs in setups:
        versus = "" if ratio is None else number(ratio, 2, "x")
        if ratio is not None:
            versus += " met" if ratio >= 1.8 else " **NOT met**"
        rows.append(
            [
                setup,
                number(figures.get("rate")),
                versus,
                _ratio_range(runs),
                number(figures.get("busiest_server_cpu"), 2),
                number(figures.get("loadgen_max_process_cpu"), 2),
            ]
        )
    out += table(
        [
            "setup",
            "deliveries/s",
            "vs 1 server (medians)",
            "run by run, lowest to highest",
            f"busiest server's CPU (its quota {share:g})",
            "load generator's busiest process",
        ],
        rows,
    )
    out += [
        "",
        "Run by run: each run of two servers over the run of one server it alternated "
        "with. How far these move is how far one ratio can be trusted on this machine.",
    ]
    return [*out, ""]


def _ratio_range(runs: list[float] | None) -> str:
    if not runs:
        return ""
    return f"{number(min(runs), 2, 'x')} to {number(max(runs), 2, 'x')}"


def client_section(cost: dict[str, Any], chosen: str) -> list[str]:
    """The load-generator clients section (``chosen``: the kind used)."""
    out = ["## Load-generator clients", ""]
    reason = unavailable(cost)
    if reason:
        return [*out, f"Not measured: {reason}. Clients used: `{chosen}`.", ""]
    out.append(
        f"Load-generator CPU per delivered message for each client kind, "
        f"{cost['receivers']} receivers of {label(cost['server'])}, "
        f"{cost['messages']} messages a burst. The cheapest, **`{chosen}`**, is used for "
        "everything else. `frame`: a websocket client on a bare asyncio protocol that "
        "splits frames itself and counts a throughput burst in bulk (it counts the "
        "burst's marker in what each read brings and keeps the bytes, and has the kernel "
        "wake it only once a few hundred messages may wait, `SO_RCVLOWAT`; after the "
        "burst it parses the bytes and checks that they hold every message counted, once "
        "each, in each sender's order, or the run fails); `raw`: engine.io/socket.io text "
        "frames on an aiohttp websocket; `socketio`: `socketio.AsyncClient`. CPU is "
        "counted until the receivers have everything (each load-generator process reads "
        "its own CPU time then), here and in the fan-out tables: the `frame` client's "
        "parse after the burst, which checks the count, is left out. The wake-up "
        "threshold matters for the servers too: on one machine, a reader woken by every "
        "write makes a server that writes each message to each socket (Node) pay for "
        "waking it on the other core, which a server with remote clients does not; "
        "`raw` and the latency runs read eagerly."
    )
    out.append("")
    rows = [
        [
            f"`{kind}`",
            number(figures.get("us_per_message"), 2),
            number(figures.get("rate")),
            number(figures.get("loadgen_cpu"), 2),
        ]
        for kind, figures in cost.get("kinds", {}).items()
    ]
    out += table(["client", "µs CPU per message", "deliveries/s", "load-gen CPU"], rows)
    return [*out, ""]

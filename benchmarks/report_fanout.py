"""The fan-out sections of ``docs/benchmarks.md``: targets, throughput and latency."""

from __future__ import annotations

from typing import Any

from benchmarks.report_tables import label, number, table

__all__ = ["LOADGEN_BOUND", "fanout_sections", "targets_section"]

# A load-generator process at this share of its core or more was the limit of a burst.
LOADGEN_BOUND = 0.9
# Share of a core taken by other work during a burst above which a run is suspect.
BUSY_OTHERS = 0.25
MEASURED_SECONDS = 0.25


def fanout_sections(fanout: dict[str, Any]) -> list[str]:
    """The room fan-out (throughput) and latency sections, with their tables."""
    sizes: dict[str, Any] = fanout.get("sizes", {})
    servers: list[str] = fanout.get("servers", [])
    out = ["## Room fan-out", ""]
    out.append(
        "One sender sends a burst of messages to a room of N receivers; the figure is "
        "deliveries per second (messages x N / time from the first send to the last "
        "delivery), median of the runs. CPU is the share of one core used during the "
        "burst: by the server, and by the busiest load-generator process (1.00 would "
        "mean the load generator, not the server, was the limit). µs CPU/msg is the "
        "server's CPU time per delivered message, which depends less on what else the "
        "machine is doing than the rate does."
    )
    out.append("")
    header = ["server"]
    for size in sizes:
        header += [f"N={size} msg/s", "vs bare", "server CPU", "µs CPU/msg", "load-gen CPU"]
    rows = []
    for name in servers:
        row = [label(name)]
        for at_size in sizes.values():
            figures = at_size["servers"].get(name, {}).get("throughput", {})
            bare = _rate(at_size, _baseline(name, at_size))
            rate = figures.get("rate")
            ratio = rate / bare if isinstance(rate, float | int) and bare else None
            timeouts = figures.get("timeouts", 0)
            row += [
                number(rate) + (f" ({timeouts} timed out)" if timeouts else ""),
                number(ratio, 2, "x"),
                number(figures.get("server_cpu"), 2),
                number(figures.get("server_us_per_delivery"), 1),
                number(figures.get("loadgen_max_process_cpu"), 2),
            ]
        rows.append(row)
    out += table(header, rows)
    out += [
        "",
        '"vs bare" compares each server with the bare python-socketio server on the same '
        "event loop (roomkit's defaults and Node with the uvloop one), measured in the same "
        "invocation, runs interleaved.",
        "",
    ]
    out += ["## Latency", ""]
    out.append(
        "The same rooms, the sender paced well below capacity: "
        + ", ".join(
            f"N={size}: {number(at_size.get('latency_messages_per_second'), 1)} messages/s "
            f"({number(at_size.get('latency_messages_per_second', 0) * int(size))} deliveries/s)"
            for size, at_size in sizes.items()
        )
        + ". Latency is from the sender's send call to the receiver's read, on one "
        "machine's monotonic clock; percentiles of all runs' deliveries together."
    )
    out.append("")
    header = ["server"]
    for size in sizes:
        header += [f"N={size} p50 ms", f"N={size} p99 ms"]
    rows = []
    for name in servers:
        row = [label(name)]
        for at_size in sizes.values():
            latency = at_size["servers"].get(name, {}).get("latency", {})
            row += [number(latency.get("p50_ms"), 2), number(latency.get("p99_ms"), 2)]
        rows.append(row)
    out += table(header, rows)
    out += ["", *_p99_spread(sizes)]
    out += ["", "![throughput and p99 latency against room size](benchmarks.png)", ""]
    return out


def _p99_spread(sizes: dict[str, Any]) -> list[str]:
    """One sentence: the lowest and highest per-run p99 of roomkit and Node."""
    parts = []
    for size, at_size in sizes.items():
        ranges = []
        for name in ("roomkit", "node"):
            runs = at_size["servers"].get(name, {}).get("latency", {}).get("runs", [])
            p99s = [run["p99_ms"] for run in runs if isinstance(run.get("p99_ms"), int | float)]
            if p99s:
                ranges.append(f"{name} {min(p99s):.1f}-{max(p99s):.1f} ms")
        if ranges:
            parts.append(f"N={size}: " + ", ".join(ranges))
    if not parts:
        return []
    return [
        "p99 of single runs, lowest to highest, in this invocation ("
        + "; ".join(parts)
        + "): on a shared machine one run's p99 can move by more than the difference "
        "between servers, so a p99 ratio needs several invocations."
    ]


def _rate(at_size: dict[str, Any], name: str) -> float | None:
    rate = at_size["servers"].get(name, {}).get("throughput", {}).get("rate")
    return float(rate) if isinstance(rate, int | float) and rate > 0 else None


def _baseline(name: str, at_size: dict[str, Any]) -> str:
    """The bare server a server is compared with: the same event loop."""
    if name in ("roomkit-asyncio", "bare"):
        return "bare"
    return "bare-uvloop" if "bare-uvloop" in at_size["servers"] else "bare"


def _ratio(at_size: dict[str, Any], mine: str, theirs: str) -> float | None:
    a, b = _rate(at_size, mine), _rate(at_size, theirs)
    return a / b if a and b else None


def _cpu_ratio(at_size: dict[str, Any], mine: str, theirs: str) -> float | None:
    """How many times less server CPU per delivered message ``mine`` used."""

    def cost(name: str) -> float | None:
        figures = at_size["servers"].get(name, {}).get("throughput", {})
        value = figures.get("server_us_per_delivery")
        return float(value) if isinstance(value, int | float) and value > 0 else None

    a, b = cost(mine), cost(theirs)
    return b / a if a and b else None


def _busy_machine_warning(fanout: dict[str, Any]) -> list[str]:
    # CPU the machine spent outside the servers and the load generator, per run
    # long enough for the clock-tick CPU counters (10 ms) to mean something.
    others = [
        run["cpu"]["others"]
        for at_size in fanout.get("sizes", {}).values()
        for figures in at_size["servers"].values()
        for run in figures["throughput"].get("runs", [])
        if isinstance(run.get("cpu", {}).get("others"), int | float)
        and run.get("seconds", 0) >= MEASURED_SECONDS
    ]
    if not others or max(others) < BUSY_OTHERS:
        return []
    return [
        f"> **Busy machine:** during some bursts other processes (or the hypervisor) "
        f"took up to {max(others):.0%} of a core besides the servers and the load "
        "generator. Rates and ratios of this run are unreliable; the CPU time per "
        "delivered message is less affected. Re-run `make bench` on a quiet machine.",
        "",
    ]


def targets_section(fanout: dict[str, Any]) -> list[str]:
    """The targets section: rate and CPU ratios between servers."""
    sizes: dict[str, Any] = fanout.get("sizes", {})
    out = ["## Targets", "", *_busy_machine_warning(fanout)]
    out.append(
        "Ratios of delivered messages per second, same invocation, runs interleaved; "
        "in brackets, the ratio of server CPU time per delivered message (above 1: the "
        "first server needs less CPU per message). Within 3% counts as equal: about the "
        "spread between runs on a quiet machine."
    )
    out.append("")
    checks = [
        ("roomkit-asyncio", "bare", "library overhead, asyncio (target >= 1)", True),
        ("roomkit-uvloop", "bare-uvloop", "library overhead, uvloop (target >= 1)", True),
        ("roomkit-uvloop", "roomkit-asyncio", "what `--loop uvloop` gives", False),
        ("roomkit", "roomkit-uvloop", "what `--gc-threshold 100000` gives", False),
        ("roomkit", "bare-uvloop", "`roomkit serve` defaults vs the fastest bare server", False),
        (
            "bare-direct",
            "bare-uvloop",
            "roomkit's direct fan-out and transport on the bare server",
            False,
        ),
        (
            "roomkit",
            "node",
            "`roomkit serve` vs Node socket.io (target >= 1, aim 2: *aim met* when at "
            "least 2 and the load generator was not the limit)",
            True,
        ),
        ("roomkit-deflate", "node", "with `--websocket-compression` vs Node", False),
    ]
    header = ["ratio", "meaning", *(f"N={size}" for size in sizes)]
    rows = []
    for mine, theirs, meaning, is_target in checks:
        cells = []
        for at_size in sizes.values():
            ratio = _ratio(at_size, mine, theirs)
            text = number(ratio, 2, "x")
            bound = ratio is not None and _loadgen_bound(at_size, mine)
            if is_target and ratio is not None:
                text += " met" if ratio >= 0.97 else " **NOT met**"
                if theirs == "node" and ratio >= 2 and not bound:
                    text += ", *aim met*"
            cpu = _cpu_ratio(at_size, mine, theirs)
            if ratio is not None and cpu is not None:
                text += f" ({cpu:.2f}x)"
            if bound:
                text += " †"
            cells.append(text)
        if any(cell != "n/a" for cell in cells):
            rows.append([f"{mine} / {theirs}", meaning, *cells])
    cells = []
    for at_size in sizes.values():
        mine_p99, node_p99 = (
            at_size["servers"].get(name, {}).get("latency", {}).get("p99_ms")
            for name in ("roomkit", "node")
        )
        ratio = node_p99 / mine_p99 if mine_p99 and node_p99 else None
        met = "" if ratio is None else (" met" if ratio >= 0.97 else " **NOT met**")
        cells.append(number(ratio, 2, "x") + met)
    if any(cell != "n/a" for cell in cells):
        rows.append(["node p99 / roomkit p99", "paced latency (target >= 1)", *cells])
    out += table(header, rows)
    out += [
        "",
        "† the load generator, not this server, was the limit (its busiest process used "
        f"{LOADGEN_BOUND:.0%} or more of its core, the server less): the rate ratio is a "
        "lower bound; the CPU ratio in brackets is what the servers themselves need.",
    ]
    return [*out, ""]


def _loadgen_bound(at_size: dict[str, Any], name: str) -> bool:
    figures = at_size["servers"].get(name, {}).get("throughput", {})
    loadgen, server = figures.get("loadgen_max_process_cpu"), figures.get("server_cpu")
    if not isinstance(loadgen, int | float) or not isinstance(server, int | float):
        return False
    return loadgen >= LOADGEN_BOUND and server < loadgen

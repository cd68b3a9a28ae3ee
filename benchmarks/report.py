"""Turn a results document into ``docs/benchmarks.md`` and its plot.

Everything on the page comes from the results JSON, so ``python -m benchmarks
--from-results`` rebuilds the page without measuring again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.notes import removal_notes
from benchmarks.sealed_grading import section as sealed_grading_section
from benchmarks.servers import SERVER_KINDS

__all__ = ["clean", "render", "write_docs", "write_plot"]

NOT_RUN = {"available": False, "reason": "not run in this invocation"}


def clean(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None (valid JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [clean(item) for item in value]
    return value


def _number(value: Any, digits: int = 0, suffix: str = "") -> str:
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "n/a"
    return f"{value:,.{digits}f}{suffix}"


def _label(name: str) -> str:
    kind = SERVER_KINDS.get(name)
    return kind.label if kind else name


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _unavailable(result: dict[str, Any]) -> str | None:
    if result.get("available", True):
        return None
    return str(result.get("reason") or result.get("error") or "not available")


def _fanout_sections(fanout: dict[str, Any]) -> list[str]:
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
        row = [_label(name)]
        for at_size in sizes.values():
            figures = at_size["servers"].get(name, {}).get("throughput", {})
            bare = _rate(at_size, _baseline(name, at_size))
            rate = figures.get("rate")
            ratio = rate / bare if isinstance(rate, float | int) and bare else None
            timeouts = figures.get("timeouts", 0)
            row += [
                _number(rate) + (f" ({timeouts} timed out)" if timeouts else ""),
                _number(ratio, 2, "x"),
                _number(figures.get("server_cpu"), 2),
                _number(figures.get("server_us_per_delivery"), 1),
                _number(figures.get("loadgen_max_process_cpu"), 2),
            ]
        rows.append(row)
    out += _table(header, rows)
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
            f"N={size}: {_number(at_size.get('latency_messages_per_second'), 1)} messages/s "
            f"({_number(at_size.get('latency_messages_per_second', 0) * int(size))} deliveries/s)"
            for size, at_size in sizes.items()
        )
        + ". Latency is from the sender's send call to the receiver's read, on one "
        "machine's monotonic clock; median over runs of each run's percentile."
    )
    out.append("")
    header = ["server"]
    for size in sizes:
        header += [f"N={size} p50 ms", f"N={size} p99 ms"]
    rows = []
    for name in servers:
        row = [_label(name)]
        for at_size in sizes.values():
            latency = at_size["servers"].get(name, {}).get("latency", {})
            row += [_number(latency.get("p50_ms"), 2), _number(latency.get("p99_ms"), 2)]
        rows.append(row)
    out += _table(header, rows)
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
    shares = [
        figures["throughput"]["server_cpu"]
        for at_size in fanout.get("sizes", {}).values()
        for name, figures in at_size["servers"].items()
        if name != "node"
        and isinstance(figures["throughput"].get("server_cpu"), int | float)
        # A server waiting for a saturated load generator is not starved.
        and not _loadgen_bound(at_size, name)
    ]
    if not shares or min(shares) >= 0.9:
        return []
    return [
        f"> **Busy machine:** during some bursts a Python server, which should keep its "
        f"core busy, got only {min(shares):.0%} of it: other processes were running on "
        "the servers' core. Rates and ratios of this run are unreliable; the CPU time per "
        "delivered message is less affected. Re-run `make bench` on a quiet machine.",
        "",
    ]


def _targets(fanout: dict[str, Any]) -> list[str]:
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
        ("roomkit", "node", "`roomkit serve` vs Node socket.io (target >= 1, aim 2)", True),
        ("roomkit-deflate", "node", "with `--websocket-compression` vs Node", False),
    ]
    header = ["ratio", "meaning", *(f"N={size}" for size in sizes)]
    rows = []
    for mine, theirs, meaning, is_target in checks:
        cells = []
        for at_size in sizes.values():
            ratio = _ratio(at_size, mine, theirs)
            text = _number(ratio, 2, "x")
            if is_target and ratio is not None:
                text += " met" if ratio >= 0.97 else " **NOT met**"
            cpu = _cpu_ratio(at_size, mine, theirs)
            if ratio is not None and cpu is not None:
                text += f" ({cpu:.2f}x)"
            if ratio is not None and _loadgen_bound(at_size, mine):
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
        cells.append(_number(ratio, 2, "x") + met)
    if any(cell != "n/a" for cell in cells):
        rows.append(["node p99 / roomkit p99", "paced latency (target >= 1)", *cells])
    out += _table(header, rows)
    out += [
        "",
        "† the load generator, not this server, was the limit (its busiest process used "
        f"{LOADGEN_BOUND:.0%} or more of its core, the server less): the rate ratio is a "
        "lower bound; the CPU ratio in brackets is what the servers themselves need.",
    ]
    return [*out, ""]


LOADGEN_BOUND = 0.9


def _loadgen_bound(at_size: dict[str, Any], name: str) -> bool:
    figures = at_size["servers"].get(name, {}).get("throughput", {})
    loadgen, server = figures.get("loadgen_max_process_cpu"), figures.get("server_cpu")
    if not isinstance(loadgen, int | float) or not isinstance(server, int | float):
        return False
    return loadgen >= LOADGEN_BOUND and server < loadgen


# Measured once (not by make bench): tracemalloc in a `roomkit serve` process,
# 500 idle websocket connections, allocations grouped by the code that made them.
MEMORY_NOTES = [
    "What one idle websocket connection of `roomkit serve` holds, measured once with "
    "tracemalloc (Python allocations only, 500 connections, 22.6 KiB each): aiohttp's "
    "HTTP request and its protocol, parser and handler task about 8 KiB; aiohttp's "
    "websocket response (reader queue, frame parser, writer) about 2.7 KiB; "
    "engine.io's WSGI-style environ (a copy of every request header, kept for the "
    "connection's life) about 1.4 KiB; roomkit's transport (the reading coroutine, the "
    "outbox, the ping timer) about 1.8 KiB; roomkit's handshake record (headers again) "
    "and chat connection (rate-limit bucket, room set) about 1.2 KiB; engine.io and "
    "socket.io session state about 1.3 KiB. Compared with before: no writer task, no "
    "task and timer per read, no sleeping ping task, and no deflate state (a zlib stream "
    "per direction per connection, which is most of the bare python-socketio server's "
    "figure: it accepts deflate).",
]


def _memory_section(memory: dict[str, Any]) -> list[str]:
    out = ["## Memory per idle connection", ""]
    reason = _unavailable(memory)
    if reason:
        return [*out, f"Not available: {reason}", ""]
    out.append(
        f"Server RSS with one idle `/chat` connection, then with "
        f"{memory.get('clients')} more (websocket, connected to `/chat`, in no room)."
    )
    out.append("")
    rows = [
        [
            _label(name),
            _number(figures.get("rss_before_mib"), 1),
            _number(figures.get("rss_after_mib"), 1),
            _number(figures.get("kib_per_connection"), 1),
        ]
        for name, figures in memory.get("servers", {}).items()
    ]
    out += _table(["server", "RSS before (MiB)", "RSS after (MiB)", "KiB per connection"], rows)
    return [*out, "", *MEMORY_NOTES, ""]


def _scaleout_section(scaleout: dict[str, Any]) -> list[str]:
    out = ["## Scale-out over Redis", ""]
    reason = _unavailable(scaleout)
    if reason:
        return [*out, f"Not available: {reason}", ""]
    one, two = scaleout["one_server"], scaleout["two_servers"]
    out.append(
        f"`roomkit serve --redis-url` on one server, then on two (receivers split "
        f"between them, the sender on the first), N={scaleout['receivers']}, "
        f"{scaleout['messages']} messages a burst. Server 1 is pinned to core 0 and "
        "server 2 to core 1; the load generator and Redis float, so with two servers "
        "they compete with server 2 for its core."
    )
    out.append("")
    rows = [
        ["1 server + Redis", _number(one.get("rate")), _number(one.get("server_cpu"), 2)],
        ["2 servers + Redis", _number(two.get("rate")), _number(two.get("server_cpu"), 2)],
    ]
    out += _table(["setup", "deliveries/s", "server CPU (sum)"], rows)
    out += ["", f"Two servers deliver {_number(scaleout.get('ratio'), 2)}x one.", ""]
    return out


def _client_section(cost: dict[str, Any], chosen: str) -> list[str]:
    out = ["## Load-generator clients", ""]
    reason = _unavailable(cost)
    if reason:
        return [*out, f"Not measured: {reason}. Clients used: `{chosen}`.", ""]
    out.append(
        f"Load-generator CPU per delivered message for each client kind, "
        f"{cost['receivers']} receivers of {_label(cost['server'])}, "
        f"{cost['messages']} messages a burst. The cheapest, **`{chosen}`**, is used for "
        "everything else. `frame`: a websocket client on a bare asyncio protocol that "
        "splits frames itself; `raw`: engine.io/socket.io text frames on an aiohttp "
        "websocket; `socketio`: `socketio.AsyncClient`."
    )
    out.append("")
    rows = [
        [
            f"`{kind}`",
            _number(figures.get("us_per_message"), 2),
            _number(figures.get("rate")),
            _number(figures.get("loadgen_cpu"), 2),
        ]
        for kind, figures in cost.get("kinds", {}).items()
    ]
    out += _table(["client", "µs CPU per message", "deliveries/s", "load-gen CPU"], rows)
    return [*out, ""]


def _profile_section(profile: dict[str, Any], fanout: dict[str, Any]) -> list[str]:
    out = ["## Where the time goes", ""]
    reason = _unavailable(profile)
    if reason:
        return [*out, f"Not available: {reason}", ""]
    profiles = {
        name: found
        for name, found in profile.get("profiles", {}).items()
        if _unavailable(found) is None and found.get("samples")
    }
    if not profiles:
        return [*out, "Not available: no profile was recorded.", ""]
    first = next(iter(profiles.values()))
    out.append(
        f"py-spy (native stacks, 100 Hz) sampled `roomkit serve` while it fanned bursts "
        f"of {first.get('messages')} messages out to {first.get('receivers')} receivers. "
        "The server's CPU time per delivered message was measured just before (sampling "
        "native stacks pauses the server); the samples split it by what was running "
        "(self time, the time of called C code and system calls included)."
    )
    out.append("")
    header = ["what was running"]
    for name in profiles:
        header += [f"{_label(name)}: share", "µs/msg"]
    totals = ["**total (server CPU per delivered message)**"]
    for found in profiles.values():
        totals += [f"{found.get('samples')} samples", _number(found["server_us_per_message"], 1)]
    whats: list[str] = []
    for found in profiles.values():
        whats += [row["what"] for row in found.get("by_package", []) if row["what"] not in whats]
    rows = []
    for what in whats:
        row = [what]
        for found in profiles.values():
            match = next((r for r in found.get("by_package", []) if r["what"] == what), None)
            row += (
                [_number(100 * match["share"], 1, "%"), _number(match["us_per_message"], 2)]
                if match
                else ["", ""]
            )
        rows.append(row)
    out += _table(header, [*rows, totals])
    out.append("")
    for name, found in profiles.items():
        out.append(f"Steps of the fan-out path, {_label(name)} (inclusive time):")
        out.append("")
        rows = [
            [
                f"`{row['function']}`",
                row["what"],
                _number(100 * row["share"], 1, "%"),
                _number(row["us_per_message"], 2),
            ]
            for row in found.get("path", [])
            if row["share"] > 0
        ]
        out += _table(["function", "what it does", "share", "µs per message"], rows)
        out += ["", f"Hottest functions, {_label(name)} (self time):", ""]
        rows = [
            [f"`{row['what']}`", _number(100 * row["share"], 1, "%")]
            for row in found.get("top_functions", [])
        ]
        out += _table(["function", "share"], rows)
        out.append("")
    out += removal_notes(profiles)
    return out


def _kernel_checks(kernel: dict[str, Any]) -> list[str]:
    """The table of ``await check`` timed in fresh Jupyter kernels (empty when not measured)."""
    exercises: dict[str, Any] = kernel.get("exercises", {})
    if not exercises:
        return []
    runs = next(iter(exercises.values())).get("runs")
    out = [
        "",
        "In JupyterLab's kernel (`python3`, driven by jupyter_client), medians of "
        f"{runs} fresh kernel(s) per exercise and case: the time of the notebook's setup "
        "cells and the exercise cell; `await check(id)` run at once after them (cold: it "
        "waits for the warm-up that `from roomkit.check import check` starts); run after "
        "that warm-up finished; and run again (warm). Targets: cold under 1.5 s, warm "
        "under 0.3 s.",
        "",
    ]
    rows = [
        [
            f"`{exercise}`",
            "yes" if timing.get("passed") else "NO",
            _number(timing.get("setup"), 3),
            _number(timing.get("at_once"), 3),
            _number(timing.get("warmed"), 3),
            _number(timing.get("warm"), 3),
        ]
        for exercise, timing in exercises.items()
    ]
    headers = ["exercise", "passed", "setup cells (s)", "cold, at once (s)"]
    return out + _table([*headers, "cold, warmed up (s)", "warm (s)"], rows)


def _feedback_section(feedback: dict[str, Any]) -> list[str]:
    out = ["## Feedback speed", ""]
    reason = _unavailable(feedback)
    if reason:
        return [*out, f"Not available: {reason}.", ""]
    out.append(
        f"Measured with a load average of {feedback.get('load_average', '?')} at the start "
        "of this section (other work on the machine makes every figure slower)."
    )
    out.append("")
    out.append(
        "Wall time of `await check(id)` for each exercise, against its reference "
        "solution, in a fresh Python process (like a new kernel), exercises in course "
        "order. The first pass includes the imports the first check of a session pays; "
        "the second is what a learner waits for every later check."
    )
    out.append("")
    checks = feedback.get("checks", {})
    first, second = checks.get("first_pass", {}), checks.get("second_pass", {})
    rows = [
        [
            f"`{exercise}`",
            str(timing.get("tests")),
            "yes" if timing.get("passed") else "NO",
            _number(timing.get("seconds"), 3),
            _number(second.get(exercise, {}).get("seconds"), 3),
        ]
        for exercise, timing in first.items()
    ]
    out += _table(["exercise", "tests", "passed", "first pass (s)", "second pass (s)"], rows)
    out += _kernel_checks(feedback.get("kernel", {}))
    grade = feedback.get("grade", {})
    reason = _unavailable(grade)
    if reason:
        out += ["", f"`roomkit grade`: not available: {reason}."]
    elif grade:
        result = grade.get("result") or {}
        out += [
            "",
            f"`{grade.get('command')}` ({grade.get('notebooks')} notebooks, "
            f"{grade.get('exercises')} exercises): {_number(grade.get('seconds'), 2)} s, "
            f"exit status {grade.get('status')}, {result.get('passed')} of "
            f"{result.get('total')} exercises passed.",
        ]
    return [*out, ""]


def _grading_section(grading: dict[str, Any]) -> list[str]:
    out = ["## Grading a class", ""]
    reason = _unavailable(grading)
    if reason:
        return [*out, f"Not available: {reason}.", ""]
    out.append(
        f"`roomkit grade` over a generated class of {grading.get('class_size')} submissions "
        f"(exercise {grading.get('exercise')}, two tests; half solved, half not), one worker "
        "process per submission, measured "
        f"{grading.get('generated', 'with the other scenarios')} "
        f"({'`--quick`: toy sizes' if grading.get('quick') else 'full size'}). The load "
        "average is the machine's when the run started: other work on it slows every figure."
    )
    out.append("")
    rows = []
    for name, run in {**grading.get("runs", {}), **grading.get("sealing", {})}.items():
        if _unavailable(run):
            rows.append([name, "", "", "", f"not available: {_unavailable(run)}"])
            continue
        rows.append(
            [
                f"{name} (`{run.get('options')}`)",
                str(run.get("submissions")),
                _number(run.get("seconds"), 1),
                _number(run.get("seconds_per_submission"), 2),
                str(run.get("load_average_at_start")),
            ]
        )
    out += _table(["run", "submissions", "seconds", "s/submission", "load average"], rows)
    one, two = (grading.get("runs", {}).get(f"jobs {jobs}", {}) for jobs in (1, 2))
    if one.get("seconds") and two.get("seconds"):
        out += [
            "",
            f"`--jobs 2` graded the class {one['seconds'] / two['seconds']:.2f}x as fast as "
            f"`--jobs 1` on this {grading.get('cpus')}-CPU machine. Each submission pays a "
            "fresh Python process (imports, pytest) besides its tests: that is the price of "
            "freeing memory and isolating submissions from each other.",
        ]
    return [*out, ""]


def render(results: dict[str, Any], image: str | None) -> str:
    """The Markdown page for ``results`` (``image``: the plot's file name, if drawn)."""
    machine = results.get("machine", {})
    config = results.get("config", {})
    scenarios = results.get("scenarios", {})
    versions = machine.get("versions", {})
    out = [
        "# Benchmarks",
        "",
        "<!-- Generated by `make bench` (python -m benchmarks) from "
        "benchmarks/results/latest.json: edit benchmarks/report.py, not this file. -->",
        "",
        f"Measured {results.get('generated')} in {results.get('seconds')} s with "
        f"`{config.get('command', 'python -m benchmarks')}`"
        + (" (**--quick: toy sizes, the numbers mean nothing**)" if config.get("quick") else "")
        + ".",
        "",
        f"- Machine: {machine.get('cpus')} x {machine.get('cpu_model')}, "
        f"{machine.get('platform')}; load average at start "
        f"{machine.get('load_average_at_start')}.",
        "- Versions: " + ", ".join(f"{name} {version}" for name, version in versions.items()),
        f"- Pinning: servers on core {config.get('server_cpu')}, load generator (and the "
        f"sender) on core {config.get('loadgen_cpu')} (`taskset -c`; None = not pinned).",
        f"- Sizes: N = {config.get('sizes')}, {config.get('deliveries'):,} deliveries per "
        f"fan-out burst, {config.get('runs')} runs per figure (median), "
        f"{config.get('workers')} load-generator process(es) per room, "
        f"clients `{results.get('client_kind')}`.",
        "- Clients offer permessage-deflate, as browsers and the JS client do: the bare "
        "python-socketio server accepts it (aiohttp's default), `roomkit serve` declines it "
        "unless `--websocket-compression`, Node's socket.io declines it by default.",
        "- Servers: `roomkit serve --port P --no-rate-limit --log-level WARNING` with its "
        "defaults (`--loop auto`: uvloop when installed; `--gc-threshold 100000`) and "
        "with those options off, `python -m benchmarks.bare_server` (python-socketio on "
        "aiohttp, nothing else) and `node benchmarks/node_server.js` (socket.io 4.8 "
        "defaults). All speak the same `/chat` protocol and send the same payload; the "
        "servers' logs go to a temporary folder.",
        "",
    ]
    fanout = scenarios.get("fanout", {})
    if _unavailable(fanout) is None and fanout.get("sizes"):
        out += _targets(fanout)
        out += _fanout_sections(fanout)
        if image is None:
            out = [line for line in out if "](benchmarks.png)" not in line]
    else:
        out += ["## Room fan-out", "", f"Not available: {_unavailable(fanout)}", ""]
    out += _profile_section(scenarios.get("profile", NOT_RUN), fanout)
    out += _memory_section(scenarios.get("memory", NOT_RUN))
    out += _scaleout_section(scenarios.get("scaleout", NOT_RUN))
    out += _client_section(scenarios.get("client-cost", NOT_RUN), str(results.get("client_kind")))
    out += _feedback_section(scenarios.get("feedback", NOT_RUN))
    out += sealed_grading_section(scenarios.get("sealed-grading", NOT_RUN))
    out += _grading_section(scenarios.get("grading", NOT_RUN))
    return "\n".join(out).rstrip() + "\n"


def write_plot(results: dict[str, Any], path: Path) -> bool:
    """Draw throughput and p99 against N for every server; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fanout = results.get("scenarios", {}).get("fanout", {})
    sizes: dict[str, Any] = fanout.get("sizes", {})
    if not sizes:
        return False
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    ns = [int(size) for size in sizes]
    for name in fanout.get("servers", []):
        rates = [sizes[s]["servers"][name]["throughput"].get("rate") for s in sizes]
        p99s = [sizes[s]["servers"][name]["latency"].get("p99_ms") for s in sizes]
        left.plot(ns, [r or math.nan for r in rates], marker="o", label=_label(name))
        right.plot(ns, [p or math.nan for p in p99s], marker="o", label=_label(name))
    left.set(title="Fan-out throughput", xlabel="receivers in the room (N)")
    left.set_ylabel("delivered messages / s")
    right.set(title="p99 latency, paced sender", xlabel="receivers in the room (N)")
    right.set_ylabel("ms")
    for axes in (left, right):
        axes.set_xticks(ns)
        axes.grid(alpha=0.3)
    left.set_ylim(bottom=0)
    right.set_ylim(bottom=0)
    left.legend(fontsize=8)
    figure.suptitle(f"roomkit benchmarks, {results.get('generated', '')}", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def write_docs(results: dict[str, Any], docs: Path) -> None:
    """Write ``docs`` and, beside it, ``benchmarks.png`` when matplotlib is installed."""
    results = clean(results)
    image = docs.with_name("benchmarks.png")
    drawn = write_plot(results, image)
    page = render(results, image.name if drawn else None)
    if drawn and image.name != "benchmarks.png":
        page = page.replace("](benchmarks.png)", f"]({image.name})")
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text(page)

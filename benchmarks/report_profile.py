"""The "where the time goes" section of ``docs/benchmarks.md``, from py-spy's samples."""

from __future__ import annotations

from typing import Any

from benchmarks.notes import removal_notes
from benchmarks.report_tables import label, number, table, unavailable

__all__ = ["profile_section"]


def profile_section(profile: dict[str, Any]) -> list[str]:
    """The section that splits the server's CPU time per message by what was running."""
    out = ["## Where the time goes", ""]
    reason = unavailable(profile)
    if reason:
        return [*out, f"Not available: {reason}", ""]
    profiles = {
        name: found
        for name, found in profile.get("profiles", {}).items()
        if unavailable(found) is None and found.get("samples")
    }
    if not profiles:
        return [*out, "Not available: no profile was recorded.", ""]
    first = next(iter(profiles.values()))
    out.append(
        f"py-spy (native stacks, 100 Hz) sampled `roomkit serve` while it fanned bursts "
        f"of {first.get('messages')} messages out to {first.get('receivers')} receivers. "
        "The server's CPU time per delivered message was measured just before (sampling "
        "native stacks pauses the server); the samples split it by what was running "
        "(self time, the time of called C code and system calls included). Short "
        "system calls weigh more in the samples than in CPU time: in a check with two "
        "receivers, py-spy put 3.9 µs per message in `getpid`, which strace counted "
        "once per message and which takes about 0.1 µs here, so read the system-call "
        "rows as upper bounds."
    )
    out.append("")
    header = ["what was running"]
    for name in profiles:
        header += [f"{label(name)}: share", "µs/msg"]
    totals = ["**total (server CPU per delivered message)**"]
    for found in profiles.values():
        totals += [f"{found.get('samples')} samples", number(found["server_us_per_message"], 1)]
    whats: list[str] = []
    for found in profiles.values():
        whats += [row["what"] for row in found.get("by_package", []) if row["what"] not in whats]
    rows = []
    for what in whats:
        row = [what]
        for found in profiles.values():
            match = next((r for r in found.get("by_package", []) if r["what"] == what), None)
            row += (
                [number(100 * match["share"], 1, "%"), number(match["us_per_message"], 2)]
                if match
                else ["", ""]
            )
        rows.append(row)
    out += table(header, [*rows, totals])
    out.append("")
    for name, found in profiles.items():
        out.append(f"Steps of the fan-out path, {label(name)} (inclusive time):")
        out.append("")
        rows = [
            [
                f"`{row['function']}`",
                row["what"],
                number(100 * row["share"], 1, "%"),
                number(row["us_per_message"], 2),
            ]
            for row in found.get("path", [])
            if row["share"] > 0
        ]
        out += table(["function", "what it does", "share", "µs per message"], rows)
        out += ["", f"Hottest functions, {label(name)} (self time):", ""]
        rows = [
            [f"`{row['what']}`", number(100 * row["share"], 1, "%")]
            for row in found.get("top_functions", [])
        ]
        out += table(["function", "share"], rows)
        out.append("")
    out += removal_notes(profiles)
    return out

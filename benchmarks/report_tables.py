"""The table and number helpers every section of ``docs/benchmarks.md`` shares."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from benchmarks.servers import SERVER_KINDS

__all__ = ["NOT_RUN", "clean", "label", "number", "table", "unavailable"]

# What a section renders from when its scenario was left out of the invocation.
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


def number(value: Any, digits: int = 0, suffix: str = "") -> str:
    """``value`` with thousands separators and ``digits`` decimals; "n/a" when not a number."""
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "n/a"
    return f"{value:,.{digits}f}{suffix}"


def label(name: str) -> str:
    """How tables and plots call the server ``name``."""
    kind = SERVER_KINDS.get(name)
    return kind.label if kind else name


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table, one line per row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def unavailable(result: dict[str, Any]) -> str | None:
    """Why a scenario has no figures, or None when it has."""
    if result.get("available", True):
        return None
    return str(result.get("reason") or result.get("error") or "not available")

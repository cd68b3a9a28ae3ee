"""Feedback speed: how long a learner waits for ``await check(...)`` and ``roomkit grade``.

Both come from another part of the project (``roomkit.check`` and the
``roomkit grade`` command). Until they exist this scenario reports
"not available" instead of failing.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from benchmarks.scenarios import Config

__all__ = ["feedback"]


async def feedback(config: Config) -> dict[str, Any]:
    """Time every exercise check and a full grade; see the module docstring."""
    if importlib.util.find_spec("roomkit.check") is None:
        return {"available": False, "reason": "roomkit.check does not exist yet"}
    return {"available": False, "reason": "roomkit.check exists but is not measured yet"}

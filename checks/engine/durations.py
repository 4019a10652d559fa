"""Measured check times, for dealing checks into groups: the longest first, each to the least loaded group.

The table is what `python -m checks.bench --durations` measured grading the reference solution; a
check that is not in it yet counts as a short one. Only the split depends on it, never a verdict.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from checks.engine.groups import DEFAULT_ESTIMATE

TABLE = Path(__file__).with_name("durations.json")


@cache
def table() -> dict[str, float]:
    try:
        data = json.loads(TABLE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in data.get("seconds", {}).items()}


def estimate(name: str) -> float:
    """Seconds `name` (a check, with its parameters) took last measured; else its function's, else a default."""
    known = table()
    return known.get(name, known.get(name.split("[")[0], DEFAULT_ESTIMATE))

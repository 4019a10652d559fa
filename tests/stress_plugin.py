"""The opt-in stress mode: `pytest tests --stress [--stress-runs N]` runs the tests marked stress, others skip them."""

from __future__ import annotations

import pytest

STRESS_HELP = "run the slow stress tests (repeated gradings while both cores are busy)"
RUNS_HELP = "how many times the stress test grades each file (default 20)"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--stress", action="store_true", default=False, help=STRESS_HELP)
    parser.addoption("--stress-runs", type=int, default=20, metavar="N", help=RUNS_HELP)


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("stress_runs") < 2:
        raise pytest.UsageError(f"--stress-runs must be at least 2 to compare runs, got {config.getoption('stress_runs')}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_unless_opted_in(config, items, "stress", "stress test: opt in with --stress")


def skip_unless_opted_in(config: pytest.Config, items: list[pytest.Item], marker: str, reason: str) -> None:
    """Skip the tests marked `marker` unless the flag of the same name was given (tests/mutants_plugin.py uses it too)."""
    if config.getoption(marker):
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if item.get_closest_marker(marker):
            item.add_marker(skip)

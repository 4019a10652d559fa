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
    if config.getoption("stress"):
        return
    skip = pytest.mark.skip(reason="stress test: opt in with --stress")
    for item in items:
        if item.get_closest_marker("stress"):
            item.add_marker(skip)

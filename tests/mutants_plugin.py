"""The opt-in mutation run: `pytest tests/test_mutants.py --mutants [--mutants-jobs N]` runs the tests marked mutants."""

from __future__ import annotations

import pytest

from tests.stress_plugin import skip_unless_opted_in

MUTANTS_HELP = "grade every one-change mutant of the reference (slow: minutes) and fail on survivors not reviewed"
JOBS_HELP = "gradings at once for --mutants (default 2)"
MARKER = "mutants: grades every one-change mutant of the reference; opt in with --mutants"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--mutants", action="store_true", default=False, help=MUTANTS_HELP)
    parser.addoption("--mutants-jobs", type=int, default=2, metavar="N", help=JOBS_HELP)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)  # here, not in pyproject.toml: only these self-tests use it
    if config.getoption("mutants_jobs") < 1:
        raise pytest.UsageError(f"--mutants-jobs must be at least 1, got {config.getoption('mutants_jobs')}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_unless_opted_in(config, items, "mutants", "mutation run: opt in with --mutants")

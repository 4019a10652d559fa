"""Zero flaky verdicts: the same files graded many times while both cores are busy must get the same verdicts."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from checks.batch import grade_one
from tests.conftest import ROOT

FILES = {
    "reference": ROOT / "solutions" / "project.py",
    "limited_in_batches": ROOT / "tests" / "scenarios" / "limited_in_batches" / "project.py",
    "deadlines_one_after_the_other": ROOT / "tests" / "scenarios" / "deadlines_one_after_the_other" / "project.py",
    "async_awaits_in_a_loop": ROOT / "tests" / "scenarios" / "async_awaits_in_a_loop" / "project.py",
}
BUSY = "while True: pass"


@pytest.fixture
def both_cores_busy():
    """Two spinning processes for the length of the test, stopped even if it fails."""
    spinners = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(2)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


@pytest.mark.stress
@pytest.mark.timeout(0)  # many gradings in a row; each child has its own time limit
def test_verdicts_do_not_change_under_load(both_cores_busy, tmp_path, pytestconfig) -> None:
    runs = pytestconfig.getoption("stress_runs")
    differing = []
    for name, path in FILES.items():
        seen = Counter()
        for attempt in range(runs):
            graded = grade_one(f"{name}-{attempt}", path, tmp_path, time_limit=180)
            assert graded.report is not None, f"{name}: {graded.note}"
            seen[tuple((i["id"], i["status"]) for i in graded.report["items"])] += 1
        if len(seen) > 1:
            differing.append(f"{name}: {len(seen)} different verdict sets over {runs} runs: {dict(seen)}")
        print(f"{name}: {runs} runs, {len(seen)} distinct verdict set(s)")
    assert not differing, "\n".join(differing)

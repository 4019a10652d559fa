"""Zero flaky verdicts: the same files graded many times while both cores are busy must get the same verdicts."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest

from checks.tools.gradebook import grade_one
from tests.conftest import ROOT

KNOWN_BAD = ("limited_pauses_after_each_response", "deadline_clamped_to_a_quarter_second", "safe_batch_catches_only_client_errors")
"""Scenarios graded beside the reference (tests/scenarios/NAME: the reference with NAME's change.patch): the
three that lean hardest on what load could bend, the limiter's refill and a deadline bounded by the code's
own time, and an explored check's shrunk case."""
SPINNERS = 4
"""Busy processes on this 2-core machine while the files are graded: twice as many as there are cores."""
BUSY = "while True: pass"


AUTOGROUP = Path("/proc/sys/kernel/sched_autogroup_enabled")
"""Linux's autogroup gives every session an equal share of the CPU. The grader and each worker start
sessions of their own, so with it on, four spinners in the test's session take one share between
them and barely slow the grader: the load this test claims would not be the load it makes."""


@contextlib.contextmanager
def _autogroup_off() -> Iterator[None]:
    """Every process competes with every other for the length of the test, as on a kernel without
    autogroup; the setting is put back afterwards. Only root can do this, and the test says so otherwise."""
    if not AUTOGROUP.exists():
        yield
        return
    before = AUTOGROUP.read_text().strip()
    try:
        AUTOGROUP.write_text("0")
    except OSError as error:
        pytest.fail(f"cannot turn Linux's autogroup off ({error}): the spinners would not load the grader; run as root")
    try:
        yield
    finally:
        AUTOGROUP.write_text(before)


@pytest.fixture
def both_cores_busy():
    """SPINNERS spinning processes competing with the grader for the length of the test, stopped even if it fails."""
    with _autogroup_off():
        spinners = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(SPINNERS)]
        try:
            yield
        finally:
            for spinner in spinners:
                spinner.kill()
                spinner.wait()


@pytest.mark.stress
@pytest.mark.timeout(0)  # many gradings in a row; each child has its own time limit
@pytest.mark.parametrize("official", [True, False], ids=["official", "self-grading"])
def test_verdicts_do_not_change_under_load(official, both_cores_busy, scenario_file, tmp_path, pytestconfig) -> None:
    """Official grades count, and self-grading is what a student sees on a busy laptop: both must hold."""
    runs = pytestconfig.getoption("stress_runs")
    differing = []
    files = {"reference": ROOT / "solutions" / "project.py", **{name: scenario_file(name) for name in KNOWN_BAD}}
    for name, path in files.items():
        expected = ROOT / "tests" / "scenarios" / name / "expected.json"
        golden = set(json.loads(expected.read_text())["failed"]) if name != "reference" else set()
        seen, again = Counter(), 0
        for attempt in range(runs):
            graded = grade_one(f"{name}-{attempt}", path, tmp_path, time_limit=180, official=official)
            assert graded.report is not None, f"{name}: {graded.note}"
            seen[frozenset(i["id"] for i in graded.report["items"] if i["status"] == "failed")] += 1
            again += (tmp_path / "logs" / f"{name}-{attempt}.log").read_text().count("Run again: ")
        wrong = {tuple(sorted(k)): n for k, n in seen.items() if k != golden}
        if wrong:
            differing.append(f"{name}: expected to fail {sorted(golden)} every time; over {runs} runs: {wrong}")
        print(f"{name}: {runs} runs, {sum(seen.values()) - sum(wrong.values())} with the golden verdict; "
              f"{again} checks run again after the grader waited for a CPU")
    assert not differing, "\n".join(differing)

"""A failed check is run again only when the grader measurably waited for a CPU, and a mistake still fails."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections import Counter

import jsonschema
import pytest

from checks.engine import stall
from tests.conftest import GRADE_REPORT, ROOT

linux_only = pytest.mark.skipif(stall.waits() is None, reason="only Linux counts a thread's wait for a CPU")

FIRST_RUN_STALLS = '''
import os as _os
_MARK = {mark!r}


async def fetch_one(session, post_id):
    if not _os.path.exists(_MARK):  # the first run of the first check that asks: as if the machine stalled
        open(_MARK, "w").close()
        raise RuntimeError("a stall the grader could not see")
    return await _fetch_one(session, post_id)
'''


def _run_again(report: dict) -> list[dict]:
    """The checks a grading ran a second time."""
    return [c for item in report["items"] for c in item["checks"] if "attempts" in c]


def _reference_with(tail: str, path) -> None:
    source = (ROOT / "solutions" / "project.py").read_text()
    source = source.replace("async def fetch_one(session", "async def _fetch_one(session", 1)
    path.write_text(source.replace('\nif __name__ == "__main__":', tail + '\n\nif __name__ == "__main__":', 1))


@linux_only
def test_meter_counts_the_wait_for_a_shared_cpu() -> None:
    """Pinned to one CPU beside a spinner, a busy second waits for about half of it."""
    cpu = min(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    spinner = subprocess.Popen([sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"])
    try:
        time.sleep(0.2)  # the spinner is running
        meter = stall.Meter()
        meter.start()
        until = time.monotonic() + 1.0
        while time.monotonic() < until:
            pass
        waited = meter.seconds()
    finally:
        spinner.kill()
        spinner.wait()
        os.sched_setaffinity(0, before)
    assert waited is not None and waited > 0.2, f"waited {waited} s for a CPU shared with a spinner"


@pytest.mark.parametrize("given", ["soon", "-1"])
def test_stall_rerun_takes_seconds_or_off(given) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--project=solutions/project.py", f"--stall-rerun={given}", "checks/test_base.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 4 and f"--stall-rerun takes seconds (0 or more) or 'off', got '{given}'" in done.stderr


@linux_only
def test_a_mistake_still_fails_when_run_again(grade, scenario_file, tmp_path) -> None:
    """Run twice (a threshold of 0 counts any wait), the batch-by-batch limiter fails alter-2 both times."""
    junit = tmp_path / "junit.xml"
    graded = grade(scenario_file("limited_in_batches"), "--stall-rerun=0", f"--junitxml={junit}")
    assert graded.failed() == {"alter-2"}
    again = _run_again(graded.report)
    assert again and all(c["attempts"] == 2 and c["outcome"] == "failed" for c in again)
    assert "Run again: " + again[0]["name"] in graded.output
    jsonschema.validate(graded.report, GRADE_REPORT, cls=jsonschema.Draft202012Validator)
    # One test case per check, the failing one with its failure: the first run is not a case of its own.
    cases = ElementTree.parse(junit).getroot().iter("testcase")
    names = Counter(case.get("name") for case in cases)
    assert set(names.values()) == {1} and sum(names.values()) == sum(len(i["checks"]) for i in graded.report["items"])


@linux_only
def test_a_failure_the_machine_caused_gets_the_second_runs_verdict(grade, tmp_path) -> None:
    project = tmp_path / "project.py"
    _reference_with(FIRST_RUN_STALLS.format(mark=str(tmp_path / "stalled-once")), project)
    graded = grade(project, "--stall-rerun=0")
    assert graded.failed() == set(), graded.output
    again = _run_again(graded.report)
    assert len(again) == 1 and again[0]["outcome"] == "passed"
    jsonschema.validate(graded.report, GRADE_REPORT, cls=jsonschema.Draft202012Validator)


@linux_only
def test_no_second_run_without_a_measured_wait(grade, tmp_path) -> None:
    """With a threshold no check can reach, the stalled first run stands: fetch_one's item fails."""
    project = tmp_path / "project.py"
    _reference_with(FIRST_RUN_STALLS.format(mark=str(tmp_path / "stalled-once")), project)
    graded = grade(project, "--stall-rerun=1000")
    assert graded.failed(), graded.output
    assert not _run_again(graded.report)


@linux_only
def test_official_grading_never_runs_a_check_again(grade, scenario_file) -> None:
    graded = grade(scenario_file("limited_in_batches"), "--official", "--stall-rerun=0")
    assert graded.failed() == {"alter-2"}
    assert not _run_again(graded.report)


@linux_only
def test_a_function_still_a_todo_is_not_run_again(grade) -> None:
    """No busy machine makes a TODO raise NotImplementedError: the starter's TODO checks are run once,
    even with a threshold of 0, and the scorecard carries no "Run again" line for them."""
    graded = grade(ROOT / "starter" / "project.py", "--stall-rerun=0")
    todo = [c for item in graded.report["items"] for c in item["checks"] if "is still a TODO" in c["message"]]
    assert todo and not any("attempts" in c for c in todo)
    assert not any(f"Run again: {c['name']} " in graded.output for c in todo)

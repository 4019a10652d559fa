"""Checks run in parallel groups: the same verdicts and reports as one process, and no check lost to a dead group."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from checks.engine.groups import LOST, split
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(300)


def test_split_deals_every_check_once_longest_first() -> None:
    estimates = [0.5, 0.1, 0.1, 0.3, 0.2, 0.25, 0.05]
    groups = split(estimates, 3)
    assert sorted(i for g in groups for i in g) == list(range(len(estimates)))
    assert all(g == sorted(g) for g in groups)
    loads = sorted(sum(estimates[i] for i in g) for g in groups)
    assert loads[-1] == pytest.approx(0.5)  # the longest check alone, the rest shared out under it


def test_split_into_more_groups_than_checks_drops_the_empty_ones() -> None:
    assert split([0.1, 0.2], 5) == [[1], [0]]


def _grade(project: Path, tmp_path: Path, *args: str) -> tuple[dict, str, int]:
    out = tmp_path / f"grade{len(list(tmp_path.glob('grade*.json')))}.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", f"--project={project}", f"--grade-json={out}", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    return json.loads(out.read_text()), done.stdout, done.returncode


def _reference_with(folder: Path, line: str, body: str) -> Path:
    """The reference solution with `body` put right after `line` (the first line of a function)."""
    reference = (ROOT / "solutions" / "project.py").read_text()
    assert line in reference
    project = folder / "project.py"
    project.write_text(reference.replace(line, line + body))
    return project


def _verdicts(report: dict) -> list:
    return [(i["id"], i["state"], [(c["name"], c["outcome"]) for c in i["checks"]]) for i in report["items"]]


def _junit_cases(path: Path) -> list[tuple[str, str]]:
    """Each test case of a JUnit file with how it ended: passed, or the tag of its failure or skip."""
    cases = ElementTree.parse(path).getroot().iter("testcase")
    return [(c.get("name"), next((child.tag for child in c if child.tag in ("failure", "error", "skipped")), "passed"))
            for c in cases]


def test_groups_give_the_verdicts_of_one_process(tmp_path: Path, scenario_file) -> None:
    """A file without ANSWERS.md beside it skips explain: a replayed skip must still make a JUnit report."""
    project = scenario_file("limited_in_batches")
    alone, alone_out, alone_code = _grade(project, tmp_path, "--groups=off", f"--junitxml={tmp_path / 'alone.xml'}")
    grouped, grouped_out, grouped_code = _grade(project, tmp_path, "--groups=5", f"--junitxml={tmp_path / 'grouped.xml'}")
    assert _verdicts(alone) == _verdicts(grouped)
    assert (alone["score"], alone_code) == (grouped["score"], grouped_code) == (85, 1)
    for text in (alone_out, grouped_out):
        assert "Scorecard" in text and "alter-2" in text and "INTERNALERROR" not in text
    cases = _junit_cases(tmp_path / "grouped.xml")
    assert cases == _junit_cases(tmp_path / "alone.xml") and ("test_answers_are_written", "skipped") in cases


def test_a_check_whose_process_dies_fails_alone_and_the_rest_still_run(tmp_path: Path) -> None:
    """In self-grading student code runs in the group's process: os._exit() there ends that process, not the run."""
    project = _reference_with(tmp_path, "async def fetch_two_endpoints(post_ids=POST_IDS, user_ids=range(1, 6)):\n", "    os._exit(3)\n")
    report, output, code = _grade(project, tmp_path, "-m", "not network")
    failed = {i["id"] for i in report["items"] if i["state"] == "failed"}
    assert failed == {"alter-3"}
    messages = [c["message"] for i in report["items"] if i["id"] == "alter-3" for c in i["checks"]]
    assert all(LOST.split("(")[0] in m and "exit code 3" in m for m in messages), messages
    assert code == 1 and "Scorecard" in output


def test_a_group_that_stops_answering_is_stopped_and_its_check_named(tmp_path: Path) -> None:
    """A spin that ignores pytest-timeout's alarm: the parent stops its group after the check's limit."""
    spin = "    import signal\n    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n    while True:\n        pass\n"
    project = _reference_with(tmp_path, "async def fetch_async_safe(post_ids=POST_IDS):\n", spin)
    chosen = "test_safe_batch_where_every_request_fails or test_sync_fetches_one_post_at_a_time_in_order"
    report, output, code = _grade(project, tmp_path, "--timeout=1", "-k", chosen)
    outcomes = {c["name"]: (c["outcome"], c["message"]) for i in report["items"] for c in i["checks"]}
    assert outcomes["test_sync_fetches_one_post_at_a_time_in_order"][0] == "passed"
    outcome, message = outcomes["test_safe_batch_where_every_request_fails"]
    assert outcome == "failed" and "was stopped after" in message, message
    assert code == 1 and "Scorecard" in output

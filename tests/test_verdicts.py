"""Golden verdicts: every correct solution passes, the starter and every known-bad file fail exactly their items.

Each file is graded twice: in-process (self-grading) and with --official (the worker in its sandbox).
The two modes must agree with the golden verdicts, and so with each other. Self-grading runs in its
default parallel groups and official grading in one (`--groups=1`), so every file's verdicts are also
shown to be the same with groups and without; one group is also the cheaper official grading, since
each group of one starts a sandbox and a worker of its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests import scenario_patches
from tests.properties import unproven
from tests.conftest import GRADE_REPORT, GRADED_IDS, ROOT

# A grading under load can outlast the 15 s that pytest.ini gives one check.
pytestmark = pytest.mark.timeout(1800)  # a test may wait for gradings asked for before its own

SOLUTIONS = [ROOT / "solutions" / "project.py", *sorted((ROOT / "solutions" / "alternatives").glob("*.py"))]
# Each known-bad file is the reference with the change in its folder's change.patch (tests/scenario_patches.py).
SCENARIOS = [ROOT / "tests" / "scenarios" / name for name in scenario_patches.names()]

MODES = {"in-process": (), "official": ("--official", "--groups=1")}
ORDERS = ["reverse", "shuffle:7"]
ORDER_SENSITIVE = ["main_grows_post_ids", "manual_session_kept_between_calls"]


def _args(name: str) -> list[str]:
    return json.loads((ROOT / "tests" / "scenarios" / name / "expected.json").read_text()).get("args", [])


@pytest.fixture(scope="module")
def grade(warm_grades, scenario_file):
    """Every grading this module needs, asked for at once of the warm grader, so they run side by side;
    each test then reads its own."""
    for mode in MODES.values():
        for path in [*SOLUTIONS, ROOT / "starter" / "project.py"]:
            warm_grades.ask(path, *mode)
        for scenario in SCENARIOS:
            warm_grades.ask(scenario_file(scenario.name), *mode, *_args(scenario.name))
    for name in ["reference", *ORDER_SENSITIVE]:
        project = ROOT / "solutions" / "project.py" if name == "reference" else scenario_file(name)
        args = [] if name == "reference" else _args(name)
        for order in ORDERS:
            warm_grades.ask(project, f"--check-order={order}", *args)
    return warm_grades

# Which checks each known-bad grading failed, and every check there is; filled as the tests below run.
FAILED_CHECKS: dict[str, set[str]] = {}
ALL_CHECKS: set[str] = set()


def _remember(name: str, graded, mode: str = "in-process") -> None:
    if mode != "in-process":
        return
    checks = [c for item in graded.report["items"] for c in item["checks"]]
    ALL_CHECKS.update(c["name"] for c in checks)
    FAILED_CHECKS[name] = {c["name"] for c in checks if c["outcome"] == "failed"}  # not "error": a file that does not import proves nothing


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem if p.parent.name == "alternatives" else "reference")
def test_correct_solution_passes_every_item(grade, solution: Path, mode: str) -> None:
    graded = grade(solution, *MODES[mode])
    failing = {i: graded.messages(i) for i in graded.failed()}
    assert not graded.report.get("grader_errors"), graded.report["grader_errors"]
    assert not failing, f"{solution.name} should pass everything; failing: {failing}"
    assert graded.report["score"] == graded.report["max_score"] == 100
    assert graded.exit_code == 0


@pytest.mark.parametrize("mode", MODES)
def test_starter_passes_base_and_fails_every_other_item_with_its_todo(grade, mode: str) -> None:
    graded = grade(ROOT / "starter" / "project.py", *MODES[mode])
    _remember("starter", graded, mode)
    jsonschema.validate(graded.report, GRADE_REPORT, cls=jsonschema.Draft202012Validator)
    assert graded.status("base") == "passed"
    assert graded.failed() == set(GRADED_IDS) - {"base"}
    for item_id in ("alter-2", "alter-3", "break-1", "break-3", "fix-1", "fix-2", "fix-3"):
        assert "still a TODO" in graded.messages(item_id), item_id
    assert "printed 10 of the 50 posts" in graded.messages("alter-1")
    assert "returned {}" in graded.messages("break-2")
    assert "Next: alter-1" in graded.output
    explain = graded.item("explain")
    assert explain["status"] == "ungraded" and explain["score"] == 0
    assert explain["checks"][0]["outcome"] == "skipped" and "0 of 4 answers written" in explain["checks"][0]["message"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
def test_known_bad_file_fails_exactly_its_items(grade, scenario_file, scenario: Path, mode: str) -> None:
    expected = json.loads((scenario / "expected.json").read_text())
    graded = grade(scenario_file(scenario.name), *MODES[mode], *expected.get("args", []))
    _remember(scenario.name, graded, mode)
    assert not graded.report.get("grader_errors"), graded.report["grader_errors"]
    assert graded.failed() == set(expected["failed"]), (
        f"{expected['description']}\nexpected to fail {sorted(expected['failed'])}, failed {sorted(graded.failed())}\n"
        + "\n".join(f"[{i}] {graded.messages(i)}" for i in sorted(graded.failed() ^ set(expected["failed"])))
    )
    for item_id, fragments in expected.get("messages", {}).items():
        for fragment in [fragments] if isinstance(fragments, str) else fragments:
            assert fragment in graded.messages(item_id), (item_id, fragment, graded.messages(item_id))
    assert "Traceback (most recent call last)" not in graded.output
    jsonschema.validate(graded.report, GRADE_REPORT, cls=jsonschema.Draft202012Validator)  # a load_error too


def test_every_check_is_failed_by_some_known_bad_file() -> None:
    """A check that no known-bad file fails proves nothing; runs last, over the gradings above."""
    if set(FAILED_CHECKS) != {"starter", *(p.name for p in SCENARIOS)}:
        pytest.skip("needs the starter and every scenario graded in this run")
    never_failed = sorted(ALL_CHECKS - {"test_answers_are_written"} - set().union(*FAILED_CHECKS.values()))
    assert not never_failed, f"no known-bad file fails these checks: {never_failed}"


def test_every_varied_property_is_failed_by_its_known_bad_files() -> None:
    """Each property in tests/properties.py: its known-bad files failed one of the checks that vary it."""
    if set(FAILED_CHECKS) != {"starter", *(p.name for p in SCENARIOS)}:
        pytest.skip("needs the starter and every scenario graded in this run")
    assert not unproven(FAILED_CHECKS), unproven(FAILED_CHECKS)


def test_a_run_over_its_budget_reports_the_checks_left_as_not_run(grade) -> None:
    graded = grade(ROOT / "solutions" / "project.py", "--grade-budget=0.3", "-m", "not network")
    messages = [c["message"] for item in graded.report["items"] for c in item["checks"]]
    assert any(m.startswith("Not run: grading had already taken") for m in messages)
    assert graded.failed() and graded.report["score"] < 100
    assert "Scorecard" in graded.output  # the reports are still written


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("name", ["reference", *ORDER_SENSITIVE])
def test_verdicts_do_not_depend_on_the_order_of_the_checks(grade, scenario_file, name: str, order: str) -> None:
    """In-process, each check imports the graded file afresh: what one check's calls left in the module
    (a list grown in place, a session kept) cannot change another's verdict, in any order."""
    files = {"reference": ROOT / "solutions" / "project.py", "starter": ROOT / "starter" / "project.py"}
    project = files[name] if name in files else scenario_file(name)
    args = [] if name in files else _args(name)
    graded = grade(project, f"--check-order={order}", *args)
    in_file_order = grade(project, *args)
    assert {i["id"]: i["status"] for i in graded.report["items"]} == {
        i["id"]: i["status"] for i in in_file_order.report["items"]
    }

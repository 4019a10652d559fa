"""Second-level hints, the progress file beside the graded file, and the scorecard lines they feed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from checks.catalogue import ITEMS
from checks.reports import progress
from checks.reports.results import CheckResult, Grade, Outcome
from checks.reports.scorecard import scorecard

ROOT = Path(__file__).resolve().parent.parent
GRADED = [item for item in ITEMS if item.graded]


def _grade(passing: set[str], project: str = "project.py") -> Grade:
    grade = Grade.empty(project)
    for item in GRADED:
        outcome = Outcome.PASSED if item.id in passing else Outcome.FAILED
        grade.add(CheckResult(f"test_{item.id}", item.id, outcome, "" if item.id in passing else "measured this"))
    return grade


def test_every_graded_item_has_a_second_hint_that_is_a_question_and_not_the_first() -> None:
    assert len(GRADED) == 10 and all(item.hint_more for item in GRADED)
    for item in GRADED:
        assert item.hint_more != item.hint and item.hint_more.rstrip().endswith("?"), item.id
        assert len(item.hint_more) > len(item.hint) * 0.8, f"{item.id}: the second hint should say more"


def test_second_hint_appears_only_after_three_failing_runs(tmp_path: Path) -> None:
    project = tmp_path / "project.py"
    project.write_text("", encoding="utf-8")
    seen = []
    for _ in range(3):
        state = progress.update(_grade({"base"}), project)
        seen.append("A step further" in "\n".join(scorecard(_grade({"base"}), state)))
    assert seen == [False, False, True]
    alter1 = next(i for i in ITEMS if i.id == "alter-1")
    assert alter1.hint_more in "\n".join(scorecard(_grade({"base"}), state))


def test_a_todo_not_started_is_not_stuck_however_many_runs(tmp_path: Path) -> None:
    project = tmp_path / "project.py"
    project.write_text("", encoding="utf-8")
    todo = Grade.empty("project.py")
    for item in GRADED:
        message = "fetch_async_limited() is still a TODO: TODO (Alter 2)" if item.id == "alter-2" else "measured this"
        todo.add(CheckResult(f"test_{item.id}", item.id, Outcome.FAILED, message))
    for _ in range(4):
        state = progress.update(todo, project)
    assert state.failing_runs["alter-2"] == 0 and not state.stuck("alter-2")
    assert state.stuck("alter-3")  # a real attempt that keeps failing is


def test_scorecard_says_what_passes_since_the_last_run_and_a_pass_resets_the_streak(tmp_path: Path) -> None:
    project = tmp_path / "project.py"
    project.write_text("", encoding="utf-8")
    first = progress.update(_grade({"base"}), project)
    assert first.first_run and not first.newly_passing
    second = progress.update(_grade({"base", "alter-2"}), project)
    lines = "\n".join(scorecard(_grade({"base", "alter-2"}), second))
    assert "alter-2 passing since your last run (+15)" in lines
    third = progress.update(_grade({"base"}), project)
    assert third.newly_failing == ["alter-2"] and third.failing_runs["alter-2"] == 1
    assert "alter-2 failing since your last run" in "\n".join(scorecard(_grade({"base"}), third))


def test_default_hints_only_the_next_item_and_all_hints_each_failing_one() -> None:
    grade = _grade({"base"})
    default, every = "\n".join(scorecard(grade)), "\n".join(scorecard(grade, all_hints=True))
    hints = [item.hint for item in GRADED if item.id != "base"]
    assert sum(hint in default for hint in hints) == 1 and "pytest --hints" in default
    assert all(hint in every for hint in hints)


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[1, 2]", b'{"version": 1, "files": {"project.py": {"alter-1": {"status": "failed", "failing_runs": "9"}}}}',
     b'{"version": 1, "files": {"project.py": {"alter-1": {"status": "failed", "failing_runs": true}}}}',
     b'{"version": 1, "files": []}', b"\xff\xfe\x00garbage", b"[" * 60_000, b" " * (progress.MOST_BYTES + 1)],
    ids=["not-json", "a-list", "a-string-count", "a-bool-count", "files-a-list", "binary", "deep", "too-big"],
)
def test_a_broken_or_hostile_progress_file_is_no_history_not_a_crash(tmp_path: Path, content: bytes) -> None:
    project = tmp_path / "project.py"
    project.write_text("", encoding="utf-8")
    progress.path_for(project).write_bytes(content)
    state = progress.update(_grade({"base"}), project)
    assert state.first_run and state.failing_runs["alter-1"] == 1
    assert scorecard(_grade({"base"}), state)
    assert json.loads(progress.path_for(project).read_text())["version"] == progress.VERSION


def test_a_progress_file_that_is_a_folder_is_left_alone(tmp_path: Path) -> None:
    project = tmp_path / "project.py"
    project.write_text("", encoding="utf-8")
    progress.path_for(project).mkdir()
    assert progress.update(_grade({"base"}), project).first_run
    assert progress.path_for(project).is_dir() and not list(tmp_path.glob(progress.FILE_NAME + ".*"))


def _pytest(project: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--project={project}", *extra,
         str(ROOT / "checks" / "test_explain.py"), str(ROOT / "checks" / "test_base.py")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.timeout(180)
def test_progress_is_written_by_self_grading_only(tmp_path: Path) -> None:
    """A student's `pytest` remembers; --grade-json (batch, CI) and --official never write beside the file."""
    project = tmp_path / "project.py"
    shutil.copy(ROOT / "starter" / "project.py", project)
    memory = progress.path_for(project)
    _pytest(project, f"--grade-json={tmp_path / 'grade.json'}")
    assert not memory.exists()
    _pytest(project, "--official", "--progress=on")
    assert not memory.exists()
    _pytest(project)
    assert json.loads(memory.read_text())["files"]["project.py"]["base"] == {"status": "passed", "failing_runs": 0}


# --- friendly edges ------------------------------------------------------------------------------


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends: a connection there is refused


@pytest.mark.parametrize("folder", ["starter", "solutions"])
def test_running_the_project_without_a_reachable_api_ends_with_one_line(folder: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "API_BASE_URL": f"http://127.0.0.1:{_closed_port()}"}
    ran = subprocess.run([sys.executable, str(ROOT / folder / "project.py"), "2"], env=env,
                         capture_output=True, text=True, timeout=60)
    said = ran.stderr.strip()
    assert ran.returncode == 1 and "\n" not in said and "Traceback" not in said, said
    assert "Could not reach 127.0.0.1" in said and "python -m checks run" in said and "API_BASE_URL" in said


def test_an_unguarded_call_at_module_level_is_named_at_its_own_line(tmp_path: Path) -> None:
    from checks.engine import loader

    project = tmp_path / "project.py"
    project.write_text(
        "def fetch_sync():\n    raise ConnectionError('no network')\n\n\ndef main():\n    fetch_sync()\n\n\nmain()\n",
        encoding="utf-8",
    )
    failed = loader.load(project)
    assert isinstance(failed, loader.LoadFailure)
    assert f"{project}, line 9, at module level: `main()` runs as soon as the file is imported" in failed.message
    assert "It failed at line 2, in fetch_sync: ConnectionError: no network" in failed.message
    project.write_text("x = 1 / 0\n", encoding="utf-8")  # an error raised at module level itself keeps its line
    assert loader.load(project).message.endswith("line 1, in <module>: ZeroDivisionError: division by zero")

"""Second-level hints, the progress file beside the graded file, and the scorecard lines they feed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from checks.catalogue import ITEMS
from checks.reports import progress
from checks.reports.results import CheckResult, Grade, Outcome
from checks.reports.scorecard import MORE_HINTS, SCREEN_CUT, STUCK, scorecard, screen

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


def test_second_hint_appears_only_after_three_failing_attempts(tmp_path: Path) -> None:
    project = tmp_path / "project.py"
    seen = []
    for attempt in range(3):
        project.write_text(f"# attempt {attempt}\n", encoding="utf-8")
        state = progress.update(_grade({"base"}), project)
        seen.append("A step further" in "\n".join(scorecard(_grade({"base"}), state)))
    assert seen == [False, False, True]
    alter1 = next(i for i in ITEMS if i.id == "alter-1")
    lines = "\n".join(scorecard(_grade({"base"}), state))
    assert alter1.hint_more in lines and "Still stuck after 3 attempts?" in lines


def test_running_unchanged_code_again_is_not_another_attempt(tmp_path: Path) -> None:
    project = tmp_path / "project.py"
    project.write_text("# the same text every run\n", encoding="utf-8")
    for _ in range(4):
        state = progress.update(_grade({"base"}), project)
    assert state.failing_attempts["alter-1"] == 1 and not state.stuck("alter-1")
    (tmp_path / "ANSWERS.md").write_text("1. an answer\n", encoding="utf-8")  # an edit beside it is a change too
    assert progress.update(_grade({"base"}), project).failing_attempts["alter-1"] == 2
    (tmp_path / "helpers.py").write_text("LIMIT = 5\n", encoding="utf-8")
    assert progress.update(_grade({"base"}), project).failing_attempts["alter-1"] == 3


def test_a_partial_run_keeps_the_count_of_the_items_it_left_out(tmp_path: Path) -> None:
    project = tmp_path / "project.py"
    project.write_text("# first\n", encoding="utf-8")
    progress.update(_grade({"base"}), project)
    project.write_text("# second\n", encoding="utf-8")
    only_alter2 = Grade.empty("project.py")
    only_alter2.add(CheckResult("test_alter_2", "alter-2", Outcome.FAILED, "measured this"))
    progress.update(only_alter2, project)
    # alter-1 was last graded on the first text: the full run on the second text is its second attempt
    assert progress.update(_grade({"base"}), project).failing_attempts == {
        **{item.id: 2 for item in GRADED if item.id not in ("base", "alter-2")}, "alter-2": 2,
    }


def test_a_todo_not_started_is_not_stuck_however_many_runs(tmp_path: Path) -> None:
    project = tmp_path / "project.py"
    project.write_text("", encoding="utf-8")
    todo = Grade.empty("project.py")
    for item in GRADED:
        message = "fetch_async_limited() is still a TODO: TODO (Alter 2)" if item.id == "alter-2" else "measured this"
        todo.add(CheckResult(f"test_{item.id}", item.id, Outcome.FAILED, message))
    for attempt in range(4):
        project.write_text(f"# attempt {attempt}\n", encoding="utf-8")
        state = progress.update(todo, project)
    assert state.failing_attempts["alter-2"] == 0 and not state.stuck("alter-2")
    assert state.stuck("alter-3")  # a real attempt that keeps failing is


def test_scorecard_says_what_passes_since_the_last_run_and_a_pass_resets_the_streak(tmp_path: Path) -> None:
    project = tmp_path / "project.py"
    project.write_text("# first\n", encoding="utf-8")
    first = progress.update(_grade({"base"}), project)
    assert first.first_run and not first.newly_passing
    project.write_text("# second\n", encoding="utf-8")
    second = progress.update(_grade({"base", "alter-2"}), project)
    lines = "\n".join(scorecard(_grade({"base", "alter-2"}), second))
    assert "alter-2 passing since your last run (+15)" in lines
    project.write_text("# third\n", encoding="utf-8")
    third = progress.update(_grade({"base"}), project)
    assert third.newly_failing == ["alter-2"] and third.failing_attempts["alter-2"] == 1
    assert "alter-2 failing since your last run" in "\n".join(scorecard(_grade({"base"}), third))


def test_default_hints_only_the_next_item_and_all_hints_each_failing_one() -> None:
    grade = _grade({"base"})
    default, every = "\n".join(scorecard(grade)), "\n".join(scorecard(grade, all_hints=True))
    hints = [item.hint for item in GRADED if item.id != "base"]
    assert sum(hint in default for hint in hints) == 1 and "pytest --hints" in default
    assert all(hint in every for hint in hints)


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[1, 2]", b'{"version": 2, "files": {"project.py": {"alter-1": {"status": "failed", "failing_attempts": "9"}}}}',
     b'{"version": 2, "files": {"project.py": {"alter-1": {"status": "failed", "failing_attempts": true}}}}',
     b'{"version": 2, "files": {"project.py": {"alter-1": {"status": "failed", "failing_attempts": 9, "code": 7}}}}',
     b'{"version": 1, "files": {"project.py": {"alter-1": {"status": "failed", "failing_runs": 9}}}}',
     b'{"version": 2, "files": []}', b"\xff\xfe\x00garbage", b"[" * 60_000, b" " * (progress.MOST_BYTES + 1)],
    ids=["not-json", "a-list", "a-string-count", "a-bool-count", "a-number-hash", "version-1-runs", "files-a-list",
         "binary", "deep", "too-big"],
)
def test_a_broken_or_hostile_progress_file_is_no_history_not_a_crash(tmp_path: Path, content: bytes) -> None:
    project = tmp_path / "project.py"
    project.write_text("", encoding="utf-8")
    progress.path_for(project).write_bytes(content)
    state = progress.update(_grade({"base"}), project)
    assert state.first_run and state.failing_attempts["alter-1"] == 1
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


INTERRUPTER = "def pytest_runtest_logfinish(nodeid, location):\n    raise KeyboardInterrupt\n"
"""A plugin that stops a grading after its first check, as Ctrl-C would."""


@pytest.mark.timeout(180)
def test_a_run_the_student_never_saw_to_the_end_is_not_an_attempt(tmp_path: Path) -> None:
    """Ctrl-C during the run, or its output cut off (`pytest | head`), leaves the progress file alone."""
    project = tmp_path / "project.py"
    shutil.copy(ROOT / "starter" / "project.py", project)
    (tmp_path / "interrupter.py").write_text(INTERRUPTER, encoding="utf-8")
    interrupted = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "interrupter", f"--project={project}",
         "--progress=on", str(ROOT / "checks" / "test_base.py")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert interrupted.returncode == pytest.ExitCode.INTERRUPTED, interrupted.stdout[-2000:]
    assert "Scorecard" in interrupted.stdout and not progress.path_for(project).exists()

    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--project={project}", "--progress=on",
         str(ROOT / "checks" / "test_base.py")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    assert run.stdout is not None
    run.stdout.read(1)  # the first check's mark: then the reader goes away, as `head -c 1` would
    run.stdout.close()
    assert run.wait(timeout=120) != 0
    assert not progress.path_for(project).exists()


def test_a_partial_run_says_its_total_is_not_the_grade() -> None:
    partial = Grade.empty("project.py")
    partial.add(CheckResult("test_limited", "alter-2", Outcome.PASSED))
    total = next(line for line in scorecard(partial) if "Total:" in line)
    assert total.startswith("  Total: 15 / 100") and "not your grade: 9 of 10 items did not run" in total
    assert "plain `pytest`" in total
    assert next(line for line in scorecard(_grade({"base"})) if "Total:" in line) == "  Total: 20 / 100"


@pytest.mark.parametrize("width, height", [(80, 24), (60, 20), (100, 40), (40, 16)])
@pytest.mark.parametrize("all_hints", [False, True], ids=["next-hint", "all-hints"])
def test_the_watch_screen_fits_its_window_and_breaks_no_word(tmp_path: Path, width: int, height: int, all_hints: bool) -> None:
    project = tmp_path / "project.py"
    long_word = "/a/very/long/path/" * 6 + "project.py, line 7"
    grade = Grade.empty("project.py")
    for item in GRADED:
        message = f"{item.id}: expected one thing, measured another {long_word}. " * 4 + "\n  /posts/1 |####  |" * 30
        grade.add(CheckResult(f"test_{item.id}", item.id, Outcome.PASSED if item.id == "base" else Outcome.FAILED, message))
    for attempt in range(3):
        project.write_text(f"# attempt {attempt}\n", encoding="utf-8")
        state = progress.update(grade, project)
    lines = screen(grade, state, all_hints=all_hints, width=width, height=height, hints_command="python -m checks watch --hints")
    assert len(lines) <= height and all(len(line) <= width for line in lines), "\n".join(lines)
    assert sum(line.startswith(("PASS ", "FAIL ", "---- ")) for line in lines) == len(ITEMS)
    watch_hints = MORE_HINTS.format(command="python -m checks watch --hints")
    sources = [grade.items[1].failure, STUCK.format(attempts=3, hint=""), watch_hints, SCREEN_CUT, "Hint:"]
    sources += [f"Next: {i.id} ({i.title}) {i.id}: {i.hint} {i.hint_more}" for i in GRADED]
    words = {word for text in sources for word in text.split()}
    below_rows = lines[next(n for n, line in enumerate(lines) if line.startswith("Total:")) + 1:]
    broken = {w for line in below_rows for w in line.split() if w not in words and "..." not in w}
    assert not broken, "\n".join(lines)
    if not all_hints and height >= 24:
        assert "Next: alter-1 (Scale up to 50 posts)" in lines and "python -m checks watch --hints" in "\n".join(lines)
        assert "pytest --hints" not in "\n".join(lines)


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
    remembered = json.loads(memory.read_text())["files"]["project.py"]["base"]
    assert remembered == {"status": "passed", "failing_attempts": 0, "code": progress.code_hash(project)}


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


def test_a_long_value_keeps_the_slot_that_is_wrong_in_sight() -> None:
    from checks.data import post
    from checks.engine.harness import short

    ten = [post(n) for n in range(1, 10)] + [{}]  # the last post was missing and came back as {}
    shown = short(ten)
    assert len(shown) <= 80 and shown.endswith(", {}]") and "{'id': 1, ...}" in shown and "more" in shown
    assert short(("x" * 200) + "END").endswith("END'") and len(short("x" * 200)) <= 80
    assert short(post(7)).startswith("{'id': 7, ")


def test_a_capped_message_keeps_its_start_and_its_end() -> None:
    from checks.reports.results import capped

    message = "fetch_async_safe(): expected the posts; " + "printed line\n" * 1000 + "slot 9 holds {}."
    kept = capped(message, 400)
    assert len(kept) <= 400 and kept.startswith("fetch_async_safe(): expected") and kept.endswith("slot 9 holds {}.")
    assert "more characters cut]" in kept


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    "where, line",
    [("module", 'NAME = input("Your name? ")\n'), ("fetch_one", None)],
    ids=["at-import", "in-a-graded-function"],
)
def test_asking_for_input_while_graded_gets_one_message_of_ours(tmp_path: Path, where: str, line: str | None) -> None:
    from checks.reports.results import NO_INPUT

    project = tmp_path / "project.py"
    text = (ROOT / "solutions" / "project.py").read_text(encoding="utf-8")
    if line is not None:  # after the imports: the file's first statements
        text = text.replace("\nBASE_URL", "\n" + line + "BASE_URL", 1)
    else:
        text = text.replace("async def fetch_one(session, post_id):\n", "async def fetch_one(session, post_id):\n    input()\n", 1)
    assert text != (ROOT / "solutions" / "project.py").read_text(encoding="utf-8")
    project.write_text(text, encoding="utf-8")
    graded = _pytest(project, "--progress=off", "-k", "fetch_one_returns or explain")
    assert NO_INPUT in graded.stdout and "asked for input (input() or sys.stdin)" in graded.stdout, graded.stdout[-3000:]
    assert "Consider using `-s`" not in graded.stdout and "EOF when reading" not in graded.stdout

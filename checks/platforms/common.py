"""What every platform adapter shares: find the submission, grade it officially in a child process, and
always end with a Grade, even when grading could not start, crashed or ran out of time.

The grade is computed as `python -m checks.batch` computes one: a grader process per submission on a
private copy, its report validated and every score recomputed from the check outcomes, since a
worker without a sandbox runs as the same user as the grader and could write the report itself.
Student code runs as a user without privileges: the sandbox's own (uid 60001 and up) when bubblewrap
works here; otherwise the whole grader runs as `nobody` (or GRADER_UID), never as root.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from checks import batch
from checks.catalogue import ITEMS
from checks.engine import sandbox
from checks.reports.results import CheckResult, Grade, Outcome, capped

ROOT = batch.ROOT
SOURCE_FILES = ("pyproject.toml", "conftest.py", "requirements.txt")
"""What a deployment carries beside the checks/ package."""
REPORT_CAP = 8 * 1024 * 1024
NOBODY = 65534

SANDBOX_ON = "Sandbox: on. Your code ran in a sandbox of its own, with no network and as a user without privileges."
SANDBOX_OFF = (
    "Sandbox: OFF ({why}). Your code ran in a separate process as a user without privileges, "
    "but without bubblewrap's isolation. Ask your instructor if this is not expected."
)
SANDBOX_REQUIRED = "Not graded: GRADER_REQUIRE_SANDBOX is set and no sandbox can be made here ({why})."
NO_PROJECT = "Not graded: no project.py was found in your submission{found}. Submit project.py (and ANSWERS.md beside it)."
DID_NOT_FINISH = "Not graded: grading did not finish ({why}). This is not a verdict on your code: resubmit, or tell your instructor."
STOPPED = "stopped after {seconds:g} s"
EXITED = "the grader exited with status {code}: {last}"
UNREADABLE = "its report could not be read: {why}"


@dataclass
class Graded:
    """A grade, what to say above it, and whether it is a verdict at all (False: grading failed, not the code)."""

    grade: Grade
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    verdict: bool = True


def find_submission(folder: Path) -> tuple[Path | None, Path | None, list[str]]:
    """(project.py, its ANSWERS.md, other .py files seen): the shallowest project.py anywhere under folder,
    and the ANSWERS.md beside it, else the shallowest one. Symbolic links are never followed."""
    projects, answers, others = [], [], []
    for here, folders, files in os.walk(folder, followlinks=False):
        folders[:] = sorted(f for f in folders if not f.startswith((".", "__")))
        for name in sorted(files):
            path = Path(here, name)
            if path.is_symlink() or not path.is_file():
                continue
            if name == "project.py":
                projects.append(path)
            elif name == "ANSWERS.md":
                answers.append(path)
            elif name.endswith(".py"):
                others.append(str(path.relative_to(folder)))
    depth = lambda p: (len(p.relative_to(folder).parts), str(p))  # noqa: E731 (a sort key, named once)
    project = min(projects, key=depth, default=None)
    beside = project.with_name("ANSWERS.md") if project else None
    answer = beside if beside in answers else min(answers, key=depth, default=None)
    return project, answer, others


def sandbox_state() -> tuple[bool, str]:
    """(True, how) when a sandbox really starts here, else (False, why not). Bubblewrap may be installed in
    a container that forbids namespaces, so it is tried once, not just looked for. GRADER_SANDBOX=off turns it off."""
    if os.environ.get("GRADER_SANDBOX", "").lower() == "off":
        return False, "turned off by GRADER_SANDBOX=off"
    ready, why = sandbox.available()
    if not ready:
        return False, why
    try:
        tried = subprocess.run(
            ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
            capture_output=True, text=True, timeout=20, check=False,
        )
    except (OSError, subprocess.SubprocessError) as error:
        return False, f"bubblewrap could not be started: {error}"
    if tried.returncode != 0:
        first = (tried.stderr.strip().splitlines() or [f"exit status {tried.returncode}"])[0]
        return False, f"bubblewrap cannot make a sandbox in this container: {first}"
    return True, why


def not_graded(project: str, why: str, seconds: float = 0.0) -> Graded:
    """A Grade for a run that gave no verdict: every item not run, and why, at the top."""
    grade = Grade.empty(project)
    for item in ITEMS:
        grade.add(CheckResult("grading", item.id, Outcome.NOT_RUN, why))
    return Graded(grade, [why], seconds, verdict=False)


def grade_submission(folder: Path, time_limit: float) -> Graded:
    """Grade the project.py found under folder, officially; never raises."""
    started = time.monotonic()
    try:
        return _grade(folder, time_limit, started)
    except BaseException as error:  # noqa: BLE001 (a platform must get a result whatever went wrong)
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            why = "the runner was stopped"
        else:
            why = f"{type(error).__name__}: {error}"
        return not_graded("project.py", DID_NOT_FINISH.format(why=capped(why, 300)), time.monotonic() - started)


def _grade(folder: Path, time_limit: float, started: float) -> Graded:
    project, answers, others = find_submission(folder)
    if project is None:
        found = f" (found: {', '.join(others[:5])})" if others else ""
        return not_graded("project.py", NO_PROJECT.format(found=found), time.monotonic() - started)
    shown = str(project.relative_to(folder))
    sandboxed, how = sandbox_state()
    if not sandboxed and os.environ.get("GRADER_REQUIRE_SANDBOX"):
        return not_graded(shown, SANDBOX_REQUIRED.format(why=how), time.monotonic() - started)
    note = SANDBOX_ON if sandboxed else SANDBOX_OFF.format(why=how)
    uid = None if sandboxed or os.geteuid() != 0 else int(os.environ.get("GRADER_UID", NOBODY))
    private = Path(tempfile.mkdtemp(prefix="platform-grade-"))
    cache = Path(tempfile.mkdtemp(prefix="platform-pycache-"))
    try:
        work, home = private / "submission", private / "home"
        work.mkdir()
        home.mkdir()
        shutil.copyfile(project, work / "project.py", follow_symlinks=False)
        if answers is not None:
            shutil.copyfile(answers, work / "ANSWERS.md", follow_symlinks=False)
        cache.chmod(0o755)  # read by the sandbox's own user, written by the grader only
        if uid is not None:
            for path in (private, work, home, cache, *work.iterdir()):
                os.chown(path, uid, uid)
        report = private / "grade.json"
        command = batch.grader_command(work, report, require_sandbox=sandboxed)
        if uid is not None:
            command = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *command]
        env = {**batch.grader_env(cache), "HOME": str(home)}
        code, stopped = _run(command, work, env, private / "output.log", time_limit)
        seconds = time.monotonic() - started
        if stopped:
            return not_graded(shown, DID_NOT_FINISH.format(why=STOPPED.format(seconds=time_limit)), seconds)
        raw, problem = _read_report(report)
        if raw is None or code not in (0, 1):  # pytest: 0 all passed, 1 some failed; else it did not finish
            why = UNREADABLE.format(why=problem) if problem else EXITED.format(code=code, last=_last_line(private / "output.log"))
            _echo_log(private / "output.log")
            return not_graded(shown, DID_NOT_FINISH.format(why=why), seconds)
        checked, problem = batch.validated(raw)
        if checked is None:
            return not_graded(shown, DID_NOT_FINISH.format(why=problem), seconds)
        grade = Grade.from_json(checked)
        grade.project = shown
        grade.load_error = _load_error(raw, grade)
        return Graded(grade, [note], seconds)
    finally:
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)


def _run(command: list[str], cwd: Path, env: dict[str, str], log: Path, limit: float) -> tuple[int, bool]:
    """(exit status, stopped at the limit). The grader's whole process group is killed as it ends."""
    with open(log, "wb") as out:
        child = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
    deadline, stopped = time.monotonic() + limit, False
    try:
        # Wait without reaping, so that the group id is still the child's own when the group is killed.
        while os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            if time.monotonic() > deadline:
                stopped = True
                break
            time.sleep(0.05)
    finally:  # also when SIGTERM ends the wait: nothing of the grader outlives the runner
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return child.wait(), stopped


def _read_report(path: Path) -> tuple[object | None, str]:
    """The grader's report, read without following a link and capped; (None, why) if it cannot be had."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None, ""
    except OSError as error:
        return None, error.strerror or type(error).__name__
    with os.fdopen(fd, "rb") as file:
        data = file.read(REPORT_CAP + 1)
    if len(data) > REPORT_CAP:
        return None, "too large"
    try:
        return json.loads(data.decode("utf-8")), ""
    except (ValueError, RecursionError):
        return None, "not valid JSON"


def _load_error(raw: object, grade: Grade) -> str | None:
    """The report's load error, believed only when every graded check says the same: the file did not import."""
    given = raw.get("load_error") if isinstance(raw, dict) else None
    checks = [c for r in grade.items if r.item.graded for c in r.checks]
    if isinstance(given, str) and given and checks and all(c.outcome is Outcome.ERROR for c in checks):
        return capped(given, 2000)
    return None


def _last_line(log: Path) -> str:
    """The grader's last words, often the exception that stopped it."""
    try:
        lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no output"
    errors = [line for line in lines if "Error" in line or "error" in line]
    return capped((errors or lines or ["no output"])[-1], 300)


def _echo_log(log: Path) -> None:
    """The end of a failed grader's output on our stdout, which platforms show the instructor only."""
    try:
        sys.stdout.write(log.read_text(encoding="utf-8", errors="replace")[-4000:])
    except OSError:
        pass


def copy_grader(target: Path) -> None:
    """The grader as a deployment carries it: checks/ (sources, templates, schemas; no bytecode) and its settings."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "checks", target / "checks", ignore=ignore, dirs_exist_ok=True)
    for name in SOURCE_FILES:
        shutil.copyfile(ROOT / name, target / name)


def on_sigterm_exit() -> None:
    """A platform that stops the runner with SIGTERM still gets a result: the signal becomes SystemExit."""
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))

"""What every platform adapter shares: find the submission, grade it officially in a child process, always end
with a Grade (even when grading could not start, crashed or ran out of time), and try a deployment locally.

The submission is found by the rule batch grading uses (checks.tools.submissions) and graded as batch
grading grades one (checks.tools.grading): a grader process on a private copy, its report validated and
every score recomputed from the check outcomes, since a worker without a sandbox runs as the same user
as the grader and could write the report itself. Student code runs as a user without privileges: the
sandbox's own (uid 60001 and up) when bubblewrap works here; otherwise the whole grader runs as
`nobody` (or GRADER_UID), never as root.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from checks.catalogue import ITEMS
from checks.engine import sandbox
from checks.reports.results import CheckResult, Grade, Outcome, capped
from checks.tools import grading
from checks.tools.submissions import find_project

ROOT = grading.ROOT
SOURCE_FILES = ("pyproject.toml", "conftest.py", "requirements.txt")
"""What a deployment carries beside the checks/ package."""
NOBODY = 65534

SANDBOX_ON = "Sandbox: on. Your code ran in a sandbox of its own, with no network and as a user without privileges."
SANDBOX_OFF = (
    "Sandbox: OFF ({why}). Your code ran in a separate process as a user without privileges, "
    "but without bubblewrap's isolation. Ask your instructor if this is not expected."
)
SANDBOX_REQUIRED = "Not graded: GRADER_REQUIRE_SANDBOX is set and no sandbox can be made here ({why})."
NOTHING_TO_GRADE = "Nothing was graded: {why}. Submit project.py, with ANSWERS.md beside it."
DID_NOT_FINISH = "Not graded: grading did not finish ({why}). This is not a verdict on your code: resubmit, or tell your instructor."
STOPPED = "the runner was stopped"
NOT_EMPTY = "{folder} is not empty: name a new folder for the trial run"
NOT_THERE = "{path} does not exist: name a folder as students hand it in, or one project.py"


@dataclass
class Graded:
    """A grade, what to say above it, and whether it is a verdict at all (False: grading failed, not the code)."""

    grade: Grade
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    verdict: bool = True


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
    """Grade the file found under folder, officially; never raises."""
    started = time.monotonic()
    try:
        return _grade(folder, time_limit, started)
    except BaseException as error:  # noqa: BLE001 (a platform must get a result whatever went wrong)
        why = STOPPED if isinstance(error, (KeyboardInterrupt, SystemExit)) else f"{type(error).__name__}: {error}"
        return not_graded("project.py", DID_NOT_FINISH.format(why=capped(why, 300)), time.monotonic() - started)


def _grade(folder: Path, time_limit: float, started: float) -> Graded:
    found = find_project(folder)
    if found.project is None:
        return not_graded("project.py", NOTHING_TO_GRADE.format(why=found.note), time.monotonic() - started)
    shown = "/".join(found.project)
    sandboxed, how = sandbox_state()
    if not sandboxed and os.environ.get("GRADER_REQUIRE_SANDBOX"):
        return not_graded(shown, SANDBOX_REQUIRED.format(why=how), time.monotonic() - started)
    uid = None if sandboxed or os.geteuid() != 0 else int(os.environ.get("GRADER_UID", NOBODY))
    run = grading.grade(folder, found.project, found.answers, time_limit=time_limit, require_sandbox=sandboxed,
                        as_user=uid)
    seconds = time.monotonic() - started
    if not run.verdict:
        sys.stdout.write(run.last_output)  # a platform shows the runner's output to the instructor only
        return not_graded(shown, DID_NOT_FINISH.format(why=capped(run.note or "no report", 300)), seconds)
    grade = Grade.from_json(run.report)
    grade.project = shown
    notes = [found.note] if found.note else []
    return Graded(grade, [*notes, SANDBOX_ON if sandboxed else SANDBOX_OFF.format(why=how)], seconds)


def said(graded: Graded) -> str:
    """The runner's last line, for whoever reads its output: the score, or why there is none."""
    if not graded.verdict:
        return graded.notes[0] if graded.notes else DID_NOT_FINISH.format(why=STOPPED)
    return f"{graded.grade.project}: {graded.grade.score} / {graded.grade.max_score} in {graded.seconds:.1f} s"


def copy_grader(target: Path) -> None:
    """The grader as a deployment carries it: checks/ (sources, templates, schemas; no bytecode) and its settings."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "checks", target / "checks", ignore=ignore, dirs_exist_ok=True)
    for name in SOURCE_FILES:
        shutil.copyfile(ROOT / name, target / name)


def on_sigterm_exit() -> None:
    """A platform that stops the runner with SIGTERM still gets a result: the signal becomes SystemExit."""
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))


# --- trying a deployment on this machine ---------------------------------------------------------------


def trial_folder(into: Path | None, prefix: str) -> Path:
    """Where a trial run lays out its platform's folders: a new temporary folder, or an empty one given.
    ValueError, in words for the command line, for a folder that already holds something."""
    if into is None:
        return Path(tempfile.mkdtemp(prefix=prefix))
    if into.exists() and any(into.iterdir()):
        raise ValueError(NOT_EMPTY.format(folder=into))
    into.mkdir(parents=True, exist_ok=True)
    return into


def hand_in(source: Path, target: Path) -> None:
    """Put a submission where the platform puts it: a folder's contents as they are (links stay links, to be
    refused as on the platform), or one file. ValueError when there is nothing at source."""
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True)
    elif source.exists():
        target.mkdir(parents=True)
        shutil.copy(source, target / source.name)
    else:
        raise ValueError(NOT_THERE.format(path=source))


def run_entrypoint(script: Path, variables: dict[str, str]) -> int:
    """Run a platform's entrypoint as the platform would (with bash), its output on this terminal. An
    interpreter variable (*_PYTHON) already set in the environment wins over the one given here."""
    env = dict(os.environ)
    for key, value in variables.items():
        if key.endswith("_PYTHON"):
            env.setdefault(key, value)
        else:
            env[key] = value
    return subprocess.run(["bash", str(script)], env=env, check=False).returncode

"""Grade one submission in a child process: a private copy, a grader with a time limit and a memory cap, and a
report that is validated and rescored before anything believes it.

`python -m checks.batch` runs this once per student and the platform runners (Gradescope, PrairieLearn)
once per upload. Each grader is `python -m pytest` on the checks of this tree, official unless asked
otherwise, with a clean environment and a bytecode cache of its own; whatever it starts in its process
group is killed as it ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from checks.tools.files import Refused, copy_regular, write_atomically
from checks.tools.validation import read_report

ROOT = Path(__file__).resolve().parents[2]
"""The grader's own tree: checks/, pyproject.toml, conftest.py."""
GRADER = (sys.executable, "-P", "-m", "pytest")
"""The grader's program; -P keeps the submission's folder (its working directory) off sys.path."""
KEPT_ENV = ("PATH", "HOME", "LANG", "TMPDIR", "VIRTUAL_ENV")
"""The environment a grader gets (with LC_*): nothing of the instructor's shell that could steer it."""
KEPT_ENV_WINDOWS = ("SYSTEMROOT", "TEMP", "TMP", "USERPROFILE")
TIME_LIMIT = 180.0
MEMORY_MIB = 4096

REFUSED = "refused: {what} {why}"
NOT_GRADED = "not graded: {error}"
STOPPED_AT_LIMIT = "stopped at the time limit of {seconds:g} s"
OUT_OF_MEMORY = "ran out of memory (cap {mib} MiB)"
KILLED_ELSEWHERE = "killed by {signal}, not by the batch grader (from another process?)"
EXITED_EARLY = "the grader exited with status {code} before writing a report"
EXITED_ODDLY = "the grader exited with status {code}"

LOG_CAP = 256 * 1024
"""Bytes of a submission's output kept in its log: a file that prints without end cannot fill the disk."""
LOG_CUT = b"\n[... output cut at 256 KiB ...]\n"
LOG_TAIL = 64 * 1024
"""Bytes at the end of a long output also searched for a MemoryError (the kept head may not reach it)."""
LAST_OUTPUT = 4000
"""Characters of the grader's last output kept for a platform's log, which only the instructor sees."""


@dataclass
class Run:
    """What grading one submission gave: its report as validated and rescored (None if there is none to trust),
    how the grader ended when it did not end on its own, and why its report could not be used."""

    report: dict | None = None
    ending: str = ""
    problem: str = ""
    seconds: float = 0.0
    last_output: str = ""

    @property
    def note(self) -> str:
        return "; ".join(part for part in (self.ending, self.problem) if part)

    @property
    def verdict(self) -> bool:
        """True when the report is a grade: the grader ended on its own and its report passed validation."""
        return self.report is not None and not self.note


class Running:
    """The graders alive in one batch, so that an interrupted batch stops them all instead of leaving them behind."""

    def __init__(self) -> None:
        self.children: set[subprocess.Popen] = set()
        self.lock = threading.Lock()
        self.stopping = False

    def add(self, child: subprocess.Popen) -> None:
        with self.lock:
            self.children.add(child)
            if self.stopping:
                _signal_group(child)

    def discard(self, child: subprocess.Popen) -> None:
        with self.lock:
            self.children.discard(child)

    def stop_all(self) -> None:
        with self.lock:
            self.stopping = True
            for child in self.children:
                _signal_group(child)


def grader_command(work: Path, report: Path, *, official: bool = True, require_sandbox: bool = False,
                   grader: Sequence[str] | None = None, groups: str | None = None) -> list[str]:
    """The grader's command line: the checks from this tree, on the copy, official unless asked otherwise;
    `groups` is the grader's --groups (None: its own default)."""
    return [
        *(grader or GRADER), "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-p", "no:cacheprovider",
        "-q", f"--project={work / 'project.py'}", f"--grade-json={report}",
        *(["--official"] if official else []), *(["--require-sandbox"] if require_sandbox else []),
        *([f"--groups={groups}"] if groups is not None else []), str(ROOT / "checks"),
    ]


def grader_env(pycache: Path) -> dict[str, str]:
    """Only what a grader needs from the instructor's environment, and a bytecode cache of its own, so that no
    .pyc left in the grader's tree by earlier in-process runs is ever loaded."""
    kept = KEPT_ENV + (KEPT_ENV_WINDOWS if os.name == "nt" else ())
    env = {k: v for k, v in os.environ.items() if k.upper() in kept or k.upper().startswith("LC_")}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


@contextlib.contextmanager
def bytecode_cache(given: Path | None = None) -> Iterator[Path]:
    """The given cache (a batch shares one); else a fresh private one, removed after.

    It is readable (not writable) by others: a sandboxed worker runs as a user of its own and reads the
    bytecode its grader compiled there, instead of compiling aiohttp again at every start."""
    if given is not None:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="grade-pycache-", ignore_cleanup_errors=True) as fresh:
        Path(fresh).chmod(0o755)
        yield Path(fresh)


def grade(root: Path, project: tuple[str, ...], answers: tuple[str, ...] | None = None, *,
          time_limit: float = TIME_LIMIT, memory_mib: int = MEMORY_MIB, official: bool = True,
          require_sandbox: bool = False, grader: Sequence[str] | None = None, pycache: Path | None = None,
          running: Running | None = None, as_user: int | None = None, log: Path | None = None,
          groups: str | None = None) -> Run:
    """Grade root/project (with root/answers as ANSWERS.md) in a child process, on a copy in a private folder
    that is its working directory. Nothing on the way from root to either file may be a symbolic link.

    `as_user` runs the grader as that user id (through setpriv) with a home of its own; `log` keeps the
    grader's output there, capped; `grader` replaces `python -m pytest` (the self-tests use a stand-in)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="grade-", ignore_cleanup_errors=True) as private_folder, \
            bytecode_cache(pycache) as cache:
        private = Path(private_folder)
        work = private / "submission"
        work.mkdir()
        try:
            copy_regular(root, project, work / "project.py")
            if answers is not None:
                copy_regular(root, answers, work / "ANSWERS.md")
        except Refused as refusal:
            return Run(problem=REFUSED.format(what=refusal.what, why=refusal.why), seconds=time.monotonic() - started)
        except OSError as error:
            return Run(problem=NOT_GRADED.format(error=error), seconds=time.monotonic() - started)
        report, output = private / "grade.json", private / "output.log"
        command = grader_command(work, report, official=official, require_sandbox=require_sandbox, grader=grader,
                                 groups=groups)
        env = grader_env(cache)
        if as_user is not None:
            command, env["HOME"] = _as_user(as_user, command, private, cache), str(private / "home")
        code, stopped = _run(command, work, env, output, time_limit, memory_mib, running)
        if log is not None:
            _keep_log(output, log)
        ending = _ending(code, stopped, time_limit, memory_mib, output, os.path.lexists(report))
        checked, problem = read_report(private, "grade.json") if os.path.lexists(report) or not ending else (None, "")
        return Run(checked, ending, problem, time.monotonic() - started, _last_output(output))


def _as_user(uid: int, command: list[str], private: Path, cache: Path) -> list[str]:
    """The command run as uid, which owns the private folder, its copy, a home and the bytecode cache."""
    (private / "home").mkdir()
    for path in (private, private / "home", cache, private / "submission", *(private / "submission").iterdir()):
        os.chown(path, uid, uid)
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *command]


def _limit_memory(mebibytes: int):
    def apply() -> None:
        try:
            import resource

            cap = mebibytes * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        except (ImportError, ValueError, OSError):
            pass  # no such limit here: the time limit still applies

    return apply


def _run(command: list[str], work: Path, env: dict[str, str], output: Path, time_limit: float,
         memory_mib: int, running: Running | None) -> tuple[int, bool]:
    """The grader's exit status, and whether it was stopped at the time limit. Whatever it started in its
    process group is killed as it ends (also when a signal ends the wait), so nothing of it outlives it."""
    with open(output, "wb") as log:
        child = subprocess.Popen(
            command, cwd=work, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True, preexec_fn=_limit_memory(memory_mib) if os.name == "posix" else None,
        )
    if running is not None:
        running.add(child)
    try:
        ended = _wait_unreaped(child, time_limit)
    finally:  # still unreaped here, so its group id is its own: kill the group, then reap
        if running is not None:
            running.discard(child)
        _signal_group(child)
    return child.wait(), not ended


def _wait_unreaped(child: subprocess.Popen, time_limit: float) -> bool:
    """True if the child ended within the limit. It is left a zombie, so its process group id cannot be
    reused by an unrelated process before the group is killed."""
    if not hasattr(os, "waitid"):
        try:
            child.wait(timeout=time_limit)
            return True
        except subprocess.TimeoutExpired:
            return False
    deadline, pause = time.monotonic() + time_limit, 0.001
    while os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.05)
    return True


def _signal_group(child: subprocess.Popen) -> None:
    """SIGKILL the child's whole process group (start_new_session made it its own)."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    except AttributeError:  # no process groups here (Windows)
        if child.poll() is None:
            child.kill()


def _ending(code: int, stopped: bool, time_limit: float, memory_mib: int, output: Path, wrote_report: bool) -> str:
    """Why the grader did not end normally, in words for a note; empty if it did (status 0 or 1, on its own)."""
    if stopped:
        return STOPPED_AT_LIMIT.format(seconds=time_limit)
    if code in (0, 1) and wrote_report:
        return ""
    if code != 0 and _mentions_memory_error(output):
        return OUT_OF_MEMORY.format(mib=memory_mib)
    if code < 0:
        return KILLED_ELSEWHERE.format(signal=_signal_name(-code))
    if not wrote_report:
        return EXITED_EARLY.format(code=code) if code else ""
    return EXITED_ODDLY.format(code=code)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _mentions_memory_error(output: Path) -> bool:
    """True if the grader's output names a MemoryError, in the head kept as its log or in its last lines."""
    with open(output, "rb") as full:
        head = full.read(LOG_CAP)
        full.seek(max(full.seek(0, os.SEEK_END) - LOG_TAIL, len(head)))
        return b"MemoryError" in head or b"MemoryError" in full.read(LOG_TAIL)


def _keep_log(source: Path, target: Path) -> None:
    with open(source, "rb") as full:
        data = full.read(LOG_CAP + 1)
    write_atomically(target, data[:LOG_CAP] + (LOG_CUT if len(data) > LOG_CAP else b""))


def _last_output(output: Path) -> str:
    with open(output, "rb") as full:
        full.seek(max(full.seek(0, os.SEEK_END) - LAST_OUTPUT, 0))
        return full.read().decode("utf-8", "replace")

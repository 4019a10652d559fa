"""`python -m checks.batch DIR`: grade a whole class, each submission in its own process on a private copy.

A submission is every `*.py` directly in DIR, or every `*/project.py` (a folder per student, whose
ANSWERS.md comes along). One that hangs, kills its own process or exhausts memory gets a row that
says so; it cannot touch another submission's copy, the others' grades or the instructor's files.
Each grader runs with `--official` (student code in a worker process, sandboxed where the machine
allows), and the parent trusts nothing a grader writes: it checks each report against the catalogue
and recomputes every score from the checks' outcomes. `--shard K/N` grades one machine's share of a class
that several machines grade at once; `python -m checks.merge` joins their gradebooks.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import math
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from checks.catalogue import BY_ID, ITEMS
from checks.engine import sandbox
from checks.fingerprint import fingerprint
from checks.reports.results import CheckResult, Grade, ItemResult, Outcome
from checks.reports.scorecard import MESSAGE_CAP

ROOT = Path(__file__).resolve().parent.parent
GRADED = [item for item in ITEMS if item.graded]
MAX_SCORE = sum(item.points for item in GRADED)
GRADER = (sys.executable, "-P", "-m", "pytest")
"""The grader's program; -P keeps the submission's folder (its working directory) off sys.path."""
OUTPUT_FOLDER = "grades"
"""The default output folder's name: a subfolder of DIR by this name is never a submission."""

JOBS_HELP = "how many submissions to grade at once (default 2)"
OUT_HELP = "folder for gradebook.csv, gradebook.json and one log per submission (default: DIR/grades)"
LIMIT_HELP = "seconds one submission may take before it is stopped (default 180)"
MEMORY_HELP = "address-space cap per submission, in MiB (default 4096; POSIX only)"
REQUIRE_SANDBOX_HELP = "refuse to grade (exit 2) unless submissions run sandboxed; also passed to every grader"
IN_PROCESS_HELP = (
    "for trusted files only (e.g. your own solutions): run each file's code inside its grader process, "
    "without --official, so nothing but the process boundary stands between it and the grade"
)
BOTH_MODES = "--in-process and --require-sandbox contradict each other: choose one"
SHARD_HELP = (
    "grade only shard K of N (K from 1 to N): the submissions whose name hashes to K, so a student added later "
    "moves no one else; join the shards' --out folders with python -m checks.merge"
)
BAD_SHARD = "--shard takes K/N with whole numbers 1 <= K <= N, such as 2/3; got {text!r}"
MANIFEST = "shard.json"
"""Written beside the gradebook: which shard it is, the whole class's names in order, the items and the checks'
fingerprint. python -m checks.merge reads it to refuse shards that do not belong together."""

SANDBOX_ON = "Sandbox: on ({how})"
SANDBOX_OFF = (
    "Sandbox: OFF ({why}). Each submission still runs in its own worker process, but its code can reach "
    "the network and read files this user can read. Use --require-sandbox to refuse."
)
SANDBOX_IN_PROCESS = (
    "Sandbox: OFF (--in-process). Each submission's code runs inside its grader process, with this user's "
    "rights, and could change its own grade: for trusted files only."
)
SANDBOX_REQUIRED = (
    "python -m checks.batch: refusing to grade: --require-sandbox, and no sandbox can be made here ({why})."
)
PROGRESS = "[{done}/{total}] {name:<24} {score}/{max_score}{note}  ({seconds:.1f} s)"
SUMMARY = "Graded {count} submissions in {seconds:.0f} s ({rate:.1f} per minute) with --jobs {jobs}. Gradebook: {path}"
SHARD_SUMMARY = "Shard {k}/{n}: {count} of the class's {total} submissions."

STOPPED_AT_LIMIT = "stopped at the time limit of {seconds:g} s"
OUT_OF_MEMORY = "ran out of memory (cap {mib} MiB)"
KILLED_ELSEWHERE = "killed by {signal}, not by the batch grader (from another process?)"
EXITED_EARLY = "the grader exited with status {code} before writing a report"
EXITED_ODDLY = "the grader exited with status {code}"
UNREADABLE = "report unreadable: {why}"
NO_REPORT = "no report written"
REFUSED = "refused: {what} {why}"
IS_A_LINK = "is a symbolic link"
NOT_A_FILE = "is not a regular file"
OUTSIDE = "lies outside the class folder"
NOT_GRADED = "not graded: {error}"
GRADER_BROKEN = "the grader could not load some of its own checks: {first}"
EXPLAIN_DONE = "answers written"
EXPLAIN_NOT_RUN = "not run"

LOG_CAP = 256 * 1024
"""Bytes of a submission's output kept in its log: a file that prints without end cannot fill the disk."""
LOG_CUT = b"\n[... output cut at 256 KiB ...]\n"
LOG_TAIL = 64 * 1024
"""Bytes at the end of a long output also searched for a MemoryError (the kept head may not reach it)."""
REPORT_CAP = 4 * 1024 * 1024
"""Bytes of grade.json the parent reads: an honest report is tens of KiB, a larger one is not read at all."""
REPORT_MESSAGES_CAP = 256 * 1024
"""Characters of check messages kept per report (each also capped at MESSAGE_CAP); an honest one keeps all."""
CHECKS_CAP = 1000
"""Checks a report may hold (the grader has about 30); more is not a report this grader wrote."""
NAME_CAP = 200
NOTE_CAP = 300
"""Characters of a note or an explain cell: one line a spreadsheet and a terminal both show."""
CUT = " [...]"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A CSV cell starting with one of these is a formula to a spreadsheet (OWASP's CSV-injection list)."""
STATUSES = ("passed", "failed", "ungraded")
OUTCOMES = tuple(outcome.value for outcome in Outcome)
KEPT_ENV = ("PATH", "HOME", "LANG", "TMPDIR", "VIRTUAL_ENV")
"""The environment a grader gets (with LC_*): nothing of the instructor's shell that could steer it."""
KEPT_ENV_WINDOWS = ("SYSTEMROOT", "TEMP", "TMP", "USERPROFILE")


@dataclass
class Graded:
    """One submission's outcome: its report as validated and rescored by the parent, and what went wrong if anything."""

    name: str
    report: dict | None
    note: str = ""
    seconds: float = 0.0
    scores: dict[str, int] = field(default_factory=dict)
    explain: str = ""

    @property
    def total(self) -> int:
        return sum(self.scores.values())


class Refused(Exception):
    """A file the batch will not open: which one (relative to its folder), and why not."""

    def __init__(self, what: str, why: str) -> None:
        super().__init__(f"{what} {why}")
        self.what, self.why = what, why


class _Running:
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


# -- Finding submissions ----------------------------------------------------------------------------


def find_submissions(folder: Path, skip: Path | None = None) -> list[tuple[str, Path]]:
    """(name, path) for each submission: loose .py files, then one project.py per subfolder.

    Symbolic links are listed too, so that their rows say they were refused rather than vanish;
    the output folder (`skip`, and any subfolder named `grades`) is never a submission. A name that
    two submissions share (x.py and x/project.py) gets a suffix, so no row or log stands for two.
    """
    with os.scandir(folder) as listing:
        entries = sorted(listing, key=lambda entry: entry.name)
    loose = [(Path(e.name).stem, Path(e.path)) for e in entries if e.name.endswith(".py") and not _real_folder(e)]
    nested = [
        (e.name, Path(e.path) / "project.py")
        for e in entries
        if e.is_dir() and not _is_output(e, skip) and os.path.lexists(Path(e.path) / "project.py")
    ]
    taken: set[str] = set()
    return [(_unique(name, taken), path) for name, path in loose + nested]


def _real_folder(entry: os.DirEntry) -> bool:
    """A folder that is not a link (a link named x.py stays a submission, to be refused)."""
    return entry.is_dir(follow_symlinks=False)


def _is_output(entry: os.DirEntry, skip: Path | None) -> bool:
    """The batch's own output folder: what lies in it was written by graders, not handed in by students.
    (A link to it is not: it stays a submission, to be refused as a link.)"""
    if entry.name == OUTPUT_FOLDER:
        return True
    return skip is not None and not entry.is_symlink() and Path(entry.path).resolve() == skip.resolve()


def _unique(name: str, taken: set[str]) -> str:
    """name, or name~2, name~3 ... when an earlier submission has it."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}~{n}"
    taken.add(candidate)
    return candidate


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' as (K, N); ValueError with BAD_SHARD's words for anything else."""
    match = re.fullmatch(r"([0-9]+)/([0-9]+)", text.strip())
    if match is None or not 1 <= int(match[1]) <= int(match[2]):
        raise ValueError(BAD_SHARD.format(text=text))
    return int(match[1]), int(match[2])


def shard_of(name: str, count: int) -> int:
    """The shard (1 to count) a submission belongs to, from a hash of its name alone: never from its place in
    the listing, so a student added or removed moves no other student to another machine."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def in_shard(submissions: list[tuple[str, Path]], shard: tuple[int, int]) -> list[tuple[str, Path]]:
    """The submissions that shard (K, N) grades, in the listing's order."""
    k, n = shard
    return [(name, path) for name, path in submissions if shard_of(name, n) == k]


def shard_manifest(submissions: list[tuple[str, Path]], shard: tuple[int, int]) -> dict:
    """What a gradebook was graded from, for checks.merge: a shard is joined only with shards of the same class
    list, the same items and the same checks."""
    return {
        "shard": list(shard),
        "class": [name for name, _ in submissions],
        "items": [{"id": item.id, "points": item.points, "graded": item.graded} for item in ITEMS],
        "checks": fingerprint(),
    }


# -- Copying a submission without following links ------------------------------------------------------


def _open_regular(root: Path, parts: tuple[str, ...]) -> int:
    """A read-only descriptor for root/parts..., following no symbolic link below root and opening
    nothing but a regular file (a FIFO would block the parent forever). Raises Refused if not."""
    if ".." in parts or not parts:
        raise Refused("/".join(parts) or ".", OUTSIDE)
    if os.open not in os.supports_dir_fd or not hasattr(os, "O_NOFOLLOW"):
        return _open_regular_by_path(root, parts)
    folder = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        for depth, part in enumerate(parts[:-1], 1):
            inner = _open_step(part, os.O_RDONLY | os.O_DIRECTORY, folder, "/".join(parts[:depth]))
            os.close(folder)
            folder = inner
        fd = _open_step(parts[-1], os.O_RDONLY | os.O_NONBLOCK, folder, "/".join(parts))
    finally:
        os.close(folder)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Refused("/".join(parts), NOT_A_FILE)
    return fd


def _open_step(name: str, flags: int, folder: int, what: str) -> int:
    """Open one path component inside an open folder; a link there is refused, even one swapped in just now."""
    try:
        return os.open(name, flags | os.O_NOFOLLOW, dir_fd=folder)
    except OSError:
        if stat.S_ISLNK(os.lstat(name, dir_fd=folder).st_mode):
            raise Refused(what, IS_A_LINK) from None
        raise


def _open_regular_by_path(root: Path, parts: tuple[str, ...]) -> int:
    """Where descriptors relative to a folder are not to be had (Windows): check each step, then open."""
    for depth in range(1, len(parts) + 1):
        if root.joinpath(*parts[:depth]).is_symlink():
            raise Refused("/".join(parts[:depth]), IS_A_LINK)
    path = root.joinpath(*parts)
    if root.resolve() not in path.resolve().parents:
        raise Refused("/".join(parts), OUTSIDE)
    if not path.is_file():
        raise Refused("/".join(parts), NOT_A_FILE)
    return os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))


def _copy_regular(root: Path, parts: tuple[str, ...], target: Path) -> None:
    """Copy root/parts... to target, through a descriptor opened without following links."""
    with os.fdopen(_open_regular(root, parts), "rb") as source, open(target, "xb") as copy:
        shutil.copyfileobj(source, copy)


def _copy_submission(root: Path, source: Path, work: Path) -> None:
    """project.py, and the ANSWERS.md beside it, copied into work; Refused if any part of the way is a link."""
    try:
        parts = source.relative_to(root).parts
    except ValueError:
        raise Refused(source.name, OUTSIDE) from None
    _copy_regular(root, parts, work / "project.py")
    if parts[-1] == "project.py":
        answers = (*parts[:-1], "ANSWERS.md")
        if os.path.lexists(root.joinpath(*answers)):
            _copy_regular(root, answers, work / "ANSWERS.md")


# -- Running one grader -----------------------------------------------------------------------------


def _limit_memory(mebibytes: int):
    def apply() -> None:
        try:
            import resource

            cap = mebibytes * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        except (ImportError, ValueError, OSError):
            pass  # no such limit here: the time limit still applies

    return apply


def grader_command(work: Path, report: Path, *, official: bool = True, require_sandbox: bool = False,
                   grader: Sequence[str] | None = None) -> list[str]:
    """The grader's command line: the checks from this tree, on the copy, official unless asked otherwise."""
    return [
        *(grader or GRADER), "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-p", "no:cacheprovider",
        "-q", f"--project={work / 'project.py'}", f"--grade-json={report}",
        *(["--official"] if official else []), *(["--require-sandbox"] if require_sandbox else []),
        str(ROOT / "checks"),
    ]


def grader_env(pycache: Path) -> dict[str, str]:
    """Only what a grader needs from the instructor's environment, and a bytecode cache of this batch's own,
    so that no .pyc left in the grader's tree by earlier in-process runs is ever loaded."""
    kept = KEPT_ENV + (KEPT_ENV_WINDOWS if os.name == "nt" else ())
    env = {k: v for k, v in os.environ.items() if k.upper() in kept or k.upper().startswith("LC_")}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


@contextlib.contextmanager
def _bytecode_cache(given: Path | None) -> Iterator[Path]:
    """The batch's cache when it has one; a fresh private one (removed after) for a lone grade_one."""
    if given is not None:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="grade-pycache-", ignore_cleanup_errors=True) as fresh:
        yield _readable(Path(fresh))


def _readable(cache: Path) -> Path:
    """The cache made readable (not writable) by others: a sandboxed worker runs as a user of its own and
    reads the bytecode its grader compiled there, instead of compiling aiohttp again at every start."""
    cache.chmod(0o755)
    return cache


def grade_one(name: str, source: Path, out: Path, time_limit: float = 180, memory_mib: int = 4096, *,
              official: bool = True, require_sandbox: bool = False, root: Path | None = None,
              pycache: Path | None = None, grader: Sequence[str] | None = None,
              running: _Running | None = None) -> Graded:
    """Grade one submission in a child process, on a copy in a private folder that is its working directory.

    `root` is the class folder (default: the file's own folder); nothing on the way from it to the
    file may be a symbolic link. `grader` replaces `python -m pytest` (the tests use a stand-in).
    """
    started = time.monotonic()
    private_folder = tempfile.TemporaryDirectory(prefix="grade-", ignore_cleanup_errors=True)
    with private_folder as private, _bytecode_cache(pycache) as cache:
        work = Path(private) / "submission"
        work.mkdir()
        try:
            _copy_submission(root or source.parent, source, work)
        except Refused as refusal:
            note = REFUSED.format(what=refusal.what, why=refusal.why)
            return Graded(name, None, _one_line(note), time.monotonic() - started)
        except OSError as error:
            return Graded(name, None, _one_line(NOT_GRADED.format(error=error)), time.monotonic() - started)
        report_path, output = Path(private) / "grade.json", Path(private) / "output.log"
        command = grader_command(work, report_path, official=official, require_sandbox=require_sandbox, grader=grader)
        code, stopped = _run(command, work, grader_env(cache), output, time_limit, memory_mib, running)
        _keep_log(output, out / "logs" / f"{name}.log")
        ending = _ending(code, stopped, time_limit, memory_mib, output, os.path.lexists(report_path))
        report, problem = _report(Path(private)) if os.path.lexists(report_path) or not ending else (None, "")
    return _graded(name, report, ending, problem, time.monotonic() - started)


def _run(command: list[str], work: Path, env: dict[str, str], output: Path, time_limit: float,
         memory_mib: int, running: _Running | None) -> tuple[int, bool]:
    """The grader's exit status, and whether the parent stopped it at the time limit. Whatever it started
    in its process group is killed as it ends, so nothing of it outlives its row."""
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
    """Why the grader did not end normally, in words for the row; empty if it did (status 0 or 1, on its own)."""
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


def _graded(name: str, report: dict | None, ending: str, problem: str, seconds: float) -> Graded:
    """The row: scores only from a validated report, and the one note that says most about it."""
    note = "; ".join(part for part in (ending, problem) if part) or _grader_broken(report) or _import_failure(report)
    graded = Graded(name, report, _one_line(note), seconds, explain=_one_line(_explain(report)))
    if report is not None:
        graded.scores = {item["id"]: item["score"] for item in report["items"] if BY_ID[item["id"]].graded}
    return graded


def _import_failure(report: dict | None) -> str:
    """The one-line reason when a submission did not import (every check errored with it)."""
    checks = [c for item in (report or {}).get("items", []) if item["status"] != "ungraded" for c in item["checks"]]
    if checks and all(c["outcome"] == "error" for c in checks):
        return (checks[0]["message"].strip().splitlines() or ["every check errored"])[0]
    return ""


def _grader_broken(report: dict | None) -> str:
    """A grader that could not load its own checks: not a verdict on the student, so the row says so first."""
    errors = (report or {}).get("grader_errors")
    return GRADER_BROKEN.format(first=errors[0]) if errors else ""


def _explain(report: dict | None) -> str:
    """The explain item's note: 'answers written', or what its check found missing."""
    if report is None:
        return ""
    item = next(i for i in report["items"] if i["id"] == "explain")
    if not item["checks"]:
        return EXPLAIN_NOT_RUN
    check = item["checks"][0]
    return EXPLAIN_DONE if check["outcome"] == "passed" else (check["message"] or check["outcome"])


def _one_line(text: str, cap: int = NOTE_CAP) -> str:
    """One printable line of at most cap characters: newlines, tabs and control characters folded to spaces."""
    line = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return line if len(line) <= cap else line[: cap - 3] + "..."


# -- Trusting no report -----------------------------------------------------------------------------


class _Unreadable(ValueError):
    """What is wrong with a report, in a few words for its row."""


def _require(condition: bool, why: str) -> None:
    if not condition:
        raise _Unreadable(why)


def _shown(value: object) -> str:
    """A value from a report, quoted and short: it goes into a note."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _report(private: Path) -> tuple[dict | None, str]:
    """The grader's grade.json, read without following a link, capped, parsed and validated."""
    try:
        with os.fdopen(_open_regular(private, ("grade.json",)), "rb") as file:
            data = file.read(REPORT_CAP + 1)
    except FileNotFoundError:
        return None, UNREADABLE.format(why=NO_REPORT)
    except Refused as refusal:
        return None, UNREADABLE.format(why=f"grade.json {refusal.why}")
    except OSError as error:
        return None, UNREADABLE.format(why=error.strerror or type(error).__name__)
    if len(data) > REPORT_CAP:
        return None, UNREADABLE.format(why=f"larger than {REPORT_CAP // (1024 * 1024)} MiB")
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return None, UNREADABLE.format(why="not valid JSON")
    return validated(parsed)


def validated(report: object) -> tuple[dict | None, str]:
    """(report, "") as the parent trusts it: its shape checked against the catalogue, every score
    recomputed from the checks' outcomes and the catalogue's points, messages capped; or (None, note)
    saying what is wrong, so that a broken or forged report costs its own row and nothing else."""
    try:
        grade = _grade_from(report)
    except _Unreadable as problem:
        return None, UNREADABLE.format(why=problem)
    _cap_messages(grade)
    return grade.to_json(), ""


def _grade_from(report: object) -> Grade:
    """A Grade rebuilt from the report's check outcomes alone; the report's own scores and statuses only
    have to be well-formed, they decide nothing."""
    _require(isinstance(report, dict), "not a JSON object")
    _require("items" in report, "items missing")
    items = report["items"]
    _require(isinstance(items, list), "items is not a list")
    _require_numbers(report, "")
    errors = report.get("grader_errors", [])
    strings = isinstance(errors, list) and all(isinstance(error, str) for error in errors)
    _require(strings, "grader_errors is not a list of strings")
    found: dict[str, ItemResult] = {}
    for position, entry in enumerate(items):
        result = _item_from(entry, position)
        _require(result.item.id not in found, f"item {result.item.id!r} appears twice")
        found[result.item.id] = result
    _require(sum(len(r.checks) for r in found.values()) <= CHECKS_CAP, f"more than {CHECKS_CAP} checks")
    missing = [item.id for item in GRADED if item.id not in found]
    _require(not missing, f"item {missing[0]!r} missing" if missing else "")
    project = report.get("project")
    return Grade(
        project=_one_line(project) if isinstance(project, str) else "",
        items=[found.get(item.id) or ItemResult(item) for item in ITEMS],
        grader_errors=[_one_line(error) for error in errors[:16]],
    )


def _item_from(entry: object, position: int) -> ItemResult:
    """One item: a catalogue id, a known status, well-formed numbers and a list of well-formed checks."""
    _require(isinstance(entry, dict), f"items[{position}] is not an object")
    item_id = entry.get("id")
    _require(isinstance(item_id, str) and item_id in BY_ID, f"unknown item id {_shown(item_id)}")
    _require(entry.get("status") in STATUSES, f"item {item_id!r} has status {_shown(entry.get('status'))}")
    _require_numbers(entry, f"item {item_id!r}: ")
    checks = entry.get("checks")
    _require(isinstance(checks, list), f"item {item_id!r}: checks is not a list")
    _require(len(checks) <= CHECKS_CAP, f"more than {CHECKS_CAP} checks")
    return ItemResult(BY_ID[item_id], [_check_from(check, item_id, n) for n, check in enumerate(checks, 1)])


def _check_from(entry: object, item_id: str, n: int) -> CheckResult:
    """One check: a string name, an outcome pytest can give and a string message."""
    where = f"item {item_id!r}, check {n}"
    _require(isinstance(entry, dict), f"{where} is not an object")
    _require(isinstance(entry.get("name"), str), f"{where}: name is not a string")
    _require(entry.get("outcome") in OUTCOMES, f"{where} has outcome {_shown(entry.get('outcome'))}")
    _require(isinstance(entry.get("message"), str), f"{where}: message is not a string")
    return CheckResult(_capped(entry["name"], NAME_CAP), item_id, Outcome(entry["outcome"]), entry["message"])


def _require_numbers(entry: dict, where: str) -> None:
    """score and max_score, where present, are finite numbers (they are recomputed, but a report with
    anything else there was not written by this grader)."""
    for key in ("score", "max_score"):
        if key in entry:
            value = entry[key]
            number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            _require(number, f"{where}{key} is not a number")


def _capped(text: str, cap: int) -> str:
    return text if len(text) <= cap else text[:cap] + CUT


def _cap_messages(grade: Grade) -> None:
    """Each message at MESSAGE_CAP characters and all of one report's at REPORT_MESSAGES_CAP."""
    left = REPORT_MESSAGES_CAP
    for result in grade.items:
        for check in result.checks:
            message = _capped(check.message, MESSAGE_CAP)
            check.message = message if len(message) <= left else message[: max(left, 0)] + CUT
            left -= len(message)


# -- The gradebook ----------------------------------------------------------------------------------


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: one that would start a formula gets a leading quote."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def gradebook_rows(results: list[Graded]) -> list[list[str]]:
    """The CSV's rows, header first: per-item scores, the explain note, total, max and note, every cell safe."""
    rows = [["submission", *(i.id for i in GRADED), "explain", "total", "max", "notes"]]
    for r in results:
        scores = [r.scores.get(i.id, 0) for i in GRADED]
        rows.append([r.name, *scores, _one_line(r.explain), r.total, MAX_SCORE, _one_line(r.note)])
    return [[_cell(value) for value in row] for row in rows]


def write_gradebook(results: list[Graded], out: Path) -> None:
    """gradebook.csv and gradebook.json, each replaced whole: a reader never sees half of either."""
    out.mkdir(parents=True, exist_ok=True)
    sheet = io.StringIO(newline="")
    csv.writer(sheet).writerows(gradebook_rows(results))
    write_atomically(out / "gradebook.csv", sheet.getvalue().encode("utf-8"))
    book = {
        r.name: {"note": r.note, "seconds": round(r.seconds, 2), "total": r.total, "explain": r.explain,
                 "report": r.report}
        for r in results
    }
    write_atomically(out / "gradebook.json", (json.dumps(book, indent=2) + "\n").encode("utf-8"))


def write_atomically(path: Path, data: bytes) -> None:
    """Write a temporary file beside path, then rename it over path: never half a file, and never through a
    link planted at path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def grade_all(folder: Path, out: Path, jobs: int = 2, time_limit: float = 180, memory_mib: int = 4096,
              progress=None, *, official: bool = True, require_sandbox: bool = False,
              grader: Sequence[str] | None = None, shard: tuple[int, int] = (1, 1)) -> list[Graded]:
    """Grade every submission in folder (or the shard's share of them), jobs at a time, and write the gradebook
    and its manifest once every grader has ended."""
    everyone = find_submissions(folder, skip=out)
    submissions = in_shard(everyone, shard)
    results: dict[str, Graded] = {}
    running = _Running()
    options = dict(official=official, require_sandbox=require_sandbox, root=folder, grader=grader, running=running)
    with _bytecode_cache(None) as pycache, ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {
            pool.submit(grade_one, name, path, out, time_limit, memory_mib, pycache=pycache, **options): name
            for name, path in submissions
        }
        try:
            for done, future in enumerate(as_completed(futures), 1):
                graded = _outcome(future, futures[future])
                results[graded.name] = graded
                if progress:
                    progress(done, len(submissions), graded)
        except BaseException:  # Ctrl-C: stop every grader now rather than wait out their limits
            pool.shutdown(wait=False, cancel_futures=True)
            running.stop_all()
            raise
    ordered = [results[name] for name, _ in submissions]
    write_gradebook(ordered, out)
    manifest = json.dumps(shard_manifest(everyone, shard), indent=2) + "\n"
    write_atomically(out / MANIFEST, manifest.encode("utf-8"))
    return ordered


def _outcome(future, name: str) -> Graded:
    """The submission's row, even when grading it raised (a file gone, a full disk): one row, not the batch."""
    try:
        return future.result()
    except Exception as error:
        return Graded(name, None, _one_line(NOT_GRADED.format(error=f"{type(error).__name__}: {error}")))


# -- Command line -----------------------------------------------------------------------------------


def sandbox_line(in_process: bool, ready: bool, how: str) -> str:
    """The first line the batch prints: whether submissions run sandboxed, and what that means if not."""
    if in_process:
        return SANDBOX_IN_PROCESS
    return SANDBOX_ON.format(how=how) if ready else SANDBOX_OFF.format(why=how)


def _print_progress(done: int, total: int, graded: Graded) -> None:
    note = f"  {graded.note}" if graded.note else ""
    print(PROGRESS.format(done=done, total=total, name=_one_line(graded.name, 60), score=graded.total,
                          max_score=MAX_SCORE, note=note, seconds=graded.seconds), flush=True)


@contextlib.contextmanager
def _sigterm_stops_the_batch() -> Iterator[None]:
    """While grading, SIGTERM ends the batch as Ctrl-C does, through grade_all's clean-up: its graders lead
    sessions of their own, so without this they would outlive it with no one left to enforce their limits."""

    def stop(number: int, _frame) -> None:
        raise SystemExit(128 + number)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m checks.batch", description=__doc__.splitlines()[0])
    cli.add_argument("submissions", type=Path, metavar="DIR")
    cli.add_argument("--jobs", type=int, default=2, help=JOBS_HELP)
    cli.add_argument("--out", type=Path, default=None, help=OUT_HELP)
    cli.add_argument("--time-limit", type=float, default=180, help=LIMIT_HELP)
    cli.add_argument("--memory", type=int, default=4096, metavar="MIB", help=MEMORY_HELP)
    cli.add_argument("--require-sandbox", action="store_true", help=REQUIRE_SANDBOX_HELP)
    cli.add_argument("--in-process", action="store_true", help=IN_PROCESS_HELP)
    cli.add_argument("--shard", default="1/1", metavar="K/N", help=SHARD_HELP)
    args = cli.parse_args(argv)
    try:
        shard = parse_shard(args.shard)
    except ValueError as error:
        cli.error(str(error))
    if not args.submissions.is_dir():
        cli.error(f"{args.submissions}: not a folder")
    if args.jobs < 1 or args.time_limit <= 0 or args.memory < 256:
        cli.error("--jobs takes a whole number from 1, --time-limit seconds above 0, --memory at least 256 MiB")
    if args.in_process and args.require_sandbox:
        cli.error(BOTH_MODES)
    out = args.out or args.submissions / OUTPUT_FOLDER
    if not find_submissions(args.submissions, skip=out):
        cli.error(f"{args.submissions}: no *.py or */project.py to grade")
    ready, how = sandbox.available()
    if args.require_sandbox and not ready:
        print(SANDBOX_REQUIRED.format(why=how), file=sys.stderr)
        return 2
    print(sandbox_line(args.in_process, ready, how), flush=True)
    started = time.monotonic()
    with _sigterm_stops_the_batch():
        results = grade_all(args.submissions, out, args.jobs, args.time_limit, args.memory, _print_progress,
                            official=not args.in_process, require_sandbox=args.require_sandbox, shard=shard)
    seconds = max(time.monotonic() - started, 0.001)
    if shard != (1, 1):
        total = len(find_submissions(args.submissions, skip=out))
        print(SHARD_SUMMARY.format(k=shard[0], n=shard[1], count=len(results), total=total), flush=True)
    print(SUMMARY.format(count=len(results), seconds=seconds, rate=len(results) / (seconds / 60), jobs=args.jobs,
                         path=out / "gradebook.csv"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

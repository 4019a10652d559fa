"""Remembers each item's result between a student's own grading runs, in a small file beside the graded file.

The scorecard reads it to say what changed since the last run and to offer the second hint to a
student who has failed the same item in several attempts. An attempt is a grading of changed code:
each item keeps a hash of the files it was graded on, so running `pytest` again on the same text
does not make a student "stuck". It is a convenience, never a grade: a file that is missing,
unreadable, too big or not what this module wrote counts as no history, and a folder that cannot
be written to is left alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from checks.reports.results import Grade

FILE_NAME = ".grader-progress.json"
STUCK_AFTER = 3
"""Attempts in a row (gradings of changed code) an item has failed before the scorecard adds its second hint."""
MOST_BYTES = 64 * 1024
"""A progress file is a few hundred bytes; anything larger was not written here and is not read."""
VERSION = 2
"""2: per item, `failing_attempts` and the `code` hash it was graded on (1 counted runs; read as no history)."""
ANSWERS_FILE = "ANSWERS.md"


@dataclass
class Progress:
    """What one run changed, as the scorecard shows it."""

    newly_passing: list[str] = field(default_factory=list)
    newly_failing: list[str] = field(default_factory=list)
    failing_attempts: dict[str, int] = field(default_factory=dict)  # item id -> failed attempts in a row, this one included
    first_run: bool = True
    pending: tuple[Path, str, dict[str, dict]] | None = field(default=None, repr=False)  # what remember() writes

    def stuck(self, item_id: str) -> bool:
        return self.failing_attempts.get(item_id, 0) >= STUCK_AFTER


def path_for(project: Path) -> Path:
    return project.parent / FILE_NAME


def code_hash(project: Path) -> str:
    """What a grading judged, as one short hash: the graded file, ANSWERS.md and the .py files beside it
    (helpers the graded file may import). A file that cannot be read counts by its name alone."""
    digest = hashlib.sha256()
    try:
        beside = {p.name for p in project.parent.glob("*.py")}
    except OSError:
        beside = set()
    for name in sorted(beside | {project.name, ANSWERS_FILE}):
        digest.update(name.encode("utf-8", "surrogateescape") + b"\0")
        try:
            digest.update(hashlib.sha256((project.parent / name).read_bytes()).digest())
        except OSError:
            digest.update(b"-")
    return digest.hexdigest()[:16]


def read(path: Path, project_name: str) -> dict[str, dict]:
    """The items remembered for `project_name`: {id: {"status", "failing_attempts", "code"}}; {} when in doubt."""
    try:
        if not path.is_file() or path.stat().st_size > MOST_BYTES:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    files = data.get("files") if isinstance(data, dict) and data.get("version") == VERSION else None
    items = files.get(project_name) if isinstance(files, dict) else None
    if not isinstance(items, dict):
        return {}
    kept = {}
    for item_id, record in items.items():
        if not (isinstance(item_id, str) and isinstance(record, dict)):
            continue
        status, attempts, code = record.get("status"), record.get("failing_attempts", 0), record.get("code", "")
        if (
            status in ("passed", "failed") and isinstance(attempts, int) and not isinstance(attempts, bool)
            and 0 <= attempts < 10**6 and isinstance(code, str) and len(code) <= 64
        ):
            kept[item_id] = {"status": status, "failing_attempts": attempts, "code": code}
    return kept


def compare(grade: Grade, project: Path) -> Progress:
    """Compare this run with the one remembered and say what changed; remember(progress) keeps this run.

    An item this run did not grade (a `-k` selection, a check that could not run) keeps what was
    remembered of it: a partial run neither resets a streak nor counts as progress. An item graded
    again on the same code keeps its count: only a changed file is a new attempt.
    """
    path, code = path_for(project), code_hash(project)
    before = read(path, project.name)
    progress = Progress(first_run=not before)
    after = dict(before)
    for result in grade.items:
        if result.status not in ("passed", "failed"):
            continue
        item_id, previous = result.item.id, before.get(result.item.id)
        # A TODO not started yet is not an item the student is stuck on: its streak waits for a first try.
        failing = result.status == "failed" and not result.untouched
        streak = previous["failing_attempts"] if previous else 0
        attempts = (streak if previous and previous["code"] == code else streak + 1) if failing else 0
        after[item_id] = {"status": result.status, "failing_attempts": attempts, "code": code}
        if result.status == "failed":
            progress.failing_attempts[item_id] = attempts
        if previous and previous["status"] != result.status:
            (progress.newly_passing if result.status == "passed" else progress.newly_failing).append(item_id)
    progress.pending = (path, project.name, after)
    return progress


def remember(progress: Progress) -> None:
    """Write what compare() found: called once the student has been shown the scorecard, so a run
    that never reached them (interrupted, its output cut off) is not remembered as an attempt."""
    if progress.pending is not None:
        _write(*progress.pending)
        progress.pending = None


def update(grade: Grade, project: Path) -> Progress:
    """compare() and remember() at once: what changed since the run remembered, and this run kept."""
    progress = compare(grade, project)
    remember(progress)
    return progress


def _write(path: Path, project_name: str, items: dict[str, dict]) -> None:
    """Replace the file in one step (a watcher never reads half of it); other graded files' records are kept."""
    try:
        existing = json.loads(path.read_text(encoding="utf-8")) if path.is_file() and path.stat().st_size <= MOST_BYTES else {}
    except (OSError, ValueError, RecursionError):
        existing = {}
    files = existing.get("files") if isinstance(existing, dict) and existing.get("version") == VERSION else None
    files = {k: v for k, v in files.items() if isinstance(v, dict)} if isinstance(files, dict) else {}
    files[project_name] = items
    text = json.dumps({"version": VERSION, "files": files}, indent=1, sort_keys=True) + "\n"
    try:
        handle, temporary = tempfile.mkstemp(prefix=FILE_NAME + ".", dir=path.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except OSError:
        try:
            os.unlink(temporary)
        except (OSError, UnboundLocalError):
            pass

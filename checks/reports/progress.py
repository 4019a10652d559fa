"""Remembers each item's result between a student's own grading runs, in a small file beside the graded file.

The scorecard reads it to say what changed since the last run and to offer the second hint to a
student who has failed the same item for several runs. It is a convenience, never a grade: a file
that is missing, unreadable, too big or not what this module wrote counts as no history, and a
folder that cannot be written to is left alone.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from checks.reports.results import Grade

FILE_NAME = ".grader-progress.json"
STUCK_AFTER = 3
"""Runs in a row an item has failed before the scorecard adds its second, more concrete hint."""
MOST_BYTES = 64 * 1024
"""A progress file is a few hundred bytes; anything larger was not written here and is not read."""
VERSION = 1


@dataclass
class Progress:
    """What one run changed, as the scorecard shows it."""

    newly_passing: list[str] = field(default_factory=list)
    newly_failing: list[str] = field(default_factory=list)
    failing_runs: dict[str, int] = field(default_factory=dict)  # item id -> failed runs in a row, this one included
    first_run: bool = True

    def stuck(self, item_id: str) -> bool:
        return self.failing_runs.get(item_id, 0) >= STUCK_AFTER


def path_for(project: Path) -> Path:
    return project.parent / FILE_NAME


def read(path: Path, project_name: str) -> dict[str, dict]:
    """The items remembered for `project_name`: {id: {"status": str, "failing_runs": int}}; {} when in doubt."""
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
        status, runs = record.get("status"), record.get("failing_runs", 0)
        if status in ("passed", "failed") and isinstance(runs, int) and not isinstance(runs, bool) and 0 <= runs < 10**6:
            kept[item_id] = {"status": status, "failing_runs": runs}
    return kept


def update(grade: Grade, project: Path) -> Progress:
    """Compare this run with the one before, remember this one, and say what changed.

    An item this run did not grade (a `-k` selection, a check that could not run) keeps what was
    remembered of it: a partial run neither resets a streak nor counts as progress.
    """
    path = path_for(project)
    before = read(path, project.name)
    progress = Progress(first_run=not before)
    after = dict(before)
    for result in grade.items:
        if result.status not in ("passed", "failed"):
            continue
        item_id, previous = result.item.id, before.get(result.item.id)
        # A TODO not started yet is not an item the student is stuck on: its streak waits for a first try.
        failing = result.status == "failed" and not result.untouched
        runs = (previous["failing_runs"] if previous else 0) + 1 if failing else 0
        after[item_id] = {"status": result.status, "failing_runs": runs}
        if result.status == "failed":
            progress.failing_runs[item_id] = runs
        if previous and previous["status"] != result.status:
            (progress.newly_passing if result.status == "passed" else progress.newly_failing).append(item_id)
    _write(path, project.name, after)
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

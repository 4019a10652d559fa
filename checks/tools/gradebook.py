"""A class's gradebook: every entry of a class folder graded into one row, and the rows written whole.

Each row's scores come only from a validated report (checks.tools.validation); its note says first
what was graded when it was not plainly ENTRY/project.py, then anything that went wrong. The parent
writes gradebook.csv, gradebook.json and the shard manifest only after every grader has ended.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from checks.catalogue import BY_ID
from checks.tools import grading, shards
from checks.tools.files import OUTSIDE, write_atomically
from checks.tools.submissions import Submission, find_class
from checks.tools.validation import GRADED, one_line

MAX_SCORE = sum(item.points for item in GRADED)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A CSV cell starting with one of these is a formula to a spreadsheet (OWASP's CSV-injection list)."""
GRADER_BROKEN = "the grader could not load some of its own checks: {first}"
EXPLAIN_DONE = "answers written"
EXPLAIN_NOT_RUN = "not run"


@dataclass
class Row:
    """One submission's row: its report as validated and rescored, and the note that says most about it."""

    name: str
    report: dict | None
    note: str = ""
    seconds: float = 0.0
    scores: dict[str, int] = field(default_factory=dict)
    explain: str = ""
    found: bool = True
    """False when the entry held nothing to grade (no Python file, several, or not a folder)."""

    @property
    def total(self) -> int:
        return sum(self.scores.values())


Progress = Callable[[int, int, Row], None]


def grade_one(name: str, source: Path, out: Path, time_limit: float = grading.TIME_LIMIT,
              memory_mib: int = grading.MEMORY_MIB, *, root: Path | None = None, answers: Path | None = None,
              found: str = "", **options) -> Row:
    """One file's row, graded in its own process (options go to checks.tools.grading.grade), its log kept as
    out/logs/NAME.log. `root` is the class folder (default: the file's own folder): nothing on the way from it
    to the file or to `answers` may be a symbolic link. `found` says what was graded, first in the note."""
    root = root or source.parent
    try:
        project = source.relative_to(root).parts
        beside = answers.relative_to(root).parts if answers is not None else None
    except ValueError:
        return Row(name, None, grading.REFUSED.format(what=source.name, why=OUTSIDE))
    run = grading.grade(root, project, beside, time_limit=time_limit, memory_mib=memory_mib,
                        log=out / "logs" / f"{name}.log", **options)
    return row(name, run, found)


def _grade_entry(submission: Submission, folder: Path, out: Path, *args, **options) -> Row:
    """An entry's row: its file graded, or a row of 0 that says why the entry held nothing to grade."""
    if submission.project is None:
        return Row(submission.name, None, one_line(submission.note), found=False)
    answers = folder.joinpath(*submission.answers) if submission.answers else None
    return grade_one(submission.name, folder.joinpath(*submission.project), out, *args, root=folder, answers=answers,
                     found=submission.note, **options)


def row(name: str, run: grading.Run, found: str = "") -> Row:
    """The row of a grading: scores only from a validated report, and what was graded, then what went wrong."""
    trouble = run.note or _grader_broken(run.report) or _import_failure(run.report)
    note = "; ".join(part for part in (found, trouble) if part)
    graded = Row(name, run.report, one_line(note), run.seconds, explain=one_line(_explain(run.report)))
    if run.report is not None:
        graded.scores = {item["id"]: item["score"] for item in run.report["items"] if BY_ID[item["id"]].graded}
    return graded


def grade_all(folder: Path, out: Path, jobs: int = 2, time_limit: float = grading.TIME_LIMIT,
              memory_mib: int = grading.MEMORY_MIB, progress: Progress | None = None, *, official: bool = True,
              require_sandbox: bool = False, grader: Sequence[str] | None = None,
              shard: tuple[int, int] = (1, 1), groups: str | None = None) -> list[Row]:
    """Grade every entry of folder (or the shard's share of them), jobs at a time, and write the gradebook and
    its manifest once every grader has ended."""
    everyone, _ = find_class(folder, skip=out)
    submissions = shards.in_shard(everyone, shard)
    results: dict[str, Row] = {}
    running = grading.Running()
    options = dict(official=official, require_sandbox=require_sandbox, grader=grader, running=running, groups=groups)
    with grading.bytecode_cache() as pycache, ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {
            pool.submit(_grade_entry, s, folder, out, time_limit, memory_mib, pycache=pycache, **options): s.name
            for s in submissions
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
    ordered = [results[s.name] for s in submissions]
    write_gradebook(ordered, out)
    manifest = json.dumps(shards.manifest([s.name for s in everyone], shard), indent=2) + "\n"
    write_atomically(out / shards.MANIFEST, manifest.encode("utf-8"))
    return ordered


def _outcome(future: Future, name: str) -> Row:
    """The submission's row, even when grading it raised (a file gone, a full disk): one row, not the batch."""
    try:
        return future.result()
    except Exception as error:
        return Row(name, None, one_line(grading.NOT_GRADED.format(error=f"{type(error).__name__}: {error}")))


def _grader_broken(report: dict | None) -> str:
    """A grader that could not load its own checks: not a verdict on the student, so the row says so first."""
    errors = (report or {}).get("grader_errors")
    return GRADER_BROKEN.format(first=errors[0]) if errors else ""


def _import_failure(report: dict | None) -> str:
    """The one-line reason when a submission did not import (every check errored with it)."""
    checks = [c for item in (report or {}).get("items", []) if item["status"] != "ungraded" for c in item["checks"]]
    if checks and all(c["outcome"] == "error" for c in checks):
        return (checks[0]["message"].strip().splitlines() or ["every check errored"])[0]
    return ""


def _explain(report: dict | None) -> str:
    """The explain item's note: 'answers written', or what its check found missing."""
    if report is None:
        return ""
    item = next(i for i in report["items"] if i["id"] == "explain")
    if not item["checks"]:
        return EXPLAIN_NOT_RUN
    check = item["checks"][0]
    return EXPLAIN_DONE if check["outcome"] == "passed" else (check["message"] or check["outcome"])


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: one that would start a formula gets a leading quote."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def gradebook_rows(results: list[Row]) -> list[list[str]]:
    """The CSV's rows, header first: per-item scores, the explain note, total, max and note, every cell safe."""
    rows = [["submission", *(i.id for i in GRADED), "explain", "total", "max", "notes"]]
    for r in results:
        scores = [r.scores.get(i.id, 0) for i in GRADED]
        rows.append([r.name, *scores, one_line(r.explain), r.total, MAX_SCORE, one_line(r.note)])
    return [[_cell(value) for value in row] for row in rows]


def write_gradebook(results: list[Row], out: Path) -> None:
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

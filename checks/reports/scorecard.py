"""Writes a Grade out: the scorecard a student reads in the terminal, and the JSON file machines read."""

from __future__ import annotations

import json
from pathlib import Path

from checks.reports.progress import STUCK_AFTER, Progress
from checks.reports.results import MESSAGE_CAP, Grade, Outcome, capped

__all__ = ["MESSAGE_CAP", "GRADER_BROKEN", "scorecard", "write_json"]  # MESSAGE_CAP: read from here by checks.batch

GRADER_BROKEN = (
    "The grader could not load some of its own checks; this is not a verdict on your code. "
    "Reinstall with the README's command, or tell your instructor:"
)

_MARKS = {"passed": "PASS", "failed": "FAIL", "not_run": "SKIP", "ungraded": "----"}

PASSING_SINCE = "  {ids} passing since your last run (+{points})"
FAILING_SINCE = "  {ids} failing since your last run (passing before it: what changed?)"
STUCK = "  Still stuck after {runs} runs? A step further: {hint}"
MORE_HINTS = "  (`pytest --hints` shows a hint for every failing item.)"


def scorecard(grade: Grade, progress: Progress | None = None, all_hints: bool = False) -> list[str]:
    """One line per item, the total, what changed since the last run, and what to do next.

    By default only the next item gets its hint: one question at a time, in the order the items
    build on each other. `all_hints` puts each failing item's hint under it instead.
    """
    width = max(len(r.item.title) for r in grade.items)
    lines = [f"Grading {grade.project}"]
    if progress is not None and not grade.load_error:
        if progress.newly_passing:
            gained = sum(_points(grade, i) for i in progress.newly_passing)
            lines.append(PASSING_SINCE.format(ids=", ".join(progress.newly_passing), points=gained))
        if progress.newly_failing:
            lines.append(FAILING_SINCE.format(ids=", ".join(progress.newly_failing)))
    if grade.grader_errors:
        lines += ["", GRADER_BROKEN, *(f"  {error}" for error in _capped(grade.grader_errors)), ""]
    if grade.load_error:
        lines += ["", "Your file could not be imported, so no check could run:", f"  {grade.load_error}", ""]
    for r in grade.items:
        if r.item.graded:
            points = f"{r.score:>3} / {r.item.points:<3}"
            passed = sum(c.outcome is Outcome.PASSED for c in r.checks)
            detail = f"{passed}/{len(r.ran)} checks" if r.ran else "not run"
            if r.status == "not_run":
                detail += f": {r.reason.splitlines()[0]}" if r.reason else ""
        else:
            points, detail = "  not scored", r.note
        lines.append(f"  {_MARKS[r.status]}  {r.item.id:<8} {r.item.title:<{width}}  {points}  {detail}")
        if r.status == "failed" and not grade.load_error:
            lines += [f"        {line}" for line in _capped(r.failure.splitlines())]
        if r.status == "failed" and all_hints:
            lines += [f"        Hint: {r.item.hint}", *_further(r.item, progress, indent="      ")]
    lines.append(f"  Total: {grade.score} / {grade.max_score}")
    upcoming = grade.next_item
    if upcoming is not None and not grade.load_error:  # the import error is the next step, not an item's hint
        lines += ["", f"Next: {upcoming.item.id} ({upcoming.item.title})"]
        if not all_hints:
            lines += [f"  Hint: {upcoming.item.hint}", *_further(upcoming.item, progress)]
            if sum(r.status == "failed" for r in grade.items) > 1:
                lines.append(MORE_HINTS)
    elif grade.score == grade.max_score:
        explained = all(r.status != "ungraded" or all(c.outcome is Outcome.PASSED for c in r.checks) for r in grade.items)
        lines += ["", "Every item passes." + ("" if explained else " Now answer the Explain-it questions in ANSWERS.md.")]
    return lines


def _points(grade: Grade, item_id: str) -> int:
    return next(r.item.points for r in grade.items if r.item.id == item_id)


def _further(item, progress: Progress | None, indent: str = "") -> list[str]:
    """The second hint, once the item has failed STUCK_AFTER runs in a row."""
    if progress is None or not item.hint_more or not progress.stuck(item.id):
        return []
    runs = max(progress.failing_runs.get(item.id, 0), STUCK_AFTER)
    return [indent + STUCK.format(runs=runs, hint=item.hint_more)]


def _capped(lines: list[str], most: int = 16) -> list[str]:
    return lines[:most] + (["..."] if len(lines) > most else [])


def write_json(grade: Grade, path: Path) -> None:
    data = grade.to_json()
    for item in data["items"]:
        for check in item["checks"]:
            check["message"] = capped(check["message"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

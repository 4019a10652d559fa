"""Writes a Grade out: the scorecard a student reads in the terminal, and the JSON file machines read."""

from __future__ import annotations

import json
from pathlib import Path

from checks.reports.results import Grade, Outcome

MESSAGE_CAP = 4000
"""Characters of one check's message kept in the JSON report: a student file that prints megabytes stays small."""

GRADER_BROKEN = (
    "The grader could not load some of its own checks; this is not a verdict on your code. "
    "Reinstall with the README's command, or tell your instructor:"
)

_MARKS = {"passed": "PASS", "failed": "FAIL", "ungraded": "----"}


def scorecard(grade: Grade) -> list[str]:
    """One line per item, the total, and what to do next."""
    width = max(len(r.item.title) for r in grade.items)
    lines = [f"Grading {grade.project}"]
    if grade.load_error:
        lines += ["", "Your file could not be imported, so no check could run:", f"  {grade.load_error}", ""]
    if grade.grader_errors:
        lines += ["", GRADER_BROKEN, *(f"  {error}" for error in _capped(grade.grader_errors)), ""]
    for r in grade.items:
        if r.item.graded:
            points = f"{r.score:>3} / {r.item.points:<3}"
            passed = sum(c.outcome is Outcome.PASSED for c in r.checks)
            detail = f"{passed}/{len(r.checks)} checks" if r.checks else "not run"
        else:
            points, detail = "  not scored", r.note
        lines.append(f"  {_MARKS[r.status]}  {r.item.id:<8} {r.item.title:<{width}}  {points}  {detail}")
        if r.status == "failed" and not grade.load_error:
            lines += [f"        {line}" for line in _capped(r.failure.splitlines())]
    lines.append(f"  Total: {grade.score} / {grade.max_score}")
    upcoming = grade.next_item
    if upcoming is not None:
        lines += ["", f"Next: {upcoming.item.id} ({upcoming.item.title})", f"  Hint: {upcoming.item.hint}"]
    elif grade.score == grade.max_score:
        explained = all(r.status != "ungraded" or all(c.outcome is Outcome.PASSED for c in r.checks) for r in grade.items)
        lines += ["", "Every item passes." + ("" if explained else " Now answer the Explain-it questions in ANSWERS.md.")]
    return lines


def _capped(lines: list[str], most: int = 16) -> list[str]:
    return lines[:most] + (["..."] if len(lines) > most else [])


def write_json(grade: Grade, path: Path) -> None:
    data = grade.to_json()
    for item in data["items"]:
        for check in item["checks"]:
            if len(check["message"]) > MESSAGE_CAP:
                check["message"] = check["message"][:MESSAGE_CAP] + " [...]"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

"""GitHub Classroom's points: the two notices its autograding reporter prints, written from a --grade-json report.

    python -m checks.reports.classroom reports/grade.json

GitHub Classroom takes an assignment's points from annotations on the autograding job. The reporter
action (classroom-resources/autograding-grading-reporter, src/notify-classroom.js) adds up its
runners' points and calls `core.notice` twice, which prints these two workflow commands:

    ::notice title=Autograding complete::Points 85/100
    ::notice title=Autograding report::{"totalPoints":85,"maxPoints":100}

This module prints the same two lines itself, so the workflow needs no third-party action and no
runner output re-encoded in base64. Like the reporter, it prints nothing when there is nothing to
score. Unlike it, it prints no points for a grading that did not finish (a grader error, or an item
that never ran): a wrong 0 would be recorded as the student's; an ::error says why instead.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from checks.reports.exports import workflow_command

COMPLETE_TITLE = "Autograding complete"
REPORT_TITLE = "Autograding report"
POINTS = "Points {total}/{maximum}"
NOT_GRADED_TITLE = "No points reported"
UNREADABLE = "{path} could not be read as a grade report ({why}): did the grading step run?"
GRADER_ERRORS = "the grader could not load some of its own checks, so this is not a grade: {first}"
NOT_RUN = "not every item ran ({items}), so the points would not be the grade. Was the run narrowed with -k?"
A_GRADEBOOK = (
    "{path} is a class gradebook (python -m checks.batch); this command takes one student's grade report: "
    "run pytest --grade-json=reports/grade.json, then python -m checks.reports.classroom reports/grade.json"
)


class NoPoints(Exception):
    """Why a report gives no points for Classroom, in words for an ::error annotation."""


def points(report: object, path: Path | str = "the report") -> tuple[int | float, int | float]:
    """(total, maximum) from a --grade-json report; NoPoints if it is malformed or not a finished grading."""
    if not isinstance(report, dict):
        raise NoPoints("the report is not a JSON object")
    if is_gradebook(report):
        raise NoPoints(A_GRADEBOOK.format(path=path))
    total, maximum = report.get("score"), report.get("max_score")
    for key, value in (("score", total), ("max_score", maximum)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise NoPoints(f"its {key} is not a number of points")
    if report.get("grader_errors"):
        raise NoPoints(GRADER_ERRORS.format(first=report["grader_errors"][0]))
    items = report.get("items")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise NoPoints("its items are not a list of objects")
    skipped = [str(item.get("id")) for item in items if item.get("state") == "not_run"]
    if skipped:
        raise NoPoints(NOT_RUN.format(items=", ".join(skipped)))
    return _plain(total), _plain(maximum)


def is_gradebook(report: dict) -> bool:
    """A gradebook.json: no items or score of its own, and one entry per student holding that student's report."""
    return "items" not in report and bool(report) and all(
        isinstance(entry, dict) and "report" in entry and "total" in entry for entry in report.values())


def _plain(number: int | float) -> int | float:
    """12.0 as 12: JavaScript prints a whole number without a decimal point, and so must this."""
    return int(number) if float(number).is_integer() else number


def notices(total: int | float, maximum: int | float) -> list[str]:
    """The reporter's two notices, in its order; none when the maximum is 0 (it returns early then too)."""
    if not maximum:
        return []
    summary = json.dumps({"totalPoints": total, "maxPoints": maximum}, separators=(",", ":"))
    return [
        workflow_command("notice", POINTS.format(total=total, maximum=maximum), title=COMPLETE_TITLE),
        workflow_command("notice", summary, title=REPORT_TITLE),
    ]


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m checks.reports.classroom", description=__doc__.splitlines()[0])
    cli.add_argument("report", type=Path, help="the report that pytest --grade-json=PATH wrote")
    args = cli.parse_args(argv)
    try:
        try:
            report = json.loads(args.report.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            why = error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__
            raise NoPoints(UNREADABLE.format(path=args.report, why=why)) from None
        lines = notices(*points(report, args.report))
    except NoPoints as problem:
        print(workflow_command("error", str(problem), title=NOT_GRADED_TITLE), flush=True)
        return 2
    for line in lines:
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

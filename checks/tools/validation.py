"""Trusting no grade report: its shape checked against the catalogue and every score recomputed from the checks.

A grader's report is written by a process that ran near student code, so it is read as a stranger's file:
without following a link, capped in size, and rebuilt from its check outcomes alone. The report's own
scores and statuses only have to be well formed; they decide nothing.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from checks.catalogue import BY_ID, ITEMS
from checks.reports.results import CheckResult, Grade, ItemResult, Outcome
from checks.reports.scorecard import MESSAGE_CAP
from checks.tools.files import Refused, read_regular

GRADED = [item for item in ITEMS if item.graded]
UNREADABLE = "report unreadable: {why}"
NO_REPORT = "no report written"

REPORT_CAP = 4 * 1024 * 1024
"""Bytes of grade.json read: an honest report is tens of KiB, a larger one is not read at all."""
REPORT_MESSAGES_CAP = 256 * 1024
"""Characters of check messages kept per report (each also capped at MESSAGE_CAP); an honest one keeps all."""
CHECKS_CAP = 1000
"""Checks a report may hold (the grader has about 40); more is not a report this grader wrote."""
NAME_CAP = 200
LINE_CAP = 300
"""Characters of a one-line field (the project's name, a grader error)."""
CUT = " [...]"
STATUSES = ("passed", "failed", "ungraded")
OUTCOMES = tuple(outcome.value for outcome in Outcome)


class _Unreadable(ValueError):
    """What is wrong with a report, in a few words for a note."""


def read_report(folder: Path, name: str) -> tuple[dict | None, str]:
    """folder/name read without following a link, capped, parsed and validated: (report, "") or (None, why)."""
    try:
        data = read_regular(folder, (name,), REPORT_CAP)
    except FileNotFoundError:
        return None, UNREADABLE.format(why=NO_REPORT)
    except Refused as refusal:
        return None, UNREADABLE.format(why=f"{name} {refusal.why}")
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
    """(report, "") as it can be trusted: its shape checked against the catalogue, every score recomputed from
    the checks' outcomes and the catalogue's points, messages capped; or (None, note) saying what is wrong,
    so that a broken or forged report costs its own row and nothing else."""
    try:
        grade = _grade_from(report)
    except _Unreadable as problem:
        return None, UNREADABLE.format(why=problem)
    _cap_messages(grade)
    return grade.to_json(), ""


def one_line(text: str, cap: int = LINE_CAP) -> str:
    """One printable line of at most cap characters: newlines, tabs and control characters folded to spaces."""
    line = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return line if len(line) <= cap else line[: cap - 3] + "..."


def _require(condition: bool, why: str) -> None:
    if not condition:
        raise _Unreadable(why)


def _shown(value: object) -> str:
    """A value from a report, quoted and short: it goes into a note."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _grade_from(report: object) -> Grade:
    """A Grade rebuilt from the report's check outcomes alone."""
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
    grade = Grade(
        project=one_line(project) if isinstance(project, str) else "",
        items=[found.get(item.id) or ItemResult(item) for item in ITEMS],
        grader_errors=[one_line(error) for error in errors[:16]],
    )
    grade.load_error = _load_error(report.get("load_error"), grade)
    return grade


def _load_error(given: object, grade: Grade) -> str | None:
    """The report's load error, believed only when every graded check says the same: the file did not import."""
    checks = [c for r in grade.items if r.item.graded for c in r.checks]
    if isinstance(given, str) and given and checks and all(c.outcome is Outcome.ERROR for c in checks):
        return _capped(given, MESSAGE_CAP)
    return None


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

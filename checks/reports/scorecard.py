"""Writes a Grade out: the scorecard a student reads in the terminal, and the JSON file machines read."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from checks.reports.progress import STUCK_AFTER, Progress
from checks.reports.results import MESSAGE_CAP, Grade, Outcome, capped, cut_middle

__all__ = ["MESSAGE_CAP", "GRADER_BROKEN", "scorecard", "screen", "screen_lines", "write_json"]  # MESSAGE_CAP: read from here by checks.batch

GRADER_BROKEN = (
    "The grader could not load some of its own checks; this is not a verdict on your code. "
    "Reinstall with the README's command, or tell your instructor:"
)

_MARKS = {"passed": "PASS", "failed": "FAIL", "not_run": "SKIP", "ungraded": "----"}

PASSING_SINCE = "  {ids} passing since your last run (+{points})"
FAILING_SINCE = "  {ids} failing since your last run (passing before it: what changed?)"
STUCK = "  Still stuck after {attempts} attempts? A step further: {hint}"
MORE_HINTS = "  (`{command}` shows a hint for every failing item.)"
HINTS_COMMAND = "pytest --hints"
TOTAL = "  Total: {score} / {max_score}"
PARTIAL_TOTAL = (
    "  Total: {score} / {max_score} for the items that ran, not your grade: {missing} of {items} items did not "
    "run (plain `pytest` runs them all)"
)
BROKEN_TOTAL = "  Total: {score} / {max_score}, not your grade: {missing} of {items} items did not run (the grader's message above says why)"
NOT_IMPORTED = "Your file could not be imported, so no check could run:"
SCREEN_CUT = "  ... (a taller window shows the rest)"
ROW_BESIDE_TITLE = 33
"""Columns of a compact row that are not its title: mark, id, points and a check count such as `10/10 checks`."""


def scorecard(grade: Grade, progress: Progress | None = None, all_hints: bool = False) -> list[str]:
    """One line per item, the total, what changed since the last run, and what to do next.

    By default only the next item gets its hint: one question at a time, in the order the items
    build on each other. `all_hints` puts each failing item's hint under it instead.
    """
    width = max(len(r.item.title) for r in grade.items)
    lines = [f"Grading {grade.project}", *_changes(grade, progress)]
    if grade.grader_errors:
        lines += ["", GRADER_BROKEN, *(f"  {error}" for error in _capped(grade.grader_errors)), ""]
    if grade.load_error:
        lines += ["", NOT_IMPORTED, *(f"  {line}" for line in grade.load_error.splitlines()), ""]
    for r in grade.items:
        lines.append(_row(r, width))
        if r.status == "failed" and not grade.load_error:
            lines += [f"        {line}" for line in _capped(r.failure.splitlines())]
        if r.status == "failed" and all_hints:
            lines += [f"        Hint: {r.hint}", *_further(r.item, progress, indent="      ")]
    lines.append(_total(grade))
    upcoming = grade.next_item
    if upcoming is not None and not grade.load_error:  # the import error is the next step, not an item's hint
        lines += ["", f"Next: {upcoming.item.id} ({upcoming.item.title})"]
        if not all_hints:
            lines += [f"  Hint: {upcoming.hint}", *_further(upcoming.item, progress)]
            if sum(r.status == "failed" for r in grade.items) > 1:
                lines.append(MORE_HINTS.format(command=HINTS_COMMAND))
    elif grade.score == grade.max_score:
        lines += ["", _all_pass(grade)]
    return lines


def screen(
    grade: Grade, progress: Progress | None = None, all_hints: bool = False, width: int = 80, height: int = 24,
    hints_command: str = HINTS_COMMAND,
) -> list[str]:
    """The scorecard fitted to a window of `width` x `height`, as `python -m checks watch` shows it.

    One line per item (cut, never wrapped), the total, then what fits of the next step: the item to
    do, its hint, and as much of what was measured as there is room for. Every other line is wrapped
    between words, and none is longer than `width`, so a terminal never breaks a word or scrolls.
    """
    wrap = _wrapper(width)
    head = [line for text in _changes(grade, progress) for line in wrap(text.strip(), "  ", "    ")]
    if grade.grader_errors:
        head += [*wrap(GRADER_BROKEN), *(line for error in grade.grader_errors for line in wrap(error, "  ", "    "))]
    if grade.load_error:
        head += [*wrap(NOT_IMPORTED), *(line for text in grade.load_error.splitlines() for line in wrap(text, "  ", "    "))]
    title = min(max(len(r.item.title) for r in grade.items), max(width - ROW_BESIDE_TITLE, 12))
    rows = [_cut(_row(r, title, compact=True), width) for r in grade.items] + wrap(_total(grade).strip(), "", "  ")
    room = height - len(head) - len(rows)
    upcoming = grade.next_item
    tail: list[str] = []
    if all_hints and not grade.load_error:
        for r in (r for r in grade.items if r.status == "failed"):
            tail += wrap(f"{r.item.id}: {r.hint}", "  ", "    ")
            tail += [line for text in _further(r.item, progress) for line in wrap(text.strip(), "    ", "      ")]
    elif upcoming is not None and not grade.load_error:
        steps = wrap(f"Next: {upcoming.item.id} ({upcoming.item.title})")
        hint = wrap(f"Hint: {upcoming.hint}", "  ", "    ")
        further = [line for text in _further(upcoming.item, progress) for line in wrap(text.strip(), "  ", "    ")]
        failing = sum(r.status == "failed" for r in grade.items)
        more = wrap(MORE_HINTS.format(command=hints_command).strip(), "  ") if failing > 1 else []
        measured = [line for text in upcoming.failure.splitlines() for line in _measured(text, width, wrap)]
        spare = room - len(steps) - len(hint) - len(further) - len(more)
        if spare < len(measured):
            measured = measured[: max(spare - 1, 0)] + ["  ..."] if spare > 0 else []
        tail = steps + measured + hint + further + more
    elif grade.score == grade.max_score and not grade.load_error:
        tail = wrap(_all_pass(grade))
    if len(tail) > room:
        tail = tail[: max(room - 1, 0)] + ([SCREEN_CUT] if room > 0 else [])
    return (head + rows + tail)[: max(height, 1)]


def screen_lines(texts: list[str], width: int) -> list[str]:
    """Each text wrapped to `width` between words, keeping its indentation (the watcher's own lines)."""
    wrap = _wrapper(width)
    out = []
    for text in texts:
        indent = text[: len(text) - len(text.lstrip())]
        out += wrap(text.strip(), indent, indent + "  ")
    return out


def _measured(text: str, width: int, wrap) -> list[str]:
    """One line of what a check measured: prose is wrapped; a picture's row (bars between `|`) is cut."""
    if "|" in text:
        return [_cut("  " + text, width)]
    return wrap(text, "  ", "    ")


def _wrapper(width: int):
    """textwrap at `width`, between words only; a word longer than a line (a long path) loses its middle."""

    def wrap(text: str, indent: str = "", more: str = "  ") -> list[str]:
        lines = textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=more,
                              break_long_words=False, break_on_hyphens=False) or [indent.rstrip()]
        return [cut_middle(line, width) for line in lines]  # the end of a long path (its file, its line) stays

    return wrap


def _cut(line: str, width: int) -> str:
    """A line kept to `width` by its end: for a row, whose start (mark, id, title, points) is what counts."""
    return line if len(line) <= width else line[: max(width - 3, 0)] + "..."


def _changes(grade: Grade, progress: Progress | None) -> list[str]:
    """What passes or fails since the run before, when there was one."""
    if progress is None or grade.load_error:
        return []
    lines = []
    if progress.newly_passing:
        gained = sum(_points(grade, i) for i in progress.newly_passing)
        lines.append(PASSING_SINCE.format(ids=", ".join(progress.newly_passing), points=gained))
    if progress.newly_failing:
        lines.append(FAILING_SINCE.format(ids=", ".join(progress.newly_failing)))
    return lines


def _row(r, title_width: int, compact: bool = False) -> str:
    """An item's line: mark, id, title, points and how many of its checks passed (or why none ran);
    `compact` without the indent and wide gaps, for a window of 80 columns."""
    if r.item.graded:
        points = f"{r.score:>3} / {r.item.points:<3}"
        passed = sum(c.outcome is Outcome.PASSED for c in r.checks)
        detail = f"{passed}/{len(r.ran)} checks" if r.ran else "not run"
        if r.status == "not_run":
            detail += f": {r.reason.splitlines()[0]}" if r.reason else ""
    else:
        points, detail = "  not scored", r.note
    if compact:
        title = _cut(r.item.title, title_width)
        return f"{_MARKS[r.status]} {r.item.id:<7} {title:<{title_width}} {points.strip():>7}  {detail}"
    return f"  {_MARKS[r.status]}  {r.item.id:<8} {r.item.title:<{title_width}}  {points}  {detail}"


def _total(grade: Grade) -> str:
    """The total; for a run that left items out, said not to be the grade, with the way to get it."""
    graded = [r for r in grade.items if r.item.graded]
    missing = sum(r.status == "not_run" for r in graded)
    if not missing:
        return TOTAL.format(score=grade.score, max_score=grade.max_score)
    partial = BROKEN_TOTAL if grade.grader_errors else PARTIAL_TOTAL  # plain `pytest` would not help a broken install
    return partial.format(score=grade.score, max_score=grade.max_score, missing=missing, items=len(graded))


def _all_pass(grade: Grade) -> str:
    explained = all(r.status != "ungraded" or all(c.outcome is Outcome.PASSED for c in r.checks) for r in grade.items)
    return "Every item passes." + ("" if explained else " Now answer the Explain-it questions in ANSWERS.md.")


def _points(grade: Grade, item_id: str) -> int:
    return next(r.item.points for r in grade.items if r.item.id == item_id)


def _further(item, progress: Progress | None, indent: str = "") -> list[str]:
    """The second hint, once the item has failed STUCK_AFTER attempts in a row."""
    if progress is None or not item.hint_more or not progress.stuck(item.id):
        return []
    attempts = max(progress.failing_attempts.get(item.id, 0), STUCK_AFTER)
    return [indent + STUCK.format(attempts=attempts, hint=item.hint_more)]


def _capped(lines: list[str], most: int = 16) -> list[str]:
    return lines[:most] + (["..."] if len(lines) > most else [])


def write_json(grade: Grade, path: Path) -> None:
    data = grade.to_json()
    for item in data["items"]:
        for check in item["checks"]:
            check["message"] = capped(check["message"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

"""Writes a Grade where graders and CI look: a GitHub step summary and annotations, and the results.json of
Gradescope and of PrairieLearn. Every one says the same thing about an item, in the same words (item_text)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from checks.reports.results import MESSAGE_CAP, Grade, ItemResult, capped
from checks.reports.scorecard import GRADER_BROKEN

LOAD_ERROR_TOP = "{project} could not be imported, so no check could run:"
SEE_LOAD_ERROR = "Failed: {project} could not be imported, so this item could not be graded. The message at the top says where."
ALL_PASSED = "Passed: all {count} checks of this item passed."
NOT_RUN = "Not run, so no points: {reason}"
NOT_SCORED = "Not scored. {note}"
NOT_RUN_TOP = "{count} item(s) not run, so not scored: {ids}."
TOTAL = "Graded {project}: {score} / {max_score}"

_GITHUB_MARKS = {"passed": "✅ passed", "failed": "❌ failed", "not_run": "⏸️ not run", "ungraded": "➖ not scored"}
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
"""Gradescope's values for a test's visibility (its autograder specification)."""


def headline(grade: Grade) -> list[str]:
    """What goes at the top of every report before any item: grader errors first, then a file that did not import."""
    lines: list[str] = []
    if grade.grader_errors:
        lines += [GRADER_BROKEN, *(f"  {error}" for error in grade.grader_errors)]
    if grade.load_error:
        lines += [LOAD_ERROR_TOP.format(project=grade.project), f"  {grade.load_error}"]
    return lines


def item_text(grade: Grade, r: ItemResult, cap: int = MESSAGE_CAP) -> str:
    """What a report says about one item, at most `cap` characters: a cut shortens what was measured, never the hint."""
    if not r.item.graded:
        return capped(NOT_SCORED.format(note=r.note), cap)
    if r.status == "passed":
        return ALL_PASSED.format(count=len(r.checks))
    if r.status == "not_run":
        return capped(NOT_RUN.format(reason=r.reason), cap)
    if grade.load_error:
        return SEE_LOAD_ERROR.format(project=grade.project)
    hint = f"\n\nHint: {r.item.hint}"
    return capped(r.failure or "failed", max(cap - len(hint), 0)) + hint


def _not_run_line(grade: Grade) -> list[str]:
    ids = [r.item.id for r in grade.items if r.status == "not_run"]
    return [NOT_RUN_TOP.format(count=len(ids), ids=", ".join(ids))] if ids else []


# --- GitHub Actions --------------------------------------------------------------------------


def github_summary(grade: Grade) -> str:
    """The scorecard as Markdown, for $GITHUB_STEP_SUMMARY."""
    lines = [
        f"## Concurrent Requests: {grade.score} / {grade.max_score}",
        "",
        f"Graded file: `{grade.project}`",
        "",
    ]
    if grade.grader_errors:
        lines += [f"**{GRADER_BROKEN}**", "", *(f"    {error}" for error in grade.grader_errors), ""]
    if grade.load_error:
        lines += [f"**{LOAD_ERROR_TOP.format(project=grade.project)}**", "", f"    {grade.load_error}", ""]
    lines += ["| item | title | result | points |", "|---|---|---|---|"]
    for r in grade.items:
        points = f"{r.score} / {r.item.points}" if r.item.graded else _cell(r.note)
        mark = _GITHUB_MARKS[r.status] + (" (did not import, see above)" if grade.load_error and r.status == "failed" else "")
        lines.append(f"| `{r.item.id}` | {_cell(r.item.title)} | {mark} | {points} |")
    not_run = [r for r in grade.items if r.status == "not_run"]
    if not_run:
        lines += ["", "### Not run, so not scored", ""]
        lines += [f"- `{r.item.id}`: {_cell(capped(r.reason, 300))}" for r in not_run]
    failing = [r for r in grade.items if r.status == "failed"]
    if failing and not grade.load_error:
        lines += ["", "### What was measured", ""]
        for r in failing:
            lines += [f"**{r.item.id}: {r.item.title}**", "", "```text", capped(r.failure), "```", ""]
    upcoming = grade.next_item
    if upcoming is not None and not grade.load_error:
        lines += ["", f"**Next: {upcoming.item.id}.** {upcoming.item.hint}"]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def function_lines(path: Path) -> dict[str, int]:
    """Where each top-level function is defined, read from the text so a file that does not import still has lines."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    found: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = re.match(r"(?:async\s+)?def\s+([A-Za-z_]\w*)\s*\(", line)
        if match:
            found.setdefault(match.group(1), number)
    return found


def repository_root() -> Path:
    """Where annotation paths start: the Actions workspace, else the git toplevel of the cwd, else the cwd."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if workspace and Path(workspace).is_dir():
        return Path(workspace).resolve()
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=10, check=False
        )
        if found.returncode == 0 and found.stdout.strip():
            return Path(found.stdout.strip()).resolve()
    except (OSError, subprocess.SubprocessError):
        pass  # no git here: the cwd will do
    return Path.cwd().resolve()


def repository_path(path: Path, root: Path | None = None) -> str | None:
    """The graded file's path as GitHub attaches annotations (relative, with /), or None when it lies outside."""
    try:
        return path.resolve().relative_to((root or repository_root()).resolve()).as_posix()
    except ValueError:
        return None


def github_annotations(grade: Grade, path: Path, root: Path | None = None) -> list[str]:
    """::error workflow commands: one per grader error, one for a file that does not import (at its line),
    else one per failing item on the line of the function it is about; one ::warning per reason items did not run."""
    where = repository_path(path, root)
    lines = function_lines(path)

    def command(kind: str, title: str, message: str, line: int | None = None) -> str:
        place = {"file": where, "line": str(line or 1)} if where else {}
        return workflow_command(kind, capped(message), **place, title=title)

    commands = [workflow_command("error", capped(e), title="Grader error") for e in grade.grader_errors]
    if grade.load_error:
        title = LOAD_ERROR_TOP.format(project=grade.project).rstrip(":")
        return commands + [command("error", title, grade.load_error, _load_error_line(grade.load_error))]
    for r in grade.items:
        if r.status != "failed":
            continue
        message = r.failure
        named = [f for f in r.item.functions if f in message] or list(r.item.functions)
        line = next((lines[f] for f in named if f in lines), 1)
        commands.append(command("error", f"{r.item.id}: {r.item.title}", message or r.item.hint, line))
    reasons: dict[str, list[str]] = {}
    for r in grade.items:
        if r.status == "not_run":
            reasons.setdefault(r.reason, []).append(r.item.id)
    commands += [workflow_command("warning", ", ".join(ids) + ": " + why, title="Not run") for why, ids in reasons.items()]
    return commands


def _load_error_line(load_error: str | None) -> int | None:
    match = re.search(r", line (\d+)", load_error or "")
    return int(match.group(1)) if match else None


def workflow_command(name: str, message: str, **properties: str) -> str:
    """One GitHub workflow command, escaped as @actions/core escapes it (escapeData, escapeProperty)."""
    shown = ",".join(f"{key}={_property(value)}" for key, value in properties.items() if value)
    return f"::{name}{' ' + shown if shown else ''}::{_data(message)}"


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


# --- Gradescope ------------------------------------------------------------------------------


def gradescope_results(
    grade: Grade,
    *,
    execution_time: float | None = None,
    visibility: Mapping[str, str] | None = None,
    default_visibility: str = "visible",
    notes: Iterable[str] = (),
) -> dict:
    """Gradescope's results.json, with only the keys of its specification: the total, one test per item.

    `explain` is informational (no score, no status, so no colour); an item that did not run gets no
    points and says why; `visibility` maps item ids to one of VISIBILITIES.
    """
    tests = []
    for number, r in enumerate(grade.items, 1):
        test: dict = {"name": f"{r.item.id}: {r.item.title}", "number": str(number)}
        if r.item.graded:
            test.update(score=r.score, max_score=r.item.points, status="passed" if r.status == "passed" else "failed")
        if r.status == "not_run":
            test["tags"] = ["not run"]
        test["output"] = item_text(grade, r)
        test["visibility"] = (visibility or {}).get(r.item.id, default_visibility)
        tests.append(test)
    top = [*headline(grade), *notes, *_not_run_line(grade), TOTAL.format(project=grade.project, score=grade.score, max_score=grade.max_score)]
    results: dict = {"score": grade.score}
    if execution_time is not None:
        results["execution_time"] = round(execution_time)
    results.update(output=capped("\n".join(top)), output_format="text", test_output_format="text",
                   stdout_visibility="hidden", tests=tests)
    return results


def write_gradescope(grade: Grade, path: Path, **options) -> None:
    write_json_file(path, gradescope_results(grade, **options))


# --- PrairieLearn ----------------------------------------------------------------------------


def prairielearn_results(grade: Grade, *, notes: Iterable[str] = ()) -> dict:
    """PrairieLearn's external-grader results.json: score as a fraction of 1 and one test per item.

    A file that does not import, or a grader that could not load its own checks, is `gradable: false`
    with `format_errors`: no points are given or taken and the student keeps the attempt.
    """
    notes = list(notes)
    if grade.grader_errors or grade.load_error:
        errors = [*grade.grader_errors, *([grade.load_error] if grade.load_error else [])]
        message = "\n".join([*headline(grade), *notes])
        return {"gradable": False, "format_errors": [capped(e) for e in errors], "message": capped(message)}
    top = "\n".join([*notes, *_not_run_line(grade), TOTAL.format(project=grade.project, score=grade.score, max_score=grade.max_score)])
    tests = []
    for r in grade.items:
        test: dict = {"name": f"{r.item.id}: {r.item.title}", "description": r.item.goal}
        if r.item.graded:
            test.update(points=r.score, max_points=r.item.points)
        test["message"] = item_text(grade, r)
        tests.append(test)
    score = grade.score / grade.max_score if grade.max_score else 0.0
    return {"gradable": True, "score": round(score, 4), "message": capped(top), "tests": tests}


def write_prairielearn(grade: Grade, path: Path, **options) -> None:
    write_json_file(path, prairielearn_results(grade, **options))


def write_json_file(path: Path, data: dict) -> None:
    """Write whole or not at all (a temporary file renamed into place): a platform never reads half a result."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)

"""Writes a Grade where graders and CI look: a GitHub step summary and annotations, a Gradescope results.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

from checks.reports.scorecard import MESSAGE_CAP
from checks.reports.results import Grade

_GITHUB_MARKS = {"passed": "✅ passed", "failed": "❌ failed", "ungraded": "➖ not scored"}


# --- GitHub Actions --------------------------------------------------------------------------


def github_summary(grade: Grade) -> str:
    """The scorecard as Markdown, for $GITHUB_STEP_SUMMARY."""
    lines = [
        f"## Concurrent Requests: {grade.score} / {grade.max_score}",
        "",
        f"Graded file: `{grade.project}`",
        "",
    ]
    if grade.load_error:
        lines += ["**The file could not be imported, so no check could run:**", "", f"    {grade.load_error}", ""]
    lines += ["| item | title | result | points |", "|---|---|---|---|"]
    for r in grade.items:
        points = f"{r.score} / {r.item.points}" if r.item.graded else _cell(r.note)
        lines.append(f"| `{r.item.id}` | {_cell(r.item.title)} | {_GITHUB_MARKS[r.status]} | {points} |")
    failing = [r for r in grade.items if r.status == "failed"]
    if failing and not grade.load_error:
        lines += ["", "### What was measured", ""]
        for r in failing:
            lines += [f"**{r.item.id}: {r.item.title}**", "", "```text", r.failure[:MESSAGE_CAP], "```", ""]
    upcoming = grade.next_item
    if upcoming is not None:
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


def github_annotations(grade: Grade, path: Path, shown: str) -> list[str]:
    """One ::error workflow command per failing item, on the line of the function it is about."""
    lines = function_lines(path)
    commands = []
    for r in grade.items:
        if r.status != "failed":
            continue
        message = grade.load_error or r.failure
        named = [f for f in r.item.functions if f in message] or list(r.item.functions)
        line = _load_error_line(grade.load_error) or next((lines[f] for f in named if f in lines), 1)
        title = f"{r.item.id}: {r.item.title}"
        commands.append(
            f"::error file={_property(shown)},line={line},title={_property(title)}::{_data(message or r.item.hint)}"
        )
    return commands


def _load_error_line(load_error: str | None) -> int | None:
    match = re.search(r", line (\d+)", load_error or "")
    return int(match.group(1)) if match else None


def _data(text: str) -> str:
    """Escape a workflow command's message as the GitHub runner expects."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


# --- Gradescope ------------------------------------------------------------------------------


def gradescope_results(grade: Grade) -> dict:
    """Gradescope's results.json: the total and one test per item, with what was measured as its output."""
    tests = []
    for number, r in enumerate(grade.items, 1):
        if r.item.graded:
            output = grade.load_error or r.failure or "All checks passed."
            if r.status == "failed":
                output += f"\n\nHint: {r.item.hint}"
            status = "passed" if r.status == "passed" else "failed"
        else:
            output, status = r.note, "passed"
        tests.append(
            {
                "name": f"{r.item.id}: {r.item.title}",
                "number": str(number),
                "score": r.score,
                "max_score": r.item.points,
                "status": status,
                "output": output[:MESSAGE_CAP],
                "visibility": "visible",
            }
        )
    return {
        "score": grade.score,
        "max_score": grade.max_score,
        "output": f"Graded {grade.project}: {grade.score} / {grade.max_score}",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def write_gradescope(grade: Grade, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(gradescope_results(grade), indent=2) + "\n", encoding="utf-8")

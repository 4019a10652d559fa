"""GitHub Classroom's points: the grader prints exactly the two notices Classroom's grading reporter prints.

What the reporter does (classroom-resources/autograding-grading-reporter, src/notify-classroom.js): it adds
up `score` over its runners' tests and `max_score` over its runners, returns early when the maximum is 0,
and otherwise calls

    core.notice(`Points ${totalPoints}/${maxPoints}`, {title: "Autograding complete"})
    core.notice(JSON.stringify({totalPoints, maxPoints}), {title: "Autograding report"})

@actions/core turns each call into one line, `::notice title=TITLE::MESSAGE`, escaping `%`, CR and LF
in the message, and `:` and `,` too in a property. The expected lines below are written out from that
source, not from our module.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from checks.reports import classroom
from tests.conftest import ROOT
from tests.fake_grader import honest

pytestmark = pytest.mark.timeout(120)


def _commands(output: str) -> list[tuple[str, dict[str, str], str]]:
    """Workflow commands as the runner reads them: (command, properties, message), escapes undone."""

    def unescape(text: str) -> str:
        for escaped, plain in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
            text = text.replace(escaped, plain)
        return text

    found = []
    for line in output.splitlines():
        if line.startswith("::"):
            head, _, message = line[2:].partition("::")
            name, _, props = head.partition(" ")
            properties = dict(p.split("=", 1) for p in props.split(",") if p)
            found.append((name, {k: unescape(v) for k, v in properties.items()}, unescape(message)))
    return found


def _run(report: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "checks.reports.classroom", str(report)],
                          capture_output=True, text=True, cwd=ROOT)


def test_the_two_notices_are_the_reporters_lines_character_for_character() -> None:
    assert classroom.notices(85, 100) == [
        "::notice title=Autograding complete::Points 85/100",
        '::notice title=Autograding report::{"totalPoints":85,"maxPoints":100}',
    ]


def test_points_are_printed_as_javascript_prints_them() -> None:
    assert classroom.notices(*classroom.points({"score": 12.0, "max_score": 100.0, "items": []}))[0].endswith(
        "::Points 12/100")
    assert classroom.notices(12.5, 100)[1].endswith('::{"totalPoints":12.5,"maxPoints":100}')


def test_nothing_is_printed_when_there_is_nothing_to_score() -> None:
    assert classroom.notices(0, 0) == []


def test_messages_and_properties_are_escaped_as_actions_core_escapes_them() -> None:
    assert classroom.workflow_command("error", "50% done\r\nnext: a, b", title="x: y, z") == (
        "::error title=x%3A y%2C z::50%25 done%0D%0Anext: a, b")


@pytest.mark.parametrize("project, expected", [("solutions/project.py", 100), ("starter/project.py", None)])
def test_a_real_grading_gives_its_points_to_classroom(grade, tmp_path: Path, project: str, expected) -> None:
    graded = grade(ROOT / project)
    path = tmp_path / "grade.json"
    path.write_text(json.dumps(graded.report), encoding="utf-8")
    result = _run(path)
    assert result.returncode == 0, result.stdout + result.stderr
    score, maximum = graded.report["score"], graded.report["max_score"]
    assert maximum == 100 and (score == expected if expected is not None else 0 < score < 100)
    assert _commands(result.stdout) == [
        ("notice", {"title": "Autograding complete"}, f"Points {score}/{maximum}"),
        ("notice", {"title": "Autograding report"}, f'{{"totalPoints":{score},"maxPoints":{maximum}}}'),
    ]
    # What a reader of the annotations does with the report's message: JSON with exactly these two keys.
    report_notice = next(message for _, props, message in _commands(result.stdout) if props["title"] == "Autograding report")
    assert json.loads(report_notice) == {"totalPoints": score, "maxPoints": maximum}


def _refused(tmp_path: Path, report: object, raw: str | None = None) -> str:
    path = tmp_path / "grade.json"
    path.write_text(raw if raw is not None else json.dumps(report), encoding="utf-8")
    result = _run(path)
    assert result.returncode == 2
    commands = _commands(result.stdout)
    assert [name for name, _, _ in commands] == ["error"], "no points, one error saying why"
    assert commands[0][1] == {"title": classroom.NOT_GRADED_TITLE}
    return commands[0][2]


def test_a_grading_the_grader_could_not_finish_gives_no_points(tmp_path: Path) -> None:
    report = {**honest(), "grader_errors": ["checks/test_fix.py: ImportError: cannot import name 'x'"]}
    assert "could not load some of its own checks" in _refused(tmp_path, report)


def test_a_grading_where_an_item_never_ran_gives_no_points(tmp_path: Path) -> None:
    report = honest()
    for item in report["items"]:
        item["state"] = "not_run" if item["id"] in ("fix-1", "fix-2") else item.get("state", item["status"])
    assert "not every item ran (fix-1, fix-2)" in _refused(tmp_path, report)


def test_a_missing_or_malformed_report_gives_no_points(tmp_path: Path) -> None:
    missing = _run(tmp_path / "nowhere.json")
    assert missing.returncode == 2 and "could not be read as a grade report" in missing.stdout
    assert "could not be read as a grade report" in _refused(tmp_path, None, raw="{not json")
    assert "score is not a number" in _refused(tmp_path, {**honest(), "score": "100"})
    assert "not a JSON object" in _refused(tmp_path, [1, 2])


def test_an_honest_full_report_gives_full_points() -> None:
    assert classroom.points(honest()) == (100, 100)


def test_a_class_gradebook_is_refused_with_the_command_that_makes_a_report(tmp_path: Path) -> None:
    from checks.tools.gradebook import Row, write_gradebook
    from checks.tools.validation import validated

    report, _ = validated(honest())
    write_gradebook([Row("ann", report, scores={"base": 20}), Row("ben", None, "no project.py", found=False)], tmp_path)
    result = _run(tmp_path / "gradebook.json")
    assert result.returncode == 2 and len(result.stdout.splitlines()) == 1
    message = _commands(result.stdout)[0][2]
    assert message == classroom.A_GRADEBOOK.format(path=tmp_path / "gradebook.json")
    assert "one student's grade report" in message and "pytest --grade-json=reports/grade.json" in message

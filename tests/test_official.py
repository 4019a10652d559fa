"""Official grading gives the verdicts self-grading gives, without ever running the graded file in the grader."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_verdicts import SCENARIOS, SOLUTIONS

pytestmark = pytest.mark.timeout(300)

FILES = [*SOLUTIONS, ROOT / "starter" / "project.py", *(s / "project.py" for s in SCENARIOS)]


def _name(path: Path) -> str:
    return path.parent.name if path.name == "project.py" else path.stem


def _verdicts(graded) -> dict[str, str]:
    return {item["id"]: item["status"] for item in graded.report["items"]}


@pytest.mark.parametrize("project", FILES, ids=_name)
def test_official_mode_gives_the_same_verdicts_as_in_process(grade, project: Path) -> None:
    extra = json.loads((project.parent / "expected.json").read_text()).get("args", []) if project.parent in SCENARIOS else []
    in_process = grade(project, *extra)
    official = grade(project, "--official", *extra)
    assert not official.report.get("grader_errors"), official.report["grader_errors"]
    assert _verdicts(official) == _verdicts(in_process), "\n".join(
        f"[{i}] in-process {in_process.status(i)}, official {official.status(i)}: {official.messages(i)[:600]}"
        for i in _verdicts(official) if official.status(i) != in_process.status(i)
    )
    assert "Traceback (most recent call last)" not in official.output


def test_the_graded_file_is_never_imported_by_the_grader(grade, tmp_path: Path) -> None:
    spy = tmp_path / "project.py"
    marker = tmp_path / "imported-in"
    spy.write_text(
        (ROOT / "solutions" / "project.py").read_text()
        + f"\nimport os as _os\ntry:\n    open({str(marker)!r} + str(_os.getpid()), 'w').close()\nexcept OSError:\n    pass\n"
    )
    before = set(sys.modules)
    graded = grade(spy, "--official", "-m", "not network", "-k", "sync or one_post")
    assert graded.report["items"][0]["status"] == "passed"
    assert not [m for m in set(sys.modules) - before if m.startswith("graded_project")]
    import os

    assert not (tmp_path / f"imported-in{os.getpid()}").exists(), "the grader's own process imported the graded file"


def test_require_sandbox_refuses_without_official(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "--require-sandbox", str(ROOT / "checks")
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--require-sandbox goes with --official" in result.stderr.str()

"""The reports CI and gradebooks read: GitHub step summary and annotations, Gradescope results.json, the workflow."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import jsonschema
import pytest

from tests.conftest import GRADED_IDS, ROOT

STARTER = ROOT / "starter" / "project.py"

# A whole grading of the starter under load can outlast the 15 s that pyproject gives one check.
pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def starter_graded(grade, tmp_path, monkeypatch):
    """The starter graded as GitHub Actions would: step summary file set, annotations on."""
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(ROOT))  # the checkout, as on Actions: annotation paths start there
    gradescope = tmp_path / "results.json"
    graded = grade(STARTER, f"--gradescope={gradescope}")
    return graded, summary.read_text(encoding="utf-8"), json.loads(gradescope.read_text())


def test_step_summary_is_a_markdown_table_with_every_item(starter_graded) -> None:
    _, summary, _ = starter_graded
    assert summary.startswith("## Concurrent Requests: 20 / 100")
    rows = [line for line in summary.splitlines() if line.startswith("| `")]
    assert [re.match(r"\| `([\w-]+)`", r).group(1) for r in rows] == [*GRADED_IDS, "explain"]
    assert all(line.count("|") == 5 for line in rows)  # no stray pipes break a row
    assert "| `base` | Sync one at a time, async all at once | ✅ passed | 20 / 20 |" in rows
    assert "### What was measured" in summary and "still a TODO" in summary
    assert "**Next: alter-1.**" in summary


def test_failing_items_become_error_annotations_on_their_function(starter_graded) -> None:
    graded, _, _ = starter_graded
    commands = [line for line in graded.output.splitlines() if line.startswith("::error ")]
    assert len(commands) == 9  # every item but base fails on the starter
    text = STARTER.read_text().splitlines()
    for command in commands:
        match = re.fullmatch(r"::error file=([^,]+),line=(\d+),title=([^:]+)::(.+)", command)
        assert match, command
        assert match.group(1) == "starter/project.py"  # relative to the repository, as GitHub attaches it
        assert re.match(r"(async )?def \w+\(", text[int(match.group(2)) - 1]), command
        assert "\n" not in match.group(4)
    limited = next(c for c in commands if "alter-2" in c)
    assert "def fetch_async_limited(" in text[int(re.search(r"line=(\d+)", limited).group(1)) - 1]


def test_gradescope_results_follow_its_format(starter_graded) -> None:
    _, _, results = starter_graded
    schema = json.loads((ROOT / "checks" / "reports" / "schemas" / "gradescope-results.schema.json").read_text())
    jsonschema.validate(results, schema, cls=jsonschema.Draft202012Validator)  # only keys in Gradescope's spec
    assert "max_score" not in results and results["score"] == 20
    assert len(results["tests"]) == len(GRADED_IDS) + 1  # one test per item, explain included
    for test in results["tests"][:-1]:
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert test["status"] in ("passed", "failed") and isinstance(test["output"], str)
    assert "status" not in results["tests"][-1] and "score" not in results["tests"][-1]  # explain: neutral
    failed = next(t for t in results["tests"] if t["name"].startswith("alter-2"))
    assert failed["status"] == "failed" and "Hint:" in failed["output"]
    assert sum(t.get("score", 0) for t in results["tests"]) == results["score"]


def test_a_file_that_does_not_import_is_annotated_at_its_broken_line(grade, tmp_path, monkeypatch) -> None:
    broken = tmp_path / "project.py"
    broken.write_text("import asyncio\n\n\ndef fetch_sync(:\n    pass\n")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    graded = grade(broken)
    commands = [line for line in graded.output.splitlines() if line.startswith("::error ")]
    assert len(commands) == 1 and ",line=4," in commands[0]  # reported once, not once per item
    assert "line 4: SyntaxError" in graded.output
    assert "Traceback" not in graded.output


def test_the_fork_workflow_passes_actionlint() -> None:
    beside_python = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    linter = shutil.which("actionlint", path=beside_python)
    if linter is None:
        pytest.skip("actionlint is not installed: python -m pip install -r requirements-dev.txt")
    result = subprocess.run(
        [linter, str(ROOT / ".github" / "workflows" / "grade.yml")], capture_output=True, text=True, env=os.environ
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_fork_workflow_uses_the_readme_install_command() -> None:
    workflow = (ROOT / ".github" / "workflows" / "grade.yml").read_text()
    readme = (ROOT / "README.md").read_text()
    install = re.search(r"<!-- ci:install -->\n```sh\n(.+?)\n```", readme, re.S).group(1)
    assert f"run: {install}" in workflow

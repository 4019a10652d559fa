"""The GitHub workflows and the Classroom template: actionlint finds nothing, and each does what the README says."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
CLASSROOM = ROOT / ".github" / "classroom" / "classroom.yml"
PYTHONS = ["3.11", "3.12", "3.13", "3.14"]


def _actionlint() -> str:
    beside_python = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    linter = shutil.which("actionlint", path=beside_python)
    assert linter, "actionlint is not installed: python -m pip install -r requirements-dev.txt"
    return linter


def _lint(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_actionlint(), "-no-color", *map(str, paths)], capture_output=True, text=True)


def _load(path: Path) -> dict:
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads a bare `on` key as True
    return workflow


def test_every_workflow_and_the_classroom_template_pass_actionlint() -> None:
    assert {p.name for p in WORKFLOWS} >= {"grade.yml", "selftest.yml", "grade-class.yml"}
    result = _lint(*WORKFLOWS, CLASSROOM)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_does_find_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    text = CLASSROOM.read_text(encoding="utf-8").replace("runs-on: ubuntu-latest", "runs-on: ubuntu-latest\n    needs: nowhere")
    broken.write_text(text.replace("${{ !cancelled()", "${{ !canceled()"), encoding="utf-8")
    result = _lint(broken)
    assert result.returncode == 1 and "nowhere" in result.stdout and "canceled" in result.stdout


def test_every_python_module_a_workflow_runs_exists() -> None:
    for path in [*WORKFLOWS, CLASSROOM]:
        for module in re.findall(r"python3? (?:-\w+ )*-m ([\w.]+)", path.read_text(encoding="utf-8")):
            assert importlib.util.find_spec(module) is not None, f"{path.name} runs python -m {module}"


def test_the_fork_workflow_runs_every_python_on_linux_and_the_newest_on_windows_and_macos() -> None:
    job = _load(ROOT / ".github" / "workflows" / "grade.yml")["jobs"]["grade"]
    matrix = job["strategy"]["matrix"]
    cells = {(os_, py) for os_ in matrix["os"] for py in matrix["python"]}
    cells |= {(extra["os"], extra["python"]) for extra in matrix["include"]}
    assert cells == {*(("ubuntu-latest", py) for py in PYTHONS), ("windows-latest", "3.14"), ("macos-latest", "3.14")}
    assert job["strategy"]["fail-fast"] is False and job["defaults"]["run"]["shell"] == "bash"
    upload = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/upload-artifact"))
    assert "matrix.os" in upload["with"]["name"] and "matrix.python" in upload["with"]["name"]  # names must differ
    runs = [step.get("run", "") for step in job["steps"]]
    assert "python -m checks.reports.classroom reports/grade.json" in runs
    assert "python -I checks/fingerprint.py --verify-readme" in runs


def test_the_selftest_workflow_runs_the_readme_commands_on_every_python() -> None:
    job = _load(ROOT / ".github" / "workflows" / "selftest.yml")["jobs"]["selftest"]
    assert job["strategy"]["matrix"]["python"] == PYTHONS
    assert any("bash .ci/run" in step.get("run", "") for step in job["steps"])


def test_the_classroom_template_is_what_classroom_reads() -> None:
    workflow = _load(CLASSROOM)
    assert workflow["name"] == "Autograding Tests" and list(workflow["jobs"]) == ["run-autograding-tests"]
    assert set(workflow["on"]) == {"push", "repository_dispatch"}
    job = workflow["jobs"]["run-autograding-tests"]
    assert job["if"] == "github.actor != 'github-classroom[bot]'"
    assert job["steps"][-1]["run"] == "python -m checks.reports.classroom reports/grade.json"


def test_the_class_workflow_fans_out_over_shards_and_merges() -> None:
    workflow = _load(ROOT / ".github" / "workflows" / "grade-class.yml")
    assert set(workflow["on"]) == {"workflow_dispatch"}
    grade, merge = workflow["jobs"]["grade"], workflow["jobs"]["merge"]
    assert "fromJSON(needs.plan.outputs.shards)" in grade["strategy"]["matrix"]["shard"]
    assert any("-m checks.batch" in s.get("run", "") and "--shard" in s.get("run", "") for s in grade["steps"])
    assert merge["needs"] == "grade"
    assert any(s.get("run", "").startswith("python -m checks.merge gradebook shards/") for s in merge["steps"])


@pytest.mark.parametrize("path", [*WORKFLOWS, CLASSROOM], ids=lambda p: p.name)
def test_every_workflow_reads_only_what_it_needs(path: Path) -> None:
    assert _load(path)["permissions"] == {"contents": "read"}

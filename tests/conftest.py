"""The maintainers' tests run the grader on known files, in-process, through pytest's own pytester."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import scenario_patches

pytest_plugins = ["pytester", "tests.stress_plugin", "tests.mutants_plugin"]

ROOT = Path(__file__).resolve().parent.parent
GRADE_REPORT = json.loads((ROOT / "checks" / "reports" / "schemas" / "grade-report.schema.json").read_text())
"""The JSON Schema every --grade-json report must meet."""
GRADED_IDS = ["base", "alter-1", "alter-2", "alter-3", "break-1", "break-2", "break-3", "fix-1", "fix-2", "fix-3"]


@dataclass
class Graded:
    """One grading run: the JSON report, the terminal output and pytest's exit code."""

    report: dict
    output: str
    exit_code: int

    def status(self, item_id: str) -> str:
        return self.item(item_id)["status"]

    def item(self, item_id: str) -> dict:
        return next(i for i in self.report["items"] if i["id"] == item_id)

    def messages(self, item_id: str) -> str:
        return "\n".join(c["message"] for c in self.item(item_id)["checks"])

    def failed(self) -> set[str]:
        return {i["id"] for i in self.report["items"] if i["status"] == "failed"}


@pytest.fixture(scope="session")
def bytecode_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One bytecode cache for every official grading of the session (pytester gives each its own HOME)."""
    folder = tmp_path_factory.mktemp("pycache")
    folder.chmod(0o755)
    return folder


@pytest.fixture(scope="session")
def scenario_file(tmp_path_factory: pytest.TempPathFactory):
    """A known-bad scenario's file (the reference with its change.patch), written once per session outside the repo."""
    folder = tmp_path_factory.mktemp("scenarios")
    written: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in written:
            written[name] = scenario_patches.materialise(name, folder)
        return written[name]

    return get


@pytest.fixture
def grade(pytester: pytest.Pytester, bytecode_cache: Path, monkeypatch: pytest.MonkeyPatch):
    """Grade a file exactly as `pytest --project FILE --grade-json OUT` from the root would."""
    monkeypatch.setenv("PYTHONPYCACHEPREFIX", str(bytecode_cache))

    def run(project: Path, *extra: str) -> Graded:
        out = pytester.path / "grade.json"
        result = pytester.runpytest_inprocess(
            "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
            f"--project={project}", f"--grade-json={out}", *extra, str(ROOT / "checks"),
        )
        return Graded(json.loads(out.read_text()), result.stdout.str(), int(result.ret))

    return run

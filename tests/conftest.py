"""The maintainers' tests run the grader on known files, in-process, through pytest's own pytester."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from checks.engine.warm import WarmGrader
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


WARM_JOBS = 3
"""Gradings the warm grader runs side by side: on two cores, three keep both busy while one grading in a
single group (official, in tests/test_verdicts.py) waits on a deadline."""


class WarmGrades:
    """Gradings through the warm grader (checks/engine/warm.py), each asked for once: a test module may ask for
    all of its gradings first, so that they run side by side, and then read each one as its test comes."""

    def __init__(self, grader: WarmGrader, folder: Path) -> None:
        self.grader, self.folder = grader, folder
        self.asked: dict[tuple, tuple[int, Path, Path]] = {}

    def ask(self, project: Path, *extra: str) -> None:
        key = (str(project), extra)
        if key in self.asked:
            return
        number = len(self.asked)
        out, text = self.folder / f"grade-{number}.json", self.folder / f"output-{number}.txt"
        args = ["-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-p", "no:cacheprovider",
                f"--project={project}", f"--grade-json={out}", *extra, str(ROOT / "checks")]
        self.asked[key] = (self.grader.submit(args, text, cwd=self.folder), out, text)

    def __call__(self, project: Path, *extra: str) -> Graded:
        self.ask(project, *extra)
        request, out, text = self.asked[(str(project), extra)]
        answer = self.grader.wait(request)
        return Graded(json.loads(out.read_text()), text.read_text(errors="replace"), int(answer["exit"]))


@pytest.fixture(scope="session")
def warm_grades(bytecode_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarmGrades]:
    """Gradings by one warm grader for the whole session: pytest and the checks imported once, not per grading."""
    grader = WarmGrader(jobs=WARM_JOBS, env={**os.environ, "PYTHONPYCACHEPREFIX": str(bytecode_cache)})
    try:
        yield WarmGrades(grader, tmp_path_factory.mktemp("warm"))
    finally:
        grader.close()

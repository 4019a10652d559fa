"""Where a student may start the grader: each way grades (a scorecard) or is left to pytest, and none
needs more than requirements.txt. Each case is pytest (or python) in a process of its own, started
from the folder a student would be in."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
QUICK = ["-p", "no:cacheprovider", "--progress=off", "-k", "fetch_one_returns"]
"""One check, and nothing written beside the graded file: enough to see what is graded and that a scorecard comes."""


def _requirements(name: str) -> set[str]:
    """The distributions a requirements file names (normalised), without those of the files it includes."""
    found = set()
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            found.add(re.split(r"[=<>!~;\[ ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return found


def _dev_only_modules() -> list[str]:
    """The modules that requirements-dev.txt installs and requirements.txt does not: what a student lacks."""
    dev_only = _requirements("requirements-dev.txt") - _requirements("requirements.txt")
    return sorted(
        module for module, distributions in packages_distributions().items()
        if module.isidentifier() and any(d.lower().replace("_", "-") in dev_only for d in distributions)
    )


def _run(arguments: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *arguments], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def without_dev_tools(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """PYTHONPATH that makes each dev-only module fail to import, as in a venv made from requirements.txt only."""
    folder = tmp_path_factory.mktemp("requirements-only")
    hidden = _dev_only_modules()
    assert "jsonschema" in hidden  # the one the issue met; proves the list is read from the installed environment
    for name in hidden:
        (folder / name).mkdir()
        message = f"No module named {name!r} (only requirements.txt is installed)"
        (folder / name / "__init__.py").write_text(f"raise ModuleNotFoundError({message!r}, name={name!r})\n", encoding="utf-8")
    return {"PYTHONPATH": str(folder)}


@pytest.mark.timeout(180)
def test_pytest_dot_from_the_root_grades_without_the_maintainers_dependencies(without_dev_tools: dict) -> None:
    """`pytest .` (a habit, and what IDEs run to discover tests) grades starter/project.py, never tests/."""
    ran = _run(["-m", "pytest", ".", *QUICK], ROOT, without_dev_tools)
    assert "Scorecard" in ran.stdout and "Grading starter/project.py" in ran.stdout, ran.stdout[-3000:]
    assert "tests/" not in ran.stdout and "jsonschema" not in ran.stdout
    assert ran.returncode in (0, 1)


@pytest.mark.timeout(180)
def test_a_library_the_checks_need_missing_is_said_on_the_scorecard(tmp_path: Path) -> None:
    """A check's own fixtures that cannot import (here hypothesis, as if requirements.txt was not installed
    again after an update) stop every check: the scorecard says it is the grader's, and how to mend it."""
    (tmp_path / "hypothesis").mkdir()
    (tmp_path / "hypothesis" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'hypothesis'\", name='hypothesis')\n", encoding="utf-8")
    # its pytest plugin is installed with it: a venv without hypothesis has neither
    ran = _run(["-m", "pytest", ".", "-p", "no:hypothesispytest", *QUICK], ROOT, {"PYTHONPATH": str(tmp_path)})
    assert "could not load some of its own checks" in ran.stdout and "No module named 'hypothesis'" in ran.stdout, ran.stdout
    assert "Reinstall with the README's command" in ran.stdout and "plain `pytest`" not in ran.stdout


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    "where, arguments, graded",
    [
        ("starter", [], "starter/project.py"),
        ("starter", ["."], "starter/project.py"),
        ("", ["starter/"], "starter/project.py"),
        ("", ["solutions"], "solutions/project.py"),
        ("", ["solutions/alternatives/taskgroup.py"], "solutions/alternatives/taskgroup.py"),
        ("solutions/alternatives", [".."], "solutions/project.py"),
    ],
    ids=["bare-in-starter", "dot-in-starter", "starter-folder", "solutions-folder", "a-file", "parent-folder"],
)
def test_each_way_in_aims_at_the_checks_and_the_file_it_names(where: str, arguments: list[str], graded: str) -> None:
    here, path = ROOT / where, ROOT / graded
    ran = _run(["-m", "pytest", "--collect-only", "-p", "no:cacheprovider", *arguments], here)
    shown = path.relative_to(here) if here in path.parents else path  # as the grader shows a path: from where it started
    assert f"grading: {shown}\n" in ran.stdout, ran.stdout
    assert "<Module test_base.py>" in ran.stdout and "test_batch" not in ran.stdout, ran.stdout


@pytest.mark.timeout(180)
def test_a_file_inside_the_project_is_graded_from_any_folder(tmp_path: Path) -> None:
    """pytest finds the project's settings from the path it is given, so the folder it starts in does not matter."""
    ran = _run(["-m", "pytest", str(ROOT / "solutions" / "project.py"), *QUICK], tmp_path)
    assert f"Grading {ROOT / 'solutions' / 'project.py'}" in ran.stdout, ran.stdout[-3000:]
    assert "PASS  base" not in ran.stdout and "1/1 checks" in ran.stdout  # one check ran: base is not_run, not passed


@pytest.mark.timeout(180)
def test_a_file_outside_the_project_is_graded_with_project_from_the_root(tmp_path: Path) -> None:
    """Outside the project pytest finds none of its settings (no pytest11 plugin is installed); --project= works."""
    project = tmp_path / "elsewhere" / "project.py"
    project.parent.mkdir()
    project.write_text((ROOT / "solutions" / "project.py").read_text(encoding="utf-8"), encoding="utf-8")
    ran = _run(["-m", "pytest", f"--project={project}", *QUICK], ROOT)
    assert f"Grading {project}" in ran.stdout and "1/1 checks" in ran.stdout, ran.stdout[-3000:]


@pytest.mark.timeout(120)
def test_the_maintainers_tests_and_a_missing_path_are_left_to_pytest() -> None:
    ours = _run(["-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests/test_bench.py"], ROOT)
    assert "tests/test_bench.py::" in ours.stdout and "checks/" not in ours.stdout, ours.stdout
    folder = _run(["-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests", "-k", "bench"], ROOT)
    assert "tests/test_bench.py::" in folder.stdout and "checks/test_" not in folder.stdout, folder.stdout[-2000:]
    typo = _run(["-m", "pytest", "-p", "no:cacheprovider", "strater/project.py"], ROOT)
    assert typo.returncode == pytest.ExitCode.USAGE_ERROR and "not found: strater/project.py" in typo.stdout + typo.stderr
    assert "Scorecard" not in typo.stdout  # a typo never grades another file instead


@pytest.mark.timeout(120)
@pytest.mark.parametrize("where", ["starter", "solutions/alternatives"])
def test_the_checks_commands_run_from_a_subfolder_through_the_folder_path(where: str) -> None:
    """`python -m checks` needs the root on sys.path; `python ../checks` from starter/ puts it there itself."""
    path = os.path.relpath(ROOT / "checks", ROOT / where)
    for command in ("run", "watch"):
        ran = _run([path, command, "--help"], ROOT / where)
        assert ran.returncode == 0 and f"usage: python -m checks {command}" in ran.stdout, ran.stderr
    usage = _run([path], ROOT / where)
    assert "python ../checks COMMAND" in usage.stderr and usage.returncode == 2

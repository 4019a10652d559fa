"""Batch grading of a class and the checks' fingerprint."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

import pytest

from checks.batch import grade_all
from checks.fingerprint import fingerprint, published
from tests.conftest import GRADED_IDS, ROOT

pytestmark = pytest.mark.timeout(300)

MISBEHAVING = {
    "exits_itself.py": "import os\nos._exit(3)\n",
    "sleeps_forever.py": "import time\nwhile True:\n    time.sleep(1)\n",
    "eats_memory.py": "hog = []\nwhile True:\n    hog.append(' ' * 10**7)\n",
}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """A class of six: a correct solution in a folder, a known-bad file, a syntax error and three that misbehave."""
    folder = tmp_path_factory.mktemp("class")
    (folder / "alice").mkdir()
    shutil.copy(ROOT / "solutions" / "project.py", folder / "alice" / "project.py")
    shutil.copy(ROOT / "solutions" / "ANSWERS.md", folder / "alice" / "ANSWERS.md")
    shutil.copy(ROOT / "tests" / "scenarios" / "limited_in_batches" / "project.py", folder / "bob.py")
    shutil.copy(ROOT / "tests" / "scenarios" / "syntax_error" / "project.py", folder / "carol.py")
    for name, text in MISBEHAVING.items():
        (folder / name).write_text(text)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    out = folder / "grades"
    results = grade_all(folder, out, jobs=2, time_limit=10, memory_mib=1024)
    return folder, out, {r.name: r for r in results}, before


def test_each_submission_gets_its_own_row_and_the_good_one_full_marks(graded_class) -> None:
    _, out, results, _ = graded_class
    assert set(results) == {"alice", "bob", "carol", "exits_itself", "sleeps_forever", "eats_memory"}
    assert results["alice"].total == 100 and results["alice"].note == ""
    assert results["bob"].total == 85 and results["bob"].scores["alter-2"] == 0
    with open(out / "gradebook.csv", newline="") as sheet:
        rows = {row["submission"]: row for row in csv.DictReader(sheet)}
    assert list(rows["alice"])[1:11] == GRADED_IDS
    assert rows["alice"]["total"] == "100" and rows["bob"]["alter-2"] == "0"


def test_misbehaving_submissions_are_reported_as_such(graded_class) -> None:
    _, _, results, _ = graded_class
    assert "line 23: SyntaxError" in results["carol"].note
    assert results["exits_itself"].note == "crashed before writing a report (exit status 3)"
    assert results["sleeps_forever"].note == "timed out after 10 s and was stopped"
    assert "MemoryError" in results["eats_memory"].note or "killed" in results["eats_memory"].note
    assert all(results[n].total == 0 for n in ("carol", "exits_itself", "sleeps_forever", "eats_memory"))


def test_gradebook_json_keeps_every_message(graded_class) -> None:
    _, out, _, _ = graded_class
    book = json.loads((out / "gradebook.json").read_text())
    alter2 = next(i for i in book["bob"]["report"]["items"] if i["id"] == "alter-2")
    assert any("waited" in c["message"] for c in alter2["checks"])
    assert book["exits_itself"]["report"] is None and book["exits_itself"]["note"]


def test_submissions_are_graded_on_copies_and_left_untouched(graded_class) -> None:
    folder, _, _, before = graded_class
    assert {p: p.read_bytes() for p in before} == before
    assert (folder / "grades" / "logs" / "alice.log").is_file()


def test_fingerprint_is_stable_and_changes_with_any_check(tmp_path) -> None:
    copy = tmp_path / "tree"
    for name in ("checks", "requirements.txt", "pyproject.toml", "conftest.py"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, copy / name)
    assert fingerprint(copy) == fingerprint(copy) == fingerprint(ROOT)
    with open(copy / "checks" / "catalogue.py", "a") as edited:
        edited.write("\n# one more line\n")
    assert fingerprint(copy) != fingerprint(ROOT)
    crlf = (copy / "requirements.txt")
    crlf.write_bytes((ROOT / "requirements.txt").read_bytes().replace(b"\n", b"\r\n"))
    (copy / "checks" / "catalogue.py").write_bytes((ROOT / "checks" / "catalogue.py").read_bytes())
    assert fingerprint(copy) == fingerprint(ROOT)  # a Windows checkout agrees


def test_readme_publishes_the_current_fingerprint() -> None:
    assert published() == fingerprint(), "checks changed: update 'Checks fingerprint' in README.md"


def test_fingerprint_command_verifies() -> None:
    current = fingerprint()
    ok = subprocess.run([sys.executable, "-m", "checks.fingerprint", "--verify", current], cwd=ROOT, capture_output=True, text=True)
    bad = subprocess.run([sys.executable, "-m", "checks.fingerprint", "--verify", "0" * 64], cwd=ROOT, capture_output=True, text=True)
    assert ok.returncode == 0 and bad.returncode == 1 and "differ" in bad.stderr

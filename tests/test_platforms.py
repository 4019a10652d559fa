"""Gradescope and PrairieLearn, end to end: each platform's `try` command builds the zip or the course files,
lays them out in a temporary folder as /autograder or /grade, and runs the real run_autograder or run.sh on the
reference, the starter (handed in as a whole repository, and under the wrong case), a hostile forger, a file that
does not import and a submission without project.py. Every results.json must validate against the schema
written from its platform's documentation (checks/reports/schemas/). A missing interpreter or library ends in one
line, and a rebuilt PrairieLearn question keeps its uuid.

The reports that say what did not run (deselected, skipped by student code, a check module that cannot be
loaded) are tested here too, in-process: none may say "passed" for an item that did not run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import pytest

from checks import plugin
from checks.catalogue import ITEMS
from checks.platforms import common, prairielearn
from checks.reports import exports
from checks.reports.results import MESSAGE_CAP, CheckResult, Grade, Outcome
from checks.reports.scorecard import GRADER_BROKEN
from tests.conftest import GRADE_REPORT, GRADED_IDS, ROOT

pytestmark = pytest.mark.timeout(600)

SCHEMAS = ROOT / "checks" / "reports" / "schemas"
GRADESCOPE = json.loads((SCHEMAS / "gradescope-results.schema.json").read_text())
PRAIRIELEARN = json.loads((SCHEMAS / "prairielearn-results.schema.json").read_text())
FORGER = ROOT / "tests" / "hostile" / "forge_atexit_grade_json"
BROKEN = "import asyncio\n\n\ndef fetch_sync(:\n    pass\n"


def _valid(results: dict, schema: dict) -> dict:
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(results, schema, cls=jsonschema.Draft202012Validator)
    return results


def _test(results: dict, item_id: str) -> dict:
    return next(t for t in results["tests"] if t["name"].startswith(f"{item_id}:"))


# --- the schemas refuse what the platforms do not read -------------------------------------------------


def test_the_schemas_refuse_what_the_platforms_do_not_read() -> None:
    with pytest.raises(jsonschema.ValidationError, match="max_score"):
        _valid({"score": 1, "max_score": 100, "tests": []}, GRADESCOPE)  # the old top-level key
    with pytest.raises(jsonschema.ValidationError):
        _valid({"score": 1, "tests": [{"name": "x", "status": "not_run"}]}, GRADESCOPE)
    with pytest.raises(jsonschema.ValidationError):
        _valid({"gradable": True, "score": 20}, PRAIRIELEARN)  # a score out of 100, not a fraction
    with pytest.raises(jsonschema.ValidationError):
        _valid({"gradable": True}, PRAIRIELEARN)  # gradable needs a score


# --- what each export says about an item (no grading) --------------------------------------------------


def _mixed_grade() -> Grade:
    """base passed, alter-2 failed with a huge message, fix-1 deselected, fix-2 skipped, the rest not collected."""
    grade = Grade.empty("project.py")
    grade.add(CheckResult("test_b", "base", Outcome.PASSED))
    grade.add(CheckResult("test_a", "alter-2", Outcome.FAILED, "peak " + "x" * 3 * MESSAGE_CAP + "\nHint: old"))
    grade.add(CheckResult("test_c", "fix-1", Outcome.PASSED))
    grade.add(CheckResult("test_d", "fix-1", Outcome.NOT_RUN, plugin.DESELECTED))
    grade.add(CheckResult("test_e", "fix-2", Outcome.SKIPPED, plugin.SKIPPED_BY_CODE.format(why="nope")))
    grade.add(CheckResult("test_f", "explain", Outcome.SKIPPED, "1 of 4 answers written (missing: 2, 3, 4)"))
    return grade


def test_no_export_says_passed_for_an_item_that_did_not_run() -> None:
    grade = _mixed_grade()
    assert {r.item.id: r.status for r in grade.items if r.checks} == {
        "base": "passed", "alter-2": "failed", "fix-1": "not_run", "fix-2": "not_run", "explain": "ungraded"}
    assert grade.score == 20
    data = grade.to_json()
    fix1 = next(i for i in data["items"] if i["id"] == "fix-1")
    assert (fix1["status"], fix1["state"], fix1["score"]) == ("ungraded", "not_run", 0)  # status keeps its old values
    assert fix1["reason"].startswith("deselected")

    results = _valid(exports.gradescope_results(grade, execution_time=3.2), GRADESCOPE)
    assert "max_score" not in results and results["score"] == 20 and results["execution_time"] == 3
    for item_id, why in (("fix-1", "deselected"), ("fix-2", "pytest.skip()"), ("alter-3", "no check")):
        test = _test(results, item_id)
        assert test["status"] == "failed" and test["score"] == 0 and test["tags"] == ["not run"], test
        assert test["output"].startswith("Not run") and why in test["output"] and "passed" not in test["output"]
    assert "not run, so not scored: alter-1, alter-3, break-1" in results["output"]

    summary = exports.github_summary(grade)
    assert "| `fix-1` | One failure does not sink the batch | ⏸️ not run | 0 / 15 |" in summary
    assert "- `fix-2`: skipped: the code under test called pytest.skip()" in summary

    pl = _valid(exports.prairielearn_results(grade), PRAIRIELEARN)
    assert pl["score"] == 0.2 and _test(pl, "fix-1")["message"].startswith("Not run")


def test_explain_is_neutral_and_says_what_was_found() -> None:
    results = exports.gradescope_results(_mixed_grade())
    explain = _test(results, "explain")
    assert set(explain) == {"name", "number", "output", "visibility"}  # no score, no status: no colour
    assert explain["output"] == "Not scored. 1 of 4 answers written (missing: 2, 3, 4)"
    assert "points" not in _test(exports.prairielearn_results(_mixed_grade()), "explain")


def test_a_cut_is_marked_and_the_hint_survives() -> None:
    output = _test(exports.gradescope_results(_mixed_grade()), "alter-2")["output"]
    hint = next(i for i in ITEMS if i.id == "alter-2").hint
    assert len(output) <= MESSAGE_CAP and output.endswith(f"\n\nHint: {hint}")
    assert "more characters cut]" in output and "Hint: old" not in output


def test_a_file_that_does_not_import_is_said_once_at_the_top(tmp_path: Path) -> None:
    grade = Grade.empty("project.py")
    grade.load_error = "project.py, line 4: SyntaxError: invalid syntax"
    for item in ITEMS:
        if item.graded:
            grade.add(CheckResult("t", item.id, Outcome.ERROR, f"could not be imported: {grade.load_error}\nHint: {item.hint}"))
    results = _valid(exports.gradescope_results(grade), GRADESCOPE)
    assert results["output"].startswith("project.py could not be imported, so no check could run:\n  project.py, line 4")
    for item_id in GRADED_IDS:
        output = _test(results, item_id)["output"]
        assert "SyntaxError" not in output and "Hint" not in output and "message at the top" in output
    path = tmp_path / "project.py"
    path.write_text(BROKEN)
    commands = exports.github_annotations(grade, path, root=tmp_path)
    assert len(commands) == 1 and commands[0].startswith("::error file=project.py,line=4,")
    pl = _valid(exports.prairielearn_results(grade), PRAIRIELEARN)
    assert pl["gradable"] is False and pl["format_errors"] == [grade.load_error] and "score" not in pl


def test_annotations_name_files_from_the_repository_root_or_none(tmp_path: Path) -> None:
    grade = _mixed_grade()
    inside = ROOT / "starter" / "project.py"
    assert all(c.startswith("::error file=starter/project.py,line=") for c in exports.github_annotations(grade, inside, root=ROOT) if c.startswith("::error"))
    outside = tmp_path / "project.py"
    outside.write_text((ROOT / "starter" / "project.py").read_text())
    commands = exports.github_annotations(grade, outside, root=ROOT)
    assert commands and not any("file=" in c for c in commands)
    assert any(c.startswith("::warning title=Not run::") and "fix-1" in c for c in commands)


# --- the plugin records what did not run, and why ---------------------------------------------------


def test_a_deselected_run_reports_the_rest_as_not_run_and_junit_carries_item_and_points(grade, tmp_path: Path) -> None:
    results_path, junit = tmp_path / "results.json", tmp_path / "junit.xml"
    graded = grade(ROOT / "starter" / "project.py", "-k", "limited", f"--gradescope={results_path}", f"--junitxml={junit}")
    results = _valid(json.loads(results_path.read_text()), GRADESCOPE)
    not_run = [t for t in results["tests"] if t.get("tags") == ["not run"]]
    assert len(not_run) == 9 and all("deselected" in t["output"] for t in not_run)
    assert not any("passed" in t["output"].lower() for t in not_run)
    assert graded.item("base")["state"] == "not_run" and graded.report["score"] == 0
    _valid(graded.report, GRADE_REPORT)
    xml = junit.read_text()
    assert '<property name="item" value="alter-2" />' in xml and '<property name="points" value="15" />' in xml


def test_pytest_skip_in_student_code_is_not_run_not_passed(grade, tmp_path: Path) -> None:
    skipper = tmp_path / "project.py"
    skipper.write_text((ROOT / "solutions" / "project.py").read_text().replace(
        "async def fetch_async_limited(post_ids=POST_IDS, max_concurrent=5):\n",
        "async def fetch_async_limited(post_ids=POST_IDS, max_concurrent=5):\n    import pytest; pytest.skip('not today')\n",
    ))
    graded = grade(skipper, "-k", "limited")
    _valid(graded.report, GRADE_REPORT)
    alter2 = graded.item("alter-2")
    assert (alter2["state"], alter2["score"]) == ("not_run", 0)
    assert "pytest.skip()" in alter2["reason"] and "not today" in alter2["reason"]
    assert "SKIP  alter-2" in graded.output


def test_a_check_module_that_cannot_load_puts_a_grader_error_on_top_and_its_items_not_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(plugin, "CHECKS_DIR", pytester.path)
    pytester.makepyfile(
        test_fine='import pytest\n\n@pytest.mark.item("base")\ndef test_ok():\n    pass\n',
        test_broken='import pytest\nraise ImportError("broken on purpose")\n\n@pytest.mark.item("fix-3")\ndef test_x():\n    pass\n',
    )
    out = tmp_path / "results.json"
    pytester.runpytest_inprocess(
        "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-p", "checks.plugin",
        f"--project={ROOT / 'solutions' / 'project.py'}", f"--gradescope={out}", str(pytester.path),
    )
    results = _valid(json.loads(out.read_text()), GRADESCOPE)
    assert results["output"].startswith(GRADER_BROKEN) and "broken on purpose" in results["output"]
    fix3 = _test(results, "fix-3")
    assert fix3["status"] == "failed" and "could not load" in fix3["output"] and "passed" not in fix3["output"].lower()
    base = _test(results, "base")  # pytest stops the whole run at a collection error: nothing ran
    assert base["status"] == "failed" and base["output"].startswith("Not run") and "grader error" in base["output"]


# --- the deployments, end to end --------------------------------------------------------------------


def _submit(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def _run(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(script)], env={**os.environ, **env}, capture_output=True, text=True, timeout=400)


def _try(platform: str, submission: Path, into: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`python -m checks.platforms.PLATFORM try SUBMISSION --into INTO`, the command the instructors' guide gives."""
    command = [sys.executable, "-m", f"checks.platforms.{platform}", "try", str(submission), "--into", str(into)]
    if platform == "gradescope":
        command += ["--item-visibility", "fix-3=after_due_date"]
    return subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=400)


STARTER = (ROOT / "starter" / "project.py").read_text()


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Every case graded once through the `try` commands, side by side (the waits are the gates' quiet
    periods, not CPU): each builds its platform's files, lays out /autograder or /grade and runs the real
    run_autograder or run.sh in it."""
    base = tmp_path_factory.mktemp("platforms")
    reference = {"project.py": (ROOT / "solutions" / "project.py").read_text(),
                 "ANSWERS.md": (ROOT / "solutions" / "ANSWERS.md").read_text()}
    cases = {
        "gs-reference": ("gradescope", reference, {}),
        # the whole repository handed in, with spaces in its folder's name
        "gs-starter": ("gradescope", {"my repo/starter/project.py": STARTER, "my repo/README.md": "# mine\n"}, {}),
        "gs-missing": ("gradescope", {"README.md": "# mine\n", "notes.txt": "hi\n"}, {}),
        "pl-broken": ("prairielearn", {"project.py": BROKEN}, {}),
        "pl-starter": ("prairielearn", {"Project.py": STARTER}, {}),  # the wrong case
    }
    sandboxed, _ = common.sandbox_state()
    if sandboxed:  # a hostile file is only ever run inside the sandbox, and the runner is told to refuse otherwise
        armed = (FORGER / "project.py").read_text().replace("__CLASS_DIR__", str(base / "gs-forger"))
        cases["gs-forger"] = ("gradescope", {"project.py": armed}, {"GRADER_REQUIRE_SANDBOX": "1"})

    def one(name: str) -> dict:
        platform, files, extra = cases[name]
        submission = _submit(base / "handed-in" / name, files)
        ran = _try(platform, submission, base / name, extra)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        said = ran.stdout.strip().splitlines()[-1]
        results = base / name / ("autograder" if platform == "gradescope" else "grade") / "results" / "results.json"
        assert said.startswith(f"{'Gradescope' if platform == 'gradescope' else 'PrairieLearn'}'s result: {results} (")
        return json.loads(results.read_text())

    with ThreadPoolExecutor(max_workers=3) as pool:
        return {**dict(zip(cases, pool.map(one, cases))), "_base": base}


def test_try_lays_out_the_folders_as_the_guide_describes(deployed) -> None:
    base = deployed["_base"]
    autograder = base / "gs-starter" / "autograder"
    for path in ("run_autograder", "source/run_autograder", "source/setup.sh", "source/checks/plugin.py",
                 "source/requirements.txt", "submission/my repo/starter/project.py", "results/results.json"):
        assert (autograder / path).is_file(), path
    grade = base / "pl-starter" / "grade"
    for path in ("serverFilesCourse/concurrent_requests/run.sh", "serverFilesCourse/concurrent_requests/checks/plugin.py",
                 "student/Project.py", "data/data.json", "results/results.json"):
        assert (grade / path).is_file(), path
    assert (grade / "tests").is_dir()


def test_the_zip_holds_setup_and_run_autograder_at_its_root(tmp_path: Path) -> None:
    archive = tmp_path / "autograder.zip"
    from checks.platforms import gradescope

    gradescope.build(archive, {"default_visibility": "visible", "visibility": {}, "time_limit": 60})
    with zipfile.ZipFile(archive) as unzip:
        names = set(unzip.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in unzip.infolist()}
    assert {"setup.sh", "run_autograder", "requirements.txt", "pyproject.toml", "conftest.py", "gradescope.json"} <= names
    assert "checks/plugin.py" in names and not any("__pycache__" in n for n in names)
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    for script in ("setup.sh", "run_autograder"):
        checked = subprocess.run(["bash", "-n", str(gradescope.TEMPLATES / script)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr


def test_gradescope_grades_the_reference_100_with_neutral_explain(deployed) -> None:
    results = _valid(deployed["gs-reference"], GRADESCOPE)
    assert results["score"] == 100 and results["execution_time"] >= 1
    assert "Sandbox: on" in results["output"] or "Sandbox: OFF" in results["output"]
    assert all(_test(results, i)["status"] == "passed" for i in GRADED_IDS)
    assert _test(results, "explain")["output"] == "Not scored. answers written"
    assert _test(results, "fix-3")["visibility"] == "after_due_date" and _test(results, "base")["visibility"] == "visible"


def test_gradescope_finds_a_nested_project_and_grades_the_starter_20(deployed) -> None:
    results = _valid(deployed["gs-starter"], GRADESCOPE)
    assert results["score"] == 20 and "graded my repo/starter/project.py" in results["output"]
    assert _test(results, "alter-2")["status"] == "failed" and "Hint:" in _test(results, "alter-2")["output"]


def test_gradescope_gives_a_forger_its_honest_score(deployed) -> None:
    if "gs-forger" not in deployed:
        pytest.skip(f"no sandbox here ({common.sandbox_state()[1]}): hostile files never run without it")
    results = _valid(deployed["gs-forger"], GRADESCOPE)
    assert results["score"] == json.loads((FORGER / "expected.json").read_text())["score"] == 20
    assert "Sandbox: on" in results["output"]


def test_gradescope_says_once_that_there_was_nothing_to_grade(deployed) -> None:
    results = _valid(deployed["gs-missing"], GRADESCOPE)
    assert results["score"] == 0 and results["output"] == common.NOTHING_TO_GRADE.format(
        why="no project.py: the folder holds README.md, notes.txt")
    assert all(t.get("tags") == ["not run"] for t in results["tests"] if "score" in t)


def test_run_autograder_without_its_python_says_what_to_set_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "autograder"
    (folder / "submission").mkdir(parents=True)
    shutil.copy(ROOT / "checks" / "platforms" / "templates" / "gradescope" / "run_autograder", folder / "run_autograder")
    (folder / "source").mkdir()
    ran = _run(folder / "run_autograder", {"AUTOGRADER_ROOT": str(folder), "AUTOGRADER_PYTHON": str(tmp_path / "no-python")})
    assert ran.returncode == 0 and ran.stdout == ""
    assert ran.stderr.splitlines() == [
        f"run_autograder: no Python at {tmp_path / 'no-python'}: run setup.sh first, or set AUTOGRADER_PYTHON to a "
        "Python 3.11 or newer with requirements.txt installed"]
    results = _valid(json.loads((folder / "results" / "results.json").read_text()), GRADESCOPE)
    assert results["score"] == 0 and "not a verdict on your code" in results["output"]


def test_run_sh_with_a_python_lacking_the_libraries_says_what_to_install_in_one_line(tmp_path: Path) -> None:
    built, _, _ = prairielearn.build(tmp_path / "course", "test-image")
    grade = tmp_path / "grade"
    shutil.copytree(built / "serverFilesCourse", grade / "serverFilesCourse")
    _submit(grade / "student", {"project.py": STARTER})
    bare = tmp_path / "bare-python"  # this Python without its site-packages: no aiohttp, no pytest
    bare.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    bare.chmod(0o755)
    ran = _run(grade / "serverFilesCourse" / "concurrent_requests" / "run.sh",
               {"GRADE_ROOT": str(grade), "GRADER_PYTHON": str(bare)})
    assert ran.returncode == 0 and ran.stdout == ""
    [line] = ran.stderr.splitlines()
    assert line.startswith("run.sh: ") and "has no aiohttp, aioresponses, pytest" in line
    assert "-m pip install -r requirements.txt" in line and "or set GRADER_PYTHON to a Python 3.11 or newer" in line
    results = _valid(json.loads((grade / "results" / "results.json").read_text()), PRAIRIELEARN)
    assert results["gradable"] is False and "not a verdict on your code" in results["format_errors"][0]


def _uuid_of(target: Path) -> str:
    return json.loads((target / "questions" / prairielearn.QUESTION / "info.json").read_text())["uuid"]


def test_a_rebuilt_question_keeps_its_uuid(tmp_path: Path) -> None:
    first = prairielearn.main(["build", str(tmp_path / "course")])
    kept = _uuid_of(tmp_path / "course")
    assert first == 0 and prairielearn.main(["build", str(tmp_path / "course"), "--image", "r/g:2"]) == 0
    assert _uuid_of(tmp_path / "course") == kept
    stale = tmp_path / "course" / "serverFilesCourse" / prairielearn.FOLDER / "checks" / "test_removed_since.py"
    stale.write_text("def test_x():\n    pass\n")
    prairielearn.main(["build", str(tmp_path / "course")])
    assert not stale.exists()  # a rebuild over a folder keeps the uuid, not the grader's old files
    prairielearn.main(["build", str(tmp_path / "fresh")])
    assert _uuid_of(tmp_path / "fresh") != kept  # only a first build makes one
    prairielearn.main(["build", str(tmp_path / "again"), "--uuid", kept.upper()])
    assert _uuid_of(tmp_path / "again") == kept


def test_a_uuid_that_cannot_be_kept_stops_the_build_in_one_line(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        prairielearn.main(["build", str(tmp_path / "course"), "--uuid", "not-a-uuid"])
    assert stopped.value.code == 2 and "--uuid takes a UUID" in capsys.readouterr().err
    info = tmp_path / "course" / "questions" / prairielearn.QUESTION / "info.json"
    info.parent.mkdir(parents=True)
    info.write_text("{half a file")
    with pytest.raises(SystemExit):
        prairielearn.main(["build", str(tmp_path / "course")])
    assert "holds no uuid that can be read" in capsys.readouterr().err and info.read_text() == "{half a file"


def test_prairielearn_marks_a_file_that_does_not_import_not_gradable(deployed) -> None:
    results = _valid(deployed["pl-broken"], PRAIRIELEARN)
    assert results["gradable"] is False and "score" not in results
    assert any("line 4" in e and "SyntaxError" in e for e in results["format_errors"])


def test_prairielearn_scores_the_starter_as_a_fraction(deployed) -> None:
    results = _valid(deployed["pl-starter"], PRAIRIELEARN)
    assert results["gradable"] is True and results["score"] == 0.2 and "graded Project.py" in results["message"]
    base = _test(results, "base")
    assert (base["points"], base["max_points"]) == (20, 20)
    assert sum(t.get("points", 0) for t in results["tests"]) == 20


def test_our_own_report_schema_refuses_a_not_run_item_said_to_pass() -> None:
    """The --grade-json report has a schema too (checks/reports/schemas/grade-report.schema.json)."""
    grade = Grade.empty("project.py")
    grade.add(CheckResult("test_x", "alter-2", Outcome.NOT_RUN, "deselected"))
    report = _valid(grade.to_json(), GRADE_REPORT)
    entry = next(i for i in report["items"] if i["id"] == "alter-2")
    assert entry["state"] == "not_run"
    entry["status"] = "passed"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, GRADE_REPORT, cls=jsonschema.Draft202012Validator)
    del entry["reason"]
    entry["status"] = "ungraded"
    with pytest.raises(jsonschema.ValidationError, match="reason"):
        jsonschema.validate(report, GRADE_REPORT, cls=jsonschema.Draft202012Validator)

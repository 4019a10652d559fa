"""A class graded in shards on several machines and merged is the class graded on one."""

from __future__ import annotations

import json
import re
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from checks import batch, merge
from checks.tools import shards
from checks.tools.gradebook import grade_all
from checks.tools.shards import MANIFEST, in_shard, parse_shard, shard_of
from checks.tools.submissions import find_class
from tests import scenario_patches
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(300)

SHARDS = 3
CLASS = {
    # Small and fast to grade, yet each row different; the names fall in all three shards (checked below).
    "alice/project.py": ("solutions/project.py", "solutions/ANSWERS.md"),
    "bob.py": ("scenario:syntax_error", None),  # a known-bad scenario: the reference with its change.patch
    "dave/project.py": ("scenario:limited_in_batches", None),
    "erin.py": ("scenario:crash_at_import", None),
}
TIMES = re.compile(r"\d+(\.\d+)?")
"""Measured durations in check messages ("total 0.57 s"): they differ between two runs of the same file."""


def _make_class(folder: Path) -> Path:
    for target, (source, answers) in CLASS.items():
        path = folder / target
        path.parent.mkdir(parents=True, exist_ok=True)
        if source.startswith("scenario:"):
            path.write_bytes(scenario_patches.source(source.removeprefix("scenario:")))
        else:
            shutil.copy(ROOT / source, path)
        if answers:
            shutil.copy(ROOT / answers, path.parent / "ANSWERS.md")
    return folder


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The class graded once whole (grade_all, which `python -m checks.batch DIR` runs) and as three shards
    merged, with the README's two commands."""
    top = tmp_path_factory.mktemp("shards")
    folder = _make_class(top / "class")
    common = [str(folder), "--in-process", "--jobs", "2"]
    with pytest.MonkeyPatch.context() as patch, ThreadPoolExecutor(max_workers=1) as beside:
        # One fingerprint for the whole fixture: in a shared working tree, checks/ may be edited between two
        # shards, which the merge would rightly refuse (test_shards_of_other_..._checks_are_refused).
        patch.setattr(shards, "fingerprint", lambda: "f" * 64)
        # The single machine's run goes on beside the shards' (as on other machines), which keeps both cores
        # busy while a shard of one student would leave one idle.
        single = beside.submit(grade_all, folder, top / "single", 2, official=False)
        for k in range(1, SHARDS + 1):
            assert batch.main([*common, "--shard", f"{k}/{SHARDS}", "--out", str(top / f"shard-{k}")]) == 0
        single.result()
    outs = [str(top / f"shard-{k}") for k in range(1, SHARDS + 1)]
    assert merge.main([str(top / "merged"), *outs]) == 0
    return {"class": folder, "single": top / "single", "merged": top / "merged",
            **{f"shard-{k}": top / f"shard-{k}" for k in range(1, SHARDS + 1)}}


def _without_run_specifics(book: dict) -> dict:
    """gradebook.json less what two runs of the same files never share: the seconds each took, and in check
    messages the times measured and the picture of requests over time drawn to their scale (the verdict, its
    first line, is kept with its numbers masked)."""
    book = json.loads(json.dumps(book))
    for entry in book.values():
        entry.pop("seconds")
        for item in (entry["report"] or {}).get("items", []):
            for check in item["checks"]:
                check["message"] = TIMES.sub("N", check["message"].partition("\n")[0])
    return book


def test_three_shards_merged_give_the_single_machine_gradebook(graded) -> None:
    single, merged = graded["single"], graded["merged"]
    assert (merged / "gradebook.csv").read_bytes() == (single / "gradebook.csv").read_bytes()
    assert (merged / MANIFEST).read_bytes() == (single / MANIFEST).read_bytes()
    books = [json.loads((folder / "gradebook.json").read_text()) for folder in (single, merged)]
    assert list(books[0]) == list(books[1]) == ["bob", "erin", "alice", "dave"]
    assert _without_run_specifics(books[0]) == _without_run_specifics(books[1])
    assert sorted(p.name for p in (merged / "logs").iterdir()) == sorted(p.name for p in (single / "logs").iterdir())
    # The comparison is worth something only if the class has real differences and every shard graded someone.
    totals = {name: entry["total"] for name, entry in books[0].items()}
    assert totals == {"bob": 0, "erin": 0, "alice": 100, "dave": 85}
    notes = {name: entry["note"] for name, entry in books[0].items()}
    assert "SyntaxError" in notes["bob"] and notes["erin"] != notes["bob"] and notes["alice"] == ""
    assert all(json.loads((graded[f"shard-{k}"] / "gradebook.json").read_text()) for k in range(1, SHARDS + 1))


def test_each_student_is_graded_by_exactly_one_shard(graded) -> None:
    seen = [name for k in range(1, SHARDS + 1) for name in json.loads((graded[f"shard-{k}"] / "gradebook.json").read_text())]
    assert sorted(seen) == sorted(json.loads((graded["single"] / "gradebook.json").read_text()))


def _shards_of(folder: Path) -> dict[int, list[str]]:
    everyone, _ = find_class(folder)
    return {k: [s.name for s in in_shard(everyone, (k, SHARDS))] for k in range(1, SHARDS + 1)}


def test_a_student_added_later_moves_no_one_else(tmp_path: Path) -> None:
    folder = _make_class(tmp_path / "class")
    before = _shards_of(folder)
    (folder / "aaron.py").write_text("")  # sorts first: a split by position would move everyone after him
    (folder / "abe" / "repo" / "starter").mkdir(parents=True)  # a folder that once had no row has one now
    (folder / "abe" / "repo" / "starter" / "project.py").write_text("")
    after = _shards_of(folder)
    for k in before:
        assert [name for name in after[k] if name not in ("aaron", "abe")] == before[k]
    assert sum(len(v) for v in after.values()) == len(CLASS) + 2


def test_a_students_shard_is_a_hash_of_the_name_the_batch_has_always_given(tmp_path: Path) -> None:
    """Loose files are named by their stem and folders by their name, as before every entry had a row, so
    the new rows move no one: these shards are the ones checks/batch.py gave at commit be5a139."""
    assert {name: shard_of(name, SHARDS) for name in ("alice", "bob", "dave", "erin")} == {
        "alice": 3, "bob": 3, "dave": 2, "erin": 1}


def test_the_manifest_carries_the_checks_fingerprint(tmp_path: Path) -> None:
    from checks.fingerprint import fingerprint

    manifest = shards.manifest([s.name for s in find_class(_make_class(tmp_path))[0]], (2, 3))
    assert manifest["shard"] == [2, 3] and manifest["checks"] == fingerprint()
    assert manifest["class"] == ["bob", "erin", "alice", "dave"]


def test_the_hash_spreads_a_class_evenly() -> None:
    counts = [0] * SHARDS
    for n in range(600):
        counts[shard_of(f"student{n:03}", SHARDS) - 1] += 1
    assert all(150 <= count <= 250 for count in counts), counts


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "a/b", "1/0", "-1/3", "1/3/5", ""])
def test_a_shard_outside_one_to_n_is_a_usage_error(text: str, tmp_path: Path, capsys) -> None:
    with pytest.raises(ValueError):
        parse_shard(text)
    (tmp_path / "x.py").write_text("")
    with pytest.raises(SystemExit) as stopped:
        batch.main([str(tmp_path), f"--shard={text}"])
    assert stopped.value.code == 2 and "--shard takes K/N" in capsys.readouterr().err


def test_shards_parse_with_spaces_and_one_of_one() -> None:
    assert parse_shard("2/3") == (2, 3) and parse_shard(" 1/1 ") == (1, 1)


def test_more_shards_than_students_still_merge(tmp_path: Path, monkeypatch) -> None:
    """Shards with no one in them write an empty gradebook that joins like any other (a stand-in grader: fast)."""
    monkeypatch.setattr(shards, "fingerprint", lambda: "f" * 64)  # as in the fixture: checks/ may change meanwhile
    folder = _make_class(tmp_path / "class")
    fake = [sys.executable, str(ROOT / "tests" / "fake_grader.py"), "honest", str(tmp_path / "record.json")]
    grade_all(folder, tmp_path / "single", grader=fake)
    counts = [len(grade_all(folder, tmp_path / f"shard-{k}", grader=fake, shard=(k, 4))) for k in range(1, 5)]
    assert sorted(counts) == [0, 0, 1, 3]
    assert merge.main([str(tmp_path / "merged"), *(str(tmp_path / f"shard-{k}") for k in range(1, 5))]) == 0
    for name in ("gradebook.csv", MANIFEST):
        assert (tmp_path / "merged" / name).read_bytes() == (tmp_path / "single" / name).read_bytes()


# -- The merge refuses shards that are not one class ------------------------------------------------


def _copies(graded, tmp_path: Path) -> list[Path]:
    copies = []
    for k in range(1, SHARDS + 1):
        copies.append(tmp_path / f"shard-{k}")
        shutil.copytree(graded[f"shard-{k}"], copies[-1])
    return copies


def _edit(folder: Path, name: str, change) -> None:
    path = folder / name
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2) + "\n")


def _refusal(out: Path, shards: list[Path], capsys) -> str:
    assert merge.main([str(out), *map(str, shards)]) == 2
    assert not out.exists(), "a refused merge writes nothing"
    return capsys.readouterr().err


def test_a_missing_shard_is_refused_and_named(graded, tmp_path: Path, capsys) -> None:
    one, two, _ = _copies(graded, tmp_path)
    err = _refusal(tmp_path / "out", [one, two], capsys)
    assert "refusing to merge: shard 3/3 is missing (bob, alice): pass all 3 shards" in err


def test_a_shard_given_twice_is_refused(graded, tmp_path: Path, capsys) -> None:
    one, two, three = _copies(graded, tmp_path)
    shutil.copytree(three, tmp_path / "again")
    err = _refusal(tmp_path / "out", [one, two, three, tmp_path / "again"], capsys)
    assert "are both shard 3/3: pass each shard once" in err


def test_a_student_in_two_shards_is_refused(graded, tmp_path: Path, capsys) -> None:
    one, two, three = _copies(graded, tmp_path)
    dave = json.loads((two / "gradebook.json").read_text())["dave"]
    _edit(three, "gradebook.json", lambda book: book.update(dave=dave))
    with open(three / "gradebook.csv", "a", encoding="utf-8") as sheet:
        sheet.write((two / "gradebook.csv").read_text().splitlines(keepends=True)[1])
    err = _refusal(tmp_path / "out", [one, two, three], capsys)
    assert "holds 'dave', which is not in its shard 3/3" in err


def test_shards_of_other_class_lists_items_or_checks_are_refused(graded, tmp_path: Path, capsys) -> None:
    one, two, three = _copies(graded, tmp_path)
    _edit(three, MANIFEST, lambda m: m["class"].append("zoe"))
    assert "different class lists" in (err := _refusal(tmp_path / "out", [one, two, three], capsys))
    assert "'zoe' is only in" in err
    one, two, three = _copies(graded, tmp_path / "items")
    _edit(two, MANIFEST, lambda m: m["items"][0].update(points=25))
    assert "different items" in _refusal(tmp_path / "out", [one, two, three], capsys)
    one, two, three = _copies(graded, tmp_path / "checks")
    _edit(one, MANIFEST, lambda m: m.update(checks="0" * 64))
    assert "different checks (fingerprint)" in _refusal(tmp_path / "out", [one, two, three], capsys)


def test_a_split_into_another_count_is_refused(graded, tmp_path: Path, capsys) -> None:
    one, two, three = _copies(graded, tmp_path)
    _edit(three, MANIFEST, lambda m: m.update(shard=[3, 4]))
    assert "one of 3 shards" in _refusal(tmp_path / "out", [one, two, three], capsys)


def test_a_folder_that_is_not_a_shard_is_refused(graded, tmp_path: Path, capsys) -> None:
    one, two, three = _copies(graded, tmp_path)
    (three / MANIFEST).unlink()
    assert f"has no readable {MANIFEST}" in _refusal(tmp_path / "out", [one, two, three], capsys)
    one, two, three = _copies(graded, tmp_path / "rows")
    sheet = (two / "gradebook.csv").read_text().splitlines(keepends=True)
    (two / "gradebook.csv").write_text("".join(sheet[:1]))  # dave's row lost
    assert "do not list the same submissions" in _refusal(tmp_path / "out", [one, two, three], capsys)


def test_the_merge_never_writes_over_a_shard(graded, tmp_path: Path, capsys) -> None:
    one, two, three = _copies(graded, tmp_path)
    before = (one / "gradebook.csv").read_bytes()
    assert merge.main([str(one), str(one), str(two), str(three)]) == 2
    assert "is one of the shards" in capsys.readouterr().err
    assert (one / "gradebook.csv").read_bytes() == before

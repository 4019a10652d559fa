"""The known-bad scenarios as patches: each applies to the current reference, and a stale one fails loudly."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests import scenario_patches
from tests.scenario_patches import PatchError, apply_patch, make_patch

REFERENCE = scenario_patches.REFERENCE.read_bytes()
NAMES = scenario_patches.names()

# fetch_one's last line in the reference, and the json_not_awaited mistake made of it.
JSON_AWAITED = b"        return await response.json()\n\n\nasync def fetch_async("
JSON_NOT_AWAITED = b"        return response.json()\n\n\nasync def fetch_async("

# A small file for the edge cases of writing and applying a patch.
TEXT = b"".join(b"line %d\n" % i for i in range(1, 31))


def _edit(text: bytes, old: bytes, new: bytes) -> bytes:
    assert text.count(old) == 1, old
    return text.replace(old, new)


@pytest.mark.parametrize("name", NAMES)
def test_every_scenario_applies_to_the_current_reference_and_changes_it(name: str, tmp_path: Path) -> None:
    folder = scenario_patches.SCENARIOS / name
    if (folder / scenario_patches.WHOLE_FILE).is_file():  # the rare whole file must say why it is not a patch
        assert "patch" in json.loads((folder / "expected.json").read_text())["description"], name
    assert scenario_patches.source(name) != REFERENCE
    written = scenario_patches.materialise(name, tmp_path)
    assert written == tmp_path / name / "project.py" and written.read_bytes() == scenario_patches.source(name)


def test_the_patches_are_ordinary_unified_diffs_that_git_apply_accepts(tmp_path: Path) -> None:
    if not shutil.which("git"):
        pytest.skip("git is not installed; the applier above does not need it")
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "project.py").write_bytes(REFERENCE)
    patches = [scenario_patches.SCENARIOS / n / scenario_patches.PATCH for n in NAMES]
    for patch in (p for p in patches if p.is_file()):
        checked = subprocess.run(["git", "apply", "--check", str(patch)], cwd=tmp_path, capture_output=True, text=True)
        assert checked.returncode == 0, (patch.parent.name, checked.stderr)


def test_a_patch_that_no_longer_applies_names_its_scenario_its_hunk_and_the_fix(tmp_path: Path) -> None:
    scenarios, reference = tmp_path / "scenarios", tmp_path / "project.py"
    (scenarios / "json_not_awaited").mkdir(parents=True)
    (scenarios / "json_not_awaited" / "change.patch").write_bytes(make_patch(REFERENCE, _edit(REFERENCE, JSON_AWAITED, JSON_NOT_AWAITED)))
    # The reference has moved on: the hunk expects the `await response.json()` it removes.
    reference.write_bytes(_edit(REFERENCE, JSON_AWAITED, JSON_AWAITED.replace(b"json()", b"json(content_type=None)")))
    with pytest.raises(PatchError) as stale:
        scenario_patches.source("json_not_awaited", scenarios=scenarios, reference=reference)
    message = str(stale.value)
    assert message.startswith("scenario json_not_awaited: hunk @@ -")
    assert "no longer applies to solutions/project.py" in message
    assert "b'        return await response.json()\\n'" in message  # what it wanted, and what it found
    assert "python -m tests.scenario_patches make json_not_awaited EDITED.py" in message


def test_a_hunk_moves_as_a_whole_when_the_reference_gains_lines_above_it() -> None:
    edited = _edit(TEXT, b"line 20\n", b"line twenty\n")
    patch = make_patch(TEXT, edited)
    grown = b"a new first line\n" * 7 + TEXT
    assert apply_patch(grown, patch, "moved") == b"a new first line\n" * 7 + edited


def test_a_hunk_whose_lines_match_as_near_above_as_below_is_refused() -> None:
    block = b"a\nb\nc\nd\ne\nf\ng\n"
    twice = block + b"x\n" + block  # matches start at lines 1 and 9
    patch = make_patch(block, block.replace(b"d\n", b"D\n"))
    assert patch.splitlines()[2] == b"@@ -1,7 +1,7 @@"
    assert apply_patch(twice, patch.replace(b"@@ -1,7", b"@@ -8,7"), "nearer") == block + b"x\n" + block.replace(b"d\n", b"D\n")
    with pytest.raises(PatchError, match="^scenario tie: .*match at lines 1 and 9, as near as each other to line 5"):
        apply_patch(twice, patch.replace(b"@@ -1,7", b"@@ -5,7"), "tie")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (TEXT, _edit(TEXT, b"line 1\n", b"")),  # the first line removed
        (TEXT, b"inserted\n" + TEXT),  # a line before the first
        (TEXT, TEXT + b"appended\n"),  # a line after the last
        (TEXT, TEXT.removesuffix(b"\n")),  # the last newline dropped
        (TEXT.removesuffix(b"\n"), TEXT + b"more\n"),  # and restored, with more
        (TEXT, _edit(_edit(TEXT, b"line 3\n", b"three\n"), b"line 27\n", b"")),  # two hunks
        (TEXT, _edit(TEXT, b"line 15\n", b"caf\xe9 in Latin-1\r\n")),  # not UTF-8, a CRLF ending
        (REFERENCE, _edit(REFERENCE, b"import os\n", b"")),  # a real file
    ],
    ids=["first-removed", "prepended", "appended", "newline-dropped", "newline-restored", "two-hunks", "bytes", "reference"],
)
def test_a_made_patch_reproduces_the_edited_file_byte_for_byte(before: bytes, after: bytes) -> None:
    assert apply_patch(before, make_patch(before, after), "round-trip") == after


def test_a_blank_context_line_stripped_by_an_editor_still_applies() -> None:
    edited = _edit(REFERENCE, b"    limit = asyncio.Semaphore(max_concurrent)\n", b"    limit = asyncio.Semaphore(5)\n")
    patch = make_patch(REFERENCE, edited)
    assert b"\n \n" in patch
    assert apply_patch(REFERENCE, patch.replace(b"\n \n", b"\n\n"), "stripped") == edited


@pytest.mark.parametrize(
    ("patch", "complaint"),
    [
        (b"--- a/solutions/project.py\n+++ b/solutions/project.py\n", "has no hunks"),
        (b"@@ -1,2 +1,2 @@\n line 1\n-line 2\n", "ends inside hunk @@ -1,2 +1,2 @@"),
        (b"@@ -1,2 +1,2 @@\n line 1\n*line 2\n+line two\n", "starts with neither"),
        (b"Subject: a mail\n@@ -1 +1 @@\n-line 1\n+one\n", "line 1 is not part of a unified diff"),
        (b"@@ -1 +1 @@\n-line 1\n+one\n--- a/other.py\n", "the patch touches a second file"),
    ],
    ids=["no-hunks", "truncated", "bad-prefix", "preamble", "second-file"],
)
def test_a_malformed_patch_is_refused_with_the_scenario_named(patch: bytes, complaint: str) -> None:
    with pytest.raises(PatchError, match=r"^scenario broken: ") as refused:
        apply_patch(TEXT, patch, "broken")
    assert complaint in str(refused.value)


def test_make_writes_the_patch_and_drops_the_whole_file_it_replaces(tmp_path: Path) -> None:
    reference, scenarios = tmp_path / "reference.py", tmp_path / "scenarios"
    reference.write_bytes(REFERENCE)
    (scenarios / "new_mistake").mkdir(parents=True)
    edited = scenarios / "new_mistake" / "project.py"  # an old-style whole copy, refreshed in place
    edited.write_bytes(_edit(REFERENCE, JSON_AWAITED, JSON_NOT_AWAITED))
    wanted = edited.read_bytes()
    written = scenario_patches.make("new_mistake", edited, scenarios=scenarios, reference=reference)
    assert written == scenarios / "new_mistake" / "change.patch" and not edited.exists()
    assert b"-        return await response.json()\n+        return response.json()\n" in written.read_bytes()
    assert scenario_patches.source("new_mistake", scenarios=scenarios, reference=reference) == wanted
    with pytest.raises(PatchError, match="is the reference unchanged"):
        scenario_patches.make("no_mistake", reference, scenarios=scenarios, reference=reference)


def test_a_scenario_with_both_a_patch_and_a_whole_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "both").mkdir()
    (tmp_path / "both" / "change.patch").write_bytes(b"")
    (tmp_path / "both" / "project.py").write_bytes(b"")
    with pytest.raises(PatchError, match="^scenario both: has both change.patch and project.py"):
        scenario_patches.source("both", scenarios=tmp_path)


def test_show_writes_the_scenario_file_for_editing(tmp_path: Path) -> None:
    out = tmp_path / "edit_me.py"
    assert scenario_patches.main(["show", "json_not_awaited", str(out)]) == 0
    assert out.read_bytes() == _edit(REFERENCE, JSON_AWAITED, JSON_NOT_AWAITED)

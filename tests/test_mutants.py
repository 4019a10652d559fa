"""The mutation self-test: the generator's own tests (always run) and the opt-in grading of every mutant (--mutants)."""

from __future__ import annotations

import ast
import time
from collections import Counter

import pytest

from tests import mutants
from tests.mutant_equivalents import REVIEWED

REFERENCE = mutants.REFERENCE.read_text(encoding="utf-8")
GENERATED = mutants.generate()
KINDS = {
    "await-removed", "statement-removed", "statements-swapped", "constant", "string", "operator", "comparison",
    "slice-bound", "gather-unstarred", "gather-return-exceptions", "keyword-dropped", "argument-dropped",
    "with-not-entered", "finally-to-except", "except-narrowed",
}


def _changed_lines(mutant: mutants.Mutant) -> tuple[int, int]:
    """The first and last line of the reference that differ from the mutant, found without the generator's help."""
    old, new = REFERENCE.splitlines(), mutant.source.splitlines()
    head = 0
    while head < min(len(old), len(new)) and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < min(len(old), len(new)) - head and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    return head + 1, len(old) - tail


# --- The generator, always --------------------------------------------------------------------------------


def test_the_same_reference_gives_the_same_mutants_with_the_same_ids():
    again = mutants.generate(REFERENCE)
    assert [(m.id, m.source) for m in again] == [(m.id, m.source) for m in GENERATED]


def test_ids_are_unique():
    repeated = [i for i, n in Counter(m.id for m in GENERATED).items() if n > 1]
    assert not repeated


def test_every_mutant_parses_and_changes_the_code_not_just_its_layout():
    reference = ast.dump(ast.parse(REFERENCE))
    for mutant in GENERATED:
        assert ast.dump(ast.parse(mutant.source)) != reference, mutant.id


def test_no_two_mutants_are_the_same_file():
    assert len({m.source for m in GENERATED}) == len(GENERATED)


def test_every_mutant_differs_from_the_reference_in_the_one_place_it_names():
    for mutant in GENERATED:
        first, last = _changed_lines(mutant)
        assert mutant.lines[0] <= first <= last <= mutant.lines[1], (mutant.id, mutant.lines, (first, last))
        assert mutant.diff(REFERENCE), mutant.id


def test_ids_survive_an_edit_elsewhere_in_the_reference():
    """Lines added above every function (a comment block) and a function added at the end rename nothing."""
    anchor = "\n\n# --- Sync: one request at a time"
    assert anchor in REFERENCE
    edited = REFERENCE.replace(anchor, "\n\n# A note a maintainer added.\n# Two lines of it.\n" + anchor, 1)
    edited += "\n\ndef _added_later(values):\n    return sorted(values)\n"
    before = [m.id for m in GENERATED]
    after = [m.id for m in mutants.generate(edited) if not m.id.startswith("_added_later:")]
    assert after == before


def test_every_kind_of_change_is_made_and_the_count_is_in_the_expected_range():
    kinds = Counter(m.kind for m in GENERATED)
    assert set(kinds) == KINDS
    assert 150 <= len(GENERATED) <= 250, kinds


def test_the_mutants_the_issue_named_are_among_them():
    """The five kinds of survivor that prompted this test, by the ids they have here."""
    ids = {m.id for m in GENERATED}
    assert {
        "fetch_async_with_timeout:constant:timeout=1.0 -> 10.0",
        "fetch_async_with_timeout:constant:timeout=1.0 -> 0.1",
        "main:statements-swapped:started = time.perf_counter() / asyncio.run(_fetch_async_verbose(post_ids))",
        "fetch_sync:constant:timeout=10 -> 0",
        "fetch_sync:statements-swapped:response.raise_for_status() / posts.append(response.json())",
        "fetch_async_manual_session:gather-return-exceptions:asyncio.gather(*(...))",
    } <= ids


def test_the_main_blocks_handler_and_the_docstrings_are_left_alone():
    handler = next(n for n in ast.walk(ast.parse(REFERENCE)) if isinstance(n, ast.ExceptHandler) and n.lineno > 170)
    docstrings = [n.lineno for n in ast.walk(ast.parse(REFERENCE))
                  if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)]
    for mutant in GENERATED:
        first, last = _changed_lines(mutant)
        assert not handler.lineno <= first <= handler.end_lineno, mutant.id
        assert not set(range(first, last + 1)) & set(docstrings), mutant.id


def test_every_reviewed_survivor_is_still_generated_and_says_why():
    """An entry whose mutant is no longer made (the reference changed) is stale: review it again or remove it."""
    ids = {m.id for m in GENERATED}
    stale = sorted(set(REVIEWED) - ids)
    assert not stale, f"reviewed entries for mutants no longer generated: {stale}"
    for mutant_id, reason in REVIEWED.items():
        assert len(reason.split()) >= 5, f"{mutant_id}: a reason in plain words, please"


def test_show_writes_the_mutated_file(capsys: pytest.CaptureFixture[str]):
    mutant = GENERATED[len(GENERATED) // 2]
    assert mutants.main(["show", mutant.id]) == 0
    assert capsys.readouterr().out == mutant.source


def test_show_and_run_refuse_an_unknown_id(capsys: pytest.CaptureFixture[str]):
    assert mutants.main(["show", "no_such_function:constant:1 -> 2"]) == 2
    assert mutants.main(["run", "--only", "no_such_function:constant:1 -> 2"]) == 2
    assert "python -m tests.mutants list" in capsys.readouterr().err


def test_list_names_every_mutant_once_with_its_description(capsys: pytest.CaptureFixture[str]):
    assert mutants.main(["list"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]
    assert [row[0] for row in rows] == [m.id for m in GENERATED]
    assert all(row[1].startswith("line ") for row in rows)


@pytest.mark.parametrize(("statuses", "outcome"), [
    ({"base": "failed"}, mutants.KILLED),
    ({}, mutants.SURVIVED),
    ({"fix-3": "ungraded"}, mutants.NO_VERDICT),
    ({"alter-2": "failed", "fix-3": "ungraded"}, mutants.KILLED),
])
def test_a_report_kills_a_mutant_only_by_failing_a_graded_item(statuses: dict[str, str], outcome: str):
    items = [{"id": i, "status": statuses.get(i, "passed")} for i in mutants.GRADED_ITEMS] + [{"id": "explain", "status": "ungraded"}]
    verdict = mutants.verdict_from_report(GENERATED[0], {"items": items})
    assert verdict.outcome == outcome
    assert verdict.failed == tuple(i for i in mutants.GRADED_ITEMS if statuses.get(i) == "failed")


def test_a_report_without_items_is_no_verdict():
    assert mutants.verdict_from_report(GENERATED[0], {"score": 100}).outcome == mutants.NO_VERDICT


def test_the_score_lists_survivors_with_their_diff_and_marks_the_reviewed_ones():
    first, second = GENERATED[:2]
    verdicts = [mutants.Verdict(first, mutants.SURVIVED, (), "", 1.0), mutants.Verdict(second, mutants.SURVIVED, (), "", 1.0)]
    lines = mutants.score_lines(verdicts, REFERENCE, 2.0, {first.id: "a reason"})
    assert lines[0].startswith("Killed 0 / 2 mutants")
    assert f"  [equivalent] {first.id}    ({first.description})" in lines
    assert f"  [NOT REVIEWED] {second.id}    ({second.description})" in lines
    assert all(f"      {line}" in lines for line in second.diff(REFERENCE))


# --- Every mutant graded: opt in with --mutants ---------------------------------------------------------


@pytest.mark.mutants
@pytest.mark.timeout(0)  # hundreds of gradings; each has its own limit (mutants.TIME_LIMIT)
def test_every_mutant_is_killed_or_reviewed_as_equivalent(request: pytest.FixtureRequest):
    started = time.monotonic()
    verdicts = mutants.grade_all(GENERATED, jobs=request.config.getoption("mutants_jobs"))
    report = "\n".join(mutants.score_lines(verdicts, REFERENCE, time.monotonic() - started, REVIEWED))
    print(report)  # the score, shown with -s or -rA
    unexplained = [v.mutant.id for v in verdicts if v.outcome == mutants.SURVIVED and v.mutant.id not in REVIEWED]
    no_verdict = [f"{v.mutant.id}: {v.note}" for v in verdicts if v.outcome == mutants.NO_VERDICT]
    rejected = [f"{v.mutant.id} failed {', '.join(v.failed)}" for v in verdicts if v.outcome == mutants.KILLED and v.mutant.id in REVIEWED]
    stale = sorted(set(REVIEWED) - {m.id for m in GENERATED})
    problems = (
        [f"survived and not reviewed (a miss of the grader, or an equivalent to review): {i}" for i in unexplained]
        + [f"no verdict (the grader hung, crashed or graded only part): {n}" for n in no_verdict]
        + [f"reviewed as equivalent but failed (does the grader now reject what the contract allows?): {r}" for r in rejected]
        + [f"reviewed, but no longer generated (stale entry): {i}" for i in stale]
    )
    if problems:
        pytest.fail("\n".join(problems) + "\n\n" + report, pytrace=False)

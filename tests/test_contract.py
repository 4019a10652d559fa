"""The model of the contract against the solutions: every correct file agrees with it on every generated scenario.

The explored checks (checks/engine/explore.py) are only as good as the model they judge by. Here the
model meets the reference and every alternative on more scenarios than a grading tries, and the
starter on the functions it already implements; a disagreement is either a wrong model or a wrong
solution, and neither may stand. The other tests pin what makes explored verdicts trustworthy: the
same scenarios every time, and a failure shrunk to a case a student can read.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.internal.conjecture import providers

from checks import test_alter, test_base, test_break, test_fix
from checks.contract import strategies
from checks.engine import loader
from checks.engine.executor import Executor
from checks.engine.explore import Exploration, Explorer
from checks.engine.guard import Guard
from checks.engine.harness import Harness, Verdict
from checks.engine.probe import Probe
from checks.engine.stubs import STUB_BASE, FakeAPI
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(600)

SOLUTIONS = [ROOT / "solutions" / "project.py", *sorted((ROOT / "solutions" / "alternatives").glob("*.py"))]
EXAMPLES = 40
"""Scenarios per strategy here: more than a grading's 12, for a model that must hold beyond what grading tries."""

EXPLORED: dict[str, Exploration] = {
    name: value for module in (test_base, test_alter, test_break, test_fix)
    for name, value in vars(module).items() if isinstance(value, Exploration)
}
"""Every check's exploration, read from the check modules themselves."""
STARTER_DONE = ("SYNC", "ASYNC")
"""What the untouched starter already does right (its fetch_one still returns {} for an error)."""


@contextmanager
def explorer_for(path: Path) -> Iterator[Explorer]:
    """An Explorer that runs scenarios on `path` in this process, as self-grading does."""
    guard, api = Guard(path), FakeAPI(Probe())
    guard.install()
    guard.probe = api.probe

    @contextmanager
    def trial(api: FakeAPI) -> Iterator[Harness]:
        module = loader.load(path)
        assert not isinstance(module, loader.LoadFailure), module
        module.BASE_URL = api.base
        yield Harness(Executor(module, path, api.probe), path, api, STUB_BASE, set())

    try:
        with api.serve():
            yield Explorer(trial, api)
    finally:
        guard.uninstall()


@pytest.mark.parametrize(
    "solution",
    [pytest.param(s, marks=() if s == SOLUTIONS[0] else pytest.mark.stress) for s in SOLUTIONS],
    ids=lambda p: p.stem if p.parent.name == "alternatives" else "reference",
)
def test_every_solution_agrees_with_the_model(solution: Path) -> None:
    """The reference always; the alternatives with --stress (their grading budget's worth of scenarios runs in
    tests/test_verdicts.py every time, this many more take minutes)."""
    disagreements, tried = {}, {}
    with explorer_for(solution) as explorer:
        for name, exploration in EXPLORED.items():
            before = explorer.tried
            try:
                explorer.explore(exploration, examples=EXAMPLES)
            except Verdict as verdict:
                disagreements[name] = str(verdict)
            tried[name] = explorer.tried - before
    assert not disagreements, disagreements
    too_few = {name: count for name, count in tried.items() if name not in disagreements and count < EXAMPLES * 3 // 4}
    assert not too_few, f"explorations that tried fewer scenarios than asked for (a vacuous agreement): {too_few}"


def test_the_starter_agrees_with_the_model_where_it_is_done() -> None:
    with explorer_for(ROOT / "starter" / "project.py") as explorer:
        for name in STARTER_DONE:
            explorer.explore(EXPLORED[name], examples=EXAMPLES)


def test_the_starter_disagrees_where_it_is_not() -> None:
    """The model is no rubber stamp: the starter's fetch_one returns {} for an error, and the model says so."""
    with explorer_for(ROOT / "starter" / "project.py") as explorer:
        with pytest.raises(Verdict, match="expected it to raise aiohttp.ClientResponseError"):
            explorer.explore(EXPLORED["FETCH_ONE_ERRORS"])


def _generated(strategy) -> str:
    seen: list[str] = []

    @settings(derandomize=True, database=None, max_examples=30, suppress_health_check=list(HealthCheck), deadline=None)
    @given(strategy)
    def record(scenario) -> None:
        seen.append(scenario.shown())

    record()
    return hashlib.sha256("\n".join(seen).encode()).hexdigest()


def test_every_grading_sees_the_same_scenarios(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Derandomised generation, and no constants drawn from whatever modules are loaded (the graded file)."""
    assert providers._get_local_constants() == providers.Constants()  # noqa: SLF001 - what compat.py switches off
    before = _generated(strategies.failing_batches("fetch_async_safe"))
    (tmp_path / "full_of_constants.py").write_text("LIMITS = [3, 7, 11, 2, 9, 12, 400, 503, 0.25]\nNAMES = ['posts', 'x']\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("full_of_constants")
    assert _generated(strategies.failing_batches("fetch_async_safe")) == before


def test_a_failing_case_is_shrunk_to_a_small_one(scenario_file) -> None:
    """The safe batch that keeps only aiohttp's errors: the verdict names one small call and the reply that sinks it."""
    with explorer_for(scenario_file("safe_batch_catches_only_client_errors")) as explorer:
        generated_only = Exploration(EXPLORED["SAFE"].scenarios)  # no explicit edge to lean on
        with pytest.raises(Verdict) as raised:
            explorer.explore(generated_only)
    first_line = str(raised.value).splitlines()[0]
    assert first_line.startswith("fetch_async_safe(") and "then" not in first_line, first_line
    assert "not valid JSON" in first_line or "cut off" in first_line, first_line
    assert first_line.count(",") <= 4, first_line  # a couple of ids, not the five a first draw may have

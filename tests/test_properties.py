"""The table of varied properties (tests/properties.py) names real checks and real known-bad files.

Whether each file really fails one of its property's checks is asserted over a real grading run, at the
end of tests/test_verdicts.py; here, only that the table can be held to account at all.
"""

from __future__ import annotations

import ast
import json

import pytest

from tests.conftest import ROOT
from tests.properties import PROPERTIES, base_name, unproven


def _checks() -> dict[str, str]:
    """Every check function in checks/test_*.py, with the catalogue item its marker names."""
    found = {}
    for path in sorted((ROOT / "checks").glob("test_*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
                items = [
                    d.args[0].value
                    for d in node.decorator_list
                    if isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "item" and d.args
                ]
                found[node.name] = items[0] if items else ""
    return found


CHECKS = _checks()


@pytest.mark.parametrize("prop", PROPERTIES, ids=lambda p: p.name)
def test_each_property_names_checks_that_exist_and_scenarios_that_fail_their_items(prop) -> None:
    assert prop.checks and prop.scenarios, prop.name
    unknown = [c for c in prop.checks if c not in CHECKS]
    assert not unknown, f"{prop.name}: no such check {unknown}"
    items = {CHECKS[c] for c in prop.checks}
    for scenario in prop.scenarios:
        expected = ROOT / "tests" / "scenarios" / scenario / "expected.json"
        assert expected.is_file(), f"{prop.name}: no scenario {scenario}"
        failed = set(json.loads(expected.read_text())["failed"])
        assert failed & items, f"{prop.name}: {scenario} is expected to fail {sorted(failed)}, none of {sorted(items)}"


def test_unproven_names_a_scenario_that_failed_none_of_its_checks() -> None:
    everything = {s: {f"checks/test_x.py::{c}[p]" for p in PROPERTIES for c in p.checks} for p in PROPERTIES for s in p.scenarios}
    assert unproven(everything) == []
    everything["safe_batch_wraps_the_error"] = {"test_main_prints_a_sync_run_then_an_async_run"}
    assert unproven(everything) == [
        "identity of what a slot holds: safe_batch_wraps_the_error failed none of "
        "test_safe_batch_keeps_error_statuses_in_their_slots, test_safe_batch_keeps_a_lost_connection_in_its_slot"
    ]
    assert base_name("checks/test_break.py::test_fetch_one_raises_for_an_error_status[status-503]") == (
        "test_fetch_one_raises_for_an_error_status"
    )

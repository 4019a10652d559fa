"""Official grading never runs the graded file in the grader (its verdicts are held to the golden ones in test_verdicts)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(300)

def test_the_graded_file_is_never_imported_by_the_grader(grade, tmp_path: Path) -> None:
    spy = tmp_path / "project.py"
    marker = tmp_path / "imported-in"
    spy.write_text(
        (ROOT / "solutions" / "project.py").read_text()
        + f"\nimport os as _os\ntry:\n    open({str(marker)!r} + str(_os.getpid()), 'w').close()\nexcept OSError:\n    pass\n"
    )
    before = set(sys.modules)
    graded = grade(spy, "--official", "-m", "not network", "-k", "sync or one_post")
    # base's other checks were deselected, so base is not_run; the ones that ran passed
    assert {c["outcome"] for c in graded.report["items"][0]["checks"]} == {"passed", "not_run"}
    assert not [m for m in set(sys.modules) - before if m.startswith("graded_project")]
    import os

    assert not (tmp_path / f"imported-in{os.getpid()}").exists(), "the grader's own process imported the graded file"


def test_require_sandbox_refuses_without_official(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "--require-sandbox", str(ROOT / "checks")
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--require-sandbox goes with --official" in result.stderr.str()


def test_pytest_skip_in_student_code_is_a_failure_officially_not_a_dead_worker(grade, tmp_path: Path) -> None:
    """Officially, student code may not opt out of a check: pytest.skip() there is just something it raised."""
    dodger = tmp_path / "project.py"
    dodger.write_text(
        (ROOT / "solutions" / "project.py").read_text().replace(
            '    """Fetch every post, never more than `max_concurrent` in flight at a time."""\n',
            '    """Fetch every post, never more than `max_concurrent` in flight at a time."""\n'
            '    import pytest\n\n    pytest.skip("not today")\n',
        )
    )
    graded = grade(dodger, "--official", "-m", "not network", "-k", "limited_never")
    assert graded.status("alter-2") == "failed"
    assert "raised Skipped: not today" in graded.messages("alter-2")
    assert "without answering" not in graded.messages("alter-2")

"""The pytest side of the grader: options, the graded file, and thin hooks that fill the Grade and print it."""

from __future__ import annotations

import os
import random
import re
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from types import ModuleType

import pytest
from _pytest.runner import runtestprotocol

from checks import catalogue
from checks.engine import loader
from checks.reports import exports, progress, timeline
from checks.reports import scorecard as reports
from checks.engine.guard import Guard
from checks.engine import durations
from checks.engine.harness import ESCAPED, TIMED_OUT, Verdict
from checks.engine.probe import Span
from checks.engine.official import LoadFailed, Pool, Remote
from checks.engine import groups, sandbox, stall
from checks.reports.results import CheckResult, Grade, Outcome, explain_input

PROJECT_HELP = "the student file to grade (default: starter/project.py, from the project's root)"
GRADE_JSON_HELP = "also write the grade as JSON to this path"
GRADESCOPE_HELP = "also write a Gradescope results.json to this path (a grade that counts: implies --official)"
DEFAULT_PROJECT = "starter/project.py"
CHECKS_DIR = Path(__file__).parent
PROJECT_ROOT = CHECKS_DIR.parent
DEFAULT_PROJECT_NAME = "project.py"

IMPORT_TIMED_OUT = "importing it did not finish within {seconds:g} s ({where}). Is there a loop or a blocking call at module level?"
OVER_BUDGET = "Not run: grading had already taken {seconds:.0f} s, more than the {budget:g} s allowed for a whole run."
ORDER_HELP = (
    "run the checks in another order, to show that no verdict depends on it: 'file' (default), "
    "'reverse', or 'shuffle:SEED'"
)
OFFICIAL_HELP = (
    "grade as for a grade that counts: the graded file runs only in a worker process (sandboxed where the "
    "machine allows), never in the process that decides the grade"
)
REQUIRE_SANDBOX_HELP = "with --official: refuse to grade when the sandbox cannot be had, instead of grading without it"
BUDGET_HELP = "seconds a whole grading run may take before the remaining checks are reported as not run (default 240)"
NOT_IMPORTED = "{path} could not be imported, so this check could not run: {why}"
DESELECTED = "deselected: -k, -m or a node id left this check out of the run"
SKIPPED_BY_CODE = "skipped: the code under test called pytest.skip() while this check ran ({why})"
RUN_STOPPED = "grader error: the run stopped before this check, because the grader could not load one of its check modules"
MODULE_NOT_LOADED = "grader error: the grader could not load {module}, which holds this check (not a verdict on your code)"

project_path_key = pytest.StashKey[Path]()
project_key = pytest.StashKey["ModuleType | loader.LoadFailure"]()
grade_key = pytest.StashKey[Grade]()
hung_key = pytest.StashKey[set]()
started_key = pytest.StashKey[float]()
guard_key = pytest.StashKey[Guard]()
checks_key = pytest.StashKey[dict]()
pool_key = pytest.StashKey[Pool]()
original_base_key = pytest.StashKey[str]()
STALL_RERUN_HELP = (
    "in self-grading, run a failed check once more when the grader waited at least this many seconds for a "
    "CPU while it ran (default 0.05; Linux only): a busy machine, not a mistake. 0 runs every failed check "
    "again, 'off' none. Never in --official grading, whose verdicts stand as measured"
)
RUN_AGAIN = (
    "Run again: {name} failed while this machine kept the grader waiting {seconds:.2f} s for a CPU, so it "
    "was run a second time; its verdict above is the second run's."
)
SERVER_WAKEUP_BUG = r"Exception ignored in. <function _SelectorTransport.__del__"  # "." for ":", which the filter syntax splits on
meter_key = pytest.StashKey[stall.Meter]()
failure_key = pytest.StashKey["BaseException | None"]()
stall_key = pytest.StashKey["float | None"]()
groups_key = pytest.StashKey[int]()
NO_SANDBOX = "--require-sandbox: no sandbox can be made on this machine: {why}"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grader", "Concurrent Requests grader")
    group.addoption("--project", metavar="PATH", default=None, help=PROJECT_HELP)
    group.addoption("--grade-json", metavar="PATH", default=None, help=GRADE_JSON_HELP)
    group.addoption("--gradescope", metavar="PATH", default=None, help=GRADESCOPE_HELP)
    group.addoption("--official", action="store_true", default=False, help=OFFICIAL_HELP)
    group.addoption("--check-order", metavar="ORDER", default="file", help=ORDER_HELP)
    group.addoption("--require-sandbox", action="store_true", default=False, help=REQUIRE_SANDBOX_HELP)
    group.addoption("--grade-budget", metavar="SECONDS", type=float, default=None, help=BUDGET_HELP)
    group.addoption("--hints", action="store_true", default=False, help=HINTS_HELP)
    group.addoption("--progress", choices=("auto", "on", "off"), default="auto", help=PROGRESS_HELP)
    group.addoption("--timeline", metavar="DIR", default=None, help=TIMELINE_HELP)
    group.addoption("--stall-rerun", metavar="SECONDS", default="0.05", help=STALL_RERUN_HELP)
    group.addoption("--watch-screen", metavar="PATH", default=None, help=WATCH_SCREEN_HELP)
    group.addoption("--groups", metavar="N", default="auto", help=groups.GROUPS_HELP)
    parser.addini("project", PROJECT_HELP, default=DEFAULT_PROJECT)
    parser.addini("grade_budget", BUDGET_HELP, default="240")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "item(id): the catalogue item this check grades, e.g. item('alter-2')")
    if sys.version_info[:3] == (3, 13, 0):
        # CPython 3.13.0's asyncio.Server._wakeup fails when a connection the server accepted is garbage
        # collected after the server closed (python/cpython#109564, fixed in 3.13.1). It happens in the
        # grader's own loopback servers when student code leaves a connection open, and would show a
        # student a traceback that is about neither their code nor the grader's verdict.
        config.addinivalue_line("filterwarnings", f"ignore:{SERVER_WAKEUP_BUG}:pytest.PytestUnraisableExceptionWarning")
    _aim_at_the_checks(config)
    config.stash[project_path_key] = _project_path(config)
    config.stash[grade_key] = Grade.empty(_shown(config.stash[project_path_key]))
    config.stash[checks_key] = {}
    config.stash[hung_key] = set()
    config.stash[started_key] = time.monotonic()
    config.pluginmanager.register(_CollectionWatch(config.stash[grade_key]), "grader-collection-watch")
    guard = config.stash[guard_key] = Guard(config.stash[project_path_key])
    guard.install()
    if config.getoption("gradescope"):
        config.option.official = True  # a platform's grade counts: never computed beside the student's code
    if config.getoption("require_sandbox") and not config.getoption("official"):
        raise pytest.UsageError("--require-sandbox goes with --official")
    if config.getoption("official"):
        sandboxed, why = sandbox.available()
        if config.getoption("require_sandbox") and not sandboxed:
            raise pytest.UsageError(NO_SANDBOX.format(why=why))
        config.stash[pool_key] = Pool(config.stash[project_path_key], sandboxed)
    if _grading_only(config) and config.option.tbstyle == "auto":
        # The scorecard carries every verdict; tracebacks stay one --tb=short away for maintainers.
        config.option.tbstyle = "no"
        config.option.reportchars = "N"


def _aim_at_the_checks(config: pytest.Config) -> None:
    """`pytest` run where a student works (starter/), `pytest .` from the root (what IDEs run to
    discover tests), or `pytest starter/project.py`, means "grade this".

    Without this pytest collects nothing in starter/ (exit code 5, no scorecard), and from the root
    it collects the maintainers' tests in tests/, which need requirements-dev.txt. Taken this way:
    the project's root itself, and paths outside checks/ and tests/ that hold no test module. A .py
    file given by name, or a folder holding project.py, names the graded file unless --project
    does. A path that does not exist is left to pytest, which says so, rather than grading another file.
    """
    given = [Path(config.invocation_params.dir, a.split("::")[0]).resolve() for a in config.args]
    ours = (CHECKS_DIR, PROJECT_ROOT / "tests")
    if not given or any(p == d or d in p.parents for p in given for d in ours) or not all(p.exists() for p in given):
        return
    if any(p != PROJECT_ROOT and (p.is_dir() and any(p.rglob("test_*.py")) or p.name.startswith("test_")) for p in given):
        return
    files = [p for p in given if p.suffix == ".py" and p.is_file()] or [
        p / DEFAULT_PROJECT_NAME for p in given if p != PROJECT_ROOT and (p / DEFAULT_PROJECT_NAME).is_file()
    ]
    if len(files) == 1 and not config.getoption("project"):
        config.option.project = str(files[0])
    config.args[:] = [str(CHECKS_DIR)]


def _grading_only(config: pytest.Config) -> bool:
    """True when every path pytest was given is the checks (a student's or instructor's grading run)."""
    paths = [Path(config.invocation_params.dir, a.split("::")[0]).resolve() for a in config.args]
    return bool(paths) and all(p == CHECKS_DIR or CHECKS_DIR in p.parents for p in paths)


def pytest_unconfigure(config: pytest.Config) -> None:
    if guard_key in config.stash:
        config.stash[guard_key].uninstall()
    if pool_key in config.stash:
        config.stash[pool_key].close()


def official(config: pytest.Config) -> Pool | None:
    """The worker pool when grading officially (--official), else None: student code runs in this process."""
    return config.stash.get(pool_key, None)


def remote_project(config: pytest.Config, deadline: float) -> str:
    """Import the graded file once in a worker, to report a file that does not import once; its BASE_URL."""
    if project_key not in config.stash:
        path, pool = config.stash[project_path_key], config.stash[pool_key]
        if not path.is_file():
            config.stash[project_key] = loader.LoadFailure(path, loader.no_such_file(path))
        else:
            probe = Remote(pool, _NoAPI(), "", stubbed=False, deadline=deadline)
            try:
                config.stash[original_base_key] = pool.grader.run(probe.start())
                config.stash[project_key] = path  # type: ignore[assignment]
            except LoadFailed as failed:
                message = explain_input(str(failed).replace(str(path), _shown(path)))
                config.stash[project_key] = loader.LoadFailure(path, f"{_shown(path)}: {message}" if _shown(path) not in message else message)
            finally:
                pool.grader.run(probe.close())
        loaded = config.stash[project_key]
        if isinstance(loaded, loader.LoadFailure):
            config.stash[grade_key].load_error = loaded.message
    loaded = config.stash[project_key]
    if isinstance(loaded, loader.LoadFailure):
        raise Verdict(NOT_IMPORTED.format(path=_shown(loaded.path), why=loaded.message))
    return config.stash[original_base_key]


class _NoAPI:
    """The stand-in for a worker that only imports the file and makes no call."""

    base = ""


def _project_path(config: pytest.Config) -> Path:
    """--project is relative to where pytest was started; the ini default to the project's root."""
    given = config.getoption("project")
    if given:
        return (Path(config.invocation_params.dir) / given).resolve()
    return (config.rootpath / config.getini("project")).resolve()


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def fresh_module(config: pytest.Config) -> ModuleType:
    """The graded file imported afresh for one check, so that nothing a function changed in the
    module during one check (a list grown in place, a session kept) is there in the next."""
    graded_module(config)  # a file that does not import is reported once, as such
    loaded = loader.load(config.stash[project_path_key])
    if isinstance(loaded, loader.LoadFailure):
        raise Verdict(NOT_IMPORTED.format(path=_shown(loaded.path), why=loaded.message))
    return loaded


def graded_module(config: pytest.Config) -> ModuleType:
    """The student's module, imported once per run; a file that does not import is a Verdict for every check."""
    if project_key not in config.stash:
        path = config.stash[project_path_key]
        loaded = loader.load(path)
        if isinstance(loaded, loader.LoadFailure):
            loaded = loader.LoadFailure(path, explain_input(loaded.message.replace(str(path), _shown(path))))
        if isinstance(loaded, loader.LoadFailure) and "pytest-timeout" in loaded.message:
            where = loaded.message.split(": ")[0].split(", ", 1)[-1]
            loaded = loader.LoadFailure(loaded.path, IMPORT_TIMED_OUT.format(seconds=_run_timeout(config), where=where))
        config.stash[project_key] = loaded
        if isinstance(loaded, loader.LoadFailure):
            config.stash[grade_key].load_error = loaded.message
    loaded = config.stash[project_key]
    if isinstance(loaded, loader.LoadFailure):
        raise Verdict(NOT_IMPORTED.format(path=_shown(loaded.path), why=loaded.message))
    return loaded


def graded_item(node: pytest.Item) -> str | None:
    """The catalogue id a check grades, or None for a test outside checks/ (the maintainers' own)."""
    if CHECKS_DIR not in Path(node.path).parents:
        return None
    markers = list(node.iter_markers("item"))
    ids = [m.args[0] for m in markers if m.args]
    if len(ids) != 1 or ids[0] not in catalogue.BY_ID:
        raise pytest.UsageError(
            f"{node.nodeid}: every check needs exactly one @pytest.mark.item(ID) marker with an id "
            f"from the catalogue ({', '.join(catalogue.BY_ID)}); found {ids or 'none'}"
        )
    return ids[0]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    config.stash[stall_key] = _stall_threshold(config)
    for node in items:
        item_id = graded_item(node)
        if item_id is not None:
            node.extra_keyword_matches.add(item_id)  # so `pytest -k alter-2`, the id the scorecard shows, selects it
    order = config.getoption("check_order")
    if order == "reverse":
        items.reverse()
    elif order.startswith("shuffle:") and order[8:].isdigit():
        random.Random(int(order[8:])).shuffle(items)
    elif order != "file":
        raise pytest.UsageError(f"--check-order takes 'file', 'reverse' or 'shuffle:SEED' (a whole number), got {order!r}")


def _stall_threshold(config: pytest.Config) -> float | None:
    """Seconds of waiting for a CPU after which a failed check is run again, or None for never."""
    raw = str(config.getoption("stall_rerun")).strip().lower()
    if raw == "off":
        return None
    try:
        threshold = float(raw)
    except ValueError:
        threshold = -1.0
    if not threshold >= 0:
        raise pytest.UsageError(f"--stall-rerun takes seconds (0 or more) or 'off', got {raw!r}")
    if official(config) is not None or stall.waits() is None:
        return None
    return threshold


def pytest_collection_finish(session: pytest.Session) -> None:
    """Decide whether the checks run in parallel groups; then, in official grading without groups,
    start the sandbox and import the graded file once before any check's clock starts."""
    config = session.config
    count = groups.wanted(config)
    graded = all(graded_item(node) for node in session.items)
    split = count > 1 and graded and groups.blocked(config, session.items) is None
    config.stash[groups_key] = count if split else 0
    if not split and any(graded_item(node) for node in session.items):
        _start_official(config)


def _start_official(config: pytest.Config) -> None:
    """Start the sandbox and import the graded file once: neither is the student's time, and a file that
    does not import is found here. With groups, each group does this for its own sandbox."""
    pool = official(config)
    if pool is None:
        return
    limit = _run_timeout(config) or 15.0
    try:
        pool.ensure_started()
    except RuntimeError as error:
        config.stash[grade_key].grader_errors.append(str(error))
        return
    try:
        remote_project(config, time.monotonic() + limit)
    except Verdict:
        pass  # recorded as the load error; every check reports it


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    """Run the checks in groups side by side when collection chose to (see checks/engine/groups.py)."""
    count = session.config.stash.get(groups_key, 0)
    if not count or session.testsfailed or session.config.option.collectonly:
        return None  # pytest's own loop: one check after another
    estimates = [durations.estimate(node.name) for node in session.items]
    groups.run(session, estimates, count, _GROUP_HOOKS)
    return True


def _group_export(node: pytest.Item) -> dict:
    """In a group: what this process knows of a check that the parent's reports need."""
    check = node.config.stash[checks_key][node.nodeid]
    kept = [k for k in node.config.stash.get(requests_key, []) if k.check == node.name]
    return {
        "check": {"name": check.name, "item_id": check.item_id, "outcome": check.outcome.value, "message": check.message,
                  "attempts": check.attempts, "waited_for_cpu": check.waited_for_cpu, "weight": check.weight,
                  "hint": check.hint},
        "requests": [{"failed": k.failed, "spans": [asdict(s) for s in k.spans]} for k in kept[-1:]],
    }


def _group_absorb(node: pytest.Item, data: dict) -> None:
    """In the parent: a check a group ran, recorded as if it had run here."""
    found = data["check"]
    check = CheckResult(found["name"], found["item_id"], Outcome(found["outcome"]), found["message"],
                        found["attempts"], found["waited_for_cpu"], found["weight"], found["hint"])
    node.config.stash[checks_key][node.nodeid] = check
    node.config.stash[grade_key].add(check)
    for kept in data.get("requests", []):
        spans = tuple(Span(**s) for s in kept["spans"])
        node.config.stash.setdefault(requests_key, []).append(
            timeline.CheckRequests(check.item_id, node.name, kept["failed"], spans)
        )


def _group_lost(node: pytest.Item, why: str) -> None:
    item_id = graded_item(node)
    assert item_id is not None
    check = CheckResult(node.name, item_id, Outcome.FAILED, why)
    node.config.stash[checks_key][node.nodeid] = check
    node.config.stash[grade_key].add(check)


def _group_finish(config: pytest.Config) -> dict:
    grade = config.stash[grade_key]
    return {"load_error": grade.load_error, "grader_errors": grade.grader_errors}


def _group_merge(config: pytest.Config, data: dict) -> None:
    grade = config.stash[grade_key]
    if data.get("load_error") and grade.load_error is None:
        grade.load_error = data["load_error"]
    for error in data.get("grader_errors") or []:
        if error not in grade.grader_errors:
            grade.grader_errors.append(error)


_GROUP_HOOKS = groups.Hooks(
    start=_start_official, export=_group_export, absorb=_group_absorb, finish=_group_finish, merge=_group_merge,
    lost=_group_lost, time_limit=lambda node: _timeout_of(node),
)


class _CollectionWatch:
    """Registered per run: a check module that cannot be collected is the grader's fault, not the
    student's, and without this the run would end with no scorecard and nothing in the reports."""

    def __init__(self, grade: Grade) -> None:
        self.grade = grade

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        where = Path(report.fspath).resolve()
        # CHECKS_DIR itself: its conftest.py did not import (a library missing), which stops every check
        if report.failed and (where == CHECKS_DIR or CHECKS_DIR in where.parents):
            text = str(report.longrepr).strip().splitlines()
            self.grade.grader_errors.append(f"{report.nodeid}: " + " | ".join(text[-3:]))
            for item_id in _items_named_in(Path(report.fspath)):
                message = MODULE_NOT_LOADED.format(module=report.nodeid)
                self.grade.add(CheckResult(report.nodeid, item_id, Outcome.NOT_RUN, message))


def _items_named_in(module: Path) -> list[str]:
    """The catalogue ids a check module marks, read from its text: it could not be imported to ask it."""
    try:
        text = module.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    named = re.findall(r"""mark\.item\(\s*["']([\w-]+)["']""", text)
    return [item_id for item_id in dict.fromkeys(named) if item_id in catalogue.BY_ID]


def pytest_deselected(items: list[pytest.Item]) -> None:
    """A check left out by -k or -m still belongs to its item: recorded as not run, so the item cannot pass."""
    for node in items:
        item_id = graded_item(node)
        if item_id is not None:
            node.config.stash[grade_key].add(CheckResult(node.name, item_id, Outcome.NOT_RUN, DESELECTED))


def pytest_report_header(config: pytest.Config) -> str:
    return f"grading: {_shown(config.stash[project_path_key])}"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """Open a check's result as it starts, so that even a crash in its setup is recorded; and run a check
    that failed while the machine kept the grader waiting for a CPU once more (see checks/engine/stall.py).

    pytest-rerunfailures would report the first run as a test case of its own, which JUnit readers show
    as passed; here only the run whose verdict counts is reported, with the first run's wait beside it.
    """
    item_id = graded_item(item)
    if item_id is None:
        return None
    check = CheckResult(name=item.name, item_id=item_id, outcome=Outcome.ERROR, message="did not finish")
    item.config.stash[checks_key][item.nodeid] = check
    item.config.stash[grade_key].add(check)
    # JUnit XML carries these as <properties> of the test case (pytest's record_property).
    item.user_properties += [("item", item_id), ("points", catalogue.item(item_id).points)]
    threshold = item.config.stash.get(stall_key, None)
    if threshold is None:
        return None  # pytest's own protocol runs it, once
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    started = time.monotonic()
    reports = runtestprotocol(item, nextitem=nextitem, log=False)
    waited = _starved(item, reports, threshold, time.monotonic() - started)
    if waited is not None:
        check.attempts, check.waited_for_cpu = 2, round(waited, 3)
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
    for report in reports:
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def _starved(item: pytest.Item, reports: list[pytest.TestReport], threshold: float, took: float) -> float | None:
    """The seconds the grader waited for a CPU during a check that deserves a second run, else None.

    Only a measured verdict is run again (not a hang, a crash or a grader error), only when the wait
    reached `threshold`, and only when the first run left room for a second within the check's limit.
    """
    failure = item.stash.get(failure_key, None)
    meter = item.stash.get(meter_key, None)
    waited = meter.seconds() if meter is not None else None
    limit = _timeout_of(item)
    if not any(r.failed for r in reports) or not isinstance(failure, Verdict) or not failure.measured or waited is None:
        return None
    if waited < threshold or (limit > 0 and took > limit / 3):
        return None
    return waited


def _budget(config: pytest.Config) -> float:
    given = config.getoption("grade_budget")
    raw = given if given is not None else config.getini("grade_budget")
    try:
        budget = float(raw)
    except ValueError:
        raise pytest.UsageError(f"grade_budget must be a number of seconds, got {raw!r}") from None
    if budget <= 0:
        raise pytest.UsageError(f"--grade-budget must be more than 0 seconds, got {raw!r}")
    return budget


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Bound the whole run: once it has taken too long, the checks left are reported, not run."""
    if graded_item(item) is None:
        return
    meter = item.stash[meter_key] = stall.Meter()
    meter.start()
    spent, budget = time.monotonic() - item.config.stash[started_key], _budget(item.config)
    if spent > budget:
        pytest.fail(OVER_BUDGET.format(seconds=spent, budget=budget), pytrace=False)


def _contain_escapes(item: pytest.Item):
    """KeyboardInterrupt or SystemExit raised in a student's task escapes the event loop, in the call or
    when the loop's leftover tasks are cancelled at teardown; keep it to this check, not the whole run."""
    try:
        return (yield)
    except (KeyboardInterrupt, SystemExit) as error:
        path = item.config.stash[project_path_key]
        if graded_item(item) is None or loader.location(path, error.__traceback__) is None:
            raise  # a real Ctrl-C, or the grader's own exit
        harness = item.funcargs.get("harness") or item.funcargs.get("live")
        name = f"{harness.running}()" if getattr(harness, "running", None) else "The code under test"
        message = ESCAPED.format(name=name, error=type(error).__name__)
        raise Verdict(harness.explain(message) if harness else message) from None


pytest_runtest_call = pytest.hookimpl(wrapper=True)(_contain_escapes)
pytest_runtest_teardown = pytest.hookimpl(wrapper=True)(_contain_escapes)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Replace the traceback of a named mistake with its message and the item's hint, and record the outcome."""
    report = yield
    item_id = graded_item(item)
    if item_id is None:
        return report
    if report.when == "setup":
        item.stash[failure_key] = None
    if report.failed and call.excinfo is not None and item.stash.get(failure_key, None) is None:
        item.stash[failure_key] = call.excinfo.value  # the first failure of this run, for _starved
    if report.failed and call.excinfo is not None:
        error = call.excinfo.value
        hint = f"\nHint: {getattr(error, 'hint', '') or catalogue.item(item_id).hint}"
        if isinstance(error, Verdict):
            check = item.config.stash[checks_key][item.nodeid]
            check.weight, check.hint = error.weight, error.hint
            report.longrepr = str(error) + hint
        elif "Timeout" in str(error) and "pytest-timeout" in str(error):
            harness = item.funcargs.get("harness")
            running = getattr(harness, "running", None)
            if running:
                item.config.stash[hung_key].add(running)
            name = f"{running}()" if running else "This check"
            message = TIMED_OUT.format(name=name, seconds=_timeout_of(item))
            report.longrepr = (harness.explain(message) if harness else message) + hint
    _record(item.config.stash[checks_key][item.nodeid], report)
    _keep_requests(item, item_id, report)
    return report


def check_deadline(item: pytest.Item) -> tuple[float, float]:
    """(when a check's calls must have answered, its time limit): the deadline falls half a second
    before pytest-timeout would stop the check, so the grader stops the worker first and says why."""
    timeout = _timeout_of(item)
    return time.monotonic() + (timeout - 0.5 if timeout > 1 else 3600.0), timeout


def _run_timeout(config: pytest.Config) -> float:
    """The per-check time limit of this run: pytest-timeout's --timeout, else the ini value."""
    given = getattr(config.option, "timeout", None)
    return float(given if given is not None else config.getini("timeout") or 0)


def _timeout_of(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    if marker and marker.args:
        return float(marker.args[0])
    return _run_timeout(item.config)


def _record(check: CheckResult, report: pytest.TestReport) -> None:
    """Keep the verdict that matters: a failed setup or teardown makes the check an error."""
    if report.when != "call" and report.passed:
        return
    if report.failed:
        outcome = Outcome.FAILED if report.when == "call" else Outcome.ERROR
    elif report.skipped:
        outcome = Outcome.SKIPPED
    else:
        outcome = Outcome.PASSED
    if report.when == "teardown" and check.outcome is not Outcome.PASSED:
        return  # the call's own failure says more than its teardown's
    check.outcome, check.message = outcome, _message(report)
    if outcome is Outcome.SKIPPED and catalogue.item(check.item_id).graded:
        check.message = SKIPPED_BY_CODE.format(why=check.message or "no reason given")


def _message(report: pytest.TestReport) -> str:
    if report.passed:
        return ""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (file, line, reason)
        return str(longrepr[2]).removeprefix("Skipped: ")
    return explain_input(str(longrepr))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write every requested report, even when checks crashed or the run was cut short."""
    config = session.config
    grade = config.stash[grade_key]
    if grade.grader_errors:  # pytest stops before any check when a check module cannot be loaded
        for result in grade.items:
            if not result.checks:
                grade.add(CheckResult("collection", result.item.id, Outcome.NOT_RUN, RUN_STOPPED))
    here = Path(config.invocation_params.dir)
    if config.getoption("grade_json"):
        reports.write_json(grade, here / config.getoption("grade_json"))
    if config.getoption("gradescope"):
        spent = time.monotonic() - config.stash[started_key]
        exports.write_gradescope(grade, here / config.getoption("gradescope"), execution_time=spent)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary and _graded_anything(grade):
        with open(summary, "a", encoding="utf-8") as out:
            out.write(exports.github_summary(grade))
            out.write(_requests_markdown(config))
    _write_timeline(config, here)


def _graded_anything(grade: Grade) -> bool:
    return grade.load_error is not None or bool(grade.grader_errors) or any(r.checks for r in grade.items)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    grade = config.stash[grade_key]
    if not _graded_anything(grade):
        return
    seen = _compare_progress(config, grade, exitstatus)
    terminalreporter.section("Scorecard", sep="=", bold=True)
    for line in reports.scorecard(grade, seen, all_hints=config.getoption("hints")):
        terminalreporter.write_line(line)
    for check in config.stash[checks_key].values():
        if check.attempts > 1:
            terminalreporter.write_line(RUN_AGAIN.format(name=check.name, seconds=check.waited_for_cpu))
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for command in exports.github_annotations(grade, config.stash[project_path_key]):
            terminalreporter.write_line(command)
    if config.getoption("watch_screen"):
        _write_screen(config, grade, seen, Path(config.invocation_params.dir) / config.getoption("watch_screen"))
    terminalreporter.flush()  # a closed pipe or a full disk fails here, before this run is remembered
    if seen is not None:
        progress.remember(seen)


def _write_screen(config: pytest.Config, grade: Grade, seen: progress.Progress | None, path: Path) -> None:
    """The scorecard as `python -m checks watch` shows it, fitted to the window it names in COLUMNS and LINES."""
    size = shutil.get_terminal_size()
    lines = reports.screen(grade, seen, all_hints=config.getoption("hints"), width=size.columns, height=size.lines,
                           hints_command=WATCH_HINTS_COMMAND)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# --- the student's loop: progress between runs, and the requests each check made -----------------

HINTS_HELP = "show the hint of every failing item under it, not only the next item's"
PROGRESS_HELP = (
    "remember each item's result in .grader-progress.json beside the graded file, to say what changed "
    "since the last run: 'auto' (default) only in a self-grading run that writes no report for machines "
    "(--grade-json, --gradescope), 'on', or 'off'; never with --official"
)
TIMELINE_HELP = "write the requests every check made, as bars on a time axis, to DIR/timeline.html and DIR/timeline.md"
WATCH_SCREEN_HELP = (
    "also write the scorecard as `python -m checks watch` shows it to PATH: fitted to a window of "
    "$COLUMNS x $LINES, one line per item, text wrapped between words (the watcher sets this)"
)
WATCH_HINTS_COMMAND = "python -m checks watch --hints"
requests_key = pytest.StashKey[list]()


def _keep_requests(item: pytest.Item, item_id: str, report: pytest.TestReport) -> None:
    """What the check's stand-in recorded, once its call is over: the pictures are drawn at the end."""
    if report.when != "call":
        return
    harness = item.funcargs.get("harness") or item.funcargs.get("live")
    spans = tuple(getattr(getattr(harness, "probe", None), "spans", ()))
    kept = item.config.stash.setdefault(requests_key, [])
    kept[:] = [k for k in kept if k.check != item.name]  # a check run again: its second run's requests
    kept.append(timeline.CheckRequests(item_id, item.name, report.failed, spans))


def _requests_markdown(config: pytest.Config) -> str:
    """One Mermaid chart per item for the step summary; failing items' charts unfolded."""
    chosen = timeline.one_per_item(config.stash.get(requests_key, []))
    pictures = [record.picture() for record in chosen]
    return timeline.markdown(pictures, open_titles=[p.title for p, r in zip(pictures, chosen) if r.failed])


def _write_timeline(config: pytest.Config, here: Path) -> None:
    folder = config.getoption("timeline")
    if not folder:
        return
    records = config.stash.get(requests_key, [])
    out = here / folder
    out.mkdir(parents=True, exist_ok=True)
    intro = f"Every request each check made while grading {_shown(config.stash[project_path_key])}."
    (out / "timeline.html").write_text(timeline.html_page(timeline.every_check(records), intro=intro), encoding="utf-8")
    (out / "timeline.md").write_text(_requests_markdown(config), encoding="utf-8")


def _compare_progress(config: pytest.Config, grade: Grade, exitstatus: int) -> progress.Progress | None:
    """What changed since the run remembered; only for a person grading their own file (never beside
    a file graded officially or for a machine), and only for a run that finished: an interrupted
    run is not an attempt. The caller remembers this run once its scorecard has been written."""
    wanted = config.getoption("progress")
    machine = config.getoption("grade_json") or config.getoption("gradescope")
    if wanted == "off" or official(config) is not None or (wanted == "auto" and machine):
        return None
    if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        return None
    if grade.load_error is None and not grade.grader_errors and any(r.status in ("passed", "failed") for r in grade.items):
        return progress.compare(grade, config.stash[project_path_key])
    return None


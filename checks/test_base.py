"""Checks for the base exercise and Alter 1: sync one at a time, async all at once, at 10 posts and at 50."""

from __future__ import annotations

import re

import pytest

from checks.catalogue import PROPERTY_HINTS
from checks.contract import strategies
from checks.contract.scenario import Call, Ids, Scenario
from checks.data import shuffled
from checks.engine.gates import Together
from checks.engine.explore import Exploration, Explorer
from checks.engine.harness import Harness, Run, short, shown_ids
from checks.engine.probe import Probe
from checks.engine.stubs import descending

TEN, FIFTY = shuffled(10, seed=1), shuffled(50, seed=2)
REPEATED = [*TEN, TEN[2]]
"""The ten, with one asked for twice: one result per id asked for, even a repeated one."""

NOT_ONE_AT_A_TIME = (
    "{name}(): peak in flight {peak}, expected 1. The sync version is the baseline: does it wait "
    "for each response before sending the next request?"
)
WRONG_CLIENT = "{name}() made {got} requests with the `{client}` library, expected {expected}."


def expect_one_at_a_time(harness: Harness, run: Run, ids: list[int]) -> None:
    requests_made = [s for s in run.spans if s.client == "requests"]
    harness.expect(
        len(requests_made) == len(ids),
        WRONG_CLIENT.format(name=run.name, got=len(requests_made), client="requests", expected=len(ids)),
    )
    harness.expect(run.peak == 1, NOT_ONE_AT_A_TIME.format(name=run.name, peak=run.peak), run, picture=True)


def expect_sync_batch(harness: Harness, ids: list[int], delay: float) -> None:
    # The first answer waits until a second request comes (threads would send one at once) or until
    # nothing has come for a while: one at a time is then shown by a count, however busy the machine.
    harness.api.gate = Together(2, client="requests")
    harness.api.default_delay = delay
    run = harness.call_sync("fetch_sync", ids)
    expect_one_at_a_time(harness, run, ids)
    harness.expect_items(run, ids)


async def expect_async_batch(harness: Harness, ids: list[int]) -> None:
    # No answer leaves before every request is in flight; then the first asked for answers last.
    harness.api.gate = Together(len(ids))
    harness.api.delays = descending(ids, slowest=0.02, fastest=0.005)
    run = await harness.call("fetch_async", ids)
    harness.expect_no_blocking(run)
    harness.expect_all_at_once(run, len(ids))
    harness.expect_items(run, ids)
    harness.expect_one_session(run)


# --- base ----------------------------------------------------------------------------------


@pytest.mark.item("base")
def test_sync_fetches_one_post_at_a_time_in_order(harness: Harness) -> None:
    expect_sync_batch(harness, TEN, delay=0.002)


@pytest.mark.item("base")
async def test_fetch_one_returns_the_post_through_the_given_session(harness: Harness) -> None:
    session = await harness.session()
    try:
        run = await harness.call("fetch_one", session, 7)
        again = await harness.attempt("fetch_one", session, 8)  # the caller's session must still work
    finally:
        await session.close()
    harness.expect_no_blocking(run)
    harness.expect(
        run.sessions_opened == 0,
        f"fetch_one() opened {run.sessions_opened} ClientSession(s) of its own; expected it to use the session it is given.",
    )
    harness.expect(len(run.spans) == 1, f"fetch_one(session, 7) made {len(run.spans)} requests, expected 1.")
    harness.expect(
        run.value == harness.api.post(7), f"fetch_one(session, 7) returned {short(run.value)}; expected post 7's JSON as a dict."
    )
    if again.error is not None or again.value != harness.api.post(8):
        what = harness.raised(again) if again.error is not None else f"returned {short(again.value)}"
        raise harness.fail(
            f"After fetch_one(session, 7), a second call on the same session, fetch_one(session, 8), {what}; "
            "expected post 8.", again, hint=PROPERTY_HINTS["session kept"],
            weight=3 if again.error is not None else 1,  # the line that raised tells most
        )


@pytest.mark.item("base")
async def test_async_sends_every_request_before_any_returns(harness: Harness) -> None:
    await expect_async_batch(harness, REPEATED)


MAIN_FORMAT = (
    "Expected a 'Fetched post N' line for each of posts 1 to {count} in each run, each run ending with "
    "'Sync total: ~S seconds for {count} requests' or 'Async total: ~S seconds for {count} requests'."
)
# Lenient on spacing, case, a '#' before the id and the unit's spelling ("2.5 s", "2.5 secs"): the
# format is there for people to read, and what was fetched is measured, not read from the text.
FETCHED = re.compile(r"fetched post\s*#?\s*(\d+)", re.I)
TOTAL = r"\b{run} total\s*:?\s*~?\s*(?P<seconds>\d*\.?\d+)\s*(?:s|secs?|seconds?)\b\s*for\s+(?P<count>\d+)\s+requests?"
SYNC_TOTAL, ASYNC_TOTAL = (re.compile(TOTAL.format(run=run), re.I) for run in ("sync", "async"))


def expect_main_output(
    harness: Harness, output: str, run: Run, count: int, shown: str = "", *, timed: bool = False
) -> None:
    """Two runs printed in order, each naming every post, and the requests really made that way.

    `shown` is how the student started it, `main(10)` unless said otherwise. More requests than
    `count` are allowed (a student may add a run of their own after the two asked for); fewer are not.
    With `timed`, the printed totals are held against what was measured (see expect_totals_measured).
    """
    shown = shown or f"main({count})"
    sync_total, async_total = SYNC_TOTAL.search(output), ASYNC_TOTAL.search(output)
    expected = MAIN_FORMAT.format(count=count)
    harness.expect(sync_total is not None, f"{shown} printed no 'Sync total' line. {expected}")
    harness.expect(async_total is not None, f"{shown} printed no 'Async total' line. {expected}")
    assert sync_total and async_total
    harness.expect(
        sync_total.start() < async_total.start(), f"{shown} printed the async total before the sync one. {expected}"
    )
    for label, total, section in (
        ("sync", sync_total, output[: sync_total.start()]),
        ("async", async_total, output[sync_total.end() : async_total.start()]),
    ):
        named = {int(n) for n in FETCHED.findall(section)}
        missing = sorted(set(range(1, count + 1)) - named)
        beyond = sorted(n for n in named if n > count)
        harness.expect(
            not beyond,
            f"{shown}: the {label} run printed posts beyond {count} too ({shown_ids(beyond)}). Does main() "
            "fetch the ids it is asked for each time, or a list kept from an earlier call?",
        )
        harness.expect(
            not missing and int(total.group('count')) == count,
            f"{shown}: the {label} run printed {len(named & set(range(1, count + 1)))} of the {count} posts "
            f"and its total line says {total.group('count')} requests. {expected}",
        )
    sync_spans = [s for s in run.spans if s.client == "requests"]
    async_spans = [s for s in run.spans if s.client == "aiohttp"]
    harness.expect(
        len(sync_spans) >= count and len(async_spans) >= count,
        f"{shown} made {len(sync_spans)} requests with `requests` and {len(async_spans)} with aiohttp; "
        f"expected {count} of each (one sync run, one async run).",
    )
    harness.expect(Probe.peak(sync_spans) == 1, f"{shown}: the sync run had more than one request in flight at once.")
    peak_async = Probe.peak(async_spans)
    harness.expect(
        peak_async >= count,
        f"{shown}: the async run's peak in flight was {peak_async}, expected {count} (all at once).",
    )
    if timed:
        first_async = sorted(async_spans, key=lambda s: s.start)[:count]  # a run of the student's own may follow
        expect_totals_measured(harness, run, sync_total, async_total, sync_spans, first_async, shown)


def expect_totals_measured(
    harness: Harness, run: Run, sync_total, async_total, sync_spans: list, async_spans: list, shown: str
) -> None:
    """The printed totals against the stand-in's own clock, from both sides, with wide margins: no load can
    make an honest total fail, and a total that times the wrong thing is off by a whole run.

    Each run's requests, as the stand-in saw them, lie inside the student's timer for that run, and the two
    timers do not overlap inside main(); so each total is at least its requests' span, and the async total
    plus the sync requests' span is at most main()'s whole time. A rounded total gets half its last digit.
    """
    measured_sync = max(s.end for s in sync_spans) - min(s.start for s in sync_spans)
    measured_async = max(s.end for s in async_spans if s.end is not None) - min(s.start for s in async_spans)
    printed_sync, printed_async = (float(t.group("seconds")) for t in (sync_total, async_total))
    slack_sync, slack_async = (_rounding(t.group("seconds")) for t in (sync_total, async_total))
    harness.expect(
        printed_sync + slack_sync >= measured_sync,
        f"{shown} printed 'Sync total: {sync_total.group('seconds')} seconds', but its requests alone took "
        f"{measured_sync:.2f} s, as measured by the stand-in. Does the sync timer start before the first request "
        "and stop after the last?",
    )
    harness.expect(
        printed_async + slack_async >= measured_async,
        f"{shown} printed 'Async total: {async_total.group('seconds')} seconds', but its requests alone took "
        f"{measured_async:.2f} s, as measured by the stand-in. Does the async timer start before the async run "
        "and stop after it?",
    )
    harness.expect(
        printed_sync - slack_sync <= run.seconds,
        f"{shown} printed 'Sync total: {sync_total.group('seconds')} seconds', but main() took only {run.seconds:.2f} s "
        "in all. Is the sync total the time now less the time the run started?",
    )
    harness.expect(
        printed_async - slack_async + measured_sync <= run.seconds,
        f"{shown} printed 'Async total: {async_total.group('seconds')} seconds', but main() took {run.seconds:.2f} s "
        f"in all, {measured_sync:.2f} s of it in the sync run. Does the async timer start again after the sync "
        "run, or does the async total include it?",
    )


def _rounding(printed: str) -> float:
    """Half a unit of the last digit printed: '0.3' may stand for 0.25 to 0.35."""
    decimals = len(printed.partition(".")[2])
    return 0.5 * 10.0**-decimals

@pytest.mark.item("base")
def test_main_prints_a_sync_run_then_an_async_run(harness: Harness) -> None:
    # Runs long enough (10 x 0.02 s one after another; 0.12 s all at once) that a total timing the wrong run,
    # or starting its timer late, is off by far more than the rounding of a total printed to a tenth.
    harness.api.sync_delay, harness.api.default_delay = 0.02, 0.12
    harness.api.gate = Together(10)
    run = harness.call_sync("main")
    expect_main_output(harness, run.output or "", run, 10, timed=True)
    harness.expect(
        run.sessions_left_open == 0 and run.connectors_left_open == 0,
        "main() left an aiohttp ClientSession (or its connector) open when it returned: `python project.py` "
        "would warn 'Unclosed client session'. Is every session main() runs through opened with `async with`?",
    )


# --- alter-1 -------------------------------------------------------------------------------


@pytest.mark.item("alter-1")
def test_main_fetches_the_count_it_is_given(harness: Harness) -> None:
    harness.api.sync_delay, harness.api.default_delay = 0.001, 0.005
    harness.api.gate = Together(50)
    run = harness.call_sync("main", 50)
    expect_main_output(harness, run.output or "", run, 50)
    # Then 10 again in the same process: what main(50) did must not stay behind in the module.
    harness.api.gate = Together(10)
    run = harness.call_sync("main", 10)
    expect_main_output(harness, run.output or "", run, 10, shown="main(10) after main(50)")


@pytest.mark.item("alter-1")
def test_command_line_count_reaches_main(harness: Harness) -> None:
    """`python project.py 50` runs the file afresh, so its own BASE_URL is served for this check."""
    harness.api.base = harness.original_base_url
    harness.api.sync_delay, harness.api.default_delay = 0.001, 0.005
    harness.api.gate = Together(50)
    run = harness.run_as_script("50")
    expect_main_output(harness, run.output or "", run, 50, shown=f"python {harness.path.name} 50")


@pytest.mark.item("alter-1")
def test_command_line_without_a_count_runs_ten(harness: Harness) -> None:
    """`python project.py` with no count runs main(10), the documented default."""
    harness.api.base = harness.original_base_url
    harness.api.sync_delay, harness.api.default_delay = 0.001, 0.005
    harness.api.gate = Together(10)
    run = harness.run_as_script()
    expect_main_output(harness, run.output or "", run, 10, shown=f"python {harness.path.name} (no count)")


@pytest.mark.item("alter-1")
def test_sync_fetches_fifty_posts_one_at_a_time(harness: Harness) -> None:
    expect_sync_batch(harness, FIFTY, delay=0.002)


@pytest.mark.item("alter-1")
async def test_async_fetches_fifty_posts_at_once(harness: Harness) -> None:
    await expect_async_batch(harness, FIFTY)


# --- base, explored: generated scenarios judged by the contract's model (checks/contract/) ------

SYNC_EDGES = [
    Scenario((Call("fetch_sync", Ids(())),), note="no ids at all"),
    Scenario((Call("fetch_sync"), Call("fetch_sync")), note="the defaults, twice on one import"),
    Scenario((Call("fetch_sync", Ids((5, 5, 2))),), note="a repeated id"),
    Scenario((Call("fetch_sync", Ids((4, 1), "tuple")),), base_path="/api/v1", note="a tuple, and a path in BASE_URL"),
]
ASYNC_EDGES = [
    Scenario((Call("fetch_async", Ids(())),), note="no ids at all"),
    Scenario((Call("fetch_async"), Call("fetch_async", in_loop=1)), note="the defaults twice, in two event loops"),
    Scenario((Call("fetch_async", Ids((3, 7, 3))),), note="a repeated id"),
    Scenario((Call("fetch_async", Ids.range(2, 6)),), base_path="/api/v1", note="a range, and a path in BASE_URL"),
]


SYNC = Exploration(strategies.batches("fetch_sync"), tuple(SYNC_EDGES))
ONE = Exploration(strategies.fetch_one_calls(), (Scenario((Call("fetch_one", post_id=3),), base_path="/api/v1"),))
ASYNC = Exploration(strategies.batches("fetch_async"), tuple(ASYNC_EDGES))


@pytest.mark.item("base")
def test_fetch_sync_explored(explorer: Explorer) -> None:
    explorer.explore(SYNC)


@pytest.mark.item("base")
def test_fetch_one_explored(explorer: Explorer) -> None:
    explorer.explore(ONE)


@pytest.mark.item("base")
def test_fetch_async_explored(explorer: Explorer) -> None:
    explorer.explore(ASYNC)

"""Checks for the Break items: a hand-made session, a missing post, and a timeout far too short."""

from __future__ import annotations

from http import HTTPStatus

import aiohttp
import pytest
import requests

from checks.contract import strategies
from checks.contract.scenario import MISSING as NO_SUCH_POST, Call, Ids, Scenario
from checks.data import shuffled
from checks.engine.gates import Together
from checks.engine.explore import Exploration, Explorer
from checks.engine.harness import Harness, short
from checks.engine.stubs import Reply
from checks.engine.stubs import descending

TEN = shuffled(10, seed=4)
MISSING = 9999  # the stand-in has 100 posts; like the real API it answers 404 with {} beyond them

MANUAL_LEFT_OPEN = (
    "fetch_async_manual_session() returned with its ClientSession still open: aiohttp would "
    "warn 'Unclosed client session' and the connections stay open. Who calls `await session.close()`?"
)


@pytest.mark.item("break-1")
async def test_manual_session_works_and_is_closed_after_success(harness: Harness) -> None:
    harness.api.delays = descending(TEN, slowest=0.02, fastest=0.005)
    # Twice, as a program would call it: a session kept from the first call is closed by the second.
    for ids in (TEN[:4], TEN):
        harness.api.gate = Together(len(ids))
        run = await harness.call("fetch_async_manual_session", ids)
        harness.expect_no_blocking(run)
        harness.expect_all_at_once(run, len(ids))
        harness.expect_items(run, ids)
        harness.expect_one_session(run, left_open=MANUAL_LEFT_OPEN)


SILENT_ERROR = (
    "{call} returned {got} for {what} (the server answered HTTP {status}); expected it to raise "
    "{expected}. Which call turns an error status into an exception?"
)


# Statuses from across the 4xx and 5xx ranges: code that raises only for the two it has seen (404 and
# 500) is not raising for error statuses.
ASYNC_STATUSES = [(MISSING, 404), (3, 500), (8, 403), (5, 503)]
SYNC_STATUSES = [(MISSING, 404), (3, 500), (6, 400), (9, 502)]


def _status_id(case: tuple[int, int]) -> str:
    return f"{'missing' if case[0] == MISSING else 'status'}-{case[1]}"


def _what(status: int) -> str:
    if status == 404:
        return "a post that does not exist"
    return f"a post the server refused ({HTTPStatus(status).phrase})" if status < 500 else "a post the server failed to produce"


@pytest.mark.item("break-2")
@pytest.mark.parametrize(("post_id", "status"), ASYNC_STATUSES, ids=map(_status_id, ASYNC_STATUSES))
async def test_fetch_one_raises_for_an_error_status(harness: Harness, post_id: int, status: int) -> None:
    if status != 404:
        harness.api.faults[f"/posts/{post_id}"] = status
    session = await harness.session()
    try:
        run = await harness.attempt("fetch_one", session, post_id)
    finally:
        await session.close()
    call = f"fetch_one(session, {post_id})"
    what = _what(status)
    harness.expect(
        run.error is not None,
        SILENT_ERROR.format(call=call, got=short(run.value), what=what, status=status, expected="aiohttp.ClientResponseError"),
    )
    harness.expect(
        isinstance(run.error, aiohttp.ClientResponseError) and run.error.status == status,
        f"{call} raised {type(run.error).__name__}: {run.error}; expected aiohttp.ClientResponseError with status {status}.",
    )


@pytest.mark.item("break-2")
@pytest.mark.parametrize(("post_id", "status"), SYNC_STATUSES, ids=map(_status_id, SYNC_STATUSES))
def test_fetch_sync_raises_for_an_error_status(harness: Harness, post_id: int, status: int) -> None:
    if status != 404:
        harness.api.faults[f"/posts/{post_id}"] = status
    run = harness.attempt_sync("fetch_sync", [1, post_id])
    call = f"fetch_sync([1, {post_id}])"
    what = _what(status)
    harness.expect(
        run.error is not None,
        SILENT_ERROR.format(call=call, got=short(run.value), what=what, status=status, expected="requests.HTTPError"),
    )
    harness.expect(
        isinstance(run.error, requests.HTTPError),
        f"{call} raised {type(run.error).__name__}: {run.error}; expected requests.HTTPError.",
    )


TINY = 0.001
TINY_BOUND = 0.5
"""Seconds a batch with a 1 ms deadline may take (its own time where waits for a CPU are counted): far
more than cancelling takes, far less than a deadline of its own (a constant of a second) in its place."""
UNANSWERED = 2.0
"""Seconds the stand-in takes to answer while a 1 ms deadline runs. Long, so that the answer cannot
overtake the deadline even when the graded process is starved of CPU for a while: in official grading
the answer comes from another process, and Python 3.11's wait_for() returns a result that arrived
before it woke up. Correct code never waits for it, since its deadline cancels the request."""
KEEP_TIMEOUTS = "Is the deadline on each request, and does each request keep its own TimeoutError in its slot?"
TIMEOUTS_KEPT = f"a list with a TimeoutError in every slot. {KEEP_TIMEOUTS}"


@pytest.mark.item("break-3")
async def test_tiny_timeout_fills_every_slot_with_timeout_error(harness: Harness) -> None:
    ids = [1, 2, 3, 4, 5]
    harness.api.default_delay = UNANSWERED
    run = harness.succeeded(await harness.attempt("fetch_async_with_timeout", ids, timeout=TINY), TIMEOUTS_KEPT)
    harness.expect_no_blocking(run)
    value = harness.expect_slots(run, len(ids), f"fetch_async_with_timeout({len(ids)} ids, timeout={TINY})")
    wrong = [(i, slot) for i, slot in zip(ids, value) if not isinstance(slot, TimeoutError)]
    harness.expect(
        not wrong,
        f"fetch_async_with_timeout(timeout={TINY}): the slot for post {wrong[0][0] if wrong else ''} holds "
        f"{short(wrong[0][1]) if wrong else ''}; expected a TimeoutError in every slot, since no request can "
        "answer within a millisecond.",
    )
    took = run.active(run.seconds) if run.waited is not None else run.seconds
    harness.expect(
        took <= TINY_BOUND,
        f"fetch_async_with_timeout(timeout={TINY}) took {took:.2f} s; expected it back at once, since every request "
        "gives up after a millisecond. Is the timeout it was given used at all?",
    )


@pytest.mark.item("break-3")
async def test_tiny_timeout_on_one_request_raises_timeout_error(harness: Harness) -> None:
    harness.api.default_delay = UNANSWERED
    session = await harness.session()
    try:
        run = await harness.attempt("fetch_one_with_timeout", session, 1, TINY)
    finally:
        await session.close()
    harness.expect(
        isinstance(run.error, TimeoutError),
        f"fetch_one_with_timeout(session, 1, {TINY}) "
        + (f"raised {type(run.error).__name__}" if run.error else f"returned {short(run.value)}")
        + "; expected it to raise TimeoutError.",
    )


# --- explored: generated scenarios judged by the contract's model (checks/contract/) ------------

SESSIONS = frozenset({"own_session", "sessions", "closed"})
"""How sessions are opened and closed is judged by base and break-1, not by the items about errors and deadlines;
likewise the order of fetch_sync's requests (base) and a retry after a timeout (fix-2)."""
MANUAL_EDGES = [
    Scenario((Call("fetch_async_manual_session", Ids(())),), note="an empty batch: any session it opens is closed"),
    Scenario((Call("fetch_async_manual_session", Ids((2, 6))), Call("fetch_async_manual_session", Ids((2, 6)), in_loop=1)),
             note="twice, in two event loops"),
]
FETCH_ONE_ERROR_EDGES = [
    Scenario((Call("fetch_one", post_id=4),), replies=(("/posts/4", Reply(400, "error_json")),), note="a JSON error body"),
    Scenario((Call("fetch_one", post_id=7),), replies=(("/posts/7", Reply(503, "html")),), note="an HTML error page"),
    Scenario((Call("fetch_one", post_id=NO_SUCH_POST),), note="a post that does not exist: 404 with {}"),
]
SYNC_ERROR_EDGES = [
    Scenario((Call("fetch_sync", Ids((6, 2, 9))),), replies=(("/posts/6", Reply(500, "text")),), note="the first of three fails"),
    Scenario((Call("fetch_sync", Ids((3, 8, 1))),), replies=(("/posts/8", Reply(404, "error_json")),), note="the middle one"),
    Scenario((Call("fetch_sync", Ids((5, 1))),), replies=(("/posts/5", Reply(400, "html")),), note="an HTML error page"),
]
TINY_EDGES = [
    Scenario((Call("fetch_async_with_timeout", Ids((1, 2, 3)), options=(("timeout", 0.001),)),),
             replies=tuple((f"/posts/{i}", Reply(held=True)) for i in (1, 2, 3))),
    Scenario((Call("fetch_one_with_timeout", post_id=2, options=(("timeout", 0.001),)),), replies=(("/posts/2", Reply(held=True)),)),
]


MANUAL = Exploration(strategies.batches("fetch_async_manual_session", paths=False), tuple(MANUAL_EDGES))
FETCH_ONE_ERRORS = Exploration(strategies.fetch_one_errors(), tuple(FETCH_ONE_ERROR_EDGES), SESSIONS)
SYNC_ERRORS = Exploration(strategies.sync_errors(), tuple(SYNC_ERROR_EDGES), SESSIONS | {"requests_order"})
TINY_DEADLINES = Exploration(strategies.tiny_deadlines(), tuple(TINY_EDGES), SESSIONS | {"requests_repeated"})


@pytest.mark.item("break-1")
def test_manual_session_explored(explorer: Explorer) -> None:
    explorer.explore(MANUAL)


@pytest.mark.item("break-2")
def test_fetch_one_errors_explored(explorer: Explorer) -> None:
    explorer.explore(FETCH_ONE_ERRORS)


@pytest.mark.item("break-2")
def test_fetch_sync_errors_explored(explorer: Explorer) -> None:
    explorer.explore(SYNC_ERRORS)


@pytest.mark.item("break-3")
def test_tiny_deadlines_explored(explorer: Explorer) -> None:
    explorer.explore(TINY_DEADLINES)

"""Checks for the Fix items: failures kept in their slots, a deadline per request, a session closed in finally."""

from __future__ import annotations

from collections import Counter

import aiohttp
import pytest

from checks.contract import strategies
from checks.contract.scenario import Call, Ids, Scenario
from checks.data import shuffled
from checks.engine.gates import Together
from checks.engine.explore import Exploration, Explorer
from checks.engine.harness import Harness, Run, short, timing
from checks.engine.stubs import DROPPED, Reply, descending

EIGHT = shuffled(8, seed=5)

NOT_ISOLATED = (
    "{name}(): the slot for post {post_id} ({failure}) holds {got}; expected the exception its request "
    "raised ({expected}), kept as it is, with every other slot holding its post."
)
WRAPPED = " A new exception made from it hides what failed: is the caught exception itself returned?"
ALL_FAILED = (
    "fetch_async_safe() raised {error} when every one of its {count} requests failed; expected a list "
    "with each request's exception in its slot. A batch in which nothing worked is still a batch."
)
TRIED_AGAIN = (
    "fetch_async_safe() asked for {path} {times} times, but the ids ask for it {wanted}. Is a failed "
    "request tried again after the batch, one at a time? Each slot should keep its first failure."
)


def expected_error(failure: str) -> tuple[type[BaseException], int | None, str]:
    """The exception type (and status) a failed request raises in aiohttp, for a failure named like 'HTTP 503'."""
    if failure.startswith("HTTP "):
        status = int(failure.split()[1])
        return aiohttp.ClientResponseError, status, f"aiohttp.ClientResponseError, status {status}"
    return aiohttp.ClientConnectionError, None, "an aiohttp.ClientConnectionError"


def holds_the_error(slot: object, failure: str) -> bool:
    kind, status, _ = expected_error(failure)
    return isinstance(slot, kind) and (status is None or getattr(slot, "status", None) == status)


async def expect_failures_in_their_slots(
    harness: Harness, ids: list[int], failures: dict[int, str], hint: str, *, gate: bool = True
) -> None:
    if gate:
        harness.api.gate = Together(len(ids))
    harness.api.delays = descending(ids, slowest=0.02, fastest=0.005)
    run = await harness.attempt("fetch_async_safe", ids)
    every = all(i in failures for i in ids)
    harness.expect(
        run.error is None,
        ALL_FAILED.format(error=type(run.error).__name__, count=len(ids))
        if every
        else f"fetch_async_safe() raised {type(run.error).__name__} when {sum(i in failures for i in ids)} of {len(ids)} "
        f"requests failed; expected a list with the exception in each failed slot. {hint}",
    )
    harness.expect_no_blocking(run)
    value = harness.expect_slots(run, len(ids), f"fetch_async_safe({len(ids)} ids)")
    for post_id, slot in zip(ids, value):
        if post_id in failures:
            wrapped = isinstance(slot, BaseException) and not holds_the_error(slot, failures[post_id])
            harness.expect(
                holds_the_error(slot, failures[post_id]),
                NOT_ISOLATED.format(
                    name=run.name, post_id=post_id, failure=failures[post_id], got=short(slot),
                    expected=expected_error(failures[post_id])[2],
                )
                + (WRAPPED if wrapped else " " + hint),
            )
        else:
            harness.expect(
                slot == harness.api.post(post_id),
                f"fetch_async_safe(): the slot for post {post_id} holds {short(slot)}; expected that post, "
                "since its request worked." + (" Are the results in the order of the ids?" if isinstance(slot, dict) else ""),
            )
    harness.expect_each_id_asked_for(run, [f"/posts/{i}" for i in ids])
    wanted = Counter(f"/posts/{i}" for i in ids)
    for path, times in Counter(s.path for s in run.spans).items():
        harness.expect(
            times <= wanted[path],
            TRIED_AGAIN.format(path=path, times=times, wanted="once" if wanted[path] == 1 else f"{wanted[path]} times"),
        )
    if gate:
        harness.expect_all_at_once(run, len(ids))
    harness.expect_one_session(run)


@pytest.mark.item("fix-1")
async def test_safe_batch_keeps_a_lost_connection_in_its_slot(harness: Harness) -> None:
    harness.api.faults["/posts/3"] = DROPPED
    await expect_failures_in_their_slots(
        harness, EIGHT, {3: "connection dropped"}, "Does each request catch its own exception (any Exception)?"
    )


@pytest.mark.item("fix-1")
async def test_safe_batch_keeps_error_statuses_in_their_slots(harness: Harness) -> None:
    # Statuses from both ranges, and one failing post asked for twice: one slot per id, each its own.
    harness.api.faults.update({"/posts/6": 503, "/posts/4": 403})
    ids = [7, 2, 9999, 6, 4, 1, 6, 8, 5]
    await expect_failures_in_their_slots(
        harness,
        ids,
        {9999: "HTTP 404", 6: "HTTP 503", 4: "HTTP 403"},
        "An error status only becomes an exception if fetch_one raises for it (Break 2).",
    )


@pytest.mark.item("fix-1")
async def test_safe_batch_where_every_request_fails(harness: Harness) -> None:
    ids = [5, 2, 9999, 7]
    harness.api.faults.update({"/posts/5": DROPPED, "/posts/2": 500, "/posts/7": 400})
    await expect_failures_in_their_slots(
        harness,
        ids,
        {5: "connection dropped", 2: "HTTP 500", 9999: "HTTP 404", 7: "HTTP 400"},
        "Does each request catch its own exception (any Exception)?",
        gate=False,
    )


SLOW = 2.0
DEADLINE = 0.25
QUICK = 0.035
"""A quick post's least delay: more than the deadline's share for each of eight requests (0.031 s), far
less than the deadline itself, so that only a deadline split between the requests runs out for it."""
DEADLINE_MARGIN = 0.9
"""Extra seconds the batch may take beyond its deadline: wide, so that load cannot reach it, and still
well short of the slow requests' 2 s, which is what a batch without a working deadline takes."""


RETRIED = (
    "{name}(timeout={deadline}) asked for {path} {times} times; expected each post once. A request "
    "that ran out of time is not tried again here: every retry adds another deadline to the wait."
)


def expect_each_post_once(harness: Harness, run: Run) -> None:
    """Counted, not timed: a retry after a timeout shows as a second request for the same post."""
    for path, times in Counter(s.path for s in run.spans).items():
        harness.expect(times == 1, RETRIED.format(name=run.name, deadline=DEADLINE, path=path, times=times))


@pytest.mark.item("fix-2")
async def test_slow_requests_time_out_while_the_rest_arrive(harness: Harness) -> None:
    # Posts 2 and 5 are slow to answer; post 7 answers at once but its body takes as long: a deadline
    # must cover reading the body too. Quiet for less than the deadline: a version that sends one
    # request at a time still gets its quick posts in time, and is told about its peak in flight.
    slow_ids = {2, 5, 7}
    harness.api.gate = Together(len(EIGHT), quiet=0.1)
    # The quick posts take a little over an eighth of the deadline: each needs the whole deadline, not a share of it.
    harness.api.delays = {f"/posts/{i}": SLOW if i in (2, 5) else QUICK + 0.002 * i for i in EIGHT}
    harness.api.body_delays = {"/posts/7": SLOW}
    run = await harness.attempt("fetch_async_with_timeout", EIGHT, timeout=DEADLINE)
    harness.expect(
        run.error is None,
        f"fetch_async_with_timeout(timeout={DEADLINE}) raised {type(run.error).__name__} when 3 of 8 posts "
        "were too slow; expected their slots to hold TimeoutError and the rest their posts. Is the deadline "
        "around the whole batch instead of around each request, or is each request's TimeoutError left "
        "uncaught instead of kept in its slot?",
    )
    harness.expect_no_blocking(run)
    value = harness.expect_slots(run, len(EIGHT), f"fetch_async_with_timeout(8 ids, timeout={DEADLINE})")
    for post_id, slot in zip(EIGHT, value):
        if post_id in slow_ids:
            harness.expect(
                isinstance(slot, TimeoutError),
                f"fetch_async_with_timeout(timeout={DEADLINE}): post {post_id} takes {SLOW:g} s"
                + (" to send its body after its headers" if post_id == 7 else "")
                + f", and its slot holds {short(slot)}; expected a TimeoutError."
                + (" Does the deadline cover reading the body (response.json()) as well as the request?" if post_id == 7 else ""),
            )
        else:
            harness.expect(
                slot == harness.api.post(post_id),
                f"fetch_async_with_timeout(timeout={DEADLINE}): post {post_id} answers in "
                f"{harness.api.delays[f'/posts/{post_id}']:.2f} s, within the deadline, but its slot holds {short(slot)}; "
                "expected the post. "
                + (
                    "Is the deadline divided between the requests, or counted from the start of the batch? "
                    "Each request gets the whole timeout, from its own start."
                    if isinstance(slot, TimeoutError)
                    else "Does one slow request cancel the others?"
                ),
            )
    expect_each_post_once(harness, run)
    harness.expect_all_at_once(run, len(EIGHT))
    harness.expect(
        run.seconds <= DEADLINE + DEADLINE_MARGIN,
        f"fetch_async_with_timeout(timeout={DEADLINE}) took {run.seconds:.2f} s; expected about {DEADLINE} s "
        f"(the deadline), not the {SLOW:g} s the slow posts take. {timing(run)}.",
        run,
        picture=True,
    )
    harness.expect_one_session(run)


@pytest.mark.item("fix-2")
async def test_one_request_with_a_deadline(harness: Harness) -> None:
    harness.api.delays = {"/posts/1": 0.02, "/posts/2": SLOW}
    harness.api.body_delays = {"/posts/3": SLOW}
    session = await harness.session()
    try:
        quick = await harness.call("fetch_one_with_timeout", session, 1, DEADLINE)
        slow = await harness.attempt("fetch_one_with_timeout", session, 2, DEADLINE)
        slow_body = await harness.attempt("fetch_one_with_timeout", session, 3, DEADLINE)
    finally:
        await session.close()
    harness.expect(
        quick.value == harness.api.post(1),
        f"fetch_one_with_timeout(session, 1, {DEADLINE}) returned {short(quick.value)}; expected post 1, which answers in 0.02 s.",
    )
    harness.expect(
        isinstance(slow.error, TimeoutError),
        f"fetch_one_with_timeout(session, 2, {DEADLINE}) on a post that takes {SLOW:g} s "
        + (f"raised {type(slow.error).__name__}" if slow.error else f"returned {short(slow.value)}")
        + "; expected it to raise TimeoutError.",
    )
    expect_each_post_once(harness, slow)
    harness.expect(
        slow.seconds <= DEADLINE + DEADLINE_MARGIN,
        f"fetch_one_with_timeout(session, 2, {DEADLINE}) gave up after {slow.seconds:.2f} s; expected about {DEADLINE} s.",
    )
    harness.expect(
        isinstance(slow_body.error, TimeoutError) and slow_body.seconds <= DEADLINE + DEADLINE_MARGIN,
        f"fetch_one_with_timeout(session, 3, {DEADLINE}) on a post whose body takes {SLOW:g} s after its headers "
        + (f"raised {type(slow_body.error).__name__}" if slow_body.error else f"returned {short(slow_body.value)}")
        + f" after {slow_body.seconds:.2f} s; expected it to raise TimeoutError after about {DEADLINE} s. Does the "
        "deadline cover reading the body (response.json()) as well as the request?",
    )


@pytest.mark.item("fix-3")
async def test_manual_session_is_closed_when_a_request_fails(harness: Harness) -> None:
    ids = [1, 2, 3, 4, 5, 6]
    harness.api.default_delay = 0.03
    await harness.attempt("fetch_async_manual_session", [7, 8])  # an earlier call, as a program would make
    harness.api.faults["/posts/4"] = DROPPED
    run = await harness.attempt("fetch_async_manual_session", ids)
    harness.expect(
        run.sessions_opened == 1,
        f"fetch_async_manual_session() opened {run.sessions_opened} ClientSessions, expected 1"
        + (f" (it raised {type(run.error).__name__}: {short(run.error)})" if run.error else "")
        + (". Is a session kept from an earlier call instead of made for this one?" if run.sessions_opened == 0 else "."),
    )
    harness.expect(
        run.sessions_left_open == 0,
        "fetch_async_manual_session(): when one request failed "
        + (f"(it raised {type(run.error).__name__})" if run.error else "")
        + ", the ClientSession was left open. Does a finally block close it on every path?",
    )
    harness.expect_connectors_closed(run, when=" with one request failing")


# --- explored: generated scenarios judged by the contract's model (checks/contract/) ------------

SAFE_EDGES = [
    Scenario((Call("fetch_async_safe", Ids((3, 1))),), replies=(("/posts/3", Reply(body="not_json")),),
             note="a 200 whose body is not JSON: a failed request like any other"),
    Scenario((Call("fetch_async_safe", Ids((2, 5))),), replies=(("/posts/5", Reply(body="cut")),),
             note="a body cut off half-way"),
    Scenario((Call("fetch_async_safe", Ids((4, 6, 4))),), replies=(("/posts/4", Reply(503, "html")),),
             note="an HTML error page, for an id asked for twice"),
    Scenario((Call("fetch_async_safe", Ids(())),), note="no ids at all"),
]
MANUAL_FAILURE_EDGES = [
    Scenario((Call("fetch_async_manual_session", Ids((1, 2, 3))),), replies=(("/posts/2", Reply(dropped=True)),),
             note="one request fails: the call raises it, and the session is closed"),
    Scenario((Call("fetch_async_manual_session", Ids((5, 6, 7, 8)), cancel_after=4),),
             replies=tuple((f"/posts/{i}", Reply(delay=0.3)) for i in (5, 6, 7, 8)),
             note="the caller gives up mid-batch, once every request is in flight: the session is closed all the same"),
]


NOT_FIX_3 = frozenset({"client", "requests_missing", "requests_repeated", "requests_extra", "urls"})
"""Which library fetch_one uses and how it builds its URLs are base's business: fix-3 judges whether the
failure comes out of the call and the session is closed on the way."""
SAFE = Exploration(strategies.failing_batches("fetch_async_safe"), tuple(SAFE_EDGES))
MANUAL_FAILURES = Exploration(
    strategies.failing_batches("fetch_async_manual_session", strategies.dropped_replies, defaults=False),
    tuple(MANUAL_FAILURE_EDGES), NOT_FIX_3,
)


@pytest.mark.item("fix-1")
def test_safe_batch_explored(explorer: Explorer) -> None:
    explorer.explore(SAFE)


@pytest.mark.item("fix-3")
def test_manual_session_failures_explored(explorer: Explorer) -> None:
    explorer.explore(MANUAL_FAILURES)


# --- fix-2: deadlines of several sizes, bounded by the code's own time ----------------------------

TIGHT = 0.1
"""Seconds of the code's own time a call may take past its deadline (a wait for a CPU is not counted):
enough to cancel and tidy up, far less than a deadline raised to a minimum or replaced by a constant."""

DEADLINE_KEPT = (
    "{call} took {took:.2f} s{own}; expected about {timeout:g} s, the timeout it was given. Is the deadline the "
    "timeout as given, on every request, rather than raised to a minimum or replaced by a constant?"
)
OWN_TIME = " of its own time (what the machine made it wait for a CPU not counted)"


def expect_deadline_kept(harness: Harness, run: Run, timeout: float, call: str) -> None:
    """The call ends within its deadline and a little: measured as its own time where the system counts
    waits for a CPU (Linux), and with the old wide margin elsewhere."""
    tight = run.waited is not None
    took = run.active(run.seconds) if tight else run.seconds
    harness.expect(
        took <= timeout + (TIGHT if tight else DEADLINE_MARGIN),
        DEADLINE_KEPT.format(call=call, took=took, own=OWN_TIME if tight else "", timeout=timeout),
        run,
        picture=True,
    )


def expect_slots_as(harness: Harness, run: Run, ids: list[int], late: set[int], call: str) -> None:
    """Each id's slot holds its post, or a TimeoutError for the ids in `late`."""
    harness.succeeded(run, "a list with a TimeoutError in the slots of the late posts and the others' posts in theirs")
    value = harness.expect_slots(run, len(ids), call)
    for post_id, slot in zip(ids, value):
        if post_id in late:
            harness.expect(isinstance(slot, TimeoutError),
                           f"{call}: the slot for post {post_id}, which does not answer in time, holds {short(slot)}; "
                           "expected a TimeoutError.")
        else:
            harness.expect(slot == harness.api.post(post_id),
                           f"{call}: the slot for post {post_id}, which answers within the deadline, holds "
                           f"{short(slot)}; expected the post. Is the deadline shorter than the timeout given?")


HELD = Reply(held=True)


@pytest.mark.item("fix-2")
@pytest.mark.parametrize("timeout", [0.1, 0.5])
async def test_deadline_is_the_timeout_given(harness: Harness, timeout: float) -> None:
    # Post 2 answers at once, post 5 never in time: the batch must give up on it after `timeout`, not later.
    ids = [2, 5]
    harness.api.replies = {"/posts/2": Reply(delay=min(0.05, timeout / 4)), "/posts/5": HELD}
    call = f"fetch_async_with_timeout([2, 5], timeout={timeout:g})"
    run = await harness.attempt("fetch_async_with_timeout", ids, timeout=timeout)
    expect_slots_as(harness, run, ids, {5}, call)
    expect_deadline_kept(harness, run, timeout, call)


@pytest.mark.item("fix-2")
async def test_one_request_gives_up_at_its_timeout(harness: Harness) -> None:
    harness.api.replies = {"/posts/4": HELD}
    session = await harness.session()
    try:
        run = await harness.attempt("fetch_one_with_timeout", session, 4, 0.1)
    finally:
        await session.close()
    call = "fetch_one_with_timeout(session, 4, 0.1)"
    harness.expect(isinstance(run.error, TimeoutError),
                   f"{call} on a post that never answers in time "
                   + (f"raised {type(run.error).__name__}" if run.error else f"returned {short(run.value)}")
                   + "; expected it to raise TimeoutError.")
    expect_deadline_kept(harness, run, 0.1, call)


@pytest.mark.item("fix-2")
async def test_a_long_timeout_lets_slow_posts_arrive(harness: Harness) -> None:
    # A deadline longer than one second: a batch that uses a constant of its own instead of `timeout` shows.
    ids = [4, 8]
    harness.api.replies = {"/posts/4": Reply(delay=1.15), "/posts/8": Reply(delay=0.02)}
    run = await harness.attempt("fetch_async_with_timeout", ids, timeout=1.6)
    expect_slots_as(harness, run, ids, set(), "fetch_async_with_timeout([4, 8], timeout=1.6), post 4 taking 1.15 s,")


@pytest.mark.item("fix-2")
async def test_the_default_timeout_is_one_second(harness: Harness) -> None:
    # Called without a timeout: post 1 answers after 0.85 s and must come back; post 7 never does, and the
    # batch gives up on it after about a second (the documented default), not after 10 or 0.5.
    ids = [1, 7]
    harness.api.replies = {"/posts/1": Reply(delay=0.85), "/posts/7": HELD}
    run = await harness.attempt("fetch_async_with_timeout", ids)
    call = "fetch_async_with_timeout([1, 7]) with its default timeout"
    expect_slots_as(harness, run, ids, {7}, call)
    expect_deadline_kept(harness, run, 1.0, call)


@pytest.mark.item("fix-2")
async def test_a_trickling_body_is_cut_off_by_the_deadline(harness: Harness) -> None:
    # Post 8's headers come at once and its body in small pieces over a second: each piece well within the
    # deadline (so a ClientTimeout(sock_read=...) never fires), the whole far beyond it.
    ids = [8, 2]
    harness.api.replies = {"/posts/8": Reply(body_delay=1.0, trickle=True)}
    run = await harness.attempt("fetch_async_with_timeout", ids, timeout=0.25)
    call = "fetch_async_with_timeout([8, 2], timeout=0.25), post 8's body trickling in over 1 s,"
    expect_slots_as(harness, run, ids, {8}, call)
    expect_deadline_kept(harness, run, 0.25, call.rstrip(","))


@pytest.mark.item("fix-1")
async def test_safe_batch_waits_for_a_slow_post(harness: Harness) -> None:
    # fetch_async_safe puts no deadline of its own on a request: a post that takes a while still comes back.
    ids = [2, 9]
    harness.api.replies = {"/posts/9": Reply(delay=1.1)}
    run = await harness.attempt("fetch_async_safe", ids)
    harness.succeeded(run, "both posts")
    value = harness.expect_slots(run, 2, "fetch_async_safe([2, 9])")
    harness.expect(
        value[1] == harness.api.post(9),
        f"fetch_async_safe([2, 9]), post 9 answering after 1.1 s: its slot holds {short(value[1])}; expected the post. "
        "Does the safe batch give up on slow requests? It keeps failures, but sets no deadline of its own.",
    )

"""Checks for Alter 2 (a cap on requests in flight) and Alter 3 (two endpoints in one batch)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import strategies as st

from checks.contract import strategies
from checks.contract.scenario import Call, Ids, Scenario
from checks.data import shuffled
from checks.engine.gates import REFILL, Paced, Together
from checks.engine.explore import Exploration, Explorer
from checks.engine.harness import Harness, timing
from checks.engine.probe import Probe
from checks.engine.stubs import descending

TWELVE = shuffled(12, seed=3)

OVER_THE_CAP = "fetch_async_limited({args}): peak in flight {peak}, expected {expected}. {why}"
SHARED_CAP = "Is the semaphore shared by every request, and sized by max_concurrent?"
HEADERS_ONLY = (
    "Until their headers arrived no more than the cap were in flight, but the next ones started while "
    "bodies were still coming: is the permit held until the body has been read (await response.json() "
    "inside `async with semaphore`)?"
)
SLOW_REFILL = (
    "fetch_async_limited(max_concurrent={cap}): after {released} requests finished, {started} new "
    "one(s) started while {waiting} waited for a free slot. Does each group wait for its slowest "
    "request before the next group starts, or does only one start when several finish together? "
    "A semaphore lets the next one in straight away."
)


async def expect_capped(harness: Harness, ids: list[int], cap: int | None) -> None:
    expected = min(cap or 5, len(ids))
    harness.api.gate = Together(expected)  # answers wait until the limit is reached: no race to reach it
    # After that, a moment in which requests beyond the limit, if the limiter lets any through, arrive
    # before the first answer: the peak of a broken limiter is measured, not raced.
    harness.api.default_delay = 0.01
    # Every body arrives 0.01 s after its headers: a permit held until then, not only until the headers.
    harness.api.body_delays = {f"/posts/{i}": 0.01 for i in ids}
    run = await (
        harness.call("fetch_async_limited", ids)
        if cap is None
        else harness.call("fetch_async_limited", ids, max_concurrent=cap)
    )
    harness.expect_no_blocking(run)
    why = (
        (HEADERS_ONLY if _peak_until_headers(run.spans) <= expected else SHARED_CAP)
        if run.peak > expected
        else "Are the requests started together and held back only by the limit?"
    )
    harness.expect(
        run.peak == expected,
        OVER_THE_CAP.format(
            args=f"{len(ids)} ids, " + (f"max_concurrent={cap}" if cap else "default max_concurrent"),
            peak=run.peak,
            expected=f"exactly {expected}",
            why=why,
        ),
        run,
        picture=True,
    )
    harness.expect_each_id_asked_for(run, [f"/posts/{i}" for i in ids])
    harness.expect_items(run, ids)
    harness.expect_one_session(run)


@pytest.mark.item("alter-2")
async def test_limited_never_exceeds_the_cap(harness: Harness) -> None:
    await expect_capped(harness, [*TWELVE, TWELVE[4]], 3)  # one id twice: one result per id given


@pytest.mark.item("alter-2")
async def test_limited_defaults_to_five_at_once(harness: Harness) -> None:
    await expect_capped(harness, TWELVE, None)


@pytest.mark.item("alter-2")
async def test_limited_with_room_for_every_request(harness: Harness) -> None:
    await expect_capped(harness, [1, 2, 3, 4], 10)


LATE_REFILL = (
    "fetch_async_limited(max_concurrent={cap}): after {released} requests finished{order}, the new ones "
    "took {seconds:.2f} s to start (the time the machine kept the grader or your code waiting for a CPU not "
    "counted); expected them within {bound:g} s. Does anything wait (a sleep, a look for a free slot now and "
    "then) between one request finishing and the next one starting?"
)
NEWEST_FIRST = ", the newest first"


@pytest.mark.item("alter-2")
@pytest.mark.parametrize("newest_first", [True, False], ids=["newest-first", "oldest-first"])
async def test_limited_starts_the_next_request_as_one_finishes(harness: Harness, newest_first: bool) -> None:
    # Answers go two at a time, the most recently started first (or the oldest first); after each pair,
    # two waiting requests must start, at once, before any more go. A limiter that waits for the oldest
    # request, or deals the ids to fixed workers, starts fewer; one that pauses starts them late.
    paced = harness.api.gate = Paced(
        total=len(TWELVE), cap=3, step=2, newest_first=newest_first, meter=harness.runner.cpu_waited
    )
    run = await harness.call("fetch_async_limited", TWELVE, max_concurrent=3)
    harness.expect(
        run.peak <= 3,
        OVER_THE_CAP.format(args="12 ids, max_concurrent=3", peak=run.peak, expected="at most 3", why=SHARED_CAP),
        run,
        picture=True,
    )
    slow = paced.slowest_step()
    order = NEWEST_FIRST if newest_first else ""
    if slow is not None and slow.started < slow.expected:
        message = SLOW_REFILL.format(cap=3, released=slow.released, started=slow.started, waiting=slow.expected)
        raise harness.fail(message.replace("finished,", f"finished{order},", 1), run, picture=True)
    if slow is not None:
        raise harness.fail(
            LATE_REFILL.format(cap=3, released=slow.released, order=order, seconds=slow.seconds, bound=REFILL),
            run, picture=True,
        )
    harness.expect_items(run, TWELVE)


# --- alter-3 -------------------------------------------------------------------------------


@pytest.mark.item("alter-3")
async def test_two_endpoints_are_fetched_in_one_batch(harness: Harness) -> None:
    post_ids, user_ids = [5, 2, 6, 1, 4, 3], [3, 1, 4, 1]  # user 1 twice: one result per id given
    harness.api.gate = Together(len(post_ids) + len(user_ids))
    harness.api.delays = {
        **descending(post_ids, slowest=0.02, fastest=0.005),
        **descending(user_ids, slowest=0.018, fastest=0.004, route="users"),
    }
    run = await harness.call("fetch_two_endpoints", post_ids, user_ids)
    harness.expect_no_blocking(run)
    routes = sorted({s.path.split("/")[1] for s in run.spans})
    harness.expect(
        routes == ["posts", "users"], f"fetch_two_endpoints() asked for /{' and /'.join(routes) or 'nothing'}; expected /posts and /users."
    )
    wanted = [f"/posts/{i}" for i in post_ids] + [f"/users/{i}" for i in user_ids]
    asked = [s.path for s in run.spans]
    extra, missing = sorted(set(asked) - set(wanted)), sorted(set(wanted) - set(asked))
    harness.expect(
        not extra and not missing,
        f"fetch_two_endpoints({post_ids}, {user_ids}) "
        + (f"asked for {', '.join(extra)}, which {'was' if len(extra) == 1 else 'were'} not among the ids given" if extra else "")
        + (" and " if extra and missing else "")
        + (f"never asked for {', '.join(missing)}" if missing else "")
        + ". Are both id lists used as they are passed in?",
    )
    harness.expect_each_id_asked_for(run, wanted)
    harness.expect(
        run.peak == len(post_ids) + len(user_ids),
        f"fetch_two_endpoints(): peak in flight {run.peak}, expected {len(post_ids) + len(user_ids)} "
        f"(every post and user request together). {timing(run)}. "
        + _why_not_together(run.spans, len(wanted)),
        run,
        picture=True,
    )
    value = run.value
    harness.expect(
        isinstance(value, (tuple, list)) and len(value) == 2,
        f"fetch_two_endpoints() returned {type(value).__name__} of length "
        f"{len(value) if hasattr(value, '__len__') else '?'}; expected a pair (posts, users).",
    )
    posts, users = value
    harness.expect(
        not (_holds(users, [harness.api.post(i) for i in post_ids]) and _holds(posts, [harness.api.user(i) for i in user_ids])),
        "fetch_two_endpoints() returned (users, posts); expected (posts, users), in that order.",
    )
    harness.expect_items(run, post_ids, got=posts)
    harness.expect_items(run, user_ids, make=harness.api.user, what="user", got=users)
    harness.expect_one_session(run)


@pytest.mark.item("alter-3")
async def test_two_endpoints_default_to_users_one_to_five(harness: Harness) -> None:
    harness.api.default_delay = 0.02
    run = await harness.call("fetch_two_endpoints", [2])
    value = run.value
    harness.expect(
        isinstance(value, (tuple, list)) and len(value) == 2,
        f"fetch_two_endpoints([2]) returned {type(value).__name__}; expected a pair (posts, users).",
    )
    harness.expect_items(run, [1, 2, 3, 4, 5], make=harness.api.user, what="user", got=value[1])


def _peak_until_headers(spans: list) -> int:
    """The peak if each request had ended at its headers: over the cap only with the bodies means a permit let go early."""
    return Probe.peak([replace(s, end=s.end - s.sending) if s.end is not None else s for s in spans])


def _why_not_together(spans: list, wanted: int) -> str:
    """The likelier cause of a low peak: each endpoint's own requests one by one, or one endpoint after the other."""
    if Probe.peak(spans) >= wanted:
        return "Is any request sent more than once?"
    by_route = {route: [s for s in spans if s.path.startswith(f"/{route}/")] for route in ("posts", "users")}
    if any(len(group) > 1 and Probe.peak(group) == 1 for group in by_route.values()):
        return "Are the requests of one endpoint awaited one at a time, instead of gathered?"
    return "Are the two endpoints fetched one after the other instead of in a single gather()?"


def _holds(part: object, expected: list) -> bool:
    return isinstance(part, (list, tuple)) and list(part) == expected


# --- explored: generated scenarios judged by the contract's model (checks/contract/) ------------

LIMITED_EDGES = [
    Scenario(
        (Call("fetch_async_limited", Ids((4, 2, 5, 1, 3)), options=(("max_concurrent", 2),)),
         Call("fetch_async_limited", Ids((4, 2, 5, 1, 3)), options=(("max_concurrent", 2),), in_loop=1)),
        note="twice, in two event loops, with requests waiting for a slot: a semaphore kept from the first loop fails",
    ),
    Scenario((Call("fetch_async_limited", Ids(())),), note="no ids at all"),
    Scenario((Call("fetch_async_limited"), Call("fetch_async_limited")), note="the defaults, twice"),
    Scenario((Call("fetch_async_limited", Ids((3, 3, 1)), options=(("max_concurrent", 1),)),), note="one at a time"),
]
TWO_ENDPOINT_EDGES = [
    Scenario((Call("fetch_two_endpoints", Ids(()), Ids(())),), note="no ids of either kind"),
    Scenario((Call("fetch_two_endpoints", Ids((2,)), Ids(())),), note="no user ids"),
    Scenario(
        (Call("fetch_two_endpoints", Ids((1,)), Ids((3, 1))), Call("fetch_two_endpoints", Ids((2,)), Ids((1,)))),
        note="a user asked for again by a second call: each call asks the server itself",
    ),
    Scenario((Call("fetch_two_endpoints", Ids((4,))), Call("fetch_two_endpoints", Ids((4,)), in_loop=1)),
             base_path="/api/v1", note="the default users, twice in two event loops"),
]
caps = st.one_of(st.just(()), st.builds(lambda k: (("max_concurrent", k),), st.integers(1, 4)))


LIMITED = Exploration(strategies.batches("fetch_async_limited", caps, paths=False), tuple(LIMITED_EDGES))
TWO_ENDPOINTS = Exploration(strategies.two_endpoint_batches(), tuple(TWO_ENDPOINT_EDGES))


@pytest.mark.item("alter-2")
def test_limited_explored(explorer: Explorer) -> None:
    explorer.explore(LIMITED)


@pytest.mark.item("alter-3")
def test_two_endpoints_explored(explorer: Explorer) -> None:
    explorer.explore(TWO_ENDPOINTS)

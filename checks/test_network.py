"""End-to-end checks over real TCP on loopback: what the in-process stubs cannot show.

aioresponses answers before any socket, connection pool or aiohttp timer is involved. These checks
run the same functions against the stand-in server (checks/fakeapi.py) and count, from the server's
side, the connections a client opens and leaves open. Deselect them with -m "not network".
"""

from __future__ import annotations

import asyncio
import time

import pytest

from checks.engine.gates import Together
from checks.fakeapi import Behaviour
from checks.engine.harness import Harness, Run, short, timing
from checks.test_base import expect_main_output
from checks.test_break import KEEP_TIMEOUTS, TIMEOUTS_KEPT, UNANSWERED
from checks.test_fix import DEADLINE, DEADLINE_MARGIN, SLOW

pytestmark = pytest.mark.network

SIX = [4, 1, 6, 3, 5, 2]
CLOSE_WAIT = 1.0
"""Seconds the server waits to see a closed session's connections go; a closed one takes milliseconds."""


async def wait_for_closed_connections(harness: Harness) -> int:
    deadline = time.monotonic() + CLOSE_WAIT
    while harness.api.open_connections() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return harness.api.open_connections()


async def manual_session_connections_left(live: Harness) -> tuple[Run, int]:
    """fetch_async_manual_session(SIX), then the connections it left open, counted by the server; then tidied."""
    run = await live.attempt("fetch_async_manual_session", SIX, tidy=False)
    left = await wait_for_closed_connections(live)
    await live.tidy_up()
    return run, left


@pytest.mark.item("base")
def test_main_over_real_sockets(live: Harness) -> None:
    live.api.settings.default = Behaviour(delay=0.005)
    live.api.settings.gate = Together(10)
    run = live.call_sync("main")
    expect_main_output(live, run.output or "", run, 10)


@pytest.mark.item("base")
async def test_fetch_one_reuses_the_sessions_connection(live: Harness) -> None:
    live.api.settings.default = Behaviour(delay=0.005)
    session = await live.session()
    try:
        for post_id in (1, 2, 3, 4, 5):
            await live.call("fetch_one", session, post_id)
    finally:
        await session.close()
    live.expect(
        live.api.connections == 1,
        f"Five fetch_one(session, ...) calls in a row opened {live.api.connections} connections to the server; "
        "expected 1, reused through the session's pool. Does fetch_one use the session it is given, and read "
        "each response to the end?",
    )


@pytest.mark.item("break-1")
async def test_manual_session_leaves_no_connection_open(live: Harness) -> None:
    live.api.settings.default = Behaviour(delay=0.02)
    run, left = await manual_session_connections_left(live)
    live.expect(
        left == 0,
        f"After fetch_async_manual_session() returned, the server still had {left} connections open from it "
        f"{CLOSE_WAIT:g} s later: its ClientSession was never closed"
        + (f" (it raised {type(run.error).__name__})" if run.error else "")
        + ". Who calls `await session.close()`?",
    )
    # Over real sockets a file whose requests race each other (a fetch_one that closes the session it is
    # given) may or may not raise here; what it returns is judged under the stubs, where no race decides it.
    if run.error is None:
        live.expect_items(run, SIX)


@pytest.mark.item("fix-3")
async def test_manual_session_closes_its_connections_when_a_request_fails(live: Harness) -> None:
    """Counted by the server: `session.closed` is true for a session that does not own its connector, whose
    connections stay open after close()."""
    live.api.settings.default = Behaviour(delay=0.02)
    live.api.settings.paths = {"/posts/3": Behaviour(delay=0.01, status=500)}
    run, left = await manual_session_connections_left(live)
    live.expect(
        left == 0,
        f"fetch_async_manual_session() over real sockets, with post 3 answering HTTP 500"
        + (f" (it raised {type(run.error).__name__})" if run.error else "")
        + f": the server still had {left} connections open from it {CLOSE_WAIT:g} s after it returned. Is the "
        "session closed in a finally block, and does it own its connector (closing a session whose connector "
        "was made with connector_owner=False leaves the connections open)?",
    )


@pytest.mark.item("break-3")
async def test_tiny_timeout_over_real_sockets(live: Harness) -> None:
    live.api.settings.default = Behaviour(delay=UNANSWERED)
    run = live.succeeded(await live.attempt("fetch_async_with_timeout", SIX, timeout=0.001), TIMEOUTS_KEPT)
    value = live.expect_slots(run, len(SIX), "fetch_async_with_timeout(6 ids, timeout=0.001) over real sockets")
    wrong = [slot for slot in value if not isinstance(slot, TimeoutError)]
    live.expect(
        not wrong,
        f"fetch_async_with_timeout(timeout=0.001) over real sockets: a slot holds {short(wrong[0]) if wrong else ''}; "
        "expected a TimeoutError in every slot (aiohttp's own timeouts are TimeoutErrors too).",
    )


@pytest.mark.item("fix-2")
async def test_deadline_over_real_sockets(live: Harness) -> None:
    live.api.settings.default = Behaviour(delay=0.02)
    live.api.settings.paths = {
        "/posts/2": Behaviour(delay=SLOW),
        "/posts/5": Behaviour(delay=SLOW),
        "/posts/3": Behaviour(delay=0.02, slow_body=SLOW),  # headers at once, the body 2 s later
    }
    run = live.succeeded(
        await live.attempt("fetch_async_with_timeout", SIX, timeout=DEADLINE),
        f"a list with TimeoutError in the slots of posts 2, 3 and 5 ({SLOW:g} s each) and the other posts in theirs. {KEEP_TIMEOUTS}",
    )
    value = live.expect_slots(run, len(SIX), f"fetch_async_with_timeout(6 ids, timeout={DEADLINE}) over real sockets")
    late = [i for i, slot in zip(SIX, value) if isinstance(slot, TimeoutError)]
    slow = [i for i in SIX if i in (2, 3, 5)]
    live.expect(
        late == slow,
        f"fetch_async_with_timeout(timeout={DEADLINE}) over real sockets: the slots holding TimeoutError are for posts "
        f"{late or 'none'}; expected {slow}, the only ones slower than the deadline.",
    )
    live.expect(
        run.seconds <= DEADLINE + DEADLINE_MARGIN,
        f"fetch_async_with_timeout(timeout={DEADLINE}) took {run.seconds:.2f} s over real sockets; expected about "
        f"{DEADLINE} s. {timing(run)}.",
    )

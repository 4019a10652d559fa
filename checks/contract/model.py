"""The contract as plain functions: for a call in a scenario, what it must return or raise, and which requests it makes.

This module knows nothing of how student code is run or measured. It reads the exercise's
contract (README, "What you implement") and says, for one call: the value of every slot (the
stand-in's resource, or a failure of a given kind), whether the call must raise instead, the
requests it must make (each id's, once per call, with the right library), and the sessions it
opens. The reference solution and every alternative in solutions/ agree with it on every
generated scenario (tests/test_contract.py).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from checks.contract.scenario import Call, Scenario
from checks.data import POST_COUNT, USER_COUNT

DEFAULT_POST_IDS = tuple(range(1, 11))
DEFAULT_USER_IDS = tuple(range(1, 6))
DEFAULT_MAX_CONCURRENT = 5
DEFAULT_TIMEOUT = 1.0

SYNC = ("fetch_sync",)
ONE = ("fetch_one", "fetch_one_with_timeout")
BATCHES = (
    "fetch_async", "fetch_async_limited", "fetch_two_endpoints", "fetch_async_safe",
    "fetch_async_with_timeout", "fetch_async_manual_session",
)
KEEPS_FAILURES = ("fetch_async_safe", "fetch_async_with_timeout")
"""Batches whose slots hold a failed request's exception instead of the call raising it."""


@dataclass(frozen=True)
class Resource:
    """The stand-in's JSON at `path`, exactly as served (salted for this grading)."""

    path: str


@dataclass(frozen=True)
class Failure:
    """A request that fails: `kind` is status (an error status), connection (dropped), decode (a body that is
    not JSON or stops half-way), timeout (its deadline ran out), cancelled (its caller gave up), or any
    (whatever exception the student's code lets through)."""

    kind: str
    path: str = ""
    status: int | None = None


@dataclass
class Expect:
    """What one call must do. Exactly one of `returns` and `raises` applies: `raises` lists the failures any
    one of which the call may raise (a gather raises whichever fails first)."""

    call: Call
    returns: Any = None  # a list of Resource/Failure, or a (posts, users) pair of lists
    raises: tuple[Failure, ...] = ()
    requests: Counter = field(default_factory=Counter)  # every path, as many times as the ids list it
    prefix: tuple[str, ...] = ()  # fetch_sync with a failure: these first, in this order; the rest optional
    client: str = "aiohttp"
    sessions: str = "one"  # "one" (opened and closed), "none" (uses the one it is given), "at_most_one"


def path_of(route: str, item: int) -> str:
    return f"/{route}/{item}"


def exists(path: str) -> bool:
    found = re.fullmatch(r"/(posts|users)/(\d+)", path)
    if not found:
        return False
    return 1 <= int(found.group(2)) <= (POST_COUNT if found.group(1) == "posts" else USER_COUNT)


def outcome(scenario: Scenario, path: str) -> Resource | Failure:
    """What one request for `path` comes to, by the stand-in's reply: the resource, or how it fails."""
    reply = scenario.reply(path)
    if reply.dropped:
        return Failure("connection", path)
    if reply.held:
        return Failure("timeout", path)
    status = reply.status if reply.status >= 400 else (200 if exists(path) else 404)
    if status >= 400:
        return Failure("status", path, status)
    if reply.body in ("not_json", "cut"):
        return Failure("decode", path)
    return Resource(path)


def expect(call: Call, scenario: Scenario) -> Expect:
    """The contract for `call` (see the module's docstring)."""
    name = call.function
    posts = [path_of("posts", i) for i in call.post_ids(DEFAULT_POST_IDS)]
    if name in SYNC:
        return _sync(call, scenario, posts)
    slots = [outcome(scenario, p) for p in posts]
    if call.cancel_after:
        return Expect(call, raises=(Failure("cancelled"),), requests=Counter(posts), sessions="one")
    if name in ONE:
        wanted = Expect(call, requests=Counter(posts), sessions="none")
        failed = [s for s in slots if isinstance(s, Failure)]
        if failed:
            wanted.raises = tuple(failed)
        else:
            wanted.returns = slots[0]
        return wanted
    sessions = "one" if posts else "at_most_one"  # an empty batch need not open a session, but closes any it opens
    if name == "fetch_two_endpoints":
        users = [path_of("users", i) for i in (call.users.values if call.users is not None else DEFAULT_USER_IDS)]
        return Expect(
            call, returns=(slots, [outcome(scenario, u) for u in users]), requests=Counter(posts + users),
            sessions="one" if posts or users else "at_most_one",
        )
    failed = tuple(s for s in slots if isinstance(s, Failure))
    if failed and name not in KEEPS_FAILURES:
        # The batch raises whichever failure gather() meets first; which exception class fetch_one lets
        # through is fetch_one's business (base, break-2), so any exception will do here.
        return Expect(call, raises=(Failure("any"),), requests=Counter(posts), sessions=sessions)
    return Expect(call, returns=slots, requests=Counter(posts), sessions=sessions)


def _sync(call: Call, scenario: Scenario, posts: list[str]) -> Expect:
    """fetch_sync: one request after another; the first failure, in the order given, is raised there."""
    for k, path in enumerate(posts):
        found = outcome(scenario, path)
        if isinstance(found, Failure):
            return Expect(call, raises=(found,), requests=Counter(posts), prefix=tuple(posts[: k + 1]), client="requests",
                          sessions="none")
    return Expect(call, returns=[Resource(p) for p in posts], requests=Counter(posts), client="requests", sessions="none")

"""Hypothesis strategies for scenarios: small, composable values named for what they generate.

Every strategy keeps its cases small (a handful of ids, two calls at most): a property is proven
with few requests, and a failing case shrinks to one a student can read at a glance. The values
that vary are the ones a wrong solution could rely on: the ids' order, repeats, their number
(none at all included) and the kind of sequence; where an error happens and what its body is; a
second call on the same import, with the defaults, or in a new event loop; BASE_URL's path.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from checks.contract.scenario import MISSING, Call, Ids, Scenario
from checks.engine.stubs import Reply

ERROR_STATUSES = (400, 401, 403, 404, 405, 408, 409, 410, 418, 422, 429, 500, 501, 502, 503, 504)
ERROR_BODIES = ("empty", "error_json", "text", "html")
BASE_PATHS = ("", "", "", "/api", "/v1/blog")
"""Mostly none, as on the real API; a path sometimes, which a URL built with urljoin('/posts/..') loses. Only the
checks of the items whose own code builds URLs (base, and alter-3 for the users) try it: a URL built wrong in
fetch_one fails base, not every item that calls fetch_one."""

post_ids = st.integers(1, 12)
base_paths = st.sampled_from(BASE_PATHS)


def ids(highest: int = 12, min_size: int = 0, max_size: int = 5) -> st.SearchStrategy[Ids]:
    """Ids from 1 to `highest` in any order, with repeats, as a list or a tuple; or an ascending range."""
    listed = st.builds(
        Ids, st.lists(st.integers(1, highest), min_size=min_size, max_size=max_size).map(tuple),
        st.sampled_from(("list", "list", "tuple")),
    )
    ranged = st.integers(max(min_size, 1), max(max_size, 1)).flatmap(
        lambda count: st.integers(1, highest - count + 1).map(lambda first: Ids.range(first, first + count))
    )
    return st.one_of(listed, ranged)


error_replies = st.builds(Reply, status=st.sampled_from(ERROR_STATUSES), body=st.sampled_from(ERROR_BODIES))
"""An error status with a body of any kind: {}, a JSON error object, plain text or an HTML page."""

failed_replies = st.one_of(
    error_replies,
    st.just(Reply(dropped=True)),
    st.builds(Reply, body=st.sampled_from(("not_json", "cut"))),
)
"""Any way a request can fail: an error status, a dropped connection, a 200 whose body is not JSON or stops."""


def _second(first: Call, loop: int, defaults: Call) -> st.SearchStrategy[Call | None]:
    """No second call, the same call again (in the same loop or a new one), or the function with its defaults."""
    return st.one_of(
        st.none(),
        st.builds(lambda n: Call(**{**first.__dict__, "in_loop": n}), st.sampled_from((0, 1))),
        st.builds(lambda n: Call(**{**defaults.__dict__, "in_loop": n}), st.sampled_from((0, 1))),
    )


@st.composite
def batches(draw: Any, function: str, options: st.SearchStrategy[tuple] = st.just(()), paths: bool = True) -> Scenario:
    """One or two calls of a batch function that should simply work: every reply prompt and 200; BASE_URL with a
    path sometimes, when `paths` (how URLs are built is base's to judge, and alter-3's for the users)."""
    first = Call(function, draw(ids()), options=draw(options))
    second = draw(_second(first, 0, Call(function)))
    calls = (first,) if second is None else (first, second)
    if function == "fetch_sync":
        calls = tuple(Call(**{**c.__dict__, "in_loop": 0}) for c in calls)
    return Scenario(calls, base_path=draw(base_paths) if paths else "")


@st.composite
def two_endpoint_batches(draw: Any) -> Scenario:
    """fetch_two_endpoints with any post and user ids (either list empty), once or twice on one import."""
    first = Call("fetch_two_endpoints", draw(ids()), draw(ids(10)))
    second = draw(st.one_of(
        st.none(),
        st.builds(lambda p, u, n: Call("fetch_two_endpoints", p, u, in_loop=n), ids(), ids(10), st.sampled_from((0, 1))),
        st.builds(lambda p: Call("fetch_two_endpoints", p), ids()),
    ))
    return Scenario((first,) if second is None else (first, second), base_path=draw(base_paths))


@st.composite
def fetch_one_calls(draw: Any) -> Scenario:
    """fetch_one(session, id) a few times in a row on one import."""
    numbers = draw(st.lists(post_ids, min_size=1, max_size=3))
    return Scenario(tuple(Call("fetch_one", post_id=n) for n in numbers), base_path=draw(base_paths))


@st.composite
def fetch_one_errors(draw: Any) -> Scenario:
    """fetch_one on a post whose reply is an error status, with a body of any kind."""
    failing = draw(st.one_of(post_ids, st.just(MISSING)))
    reply = draw(error_replies)
    return Scenario((Call("fetch_one", post_id=failing),), replies=((f"/posts/{failing}", reply),))


@st.composite
def sync_errors(draw: Any) -> Scenario:
    """fetch_sync over ids of which one or two fail with an error status (any body), at any position."""
    numbers = draw(st.lists(post_ids, min_size=1, max_size=5, unique=True))
    failing = draw(st.lists(st.sampled_from(numbers), min_size=1, max_size=2, unique=True))
    replies = tuple(sorted((f"/posts/{n}", draw(error_replies)) for n in failing))
    return Scenario((Call("fetch_sync", Ids(tuple(numbers))),), replies=replies)


@st.composite
def failing_batches(
    draw: Any, function: str, failures: st.SearchStrategy[Reply] = failed_replies, defaults: bool = True
) -> Scenario:
    """A batch in which some requests fail (in the ways `failures` draws), once or twice on one import;
    the second time perhaps with the function's default ids (when `defaults`)."""
    numbers = draw(ids(min_size=1))
    chosen = sorted(set(numbers.values))
    failing = draw(st.lists(st.sampled_from(chosen), min_size=1, max_size=len(chosen), unique=True))
    replies = tuple(sorted((f"/posts/{n}", draw(failures)) for n in failing))
    first = Call(function, numbers)
    again = draw(st.sampled_from((None, numbers, "defaults") if defaults else (None, numbers)))
    calls = (first,) if again is None else (first, Call(function, None if again == "defaults" else numbers,
                                                          in_loop=draw(st.sampled_from((0, 1)))))
    return Scenario(calls, replies=replies)


dropped_replies = st.just(Reply(dropped=True))
"""A lost connection: the one failure every fetch_one raises by itself, whatever it does about statuses."""


@st.composite
def tiny_deadlines(draw: Any) -> Scenario:
    """A deadline no request can meet, over posts that never answer in time: every slot a TimeoutError."""
    numbers = draw(ids(min_size=1, max_size=4))
    timeout = draw(st.sampled_from((0.001, 0.002, 0.0005)))
    replies = tuple((f"/posts/{n}", Reply(held=True)) for n in sorted(set(numbers.values)))
    if draw(st.booleans()):
        call = Call("fetch_one_with_timeout", post_id=numbers.values[0], options=(("timeout", timeout),))
    else:
        call = Call("fetch_async_with_timeout", numbers, options=(("timeout", timeout),))
    return Scenario((call,), replies=replies)

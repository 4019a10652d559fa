"""Holds one call's measured run to the model's expectation, and words the first difference for a student.

The order of the comparisons is the order of what tells most: a request to a URL the stand-in
does not serve, a call that raised when it should have returned (or the other way round), the
requests made, then each slot, then the sessions. Each difference names the property it breaks,
so the scorecard can give that property's hint (checks/catalogue.py, PROPERTY_HINTS).
"""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterator

import aiohttp
import requests

from checks.contract.model import Expect, Failure, Resource
from checks.engine.harness import short
from checks.engine.loader import describe

SHOWN = 70
"""Characters of an unexpected value shown; the part that tells (a type, an id) comes first."""


@dataclass(frozen=True)
class Finding:
    """What differed, in words, and the property it breaks (a key of PROPERTY_HINTS)."""

    text: str
    property: str


def status_of(error: BaseException) -> int | None:
    status = getattr(error, "status", None)
    if status is None:
        status = getattr(getattr(error, "response", None), "status_code", None)
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def holds(value: Any, wanted: Failure, client: str) -> bool:
    """Whether `value` (a slot, or what a call raised) is the failure the model expects."""
    if wanted.kind == "status":
        kind = requests.HTTPError if client == "requests" else aiohttp.ClientResponseError
        decoding = isinstance(value, aiohttp.ContentTypeError)  # a ClientResponseError too, but raised for the body
        return isinstance(value, kind) and not decoding and status_of(value) == wanted.status
    if wanted.kind == "connection":
        kind = requests.ConnectionError if client == "requests" else aiohttp.ClientConnectionError
        return isinstance(value, kind)
    if wanted.kind in ("decode", "any"):
        return isinstance(value, Exception)
    if wanted.kind == "timeout":
        return isinstance(value, TimeoutError)
    return isinstance(value, asyncio.CancelledError)


def expected_words(wanted: Resource | Failure, client: str) -> str:
    if isinstance(wanted, Resource):
        route, _, number = wanted.path.strip("/").partition("/")
        return f"{route[:-1]} {number}"
    library = "requests" if client == "requests" else "aiohttp"
    return {
        "status": f"{'requests.HTTPError' if client == 'requests' else 'aiohttp.ClientResponseError'} with status {wanted.status}",
        "connection": f"{library}'s {'ConnectionError' if client == 'requests' else 'ClientConnectionError'} for the dropped connection",
        "decode": "the exception that reading its body raised",
        "any": "the exception of the request that failed",
        "timeout": "a TimeoutError",
        "cancelled": "asyncio.CancelledError",
    }[wanted.kind]


def shown(value: Any, api: Any) -> str:
    """A value as a student would name it: 'post 3', 'ClientResponseError (status 503)', or a short repr."""
    if isinstance(value, BaseException):
        status = status_of(value)
        text = describe(value)
        if status is not None:
            text = f"{type(value).__name__} (status {status})"
        return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."
    if isinstance(value, dict) and isinstance(value.get("id"), int):
        for route, make in (("post", api.post), ("user", api.user)):
            if value == make(value["id"]):
                return f"{route} {value['id']}"
        if "userId" in value or "title" in value:
            return f"a post-like dict with id {value['id']} that the stand-in did not send"
    text = repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def matches(value: Any, wanted: Resource | Failure, client: str, api: Any) -> bool:
    if isinstance(wanted, Resource):
        return not isinstance(value, BaseException) and value == api.resource(wanted.path)
    return holds(value, wanted, client)


def judge(expected: Expect, run: Any, api: Any, unexpected: list[str], ignore: frozenset[str] = frozenset()) -> Finding | None:
    """The first way `run` (what one call did, as measured) breaks `expected`, or None; differences in the
    properties named in `ignore` (those another item's checks judge) do not count."""
    return next((f for f in _findings(expected, run, api, unexpected) if f.property not in ignore), None)


def _findings(expected: Expect, run: Any, api: Any, unexpected: list[str]) -> Iterator[Finding]:
    """Every way the run breaks the expectation, the most telling first (see the module's docstring)."""
    client, name = expected.client, expected.call.function
    if unexpected:
        yield Finding(f"it asked for {_some(unexpected)}, which the stand-in does not serve", "urls")
    if expected.call.cancel_after:
        yield from _present(_sessions(expected, run, cancelled=True))  # whatever it raised or kept, its session closes
        return
    if expected.raises:
        found = _raised(expected, run, api)
        if found:
            yield found
            if run.error is not None:
                return  # what it returned is not there to judge
    elif run.error is not None:
        where = f" ({run.where})" if run.where else ""
        yield Finding(f"it raised {describe(run.error)}{where}; expected it to return {_returned_words(expected)}",
                      "raised_safe" if name == "fetch_async_safe" else "raised")
        return
    awaitable = _first_awaitable(run.value)
    if awaitable is not None:
        yield Finding(f"it returned {awaitable} instead of a result", "unawaited")
    yield from _present(_requests(expected, run))
    if not expected.raises:
        yield from _present(_value(expected, run.value, api))
    yield from _present(_sessions(expected, run))


def _present(found: Finding | None) -> Iterator[Finding]:
    if found is not None:
        yield found


def _raised(expected: Expect, run: Any, api: Any) -> Finding | None:
    client = expected.client
    kinds = {f.kind for f in expected.raises}
    wanted = " or ".join(dict.fromkeys(expected_words(f, client) for f in expected.raises))
    if run.error is None:
        prop = "kept_failure" if expected.call.function == "fetch_async_manual_session" else ("cancel" if "cancelled" in kinds else "silent_error")
        return Finding(f"it returned {shown(run.value, api)}; expected it to raise {wanted}", prop)
    if any(holds(run.error, f, client) for f in expected.raises):
        return None
    prop = "decoded_first" if isinstance(run.error, (aiohttp.ContentTypeError, ValueError)) and "status" in kinds else "wrong_error"
    where = f" ({run.where})" if run.where else ""
    return Finding(f"it raised {shown(run.error, api)}{where}; expected {wanted}", prop)


def _returned_words(expected: Expect) -> str:
    if isinstance(expected.returns, tuple):
        return "a pair (posts, users)"
    if isinstance(expected.returns, list):
        return f"a list of {len(expected.returns)} slot{'s' if len(expected.returns) != 1 else ''}"
    return expected_words(expected.returns, expected.client)


def _requests(expected: Expect, run: Any) -> Finding | None:
    mine = [s for s in run.spans if s.client == expected.client]
    others = [s for s in run.spans if s.client != expected.client and s.client in ("aiohttp", "requests")]
    if others and not mine and expected.requests:
        return Finding(f"it made its requests with {others[0].client}, not {expected.client}", "client")
    asked = Counter(s.path for s in mine)
    if expected.prefix:
        order = [s.path for s in mine][: len(expected.prefix)]
        if order != list(expected.prefix):
            return Finding(
                f"it asked for {_listed(order) or 'nothing'}; expected {_listed(list(expected.prefix))} first, one after "
                "another in the order given", "requests_missing" if len(order) < len(expected.prefix) else "requests_order",
            )
        extra = asked - expected.requests
        return Finding(f"it asked for {_listed(sorted(extra.elements()))} more often than the ids list it", "requests_repeated") if extra else None
    missing, extra = expected.requests - asked, asked - expected.requests
    if missing and expected.call.cancel_after is None:
        never = sorted(p for p in missing if asked[p] == 0)
        if never:
            made = f"made no request for {_some(never)}" if sum(asked.values()) else "made no request at all"
            return Finding(f"it {made}; expected one request for each id given, each time it is called", "requests_missing")
        path = sorted(missing)[0]
        return Finding(f"it asked for {path} {_times(asked[path])}, but the ids list it {_times(expected.requests[path])}",
                       "requests_missing")
    if extra:
        path = sorted(extra)[0]
        return Finding(f"it asked for {path} {_times(asked[path])}, but the ids list it {_times(expected.requests[path])}",
                       "requests_repeated" if expected.requests[path] else "requests_extra")
    return None


def _value(expected: Expect, value: Any, api: Any) -> Finding | None:
    client, wanted = expected.client, expected.returns
    if isinstance(wanted, tuple):
        if not (isinstance(value, (tuple, list)) and len(value) == 2):
            return Finding(f"it returned {shown(value, api)}; expected a pair (posts, users)", "shape")
        for part, label in ((0, "posts"), (1, "users")):
            found = _slots(wanted[part], value[part], api, client, f"{label} ")
            if found:
                return found
        return None
    if isinstance(wanted, list):
        return _slots(wanted, value, api, client, "")
    if not matches(value, wanted, client, api):
        return Finding(f"it returned {shown(value, api)}; expected {expected_words(wanted, client)}", "slot")
    return None


def _slots(wanted: list, value: Any, api: Any, client: str, label: str) -> Finding | None:
    if not isinstance(value, (list, tuple)):
        return Finding(f"it returned {shown(value, api)} as its {label or 'result'}; expected a list of {len(wanted)}", "shape")
    if len(value) != len(wanted):
        return Finding(f"it returned {len(value)} {label}result{'s' if len(value) != 1 else ''} for {len(wanted)} ids; "
                       "expected one per id, in the order given", "shape")
    for k, (got, slot) in enumerate(zip(value, wanted)):
        if not matches(got, slot, client, api):
            prop = "slot_failure" if isinstance(slot, Failure) else ("slot_order" if _elsewhere(got, wanted, api) else "slot")
            return Finding(f"{label}slot {k} holds {shown(got, api)}; expected {expected_words(slot, client)}", prop)
    return None


def _elsewhere(got: Any, wanted: list, api: Any) -> bool:
    return any(isinstance(w, Resource) and got == api.resource(w.path) for w in wanted)


def _sessions(expected: Expect, run: Any, cancelled: bool = False) -> Finding | None:
    opened, left = run.sessions_opened, run.sessions_left_open
    if cancelled and left:
        return Finding("its caller cancelled it mid-batch, and it left its ClientSession open", "cancel")
    if expected.sessions == "none":
        if opened:
            return Finding(f"it opened {opened} ClientSession(s) of its own; expected it to use the session it is given",
                           "own_session")
        return None
    if expected.sessions == "one" and opened == 0:
        return Finding("it opened no aiohttp.ClientSession; expected one for the batch", "sessions")
    if opened > 1:
        return Finding(f"it opened {opened} ClientSessions; expected one for the whole batch", "sessions")
    if left:
        return Finding("it returned with its ClientSession still open", "closed")
    if run.connectors_left_open:
        return Finding("it closed its ClientSession but left the session's connector open", "closed")
    return None


def _first_awaitable(value: Any) -> str | None:
    """'the coroutine fetch_one(), never awaited' for the first thing in `value` (or in its parts) made and not awaited."""
    parts = [value] + (list(value) if isinstance(value, (list, tuple)) else [])
    for part in parts + [p for v in parts if isinstance(v, (list, tuple)) for p in v]:
        if inspect.isawaitable(part) or getattr(part, "awaitable", None):
            return short(part)
    return None


def _times(count: int) -> str:
    return {0: "never", 1: "once", 2: "twice"}.get(count, f"{count} times")


def _listed(paths: list[str]) -> str:
    return ", ".join(paths[:6]) + (", ..." if len(paths) > 6 else "")


def _some(things: list[str]) -> str:
    unique = list(dict.fromkeys(things))
    return ", ".join(unique[:3]) + (f" and {len(unique) - 3} more" if len(unique) > 3 else "")

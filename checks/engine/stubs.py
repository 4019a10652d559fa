"""A JSONPlaceholder stand-in behind aioresponses and responses, with latency and faults chosen per path.

No request made while a check runs reaches a network: aiohttp requests are answered by
aioresponses, requests calls by responses, and both ask the same `FakeAPI` what to send.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import re
import weakref
from contextlib import ExitStack
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import requests
import responses
from aioresponses import CallbackResult, aioresponses

from checks.engine import guard, strict
from checks.engine.compat import StubResponse
from checks.data import POST_COUNT, USER_COUNT, post, user
from checks.engine.probe import Probe

STUB_BASE = "http://api.grader.test"
"""Where the checks point BASE_URL: a name that cannot resolve, should anything ever try."""

_ROUTES = (
    (re.compile(r"/posts/(\d+)"), post, POST_COUNT),
    (re.compile(r"/users/(\d+)"), user, USER_COUNT),
)

_current_session: contextvars.ContextVar[aiohttp.ClientSession | None] = contextvars.ContextVar(
    "current_session", default=None
)

DROPPED = "dropped"


@dataclass
class FakeAPI:
    """What the stand-in answers, per path: a delay, and optionally an error status or a dropped connection."""

    probe: Probe
    base: str = STUB_BASE
    default_delay: float = 0.0
    sync_delay: float | None = None  # for requests calls, when it should differ from aiohttp's
    delays: dict[str, float] = field(default_factory=dict)
    faults: dict[str, int | str] = field(default_factory=dict)
    gate: Any = None  # holds answers until the requests a check expects are all in flight (gates.py)
    body_delays: dict[str, float] = field(default_factory=dict)  # a body that arrives this long after its headers

    # --- what to answer ------------------------------------------------------------------

    def answer(self, url: str, client: str = "aiohttp") -> tuple[float, int | str, Any]:
        """(delay, status or DROPPED, JSON body) for one requested URL."""
        path = self.path_of(url)
        fallback = self.sync_delay if client == "requests" and self.sync_delay is not None else self.default_delay
        delay = self.delays.get(path, fallback)
        fault = self.faults.get(path)
        if fault is not None:
            return delay, fault, {}
        for pattern, make, count in _ROUTES:
            found = pattern.fullmatch(path)
            if found and 1 <= int(found.group(1)) <= count:
                return delay, 200, make(int(found.group(1)))
        return delay, 404, {}

    def path_of(self, url: str) -> str:
        return urlsplit(str(url)).path

    def served(self, url: str) -> bool:
        return str(url).startswith(self.base + "/")

    def refuse(self, url: str) -> str:
        self.probe.unexpected.append(str(url))
        return (
            f"the grader's stand-in API does not serve {url} "
            f"(BASE_URL points at {self.base} while you are graded)"
        )

    # --- aiohttp, through aioresponses -----------------------------------------------------

    async def _aiohttp_reply(self, url: Any, **kwargs: Any) -> CallbackResult:
        if not self.served(url):
            raise aiohttp.ClientConnectionError(self.refuse(url))
        deadline = _client_deadline(kwargs.get("timeout"))
        started = asyncio.get_running_loop().time()
        status, body = await self.respond("aiohttp", str(url), deadline)
        if status == DROPPED:
            raise aiohttp.ServerDisconnectedError()
        reason = HTTPStatus(int(status)).phrase  # aiohttp's raise_for_status() asserts there is one
        slow = self.body_delay(str(url))
        if not slow:
            return CallbackResult(status=status, payload=body, reason=reason, response_class=StubResponse)
        headers = {BODY_DELAY: repr(slow)}
        if deadline is not None:  # what is left of a ClientTimeout covers reading the body too
            headers[BODY_DEADLINE] = repr(max(0.0, deadline - (asyncio.get_running_loop().time() - started)))
        return CallbackResult(status=status, payload=body, reason=reason, headers=headers, response_class=SlowBodyResponse)

    def body_delay(self, url: str) -> float:
        """Seconds the body of this answer takes to arrive after its headers (0: with them)."""
        return self.body_delays.get(self.path_of(url), 0.0)

    async def respond(self, client: str, url: str, deadline: float | None = None) -> tuple[int | str, Any]:
        """Answer one request, recorded as a span: (status or DROPPED, JSON body).

        The answer waits for the check's gate, if it set one (see checks/engine/gates.py), then for
        the path's delay. A `deadline` that runs out first ends it with asyncio.TimeoutError, as
        aiohttp's own ClientTimeout would. The official grader calls this for relayed requests.
        """
        delay, status, body = self.answer(url, client)
        span = self.probe.begin(client, self.path_of(url))
        try:
            async with asyncio.timeout(deadline) as limit:
                if self.gate is not None:
                    await self.gate.admit(client)
                await asyncio.sleep(delay)
        except TimeoutError:
            if not limit.expired():
                raise
            span.outcome = "timeout"
            raise asyncio.TimeoutError() from None
        except asyncio.CancelledError:
            span.outcome = "cancelled"
            raise
        finally:
            answered = span.outcome == "pending"
            # A body sent after the headers keeps the request in flight until its last byte is sent: a
            # client cannot have read it sooner, so a limiter that lets the next request start at the
            # headers overlaps it. The end is set by arithmetic, not by a timer a busy loop could delay.
            sending = self.body_delay(url) if answered and client == "aiohttp" and status != DROPPED else 0.0
            self.probe.finish(span, str(status) if answered else span.outcome, sending)
        return status, body

    # --- requests, through responses -------------------------------------------------------

    def _requests_reply(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        strict.refuse_requests(request)  # what requests itself refuses never reaches the stand-in
        url = request.url or ""
        if guard.in_event_loop():
            self.probe.blocking.append(f"requests.{(request.method or 'get').lower()}({url}){_caller_line()}")
        if not self.served(url):
            raise requests.ConnectionError(self.refuse(url))
        status, body = self.respond_blocking(url)
        if status == DROPPED:
            raise requests.ConnectionError("the stand-in server dropped the connection")
        return int(status), {"Content-Type": "application/json"}, json.dumps(body)

    def respond_blocking(self, url: str) -> tuple[int | str, Any]:
        """Answer one `requests` call in the caller's thread, blocking for its delay as a server would."""
        delay, status, body = self.answer(url, "requests")
        span = self.probe.begin("requests", self.path_of(url))
        try:
            if self.gate is not None:
                self.gate.admit_blocking("requests")
            guard.real_sleep(delay)
        finally:
            self.probe.finish(span, str(status))
        return status, body

    # --- switching it on -------------------------------------------------------------------

    def serve(self) -> ExitStack:
        """Answer every aiohttp and requests call until the returned stack closes."""
        stack = ExitStack()
        stack.enter_context(self.probe.track_sessions())
        mocked = stack.enter_context(_SessionAwareAioresponses())
        mocked.get(re.compile(r".*"), callback=self._aiohttp_reply, repeat=True, response_class=StubResponse)
        stubbed = stack.enter_context(responses.RequestsMock(assert_all_requests_are_fired=False))
        stubbed.add_callback(responses.GET, re.compile(r".*"), callback=self._requests_reply)
        return stack


BODY_DELAY, BODY_DEADLINE = "X-Stand-In-Body-Delay", "X-Stand-In-Body-Deadline"


class SlowBodyResponse(StubResponse):
    """A stubbed response whose body arrives after its headers, as a slow server's would.

    A deadline that covers `session.get()` but not reading the body is only caught this way. The
    body itself is fed to the response's stream later (see `_send_body_later`), so every way of
    reading it waits: json(), text(), read(), and response.content directly.
    """


class _OpenConnection:
    """What a response's stream asks of its connection while it waits for the body: that it is open."""

    connected = True

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None


def _send_body_later(response: Any, sending: set[asyncio.Task]) -> asyncio.Task | None:
    """For a slow-body answer, swap in a stream that gets the body after its delay; the task that feeds it.

    aioresponses fills the stream at once, on a stand-in loop; a real stream on this loop is fed
    when the delay is over, or fails with aiohttp's ServerTimeoutError when what is left of the
    request's ClientTimeout runs out first, as a slow server would make it.
    """
    if not isinstance(response, SlowBodyResponse) or BODY_DELAY not in response.headers:
        return None
    delay = float(response.headers[BODY_DELAY])
    left = response.headers.get(BODY_DEADLINE)
    body = response.content.read_nowait()
    loop = asyncio.get_running_loop()
    stream = aiohttp.StreamReader(_OpenConnection(), limit=2**16, loop=loop)
    response.content, response._body = stream, None

    async def send() -> None:
        if left is not None and float(left) < delay:
            await asyncio.sleep(float(left))
            stream.set_exception(aiohttp.ServerTimeoutError("Timeout on reading data from socket"))
            return
        await asyncio.sleep(delay)
        stream.feed_data(body)
        stream.feed_eof()

    task = loop.create_task(send())
    sending.add(task)
    task.add_done_callback(sending.discard)
    return task


def _caller_line() -> str:
    """' (line 42)' in the graded file, for a blocking call made from it (the guard knows which file)."""
    from checks.engine.guard import current

    return current.where() if current is not None else ""


def descending(ids: list[int], slowest: float, fastest: float, route: str = "posts") -> dict[str, float]:
    """Delays that shrink along the ids, so the first asked for is the last to arrive."""
    step = (slowest - fastest) / max(len(ids) - 1, 1)
    return {f"/{route}/{i}": slowest - k * step for k, i in enumerate(ids)}


def _client_deadline(per_request: Any) -> float | None:
    """The aiohttp ClientTimeout that applies to this request (the request's own, else its session's).

    aioresponses answers before aiohttp's own timers start, so a student who bounds a request
    with ClientTimeout instead of asyncio.wait_for would never see it fire; the stand-in
    applies the same deadline itself. Only `total` and `sock_read` bound waiting for a reply.
    """
    timeout = per_request
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        timeout = aiohttp.ClientTimeout(total=timeout)  # aiohttp reads a bare number as the total
    if not isinstance(timeout, aiohttp.ClientTimeout):
        session = _current_session.get()
        timeout = session.timeout if session is not None else None
    if not isinstance(timeout, aiohttp.ClientTimeout):
        return None
    bounds = [t for t in (timeout.total, timeout.sock_read) if t is not None and t > 0]
    return min(bounds) if bounds else None


class _SessionAwareAioresponses(aioresponses):
    """aioresponses that also knows which ClientSession asked, and honours its connector's limits.

    The reply callback is given the request's arguments but not its session, and a session's own
    ClientTimeout lives there. A session's TCPConnector(limit=N) caps requests in flight, which a
    student may use instead of a semaphore, but aioresponses answers before any connector is
    involved; so the cap is applied here. This is the only place that relies on aioresponses'
    private `_request_mock` (0.7.x), which receives the session as its first argument.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._slots: weakref.WeakKeyDictionary[Any, asyncio.Semaphore] = weakref.WeakKeyDictionary()
        self._sending: set[asyncio.Task] = set()

    async def _request_mock(self, orig_self: aiohttp.ClientSession, *args: Any, **kwargs: Any) -> Any:
        """The stubbed answer, holding a connection slot until its body has been sent, as a real pool does."""
        await strict.refuse_aiohttp(orig_self, *args, **kwargs)  # what aiohttp itself refuses never reaches the stand-in
        token = _current_session.set(orig_self)
        slot = self._slot(orig_self.connector)
        try:
            await slot.acquire()
            try:
                response = await super()._request_mock(orig_self, *args, **kwargs)
                sending = _send_body_later(response, self._sending)
            except BaseException:
                slot.release()
                raise
            if sending is None:
                slot.release()
            else:
                sending.add_done_callback(lambda _: slot.release())
            return response
        finally:
            _current_session.reset(token)

    def stop(self, *args: Any, **kwargs: Any) -> None:
        for task in list(self._sending):  # bodies nobody waited for: a check is over
            task.cancel()
        super().stop(*args, **kwargs)

    def _slot(self, connector: Any) -> Any:
        """A semaphore sized like the connector's connection limit (every request here has one host)."""
        caps = [c for c in (getattr(connector, "limit", 0), getattr(connector, "limit_per_host", 0)) if c]
        if connector is None or not caps:
            return _NO_LIMIT
        if connector not in self._slots:
            self._slots[connector] = asyncio.Semaphore(min(caps))
        return self._slots[connector]


class _NoLimit:
    """A slot for a connector without a connection limit."""

    async def acquire(self) -> None:
        return None

    def release(self) -> None:
        return None


_NO_LIMIT = _NoLimit()

"""A JSONPlaceholder stand-in behind aioresponses and responses, with latency and faults chosen per path.

No request made while a check runs reaches a network: aiohttp requests are answered by
aioresponses, requests calls by responses, and both ask the same `FakeAPI` what to send.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import re
import secrets
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
from checks.engine.compat import StubResponse, cheaper_response_loops
from checks.data import POST_COUNT, USER_COUNT, post, user
from checks.engine.probe import Probe, Span

cheaper_response_loops()

HELD = 2.0
"""Seconds the stand-in holds an answer that a check means never to come in time: long enough that no
busy machine lets it overtake a deadline, while correct code gives up on it long before."""

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

BODIES = ("resource", "empty", "error_json", "text", "html", "not_json", "cut")
"""What a reply's body can be: the resource's JSON (or {} where there is none), `{}`, a JSON error object,
plain text, an HTML page, JSON that does not parse, or the resource's JSON cut short by a lost connection."""


@dataclass(frozen=True)
class Reply:
    """What the stand-in does with one path: when it answers, with which status, and what the body is."""

    status: int = 200
    body: str = "resource"
    delay: float = 0.0
    body_delay: float = 0.0  # the body arrives this long after the headers
    dropped: bool = False  # the connection is closed before any answer
    held: bool = False  # no answer for HELD seconds: only a deadline ends the wait
    trickle: bool = False  # the body comes in small pieces spread over body_delay, not all at its end


@dataclass(frozen=True)
class Answer:
    """One answer as it is sent: the status (or DROPPED, or "timeout" for a deadline the stand-in applied),
    the body's text and content type, and how the body travels."""

    status: int | str
    text: str = "{}"
    content_type: str = "application/json"
    body_delay: float = 0.0
    cut: bool = False  # the body stops half-way and the connection is lost
    trickle: bool = False

    def to_wire(self) -> dict:
        return {"status": self.status, "text": self.text, "content_type": self.content_type,
                "body_delay": self.body_delay, "cut": self.cut, "trickle": self.trickle}

    @classmethod
    def from_wire(cls, message: dict) -> Answer:
        """An answer rebuilt from the grader's message, every field checked for its type."""
        status = message.get("status")
        if not (isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599):
            status = status if status in (DROPPED, "timeout") else 500
        delay = message.get("body_delay")
        return cls(
            status,
            str(message.get("text", "")),
            str(message.get("content_type", "application/json")),
            float(delay) if isinstance(delay, (int, float)) and not isinstance(delay, bool) else 0.0,
            message.get("cut") is True,
            message.get("trickle") is True,
        )

    def json(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError:
            return None


_PAGES = {
    "text": ("text/plain", "{status} {phrase}"),
    "html": ("text/html", "<!doctype html>\n<html><head><title>{status} {phrase}</title></head>"
                          "<body><h1>{phrase}</h1><p>The server could not answer this request.</p></body></html>"),
}


@dataclass
class FakeAPI:
    """What the stand-in answers, per path: a delay, and optionally an error status or a dropped connection.

    `replies` says everything about a path at once (a Reply); the older per-field settings (`delays`,
    `faults`, `body_delays`) still serve the checks written with them. `salt` ends every body served,
    so that answers made up without asking cannot pass for the stand-in's (see checks/data.py).
    """

    probe: Probe
    base: str = STUB_BASE
    default_delay: float = 0.0
    sync_delay: float | None = None  # for requests calls, when it should differ from aiohttp's
    delays: dict[str, float] = field(default_factory=dict)
    faults: dict[str, int | str] = field(default_factory=dict)
    gate: Any = None  # holds answers until the requests a check expects are all in flight (gates.py)
    body_delays: dict[str, float] = field(default_factory=dict)  # a body that arrives this long after its headers
    replies: dict[str, Reply] = field(default_factory=dict)
    salt: str = field(default_factory=lambda: secrets.token_hex(4))

    def renew(self, base: str, replies: dict[str, Reply]) -> None:
        """Become a fresh stand-in for the next scenario, in place: new replies, base and salt, nothing measured.
        The stubs that serve() switched on keep answering from this object, so they need not be set up again."""
        self.probe.reset()
        self.base, self.replies, self.salt = base, dict(replies), secrets.token_hex(4)
        self.default_delay, self.sync_delay, self.gate = 0.0, None, None
        self.delays, self.faults, self.body_delays = {}, {}, {}

    # --- what to answer ------------------------------------------------------------------

    def post(self, post_id: int) -> dict[str, Any]:
        return post(post_id, self.salt)

    def user(self, user_id: int) -> dict[str, Any]:
        return user(user_id, self.salt)

    def resource(self, path: str) -> Any:
        """The JSON this stand-in serves at `path` when nothing goes wrong, or None where nothing exists."""
        for pattern, make, count in _ROUTES:
            found = pattern.fullmatch(path)
            if found and 1 <= int(found.group(1)) <= count:
                return make(int(found.group(1)), self.salt)
        return None

    def answer(self, url: str, client: str = "aiohttp") -> tuple[float, Answer]:
        """(delay, Answer) for one requested URL."""
        path = self.path_of(url)
        reply = self.replies.get(path)
        if reply is not None:
            return self._reply(path, reply, client)
        fallback = self.sync_delay if client == "requests" and self.sync_delay is not None else self.default_delay
        delay = self.delays.get(path, fallback)
        fault = self.faults.get(path)
        if fault is not None:
            return delay, Answer(fault)
        found = self.resource(path)
        if found is None:
            return delay, Answer(404)
        slow = self.body_delays.get(path, 0.0) if client == "aiohttp" else 0.0
        return delay, Answer(200, json.dumps(found), body_delay=slow)

    def _reply(self, path: str, reply: Reply, client: str) -> tuple[float, Answer]:
        delay = HELD if reply.held else reply.delay
        if reply.dropped:
            return delay, Answer(DROPPED)
        found = self.resource(path)
        status = reply.status if found is not None or reply.status >= 400 else 404
        phrase = HTTPStatus(status).phrase
        text, kind = "{}", "application/json"
        if reply.body in ("resource", "cut") and found is not None and status < 400:
            text = json.dumps(found)
        elif reply.body == "error_json":
            text = json.dumps({"error": phrase, "status": status})
        elif reply.body in _PAGES:
            kind, page = _PAGES[reply.body]
            text = page.format(status=status, phrase=phrase)
        elif reply.body == "not_json":
            text = '{"id": ' + path.rsplit("/", 1)[-1] + ', "title": "an answer that stops'
        slow = reply.body_delay if client == "aiohttp" else 0.0
        return delay, Answer(status, text, kind, slow, cut=reply.body == "cut" and status < 400, trickle=reply.trickle)

    def path_of(self, url: str) -> str:
        """The path asked for, below the base's own path: '/posts/3' for BASE/posts/3 whatever BASE's path is."""
        path = urlsplit(str(url)).path
        prefix = urlsplit(self.base).path.rstrip("/")
        return path[len(prefix):] if prefix and path.startswith(prefix + "/") else path

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
        total, sock_read = _client_deadlines(kwargs.get("timeout", _SESSIONS_OWN))
        deadline = min((t for t in (total, sock_read) if t is not None), default=None)  # for the headers
        started = asyncio.get_running_loop().time()
        answer = await self.respond("aiohttp", str(url), deadline)
        if answer.status == DROPPED:
            raise aiohttp.ServerDisconnectedError()
        status = int(answer.status)
        reason = HTTPStatus(status).phrase  # aiohttp's raise_for_status() asserts there is one
        headers = {"Content-Type": answer.content_type}
        if not answer.body_delay and not answer.cut and not answer.trickle:
            return CallbackResult(status=status, body=answer.text, reason=reason, headers=headers, response_class=StubResponse)
        headers[BODY_DELAY] = repr(answer.body_delay)
        if answer.cut:
            headers[BODY_CUT] = "1"
        if answer.trickle:
            headers[BODY_TRICKLE] = "1"
        if total is not None:  # what is left of a ClientTimeout's total covers reading the body too
            headers[BODY_DEADLINE] = repr(max(0.0, total - (asyncio.get_running_loop().time() - started)))
        if sock_read is not None:  # and sock_read bounds each wait for more of it
            headers[BODY_GAP] = repr(sock_read)
        return CallbackResult(status=status, body=answer.text, reason=reason, headers=headers, response_class=SlowBodyResponse)

    def body_delay(self, url: str) -> float:
        """Seconds the body of this answer takes to arrive after its headers (0: with them)."""
        return self.body_delays.get(self.path_of(url), 0.0)

    async def respond(self, client: str, url: str, deadline: float | None = None, span: Span | None = None) -> Answer:
        """Answer one request, recorded as a span (or as `span`, begun when the request arrived).

        The answer waits for the check's gate, if it set one (see checks/engine/gates.py), then for
        the path's delay. A `deadline` that runs out first ends it with asyncio.TimeoutError, as
        aiohttp's own ClientTimeout would. The official grader calls this for relayed requests.
        """
        delay, answer = self.answer(url, client)
        span = span or self.probe.begin(client, self.path_of(url))
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
            if span.end is None:  # else it ended already, as its client gave up (official grading's relay)
                answered = span.outcome == "pending"
                # A body sent after the headers keeps the request in flight until its last byte is sent: a
                # client cannot have read it sooner, so a limiter that lets the next request start at the
                # headers overlaps it. The end is set by arithmetic, not by a timer a busy loop could delay.
                sending = answer.body_delay if answered and client == "aiohttp" and answer.status != DROPPED else 0.0
                self.probe.finish(span, str(answer.status) if answered else span.outcome, sending)
        return answer

    # --- requests, through responses -------------------------------------------------------

    def _requests_reply(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        strict.refuse_requests(request)  # what requests itself refuses never reaches the stand-in
        url = request.url or ""
        if guard.in_event_loop():
            self.probe.blocking.append(f"requests.{(request.method or 'get').lower()}({url}){_caller_line()}")
        if not self.served(url):
            raise requests.ConnectionError(self.refuse(url))
        answer = self.respond_blocking(url)
        if answer.status == DROPPED:
            raise requests.ConnectionError("the stand-in server dropped the connection")
        if answer.cut:
            raise requests.exceptions.ChunkedEncodingError("Connection broken: the body stopped half-way")
        return int(answer.status), {"Content-Type": answer.content_type}, answer.text

    def respond_blocking(self, url: str) -> Answer:
        """Answer one `requests` call in the caller's thread, blocking for its delay as a server would."""
        delay, answer = self.answer(url, "requests")
        span = self.probe.begin("requests", self.path_of(url))
        try:
            if self.gate is not None:
                self.gate.admit_blocking("requests")
            guard.real_sleep(delay)
        finally:
            self.probe.finish(span, str(answer.status))
        return answer

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
BODY_GAP, BODY_CUT, BODY_TRICKLE = "X-Stand-In-Read-Gap", "X-Stand-In-Cut", "X-Stand-In-Trickle"
TRICKLE_STEP = 0.05
"""Seconds between the pieces of a trickled body: a gap far shorter than any deadline a check sets."""


class SlowBodyResponse(StubResponse):
    """A stubbed response whose body arrives after its headers, trickles in, or stops half-way.

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


READ_TIMEOUT = "Timeout on reading data from socket"


def _send_body_later(response: Any, sending: set[asyncio.Task]) -> asyncio.Task | None:
    """For a slow, trickled or cut body, swap in a stream that the returned task feeds as a server would.

    aioresponses fills the stream at once, on a stand-in loop; a real stream on this loop gets the
    body when its delay is over (all at once, or in pieces for a trickle), or fails as aiohttp's
    would: ServerTimeoutError when what is left of the request's ClientTimeout runs out first, or
    when a wait for the next piece outlasts `sock_read`; ClientPayloadError when the body stops
    half-way because the connection was lost.
    """
    if not isinstance(response, SlowBodyResponse) or BODY_DELAY not in response.headers:
        return None
    headers = response.headers
    delay = float(headers[BODY_DELAY])
    total = float(headers[BODY_DEADLINE]) if BODY_DEADLINE in headers else None
    gap = float(headers[BODY_GAP]) if BODY_GAP in headers else None
    body = response.content.read_nowait()
    loop = asyncio.get_running_loop()
    stream = aiohttp.StreamReader(_OpenConnection(), limit=2**16, loop=loop)
    response.content, response._body = stream, None
    pieces = max(2, round(delay / TRICKLE_STEP)) if BODY_TRICKLE in headers else 1
    cut = BODY_CUT in headers

    async def send() -> None:
        spent, size = 0.0, max(1, len(body) // pieces)
        for k in range(pieces):
            wait = delay / pieces
            limits = [(total - spent, "total")] if total is not None else []
            limits += [(gap, "gap")] if gap is not None else []
            first = min(limits, default=None)
            if first is not None and first[0] < wait:
                await asyncio.sleep(max(0.0, first[0]))
                stream.set_exception(aiohttp.ServerTimeoutError(READ_TIMEOUT))
                return
            await asyncio.sleep(wait)
            spent += wait
            if cut:
                stream.feed_data(body[: len(body) // 2])
                stream.set_exception(aiohttp.ClientPayloadError("Response payload is not completed"))
                return
            stream.feed_data(body[k * size : None if k == pieces - 1 else (k + 1) * size])
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


_SESSIONS_OWN = object()
"""A request that names no timeout of its own."""


def _client_deadlines(per_request: Any) -> tuple[float | None, float | None]:
    """(total, sock_read) of the aiohttp ClientTimeout that applies to this request (its own, else its session's).

    aioresponses answers before aiohttp's own timers start, so a student who bounds a request
    with ClientTimeout instead of asyncio.wait_for would never see it fire; the stand-in applies
    the same bounds itself: `total` to the whole request, headers and body, and `sock_read` to each
    wait for more data (the headers, then every piece of the body), as aiohttp does.
    """
    timeout = per_request
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        timeout = aiohttp.ClientTimeout(total=timeout)  # aiohttp reads a bare number as the total
    if timeout is _SESSIONS_OWN:  # not given: the session's; given as None: no bound at all, as in aiohttp
        session = _current_session.get()
        timeout = session.timeout if session is not None else None
    if not isinstance(timeout, aiohttp.ClientTimeout):
        return None, None
    positive = lambda t: t if t is not None and t > 0 else None  # noqa: E731 - aiohttp reads 0 as no bound
    return positive(timeout.total), positive(timeout.sock_read)


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

"""Runs one student function under measurement and turns what went wrong into a verdict a student can read."""

from __future__ import annotations

import asyncio
import gc
import inspect
import runpy
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

import aiohttp

from checks.data import post
from checks.engine.loader import describe, location
from checks.engine.probe import Probe, Span
from checks.engine.stubs import FakeAPI

CALL_LIMIT = 5.0
"""Seconds a single student call may take before the check gives up on it (pytest-timeout is the backstop)."""


class Verdict(AssertionError):
    """A mistake the grader can name: its message is the whole report, no traceback."""


@dataclass
class Run:
    """One call of a student function, and what the stand-in measured while it ran."""

    name: str
    value: Any
    error: BaseException | None
    seconds: float
    spans: list[Span]
    sessions_opened: int
    sessions_left_open: int

    @property
    def peak(self) -> int:
        return Probe.peak(self.spans)


class Harness:
    """The student's module, the stand-in API and its probe, for one check."""

    def __init__(
        self, project: ModuleType, path: Path, api: FakeAPI, original_base_url: str, hung: set[str] | None = None
    ) -> None:
        self.project, self.path, self.api, self.probe = project, path, api, api.probe
        self.original_base_url = original_base_url
        self.hung = hung if hung is not None else set()  # functions that never returned: shared by a run's checks
        self.running: str | None = None

    def function(self, name: str) -> Callable[..., Any]:
        found = getattr(self.project, name, None)
        if not callable(found):
            raise Verdict(f"{self.path.name} has no function {name}(). Did it get renamed or deleted?")
        return found

    async def session(self) -> aiohttp.ClientSession:
        """A session the check owns (for fetch_one and friends); not counted as the student's."""
        made = aiohttp.ClientSession()
        self.probe.sessions.remove(made)
        return made

    # --- running student code --------------------------------------------------------------

    async def attempt(self, name: str, *args: Any, tidy: bool = True, **kwargs: Any) -> Run:
        """Await student function `name`; whatever it raises is kept in the Run, not raised.

        Sessions it leaves open are closed afterwards (so no warning leaks into later checks),
        unless `tidy` is False for a check that measures them first and then calls `tidy_up()`.
        """
        fn = self.function(name)
        with self._measuring(name) as call:
            try:
                async with asyncio.timeout(CALL_LIMIT) as limit:
                    # Whether it can be awaited is judged by what the call gives back, not by how it
                    # is defined: a plain decorator around an async def still returns a coroutine.
                    returned = fn(*args, **kwargs)
                    call.not_async = not inspect.isawaitable(returned)
                    call.value = returned if call.not_async else await returned
            except TimeoutError:
                if not limit.expired():
                    raise  # the student's own TimeoutError: a result like any other
                call.expired = True
        if call.not_async or (call.not_async is None and call.error is not None and not _async_underneath(fn)):
            raise Verdict(NOT_ASYNC.format(name=name))
        if call.expired:
            self.hung.add(name)
            raise self.fail(f"{name}() did not finish within {CALL_LIMIT:g} s. Is something awaited that never completes?")
        if inspect.isawaitable(call.value):
            await self.tidy_up()
            raise self.fail(MISSING_AWAIT.format(name=name, what=unawaited(call.value)))
        if tidy:
            await self.tidy_up()
        return call.run

    async def tidy_up(self) -> None:
        for leaked in self.probe.open_sessions():
            await leaked.close()

    def attempt_sync(self, name: str, *args: Any, **kwargs: Any) -> Run:
        """Call plain student function `name`; only pytest-timeout can stop it if it never returns."""
        fn = self.function(name)
        with self._measuring(name) as call, _as_in_a_new_process():
            call.value = fn(*args, **kwargs)
            if inspect.iscoroutine(call.value):
                call.value = asyncio.run(call.value)
        return call.run

    def run_as_script(self) -> Run:
        """Run the graded file as `python project.py ...` would (sys.argv is the caller's to set)."""
        with self._measuring(f"python {self.path.name}") as call, _as_in_a_new_process():
            try:
                runpy.run_path(str(self.path), run_name="__main__")
            except SystemExit as exited:
                if exited.code not in (None, 0):
                    raise
        return self.succeeded(call.run)

    @contextmanager
    def _measuring(self, name: str) -> Iterator[_Call]:
        """Time a student call with the collector quiet, and keep what it raised instead of raising it."""
        if name in self.hung:
            raise Verdict(HUNG_BEFORE.format(name=called(name)))
        call = _Call(name, self.probe.mark(), len(self.probe.sessions), self.probe.now())
        self.running = name  # left set if pytest-timeout interrupts the call: the plugin reads it
        with _quiet_collector():
            try:
                yield call
            except STUDENT_ERRORS as raised:
                call.error = raised
        self.running = None
        call.seconds = self.probe.now() - call.started
        _not_a_result(name, call.error)
        _settle_unawaited(call.value)
        opened = self.probe.sessions[call.sessions_before :]
        call.run = Run(
            name, call.value, call.error, call.seconds, self.probe.since(call.mark),
            len(opened), sum(not s.closed for s in opened),
        )

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Run:
        """Like attempt(), but an exception from the student's code fails the check, said plainly."""
        return self.succeeded(await self.attempt(name, *args, **kwargs))

    def call_sync(self, name: str, *args: Any, **kwargs: Any) -> Run:
        return self.succeeded(self.attempt_sync(name, *args, **kwargs))

    def succeeded(self, run: Run, expected: str = "") -> Run:
        """`run`, if the call returned; otherwise a Verdict naming what it raised, where, and what was
        `expected` instead (for a function that should keep failures in its result, not raise them)."""
        if run.error is not None:
            where = location(self.path, run.error.__traceback__)
            at = f" ({self.path.name}, {where})" if where else ""
            instead = f"; expected {expected}" if expected else ""
            raise Verdict(self.explain(f"{called(run.name)} raised {describe(run.error)}{at}{instead}"))
        return run

    # --- messages --------------------------------------------------------------------------

    def explain(self, message: str) -> str:
        """`message`, plus what the probe noticed that explains most failures: blocking calls, stray URLs."""
        lines = [message]
        if self.probe.blocking:
            lines.append(BLOCKING.format(calls=_some(self.probe.blocking)))
        if self.probe.unexpected:
            lines.append(UNEXPECTED.format(urls=_some(self.probe.unexpected), base=self.api.base))
        return "\n".join(lines)

    def fail(self, message: str, run: Run | None = None, *, picture: bool = False) -> Verdict:
        """A Verdict with the probe's context and, for concurrency, the measured timeline."""
        text = self.explain(message)
        if picture and run is not None:
            text += "\nRequests over time (one row each):\n" + self.probe.timeline(run.spans)
        return Verdict(text)

    def expect(self, ok: bool, message: str, run: Run | None = None, *, picture: bool = False) -> None:
        if not ok:
            raise self.fail(message, run, picture=picture)

    def expect_no_blocking(self, run: Run) -> None:
        self.expect(not self.probe.blocking, f"{run.name}() made a blocking call inside async code.")

    # --- the expectations most checks share --------------------------------------------------

    def expect_items(
        self, run: Run, ids: list[int], make: Callable[[int], Any] = post, what: str = "post", got: Any = None
    ) -> None:
        """The result (or `got`, a part of it) holds exactly `make(id)` for each id, in the order of the ids."""
        part = got is not None  # e.g. the posts of a (posts, users) pair
        got = run.value if got is None else got
        if not isinstance(got, (list, tuple)):
            as_what = f" as its {what}s" if part else ""
            raise self.fail(f"{run.name}() returned {short(got)}{as_what}; expected a list of {len(ids)} {what}s.")
        got = list(got)
        if got == [make(i) for i in ids]:
            return
        if len(got) != len(ids):
            counted, of = (f"{len(got)} {what}s", f"{what} ids") if part else (f"{len(got)} results", "ids")
            raise self.fail(f"{run.name}() returned {counted} for {len(ids)} {of}; expected one per id.")
        got_ids = [g.get("id") if isinstance(g, dict) else None for g in got]
        if sorted(got_ids, key=str) == sorted(ids, key=str) and got_ids != ids:
            raise self.fail(ORDER.format(name=run.name, got=_ids(got_ids), ids=_ids(ids)))
        slot = next(k for k, (g, i) in enumerate(zip(got, ids)) if g != make(i))
        raise self.fail(
            f"{run.name}(): slot {slot} holds {short(got[slot])}; expected the {what} with id {ids[slot]}."
        )

    def expect_slots(self, run: Run, count: int, call: str) -> list[Any]:
        """The result is a list with one slot per id; returns it."""
        value = run.value
        self.expect(
            isinstance(value, (list, tuple)) and len(value) == count,
            f"{call} returned {short(value)}; expected a list with one slot per id ({count}).",
        )
        return list(value)

    def expect_all_at_once(self, run: Run, expected: int) -> None:
        """Every request in flight together: counted, not timed."""
        self.expect(
            run.peak == expected,
            f"{run.name}(): peak in flight {run.peak}, expected {expected} (all at once). {timing(run)}. "
            "Is each request awaited before the next one is started?",
            run,
            picture=True,
        )

    def expect_one_session(self, run: Run, left_open: str = "") -> None:
        if run.sessions_opened == 0:
            raise self.fail(f"{run.name}() opened no aiohttp.ClientSession; expected one for the batch.")
        self.expect(
            run.sessions_opened == 1,
            f"{run.name}() opened {run.sessions_opened} ClientSessions for one batch, expected 1. "
            "Is a new session made for every request, instead of sharing one?",
        )
        self.expect(run.sessions_left_open == 0, left_open or LEFT_OPEN.format(name=run.name))


ORDER = (
    "{name}() returned the results in the order {got}; expected the order of the ids given, {ids}. "
    "Are results collected as they finish instead of in the order they were asked for?"
)
LEFT_OPEN = (
    "{name}() left its ClientSession open when it returned (aiohttp warns 'Unclosed client session'). "
    "Is the session opened with `async with`?"
)
BLOCKING = (
    "Blocking call inside async code: {calls}. While it runs the event loop is frozen and no "
    "other request can progress. Is there an awaitable version (aiohttp, asyncio.sleep)?"
)
UNEXPECTED = (
    "Requests to URLs the grader does not serve: {urls}. Build every URL from BASE_URL when the "
    "function runs (it points at {base} while you are graded)."
)


def timing(run: Run) -> str:
    """Total time set against the delays the stand-in injected in the same run."""
    took = [s.end - s.start for s in run.spans if s.end is not None]
    if not took:
        return f"total {run.seconds:.2f} s"
    return f"total {run.seconds:.2f} s; slowest request {max(took):.2f} s, all requests added up {sum(took):.2f} s"


def _ids(ids: list[Any], most: int = 8) -> str:
    shown = ", ".join(str(i) for i in ids[:most])
    return shown + (", ..." if len(ids) > most else "")


def called(name: str) -> str:
    """'fetch_async()' for a function, the command itself for a script run ('python project.py')."""
    return f"{name}()" if name.isidentifier() else name


def unawaited(value: Any) -> str:
    """What a student handed back instead of awaiting it, named as they wrote it."""
    if inspect.iscoroutine(value):
        return f"the coroutine {value.__qualname__}()"
    if isinstance(value, asyncio.Task):
        return f"a Task running {value.get_coro().__qualname__}()"  # type: ignore[union-attr]
    if isinstance(value, asyncio.Future):
        return "a Future (asyncio.gather(...) returns one)"
    return f"an awaitable {type(value).__name__}"


def short(value: Any, most: int = 80) -> str:
    if inspect.isawaitable(value):
        return f"{unawaited(value)}, never awaited (is an `await` missing?)"
    text = repr(value)
    return text if len(text) <= most else text[: most - 3] + "..."


STUDENT_ERRORS = (Exception, asyncio.CancelledError, SystemExit, KeyboardInterrupt)
"""What student code may raise and still get a verdict (pytest's own outcomes, like a timeout, pass through)."""

HUNG_BEFORE = "{name} never returned in an earlier check, so it was not run again."
NOT_ASYNC = "{name}() must be defined with `async def`, so that calling it gives something to await."
MISSING_AWAIT = "{name}() returned {what} instead of its result, without awaiting it. Is an `await` missing?"


@dataclass
class _Call:
    """One student call in progress; `run` is filled in when it is over."""

    name: str
    mark: int
    sessions_before: int
    started: float
    value: Any = None
    error: BaseException | None = None
    seconds: float = 0.0
    expired: bool = False
    not_async: bool | None = None  # None until the call has given something back
    run: Run = None  # type: ignore[assignment]


def _not_a_result(name: str, error: BaseException | None) -> None:
    """Raise a Verdict for what no check should take as an ordinary exception from the code under test."""
    if isinstance(error, NotImplementedError):
        raise Verdict(f"{name}() is still a TODO: {str(error) or 'it raises NotImplementedError'}")
    if isinstance(error, SystemExit):
        raise Verdict(f"{name}() called sys.exit({error.code!r}). A function should return or raise, not end the program.")
    if isinstance(error, KeyboardInterrupt):
        raise Verdict(f"{name}() raised KeyboardInterrupt. Only Ctrl-C should; raise an ordinary exception instead.")


def _async_underneath(fn: Callable[..., Any]) -> bool:
    """True for an async def, also behind decorators that keep __wrapped__ (functools.wraps)."""
    return inspect.iscoroutinefunction(inspect.unwrap(fn))


def _settle_unawaited(value: Any, depth: int = 2) -> None:
    """Close coroutines and cancel futures a student handed back un-awaited (also inside a list or a
    pair of lists), so Python's 'never awaited' warnings do not surface later under another check."""
    if inspect.iscoroutine(value):
        value.close()
    elif isinstance(value, asyncio.Future):
        # Retrieved, so it is not reported as never retrieved, whenever it ends (a gather whose
        # requests have all failed may end only after this, whether or not it is cancelled).
        value.add_done_callback(lambda done: done.cancelled() or done.exception())
        value.cancel()
    elif depth and isinstance(value, (list, tuple)):
        for part in value:
            _settle_unawaited(part, depth - 1)


def _some(things: list[str], most: int = 3) -> str:
    unique = list(dict.fromkeys(things))
    shown = ", ".join(unique[:most])
    return shown + (f" and {len(unique) - most} more" if len(unique) > most else "")


@contextmanager
def _as_in_a_new_process() -> Iterator[None]:
    """Give sync student code the event loop state of a fresh `python project.py`.

    Earlier checks' asyncio.run() calls leave asyncio marked as having had its loop unset, and then
    Python 3.11 to 3.13 make asyncio.get_event_loop() raise where a fresh process would have made
    a loop: a main() written with get_event_loop().run_until_complete() worked from the command
    line and failed here. From 3.14 on a fresh process has no loop either, so nothing is done there.
    """
    if sys.version_info >= (3, 14):
        yield
        return
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield
    finally:
        asyncio.set_event_loop(None)
        loop.close()


@contextmanager
def _quiet_collector() -> Iterator[None]:
    """Keep garbage collection out of the measured window: a full pass can stall the loop for 10-20 ms."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()

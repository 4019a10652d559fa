"""Calls one student function in the process that holds the graded module, and writes down what happened.

This is the only code that touches student code. In self-grading it runs inside pytest; in official
grading it runs in a worker process (checks/engine/worker.py) and its `Facts` travel to the grader.
It reports facts, never verdicts: what the call returned or raised, whether it could be awaited,
the sessions it opened, what it printed. The grader's Harness judges them.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import io
import re
import runpy
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

import aiohttp

from checks.engine import stall
from checks.engine.loader import location
from checks.engine.probe import Probe
from checks.engine.wire import unawaited

CALL_LIMIT = 5.0
"""Seconds a single student call may take before the check gives up on it (pytest-timeout is the backstop)."""
OUTPUT_CAP = 1_000_000
"""Characters of a call's printed output kept: main() prints a few kilobytes; a flood is cut, not stored."""


@dataclass
class Facts:
    """What one call did, as the executing process saw it. Every field is plain data or a rebuilt value."""

    name: str
    value: Any = None
    error: BaseException | None = None
    where: str | None = None  # "line 42, in fetch_async": the student's line the error came from
    seconds: float = 0.0
    sessions_opened: int = 0
    sessions_left_open: int = 0
    connectors_left_open: int = 0  # closed sessions whose connector (and its connections) is still open
    not_async: bool | None = None  # None when the call raised before giving anything back
    async_underneath: bool = False
    expired: bool = False  # the call outlived CALL_LIMIT and was abandoned
    unawaited: str | None = None  # it handed back something to await instead of a result: what
    missing: bool = False  # no such function in the graded file
    output: str | None = None  # what a sync call or a script run printed
    escaped: str | None = None  # KeyboardInterrupt or SystemExit that escaped the event loop from a task
    blocking: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    never_awaited: list[str] = field(default_factory=list)  # 'fetch_one() at line 39': coroutines made and dropped


STUDENT_ERRORS = (Exception, asyncio.CancelledError, SystemExit, KeyboardInterrupt)
"""What student code may raise and still get a verdict (pytest's own outcomes, like a timeout, pass through)."""


class Executor:
    """The graded module and the probe of this process (where guards note blocking calls and stray URLs)."""

    def __init__(self, module: ModuleType, path: Path, probe: Probe) -> None:
        self.module, self.path, self.probe = module, path, probe

    def function(self, name: str) -> Callable[..., Any] | None:
        found = getattr(self.module, name, None)
        return found if callable(found) else None

    async def own_session(self) -> aiohttp.ClientSession:
        """A session the check owns (for fetch_one and friends); not counted as the student's."""
        made = aiohttp.ClientSession()
        self.probe.sessions.remove(made)
        if made.connector in self.probe.connectors:
            self.probe.connectors.remove(made.connector)
        return made

    def cpu_waited(self) -> float | None:
        """Seconds this process's threads (the grader's and the student code's) have waited for a CPU so far."""
        return stall.waited("self")

    async def tidy_up(self) -> None:
        for leaked in self.probe.open_sessions():
            await leaked.close()
        for connector in self.probe.open_connectors():
            await connector.close()

    # --- the three ways a check calls student code ---------------------------------------------

    async def attempt(
        self, name: str, args: tuple, kwargs: dict, tidy: bool = True, cancel_after: int | None = None, in_loop: int = 0
    ) -> Facts:
        """Await student function `name`; whatever it raises is kept in the Facts, not raised.

        With `cancel_after`, the caller gives up on the call (cancels it, as a caller's wait_for would)
        once that many of its requests have reached the stand-in: code that cleans up only after an
        ordinary exception shows. `in_loop` is for the worker's runner; here the caller picks the loop.
        """
        fn = self.function(name)
        if fn is None:
            return Facts(name, missing=True)
        args = _copies(args)
        with self._measuring(name) as facts:
            facts.async_underneath = inspect.iscoroutinefunction(inspect.unwrap(fn))
            try:
                async with asyncio.timeout(CALL_LIMIT) as limit:
                    # Whether it can be awaited is judged by what the call gives back, not by how it
                    # is defined: a plain decorator around an async def still returns a coroutine.
                    returned = fn(*args, **kwargs)
                    facts.not_async = not inspect.isawaitable(returned)
                    if facts.not_async:
                        facts.value = returned
                    elif cancel_after is None:
                        facts.value = await returned
                    else:
                        facts.value = await self._cancelled_after(returned, cancel_after)
            except TimeoutError:
                if not limit.expired():
                    raise  # the student's own TimeoutError: a result like any other
                facts.expired = True
        if facts.unawaited or tidy:
            await self.tidy_up()
        return facts

    async def _cancelled_after(self, awaitable: Any, requests: int) -> Any:
        """Await `awaitable` as a task, and cancel that task once `requests` requests have arrived."""
        task = asyncio.ensure_future(awaitable)
        loop, seen = asyncio.get_running_loop(), len(self.probe.spans)

        def arrived() -> None:
            if len(self.probe.spans) - seen >= requests and not task.done():
                loop.call_soon_threadsafe(task.cancel)

        self.probe.on_begin = arrived
        try:
            return await task
        finally:
            self.probe.on_begin = None

    def attempt_sync(self, name: str, args: tuple, kwargs: dict) -> Facts:
        """Call plain student function `name`; only a time limit from outside can stop it if it never returns."""
        fn = self.function(name)
        if fn is None:
            return Facts(name, missing=True)
        args = _copies(args)
        with self._measuring(name) as facts, _as_in_a_new_process(), _printed(facts):
            facts.value = fn(*args, **kwargs)
            if inspect.iscoroutine(facts.value):
                facts.value = asyncio.run(facts.value)
        return facts

    def run_script(self, argv: list[str]) -> Facts:
        """Run the graded file as `python project.py ARGV...` would."""
        with self._measuring(f"python {self.path.name}") as facts, _as_in_a_new_process(), _printed(facts), _argv(
            [str(self.path), *argv]
        ):
            try:
                runpy.run_path(str(self.path), run_name="__main__")
            except SystemExit as exited:
                if exited.code not in (None, 0):
                    raise
        return facts

    @contextmanager
    def _measuring(self, name: str) -> Iterator[Facts]:
        """Time a student call with the collector quiet, and keep what it raised instead of raising it."""
        facts = Facts(name)
        sessions_before, connectors_before = len(self.probe.sessions), len(self.probe.connectors)
        blocking, unexpected = len(self.probe.blocking), len(self.probe.unexpected)
        started = time.perf_counter()
        with _quiet_collector(), _dropped_coroutines(str(self.path), facts.never_awaited):
            try:
                yield facts
            except STUDENT_ERRORS as raised:
                facts.error = raised
                facts.where = location(self.path, raised.__traceback__)
        facts.seconds = time.perf_counter() - started
        if inspect.isawaitable(facts.value):
            facts.unawaited = unawaited(facts.value)
        _settle_unawaited(facts.value)
        opened = self.probe.sessions[sessions_before:]
        facts.sessions_opened, facts.sessions_left_open = len(opened), sum(not s.closed for s in opened)
        facts.connectors_left_open = len(self.probe.open_connectors(connectors_before))
        facts.blocking = self.probe.blocking[blocking:]
        facts.unexpected = self.probe.unexpected[unexpected:]


def _copies(args: tuple) -> tuple:
    """The caller's lists as copies, as official grading's worker gets them: code that empties the list it was
    given (pop() in a worker) must not empty the check's own, in one mode and not in the other."""
    return tuple(list(a) if type(a) is list else a for a in args)


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


class _Capture(io.StringIO):
    """Keeps what a call prints, up to OUTPUT_CAP characters; the rest is counted, not stored."""

    def write(self, text: str) -> int:
        room = OUTPUT_CAP - self.tell()
        if room > 0:
            super().write(text[:room])
        return len(text)


@contextmanager
def _printed(facts: Facts) -> Iterator[None]:
    """What the call prints on stdout goes into `facts.output` (stderr is left to the caller's capture)."""
    capture, previous = _Capture(), sys.stdout
    sys.stdout = capture
    try:
        yield
    finally:
        sys.stdout = previous
        facts.output = capture.getvalue()


@contextmanager
def _argv(argv: list[str]) -> Iterator[None]:
    previous = sys.argv
    sys.argv = argv
    try:
        yield
    finally:
        sys.argv = previous


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


ORIGIN_DEPTH = 16
"""How many frames Python keeps of where each coroutine was made, so a dropped one names the student's line."""


@contextmanager
def _dropped_coroutines(path: str, notes: list[str]) -> Iterator[None]:
    """Turn Python's "coroutine ... was never awaited" warnings into notes naming the graded file's line.

    Left alone, the warning is reported where the coroutine happened to be freed, often inside the
    grader, and after the check that caused it. Other warnings are passed on unchanged.
    """
    previous = sys.get_coroutine_origin_tracking_depth()
    sys.set_coroutine_origin_tracking_depth(max(previous, ORIGIN_DEPTH))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        sys.set_coroutine_origin_tracking_depth(previous)
    for warning in caught:
        text = str(warning.message)
        found = re.match(r"coroutine '([^']+)' was never awaited", text)
        if issubclass(warning.category, RuntimeWarning) and found:
            lines = re.findall(r'File "' + re.escape(path) + r'", line (\d+)', text)
            where = f" at line {lines[-1]}" if lines else ""
            notes.append(f"{found.group(1).split('.')[-1]}(){where}")
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


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

"""Gates: the stand-in holds its answers until the student's code has shown what it does, so load cannot bend a verdict.

A timed stand-in asks "did all ten requests start before the first answer came back?", and on a
busy machine a correct gather() can lose that race. A gate removes the race: no answer leaves
until the requests a check expects are all in flight (or until nothing new has arrived for QUIET
seconds, which only code that is not concurrent ever waits for). A correct solution never waits;
a wrong one waits QUIET once, and is measured by what it did, not by how fast the machine was.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

QUIET = 0.25
"""Seconds without a new request after which a gate stops waiting for more. A busy machine stalls a
process for tens of milliseconds; a request that is coming arrives well within this."""


class Together:
    """Holds `client`'s answers until `expect` of its requests are in flight at once, then lets all go.

    Once open it stays open: later requests (a sequential version's second, third...) are answered
    after their delay, so a wrong solution is measured, not stalled.
    """

    def __init__(self, expect: int, client: str = "aiohttp", quiet: float = QUIET) -> None:
        self.expect, self.client, self.quiet = expect, client, quiet
        self.held = 0
        self._open: asyncio.Event | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._cond = threading.Condition()
        self._last = 0.0
        self._threads = set(threading.enumerate())  # the grader's own, before any student code ran

    def admit_blocking(self, client: str) -> None:
        """The same gate for a `requests` call answered in the caller's thread (self-grading's stubs)."""
        if client != self.client:
            return
        with self._cond:
            if self._open is not None and self._open.is_set() or self.held >= self.expect:
                return
            self.held += 1
            self._last = time.monotonic()
            self._cond.notify_all()
            while self.held < self.expect:
                left = self._last + self.quiet - time.monotonic()
                if left <= 0 or self._alone():
                    self.held = self.expect  # quiet long enough, or no one else to come: open for good
                    break
                self._cond.wait(min(left, 0.01))
            self._cond.notify_all()

    def _alone(self) -> bool:
        """No thread but the one waiting here, and the grader's own, exists: no other request can come.

        Only a thread the student's code started can send a second `requests` call while this one
        waits, so with none alive the wait for one would be the only cost. A new thread (a pool, an
        executor) makes the gate wait as before.
        """
        here = threading.current_thread()
        return here in self._threads and all(t in self._threads for t in threading.enumerate())

    async def admit(self, client: str) -> None:
        if client != self.client:
            return
        if self._open is None:
            self._open = asyncio.Event()
        if self._open.is_set():
            return
        self.held += 1
        if self.held >= self.expect:
            self._let_go()
        else:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = asyncio.get_running_loop().call_later(self.quiet, self._let_go)
        await self._open.wait()

    def _let_go(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        assert self._open is not None
        self._open.set()


REFILL = 0.05
"""Seconds of the code's own time (a wait for a CPU does not count) within which a freed slot must be
filled: a semaphore takes a millisecond or two; a pause of 0.1 s after each answer, or a look for a free
slot every 0.2 s, takes longer."""


@dataclass
class Step:
    """One move of a Paced gate: answers let go together, and how many new requests started after them."""

    released: int
    expected: int  # new requests that could start (as many as were let go, while any were left to start)
    started: int
    seconds: float = 0.0  # from letting the answers go to the last of the new requests, less any wait for a CPU

    @property
    def slow(self) -> bool:
        return self.started < self.expected or self.seconds > REFILL


class Paced:
    """For a limiter: first waits for `cap` requests, then lets answers go `step` at a time and counts the
    requests that start in reply, before letting any more go.

    A semaphore starts one new request for every answer, at once. A limiter that waits for a whole
    group, or that starts one request when several finish together, starts fewer, and `steps`
    records it, whatever the machine's load.
    """

    def __init__(
        self, total: int, cap: int, step: int = 2, client: str = "aiohttp", quiet: float = QUIET,
        newest_first: bool = False, meter: Any = None,
    ) -> None:
        """`newest_first` lets the most recently started answers go first, so a limiter that waits for the
        oldest request (a FIFO window, fixed workers) shows; `meter()` is the growing count of seconds the
        processes involved waited for a CPU (None where unknown), taken off each refill's time."""
        self.total, self.cap, self.step, self.client, self.quiet = total, cap, step, client, quiet
        self.newest_first, self.meter = newest_first, meter or (lambda: None)
        self.steps: list[Step] = []
        self.arrived = 0
        self._last_arrival = 0.0
        self._held: list[asyncio.Future] = []
        self._arrival: asyncio.Event | None = None
        self._conductor: asyncio.Task | None = None

    async def admit(self, client: str) -> None:
        if client != self.client:
            return
        loop = asyncio.get_running_loop()
        if self._arrival is None:
            self._arrival = asyncio.Event()
            self._conductor = loop.create_task(self._conduct())
        turn = loop.create_future()
        self._held.append(turn)
        self.arrived += 1
        self._last_arrival = loop.time()
        self._arrival.set()
        await turn

    async def _conduct(self) -> None:
        loop = asyncio.get_running_loop()
        await self._gather(min(self.cap, self.total))
        while self._held:
            if self.newest_first:
                going, self._held = self._held[-self.step :], self._held[: -self.step]
            else:
                going, self._held = self._held[: self.step], self._held[self.step :]
            before, waited, released = self.arrived, self.meter(), loop.time()
            for turn in reversed(going) if self.newest_first else going:
                if not turn.done():
                    turn.set_result(None)
            expected = min(len(going), self.total - before)
            await self._gather(before + expected, since=before)
            waited_after = self.meter()
            took = max(0.0, self._last_arrival - released) if self.arrived > before else 0.0
            if waited is not None and waited_after is not None:
                took = max(0.0, took - (waited_after - waited))
            self.steps.append(Step(len(going), expected, self.arrived - before, took if self.arrived - before >= expected else 0.0))

    async def _gather(self, count: int, since: int = 0) -> None:
        """Wait until `count` requests have arrived in all, or QUIET passes without a new one."""
        assert self._arrival is not None
        while self.arrived < count:
            self._arrival.clear()
            try:
                await asyncio.wait_for(self._arrival.wait(), self.quiet)
            except TimeoutError:
                return

    def slowest_step(self) -> Step | None:
        """The first step after which fewer requests started than could have, or started late."""
        return next((s for s in self.steps if s.slow), None)

"""Measures what student code did: requests in flight over time, sessions opened and closed, blocking calls."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from contextlib import ExitStack
from typing import Any, Callable, Iterator
from unittest import mock

import aiohttp


@dataclass
class Span:
    """One request as the stand-in server saw it: when it arrived and when it was answered."""

    client: str  # "aiohttp" or "requests"
    path: str
    start: float
    end: float | None = None
    outcome: str = "pending"
    sending: float = 0.0  # of which the last seconds were the body on its way after the headers


@dataclass
class Probe:
    """Everything one check measures; times are seconds since the probe was made."""

    t0: float = field(default_factory=time.perf_counter)
    spans: list[Span] = field(default_factory=list)
    blocking: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    sessions: list[aiohttp.ClientSession] = field(default_factory=list)
    connectors: list[aiohttp.BaseConnector] = field(default_factory=list)  # kept alive, so a leak shows, not a GC
    on_begin: Callable[[], None] | None = None  # told of every request as it arrives (a caller that cancels mid-batch)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def reset(self) -> None:
        """Forget everything measured, in place (the stubs that hold this probe stay on for the next scenario)."""
        with self._lock:
            self.t0 = time.perf_counter()
            for kept in (self.spans, self.blocking, self.unexpected, self.sessions, self.connectors):
                kept.clear()

    def begin(self, client: str, path: str) -> Span:
        span = Span(client, path, self.now())
        with self._lock:
            self.spans.append(span)
        if self.on_begin is not None:
            self.on_begin()
        return span

    def finish(self, span: Span, outcome: str, sending: float = 0.0) -> None:
        """End `span` now, or `sending` seconds from now for a body the server is still sending."""
        span.end, span.outcome, span.sending = self.now() + sending, outcome, sending

    def mark(self) -> int:
        """A bookmark: measures taken `since` it look only at requests made after it."""
        return len(self.spans)

    def since(self, mark: int = 0, client: str | None = None) -> list[Span]:
        return [s for s in self.spans[mark:] if client is None or s.client == client]

    # --- concurrency -----------------------------------------------------------------------

    @staticmethod
    def peak(spans: list[Span]) -> int:
        """The most requests in flight at one instant (an end at the same instant as a start comes first)."""
        events = []
        for s in spans:
            events.append((s.start, 1))
            events.append((s.end if s.end is not None else float("inf"), -1))
        in_flight = best = 0
        for _, step in sorted(events):
            in_flight += step
            best = max(best, in_flight)
        return best

    @staticmethod
    def slowest_refill(spans: list[Span], cap: int) -> float:
        """The longest a slot stayed empty while requests were still waiting, under a limit of `cap`.

        With a limit of `cap`, request number cap + k can start as soon as the k-th request has
        finished. A limiter that lets the next one go at that moment keeps this near zero; one that
        waits for a whole group shows the spread of the group's delays, and one that starts a single
        request when several finished together leaves the other slots empty until the next finish.
        """
        starts = sorted(s.start for s in spans)
        ends = sorted(s.end if s.end is not None else float("inf") for s in spans)
        gaps = [starts[cap + k] - ends[k] for k in range(len(spans) - cap)]
        return max([0.0, *gaps])

    @staticmethod
    def duration(spans: list[Span]) -> float:
        ends = [s.end for s in spans if s.end is not None]
        return (max(ends) - min(s.start for s in spans)) if spans and ends else 0.0

    # --- sessions --------------------------------------------------------------------------

    def open_sessions(self) -> list[aiohttp.ClientSession]:
        return [s for s in self.sessions if not s.closed]

    def open_connectors(self, since: int = 0) -> list[aiohttp.BaseConnector]:
        """Connectors made since `since` that are still open although no open session uses them."""
        in_use = {id(s.connector) for s in self.sessions if not s.closed}
        return [c for c in self.connectors[since:] if not c.closed and id(c) not in in_use]

    def track_sessions(self) -> Any:
        """Count every ClientSession and connector made while active, however the student makes them.

        Connectors are held here so that one left open stays open until the check has looked: a
        session that does not own its connector closes without closing it, and the garbage collector
        would otherwise close its connections a moment later, out of sight.
        """
        original_init = aiohttp.ClientSession.__init__
        original_connector_init = aiohttp.BaseConnector.__init__
        probe = self

        def counting_init(session: aiohttp.ClientSession, *args: Any, **kwargs: Any) -> None:
            original_init(session, *args, **kwargs)
            probe.sessions.append(session)

        def counting_connector_init(connector: aiohttp.BaseConnector, *args: Any, **kwargs: Any) -> None:
            original_connector_init(connector, *args, **kwargs)
            probe.connectors.append(connector)

        stack = ExitStack()
        stack.enter_context(mock.patch.object(aiohttp.ClientSession, "__init__", counting_init))
        stack.enter_context(mock.patch.object(aiohttp.BaseConnector, "__init__", counting_connector_init))
        return stack

    # --- the picture -----------------------------------------------------------------------

    def timeline(
        self,
        spans: list[Span],
        width: int = 48,
        rows: int = 12,
        label: Callable[[Span], str] | None = None,
        window: tuple[float, float] | None = None,
        pad: int = 0,
    ) -> str:
        """A compact ASCII picture of the requests: one row each, time across, long runs summarised.

        `window` (start, end) puts several pictures on one time axis, so they can be compared.
        """
        if not spans:
            return "    (no requests were made)"
        name = label or (lambda s: s.path)
        t_start, t_end = window or (
            min(s.start for s in spans),
            max((s.end if s.end is not None else self.now()) for s in spans),
        )
        scale = width / max(t_end - t_start, 1e-6)
        names = [name(s) for s in spans]
        pad = max(pad, *(len(n) for n in names))  # a shared pad lines several pictures up
        picked: list[int | None] = list(range(len(spans)))
        if len(spans) > rows:  # the first rows and the last two, with a count of what lies between
            picked = [*range(rows - 3), None, len(spans) - 2, len(spans) - 1]
        lines = []
        for index in picked:
            if index is None:
                lines.append(f"    {'':>{pad}}   ... {len(spans) - rows + 1} more requests ...")
                continue
            s = spans[index]
            a = min(int((s.start - t_start) * scale), width - 1)
            b = max(a + 1, int(((s.end if s.end is not None else t_end) - t_start) * scale))
            lines.append(f"    {names[index]:>{pad}} |{' ' * a}{'#' * (b - a)}{' ' * (width - b)}|")
        lines.append(f"    {'':>{pad}}  0 s{' ' * (width - 8)}{t_end - t_start:.2f} s")
        return "\n".join(lines)

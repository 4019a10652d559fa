"""Runs one student function under measurement and turns what went wrong into a verdict a student can read."""

from __future__ import annotations

import inspect
import re
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from checks.catalogue import PROPERTY_HINTS
from checks.engine.executor import CALL_LIMIT, Facts
from checks.engine.loader import describe
from checks.engine.probe import Probe, Span
from checks.reports.results import STILL_TODO, brief
from checks.engine.wire import Opaque, unawaited


class Runner(Protocol):
    """What calls student code for a check: `Executor` in this process, or `Remote` in a worker."""

    async def attempt(
        self, name: str, args: tuple, kwargs: dict, tidy: bool, cancel_after: int | None = None, in_loop: int = 0
    ) -> Facts: ...
    def attempt_sync(self, name: str, args: tuple, kwargs: dict) -> Facts: ...
    def run_script(self, argv: list[str]) -> Facts: ...
    async def own_session(self) -> Any: ...
    async def tidy_up(self) -> None: ...
    def cpu_waited(self) -> float | None: ...


class Verdict(AssertionError):
    """A mistake the grader can name: its message is the whole report, no traceback.

    `hint` is the question for the property that failed, when it is more precise than the item's;
    `weight` says how much this failure tells about the cause (see ItemResult.telling): a crash or a
    coroutine never awaited tells more than a count that came out wrong because of it. `measured` is
    False for a verdict no busy machine could have caused (a function still a TODO): self-grading
    never runs such a check a second time after a wait for a CPU.
    """

    hint: str = ""
    weight: int = 1
    measured: bool = True

    def __init__(self, message: str = "", *, hint: str = "", weight: int = 1, measured: bool = True) -> None:
        super().__init__(message)
        self.hint, self.weight, self.measured = hint, weight, measured


class Stopped(Verdict):
    """A call stopped from outside the student's process after its time ran out: it is not called again."""


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
    where: str | None = None
    output: str | None = None
    connectors_left_open: int = 0
    waited: float | None = None  # seconds the processes involved waited for a CPU during the call (None: unknown)

    @property
    def peak(self) -> int:
        return Probe.peak(self.spans)

    def active(self, seconds: float) -> float:
        """`seconds` of this call's time less what the machine made it wait for a CPU: what the code itself took.

        A process that sleeps or waits on a timer is not waiting for a CPU, so a pause the code makes
        counts in full; a busy machine's stall does not count against it.
        """
        return max(0.0, seconds - (self.waited or 0.0))


class Harness:
    """Judges student calls for one check: the runner calls the code, the stand-in's probe counts the requests.

    The runner is the seam between the two kinds of grade: in self-grading it is an `Executor` in this
    process; in official grading it is a `Remote` that asks a sandboxed worker to make the call. Either
    way the verdict is formed here, from facts and from requests counted on this side.
    """

    def __init__(
        self, runner: Runner, path: Path, api: Any, original_base_url: str, hung: set[str] | None = None
    ) -> None:
        self.runner, self.path, self.api, self.probe = runner, path, api, api.probe
        self.original_base_url = original_base_url
        self.hung = hung if hung is not None else set()  # functions that never returned: shared by a run's checks
        self.running: str | None = None
        self.never_awaited: list[str] = []  # coroutines student code made and dropped, named at their line

    async def session(self) -> Any:
        """A session the check owns (for fetch_one and friends); not counted as the student's."""
        return await self.runner.own_session()

    # --- running student code --------------------------------------------------------------

    async def attempt(
        self, name: str, *args: Any, tidy: bool = True, cancel_after: int | None = None, in_loop: int = 0, **kwargs: Any
    ) -> Run:
        """Await student function `name`; whatever it raises is kept in the Run, not raised.

        Sessions it leaves open are closed afterwards (so no warning leaks into later checks),
        unless `tidy` is False for a check that measures them first and then calls `tidy_up()`.
        `cancel_after` cancels the call once that many requests have arrived; `in_loop` names the
        event loop of the worker process it runs in (0, 1, ...), for calls made in two loops in a row.
        """
        mark = self._starting(name)
        before = self.runner.cpu_waited()
        with self._stoppable(name):
            if cancel_after is None and not in_loop:
                facts = await self.runner.attempt(name, args, kwargs, tidy)
            else:
                facts = await self.runner.attempt(name, args, kwargs, tidy, cancel_after, in_loop)
        run = self._judge(facts, mark, awaited=True)
        after = self.runner.cpu_waited()
        run.waited = after - before if before is not None and after is not None else None
        return run

    async def tidy_up(self) -> None:
        await self.runner.tidy_up()

    def attempt_sync(self, name: str, *args: Any, **kwargs: Any) -> Run:
        """Call plain student function `name`; only a time limit from outside can stop it if it never returns."""
        mark = self._starting(name)
        with self._stoppable(name):
            facts = self.runner.attempt_sync(name, args, kwargs)
        return self._judge(facts, mark)

    def run_as_script(self, *argv: str) -> Run:
        """Run the graded file as `python project.py ARGV...` would."""
        name = f"python {self.path.name}"
        mark = self._starting(name)
        with self._stoppable(name):
            facts = self.runner.run_script(list(argv))
        return self.succeeded(self._judge(facts, mark))

    @contextmanager
    def _stoppable(self, name: str) -> Iterator[None]:
        try:
            yield
        except Stopped as stopped:
            self.hung.add(name)
            self.running = None
            raise Verdict(self.explain(str(stopped))) from None

    def _starting(self, name: str) -> int:
        if name in self.hung:
            raise Verdict(HUNG_BEFORE.format(name=called(name)))
        self.running = name  # left set if a time limit interrupts the call: the plugin reads it
        return self.probe.mark()

    def _judge(self, facts: Facts, mark: int, awaited: bool = False) -> Run:
        """The Run for `facts`, or the Verdict for a mistake no check should take as an ordinary result."""
        self.running = None
        self.never_awaited.extend(facts.never_awaited)
        name, error = facts.name, facts.error
        if facts.missing:
            raise Verdict(f"{self.path.name} has no function {name}(). Did it get renamed or deleted?", measured=False)
        if facts.escaped:
            raise Verdict(self.explain(ESCAPED.format(name=called(name), error=facts.escaped)))
        if isinstance(error, NotImplementedError):
            raise Verdict(f"{name}() {STILL_TODO}: {str(error) or 'it raises NotImplementedError'}", measured=False)
        if isinstance(error, SystemExit):
            raise Verdict(f"{called(name)} called sys.exit({error.code!r}). A function should return or raise, not end the program.")
        if isinstance(error, KeyboardInterrupt):
            raise Verdict(f"{called(name)} raised KeyboardInterrupt. Only Ctrl-C should; raise an ordinary exception instead.")
        if awaited and (facts.not_async or (facts.not_async is None and error is not None and not facts.async_underneath)):
            raise Verdict(NOT_ASYNC.format(name=name))
        if facts.expired:
            self.hung.add(name)
            raise self.fail(f"{name}() did not finish within {CALL_LIMIT:g} s. Is something awaited that never completes?")
        if facts.unawaited:
            raise Verdict(self.explain(MISSING_AWAIT.format(name=name, what=facts.unawaited)), weight=3)
        return Run(
            name, facts.value, error, facts.seconds, self.probe.since(mark), facts.sessions_opened,
            facts.sessions_left_open, facts.where, facts.output, facts.connectors_left_open,
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
            instead = f"; expected {expected}" if expected else ""
            raise Verdict(self.explain(f"{called(run.name)} {self.raised(run)}{instead}"), weight=3)
        return run

    def raised(self, run: Run) -> str:
        """What `run` raised and on which line of the graded file: "raised ValueError: ... (project.py, line 3, in f)"."""
        at = f" ({self.path.name}, {run.where})" if run.where else ""
        return f"raised {describe(run.error)}{at}"

    # --- messages --------------------------------------------------------------------------

    def explain(self, message: str) -> str:
        """`message`, plus what the probe noticed that explains most failures: blocking calls, stray URLs."""
        lines = [message]
        if self.probe.blocking:
            lines.append(BLOCKING.format(calls=_some(self.probe.blocking)))
        if self.probe.unexpected:
            lines.append(UNEXPECTED.format(urls=_some(self.probe.unexpected), base=self.api.base))
        if self.never_awaited:
            lines.append(NEVER_AWAITED.format(calls=_some(self.never_awaited)))
        below_one = [s.path for s in self.probe.spans if re.fullmatch(r"/\w+/(0|-\d+)", s.path)]
        if below_one:
            lines.append(NO_SUCH_ID.format(paths=_some(below_one)))
        return "\n".join(lines)

    def fail(self, message: str, run: Run | None = None, *, picture: bool = False, hint: str = "", weight: int = 1) -> Verdict:
        """A Verdict with the probe's context and, for concurrency, the measured timeline. A coroutine the code
        made and never awaited explains most counts that come out wrong, so such a verdict weighs more."""
        text = self.explain(message)
        if picture and run is not None:
            text += "\nRequests over time (one row each):\n" + self.probe.timeline(run.spans)
        return Verdict(text, hint=hint, weight=max(weight, 3 if self.never_awaited else 1))

    def expect(self, ok: bool, message: str, run: Run | None = None, *, picture: bool = False) -> None:
        if not ok:
            raise self.fail(message, run, picture=picture)

    def expect_no_blocking(self, run: Run) -> None:
        self.expect(not self.probe.blocking, f"{run.name}() made a blocking call inside async code.")

    # --- the expectations most checks share --------------------------------------------------

    def expect_items(
        self, run: Run, ids: list[int], make: Callable[[int], Any] | None = None, what: str = "post", got: Any = None
    ) -> None:
        """The result (or `got`, a part of it) holds exactly `make(id)` for each id, in the order of the ids;
        by default the stand-in's own post (salted for this check)."""
        make = make or self.api.post
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
            raise self.fail(ORDER.format(name=run.name, got=shown_ids(got_ids), ids=shown_ids(ids)))
        slot = next(k for k, (g, i) in enumerate(zip(got, ids)) if g != make(i))
        verdict = self.fail(f"{run.name}(): slot {slot} holds {short(got[slot])}; expected the {what} with id {ids[slot]}.")
        if _awaitable(got[slot]):  # the missing await explains the counts that other checks found wrong
            verdict.weight, verdict.hint = 3, PROPERTY_HINTS["unawaited"]
        raise verdict

    def expect_each_id_asked_for(self, run: Run, wanted: list[str]) -> None:
        """At least as many requests for each path as the ids list it: a repeated id is not dropped."""
        asked, needed = Counter(s.path for s in run.spans), Counter(wanted)
        for path, times in needed.items():
            self.expect(
                asked[path] >= times,
                f"{run.name}() asked for {path} {_times(asked[path])}, but the ids given list it {_times(times)}; "
                "expected one request and one result for each id, in the order given. Are the ids put in a set, "
                "or results kept in a dict by id?",
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
        per_request = run.sessions_opened >= max(len(run.spans), 3)
        self.expect(
            run.sessions_opened == 1,
            f"{run.name}() opened {run.sessions_opened} ClientSessions for {_count(len(run.spans), 'request')}, "
            "expected 1 for the batch. "
            + (
                "Is a new session made for every request, instead of sharing one?"
                if per_request
                else "Does it open a session and then call a function that opens one of its own (fetch_async, "
                "say), instead of handing its session on?"
            ),
        )
        self.expect(run.sessions_left_open == 0, left_open or LEFT_OPEN.format(name=run.name))
        self.expect_connectors_closed(run)

    def expect_connectors_closed(self, run: Run, when: str = "") -> None:
        self.expect(run.connectors_left_open == 0, CONNECTOR_LEFT_OPEN.format(name=run.name, when=when))


CONNECTOR_LEFT_OPEN = (
    "{name}(){when} closed its ClientSession, but the session's connector, and the connections in it, "
    "stayed open (aiohttp warns 'Unclosed connector'). A session closes only a connector it owns: is it "
    "made with connector_owner=False, or given a connector that nothing closes?"
)
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
NEVER_AWAITED = (
    "Called but never awaited: {calls}. Calling an async function only makes a coroutine; nothing "
    "runs until it is awaited or gathered. Is an `await` missing there?"
)
NO_SUCH_ID = (
    "The stand-in answered 404 (not found) for {paths}: ids start at 1, as on the real API. "
    "Does a range() start at 0?"
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


def shown_ids(ids: list[Any], most: int = 8) -> str:
    shown = ", ".join(str(i) for i in ids[:most])
    return shown + (", ..." if len(ids) > most else "")


def called(name: str) -> str:
    """'fetch_async()' for a function, the command itself for a script run ('python project.py')."""
    return f"{name}()" if name.isidentifier() else name


def _awaitable(value: Any) -> bool:
    return inspect.isawaitable(value) or bool(getattr(value, "awaitable", None))


def short(value: Any, most: int = 80) -> str:
    if inspect.isawaitable(value) or getattr(value, "awaitable", None):
        what = value.awaitable if isinstance(value, Opaque) else unawaited(value)
        return f"{what}, never awaited (is an `await` missing?)"
    return brief(value, most)  # cut where the value a reader compares stays (see its docstring)


HUNG_BEFORE = "{name} never returned in an earlier check, so it was not run again."
NOT_ASYNC = "{name}() must be defined with `async def`, so that calling it gives something to await."
MISSING_AWAIT = "{name}() returned {what} instead of its result, without awaiting it. Is an `await` missing?"
TIMED_OUT = (
    "{name} was stopped after {seconds:g} s without returning. Is there a loop that never ends, "
    "a long time.sleep, or an await on something that never completes?"
)
ESCAPED = (
    "{name} let {error} escape from a task it started; that stops the event loop itself. "
    "Raise an ordinary exception instead."
)


def _times(count: int) -> str:
    return {0: "never", 1: "once", 2: "twice"}.get(count, f"{count} times")


def _count(number: int, what: str) -> str:
    return f"{number} {what}" + ("" if number == 1 else "s")


def _some(things: list[str], most: int = 3) -> str:
    unique = list(dict.fromkeys(things))
    shown = ", ".join(unique[:most])
    return shown + (f" and {len(unique) - most} more" if len(unique) > most else "")

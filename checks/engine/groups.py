"""Runs a grading's checks in parallel groups: forked after collection, each group's results replayed in order.

Most of a grading is waiting (on deadlines, on a gate's quiet period, on a timed main() run), not
computing, so checks that run side by side finish in about the time of the slowest group. One pytest
process collects; it then forks a few children, each runs its share of the checks with pytest's own
protocol and sends every report and the grader's facts about it back over a pipe; the parent replays
them in the order of collection, so the terminal, the scorecard and every report are what a single
process would have written.

A fork copies a process as it is: it must hold no running event loop, no thread but the main one and
no open session (python/asyncio#347, cpython#100228). The parent never imports the graded file and
never starts official grading's worker or its thread before it forks; `blocked()` says why a run
stays in one process instead.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import json
import os
import selectors
import signal
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
from _pytest._io import TerminalWriter
from _pytest.reports import TestReport

GROUPS_HELP = (
    "run the checks in N groups of forked processes side by side ('auto', the default: up to "
    f"{5}; '1' or 'off': one process, one check after another)"
)
AUTO_GROUPS = 5
"""Five groups suit two cores: most of a check is waiting, so more groups than cores still overlap."""
DEFAULT_ESTIMATE = 0.15
"""Seconds assumed for a check missing from the table of measured times."""
SILENCE_MARGIN = 10.0
"""Seconds past a check's own time limit after which a group that has said nothing is stopped."""
STARTING = 60.0
"""Seconds a group may take between two checks: official grading starts a sandbox and imports the file there."""

_FRAME = struct.Struct("!I")


@dataclass
class Hooks:
    """What the grader's plugin adds to a group's traffic: its own facts about each check, and a run's end.

    `start(config)` runs in each child before its first check (official grading starts its worker
    there); `export(item)` in the child after each check, `absorb(item, data)` in the parent before
    the check's reports are replayed; `finish(config)` and `merge(config, data)` likewise once per group.
    `lost(item, why)` makes the parent's record of a check whose group ended before reporting it.
    """

    start: Callable[[pytest.Config], None]
    export: Callable[[pytest.Item], dict]
    absorb: Callable[[pytest.Item, dict], None]
    finish: Callable[[pytest.Config], dict]
    merge: Callable[[pytest.Config, dict], None]
    lost: Callable[[pytest.Item, str], None]
    time_limit: Callable[[pytest.Item], float]


def wanted(config: pytest.Config) -> int:
    """How many groups the options ask for; 1 means one process."""
    raw = str(config.getoption("groups")).strip().lower()
    if raw in ("auto", ""):
        return AUTO_GROUPS
    if raw == "off":
        return 1
    if not raw.isdigit() or int(raw) < 1:
        raise pytest.UsageError(f"--groups takes a whole number of at least 1, 'auto' or 'off', got {raw!r}")
    return int(raw)


def blocked(config: pytest.Config, items: list[pytest.Item]) -> str | None:
    """Why this run must not fork into groups, or None when it may."""
    if not hasattr(os, "fork"):
        return "this system cannot fork"
    option = config.option
    if option.collectonly or getattr(option, "usepdb", False) or getattr(option, "trace", False):
        return "collect-only or a debugger"
    if option.maxfail or getattr(option, "capture", "fd") == "no":
        return "-x, --maxfail or -s asks for one process"
    if len(items) < 2:
        return "fewer than two checks"
    if threading.active_count() > 1:
        return "a thread is running"
    if _running_loop():
        return "an event loop is running"
    return None


def _running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def split(estimates: list[float], count: int) -> list[list[int]]:
    """Indexes of `estimates` dealt into `count` groups, longest first to the least loaded group
    (the LPT rule); each group's indexes in their original order. Empty groups are dropped."""
    loads = [(0.0, g) for g in range(count)]
    groups: list[list[int]] = [[] for _ in range(count)]
    for index in sorted(range(len(estimates)), key=lambda i: (-estimates[i], i)):
        load, g = heapq.heappop(loads)
        groups[g].append(index)
        heapq.heappush(loads, (load + estimates[index], g))
    return [sorted(g) for g in groups if g]


# --- the child ---------------------------------------------------------------------------------


class _Sender:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, message: dict) -> None:
        data = json.dumps(message, default=str).encode()
        view = memoryview(_FRAME.pack(len(data)) + data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]


class _Forwarder:
    """Registered in a child: every report pytest logs there goes to the parent instead of a terminal."""

    def __init__(self, config: pytest.Config) -> None:
        self.config, self.reports = config, []

    def pytest_runtest_logreport(self, report: TestReport) -> None:
        self.reports.append(self.config.hook.pytest_report_to_serializable(config=self.config, report=report))


def _child(session: pytest.Session, items: list[pytest.Item], indexes: list[int], fd: int, hooks: Hooks) -> None:
    """Run `indexes` of `items` and report each; never returns."""
    code = 0
    try:
        os.setsid()  # its own group: what student code starts ends with it
        config = session.config
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            # Its progress is the parent's to show. It stays registered: pytest-timeout writes a stopped
            # check's stacks through it before failing the check, and fails differently without it.
            reporter._tw = TerminalWriter(open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115, SLF001
        forwarder = _Forwarder(config)
        config.pluginmanager.register(forwarder, "grader-group-forwarder")
        sender = _Sender(fd)
        hooks.start(config)
        for k, index in enumerate(indexes):
            item = items[index]
            nextitem = items[indexes[k + 1]] if k + 1 < len(indexes) else None
            sender.send({"op": "start", "index": index})
            forwarder.reports = []
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            sender.send({"op": "item", "index": index, "reports": forwarder.reports, "facts": hooks.export(item)})
        sender.send({"op": "done", "facts": hooks.finish(config)})
    except BaseException:  # noqa: BLE001 - whatever happens, this process must not return into pytest
        code = 70
    finally:
        os._exit(code)


# --- the parent --------------------------------------------------------------------------------


@dataclass
class _Group:
    indexes: list[int]
    pid: int = 0
    fd: int = -1
    buffer: bytearray = field(default_factory=bytearray)
    running: int | None = None  # the index of the check it started last and has not reported
    heard: float = 0.0
    done: bool = False
    stopped: float = 0.0  # seconds of silence after which the parent stopped it, if it did


def run(session: pytest.Session, estimates: list[float], count: int, hooks: Hooks) -> None:
    """Fork `count` groups over `session.items`, and replay every report here, in collection order."""
    items = list(session.items)
    pending: dict[int, dict] = {}
    selector = selectors.DefaultSelector()
    live: list[_Group] = []

    def start(indexes: list[int]) -> None:
        group = _Group(indexes)
        read, write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        gc.collect()
        gc.freeze()  # the children's copies of every object stay shared with this process
        pid = os.fork()
        if pid == 0:
            os.close(read)
            for other in live:
                os.close(other.fd)
            _child(session, items, indexes, write, hooks)
        gc.unfreeze()
        os.close(write)
        group.pid, group.fd, group.heard = pid, read, time.monotonic()
        live.append(group)
        selector.register(read, selectors.EVENT_READ, group)

    try:
        for indexes in split(estimates, min(count, len(items))):
            start(indexes)
        _serve(session, items, pending, selector, live, hooks, start)
    finally:
        for group in live:  # interrupted (Ctrl-C): no group outlives the run
            _stop(group)
            os.waitpid(group.pid, 0)
        selector.close()


def _serve(session, items, pending, selector, live, hooks, start) -> None:
    replayed = 0
    while live:
        for key, _ in selector.select(timeout=0.5):
            group: _Group = key.data
            chunk = os.read(group.fd, 1 << 16)
            if chunk:
                group.buffer += chunk
                group.heard = time.monotonic()
                for message in _frames(group.buffer):
                    _take(message, group, pending, hooks, session.config)
            else:
                _ended(group, selector, live, items, pending, hooks, start)
        for group in list(live):
            limit = hooks.time_limit(items[group.running]) if group.running is not None else STARTING
            if time.monotonic() - group.heard > limit + SILENCE_MARGIN:
                _stop(group)
        replayed = _replay(session, items, pending, replayed, hooks)
    _replay(session, items, pending, replayed, hooks)


def _frames(buffer: bytearray):
    while len(buffer) >= _FRAME.size:
        (size,) = _FRAME.unpack_from(buffer)
        if len(buffer) < _FRAME.size + size:
            return
        data = bytes(buffer[_FRAME.size : _FRAME.size + size])
        del buffer[: _FRAME.size + size]
        yield json.loads(data)


def _take(message: dict, group: _Group, pending: dict, hooks: Hooks, config: pytest.Config) -> None:
    op = message.get("op")
    if op == "start":
        group.running = message["index"]
    elif op == "item":
        pending[message["index"]] = message
        group.running = None
    elif op == "done":
        group.done = True
        hooks.merge(config, message.get("facts") or {})


LOST = (
    "The process grading this check ended before it gave a verdict ({why}). Does the code under test "
    "call os._exit(), kill its own process, or crash the interpreter?"
)
STOPPED = "The process grading this check was stopped after {seconds:.0f} s without a word from it."


def _ended(group: _Group, selector, live: list, items, pending: dict, hooks: Hooks, start) -> None:
    """A group's pipe closed: it finished, or it died; the checks it never reported go to a fresh group."""
    selector.unregister(group.fd)
    os.close(group.fd)
    live.remove(group)
    _, status = os.waitpid(group.pid, 0)
    if group.done:
        return
    why = _exit_reason(status, group)
    left = [i for i in group.indexes if i not in pending]
    if not left:
        return
    first, rest = (group.running, [i for i in left if i != group.running]) if group.running in left else (left[0], left[1:])
    pending[first] = {"op": "item", "index": first, "lost": why if group.stopped else LOST.format(why=why)}
    if rest:
        start(rest)


def _exit_reason(status: int, group: _Group) -> str:
    if group.stopped:
        return STOPPED.format(seconds=group.stopped)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            return f"killed by {signal.Signals(number).name}"
        except ValueError:
            return f"killed by signal {number}"
    return f"exit code {os.WEXITSTATUS(status)}"


def _stop(group: _Group) -> None:
    group.stopped = time.monotonic() - group.heard
    for kill in (os.killpg, os.kill):
        try:
            kill(group.pid, signal.SIGKILL)
        except OSError:
            pass


def _replay(session: pytest.Session, items: list[pytest.Item], pending: dict, replayed: int, hooks: Hooks) -> int:
    """Log every check whose turn has come: the next in collection order, once its group reported it."""
    config = session.config
    while replayed < len(items) and replayed in pending:
        item, message = items[replayed], pending.pop(replayed)
        item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        if "lost" in message:
            hooks.lost(item, message["lost"])
            reports = _lost_reports(item, message["lost"])
        else:
            hooks.absorb(item, message.get("facts") or {})
            reports = [_from_wire(config, d) for d in message["reports"]]
        for report in reports:
            item.ihook.pytest_runtest_logreport(report=report)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        replayed += 1
    return replayed


def _from_wire(config: pytest.Config, data: dict) -> TestReport:
    """A report as the group made it. JSON has no tuples: a skip's longrepr (path, line, reason) and the
    location come back as lists, and JUnit's writer, for one, insists on the tuple."""
    report = config.hook.pytest_report_from_serializable(config=config, data=data)
    if isinstance(report.longrepr, list):
        report.longrepr = tuple(report.longrepr)
    if isinstance(report.location, list):
        report.location = tuple(report.location)
    return report


def _lost_reports(item: pytest.Item, why: str) -> list[TestReport]:
    """What pytest would have logged for a check that failed with `why`: a setup, a failed call, a teardown."""
    made = []
    for when, outcome, longrepr in (("setup", "passed", None), ("call", "failed", why), ("teardown", "passed", None)):
        made.append(
            TestReport(
                item.nodeid, item.location, {k: 1 for k in item.keywords}, outcome, longrepr, when,
                user_properties=list(item.user_properties),
            )
        )
    return made

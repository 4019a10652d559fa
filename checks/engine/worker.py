"""The worker side of official grading: a zygote that forks one fresh process per check to run student code.

It runs inside the sandbox (checks/engine/sandbox.py), started by the grader with one end of a
control socket. The zygote imports the heavy libraries once, then for every check forks a child,
hands the grader the child's own socket, and before each fork kills whatever an earlier child left
running. The child imports the graded file afresh, answers the grader's calls with `Facts` (through
the same `Executor` self-grading uses in-process), and relays every HTTP request to the grader,
which decides the answer and keeps the only record of when it arrived and when it was answered.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import queue
import resource
import signal
import socket
import struct
import sys
import threading
from pathlib import Path
from typing import Any

# Everything a child needs, imported once by the zygote, so that a fork is all a check pays for.
from checks.engine import loader, wire
from checks.engine.executor import Executor, Facts
from checks.engine.guard import Guard
from checks.engine.probe import Probe
from checks.engine.stubs import Answer, FakeAPI

LIMITS = {
    "RLIMIT_NPROC": 64,  # processes of this sandbox's own user: a fork bomb stops here
    "RLIMIT_FSIZE": 64 * 1024 * 1024,  # one file's size
    "RLIMIT_CORE": 0,
    "RLIMIT_NOFILE": 1024,
}
SPAWNED = struct.Struct("!q")


def limit_self(memory_mib: int, sandboxed: bool) -> None:
    """Lower this process's limits before any student code exists; children inherit them and cannot raise them."""
    wanted = dict(LIMITS, RLIMIT_AS=memory_mib * 1024 * 1024)
    if not sandboxed:
        wanted.pop("RLIMIT_NPROC")  # outside the sandbox this user's other processes would count too
    for name, value in wanted.items():
        kind = getattr(resource, name, None)
        if kind is None:
            continue
        soft, hard = resource.getrlimit(kind)
        cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
        try:
            resource.setrlimit(kind, (cap, cap))
        except (ValueError, OSError):
            pass


def zygote(control_fd: int, project: str, sandboxed: bool, memory_mib: int) -> None:
    """Serve spawn requests until the grader closes the control socket."""
    limit_self(memory_mib, sandboxed)
    control = socket.socket(fileno=control_fd)
    wire.send(control, {"op": "ready", "pid": os.getpid()})
    children: list[int] = []
    while True:
        message = wire.receive(control)
        if message is None:
            _end_all(children, sandboxed)
            os._exit(0)
        if message["op"] == "reap":
            _end_all(children, sandboxed)
        elif message["op"] == "spawn":
            _end_all(children, sandboxed)
            ours, theirs = socket.socketpair()
            pid = os.fork()
            if pid == 0:
                control.close()
                ours.close()
                _child(theirs, Path(project), message)
            theirs.close()
            children.append(pid)
            socket.send_fds(control, [SPAWNED.pack(pid)], [ours.fileno()])
            ours.close()


def _end_all(children: list[int], sandboxed: bool) -> None:
    """Kill what earlier checks left running: in the sandbox every other process but its init; else the children's groups."""
    if sandboxed:
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in (1, os.getpid()):
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except OSError:
                    pass
    else:
        for pid in children:
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except OSError:
                    pass
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                break
        except ChildProcessError:
            break
    children.clear()


# --- one check's process ---------------------------------------------------------------------


def _child(channel: socket.socket, path: Path, spawn: dict) -> None:
    """Import the graded file, then answer the grader's calls until it hangs up. Never returns."""
    os.setsid()  # its own group, so whatever it starts can be ended with it
    try:
        _serve(channel, path, spawn)
    finally:
        os._exit(0)


def _serve(channel: socket.socket, path: Path, spawn: dict) -> None:
    lock = threading.Lock()

    def send(message: dict) -> None:
        with lock:
            wire.send(channel, message)

    probe = Probe()
    guard = Guard(path)
    guard.install()
    guard.probe = probe
    loaded = loader.load(path)
    if isinstance(loaded, loader.LoadFailure):
        send({"op": "load_failure", "message": loaded.message})
        return
    original = getattr(loaded, "BASE_URL", "https://jsonplaceholder.typicode.com")
    send({"op": "ready", "base_url": str(original)[:2000]})
    if spawn.get("base"):
        loaded.BASE_URL = spawn["base"]
    relay = Relay(send)
    api = RelayedAPI(probe, relay)
    stack = api.serve() if spawn.get("stubbed") else probe.track_sessions()
    stack.__enter__()
    executor = Executor(loaded, path, probe)
    inbox: queue.Queue[dict | None] = queue.Queue()
    threading.Thread(target=_read, args=(channel, relay, inbox), daemon=True).start()
    loops = {0: asyncio.new_event_loop()}  # a scenario may call in a second loop, as two asyncio.run() would
    sessions: dict[int, Any] = {}
    while (message := inbox.get()) is not None:
        if message["op"] == "tidy":
            loops[0].run_until_complete(executor.tidy_up())
            send({"op": "tidied", "token": message.get("token")})
        elif message["op"] == "base":
            loaded.BASE_URL = api.base = str(message.get("base", api.base))
        elif message["op"] == "fresh":
            # The next scenario: the file imported afresh, as for a new check, and its own event loops.
            again = loader.load(path)
            failure = again.message if isinstance(again, loader.LoadFailure) else None
            if failure is None:
                loaded = again
                loaded.BASE_URL = api.base = str(message.get("base", api.base))
                executor = Executor(loaded, path, probe)
                loops, sessions = {0: asyncio.new_event_loop()}, {}
            send({"op": "freshened", "token": message.get("token"), "failure": failure})
        elif message["op"] == "call":
            api.base = message.get("served") or api.base
            number = message.get("loop", 0)
            loop = loops.setdefault(number if isinstance(number, int) else 0, asyncio.new_event_loop())
            send({"op": "done", "token": message.get("token"), "facts": _call(executor, loop, message, sessions, path)})


def _call(executor: Any, loop: asyncio.AbstractEventLoop, message: dict, sessions: dict, path: Path) -> dict:
    def argument(value: Any) -> Any:
        if isinstance(value, dict) and value.get("t") == "session":
            key = int(value["id"])
            if key not in sessions:
                sessions[key] = loop.run_until_complete(executor.own_session())
            return sessions[key]
        return wire.decode(value)

    args = tuple(argument(a) for a in message.get("args", []))
    kwargs = {k: argument(v) for k, v in message.get("kwargs", {}).items()}
    kind, name = message["kind"], message.get("name", "")
    escaped = None
    try:
        if kind == "async":
            after = message.get("cancel_after")
            after = after if isinstance(after, int) and not isinstance(after, bool) and after > 0 else None
            facts = loop.run_until_complete(executor.attempt(name, args, kwargs, bool(message.get("tidy", True)), after))
        elif kind == "sync":
            facts = executor.attempt_sync(name, args, kwargs)
        else:
            facts = executor.run_script([str(a) for a in message.get("argv", [])])
    except (KeyboardInterrupt, SystemExit) as error:  # raised in a task, it escapes the event loop itself
        facts, escaped = Facts(name), type(error).__name__
    except BaseException as error:  # noqa: BLE001  e.g. pytest.skip() called by the student: a result, not an exit
        facts = Facts(name, error=error, not_async=False if kind == "async" else None)
    where = lambda error: loader.location(path, error.__traceback__)  # noqa: E731
    return {
        "name": facts.name,
        "value": wire.encode(facts.value, where=where),
        "error": wire.encode(facts.error, where=where) if facts.error is not None else None,
        "where": facts.where,
        "seconds": facts.seconds,
        "sessions_opened": facts.sessions_opened,
        "sessions_left_open": facts.sessions_left_open,
        "connectors_left_open": facts.connectors_left_open,
        "not_async": facts.not_async,
        "async_underneath": facts.async_underneath,
        "expired": facts.expired,
        "unawaited": facts.unawaited,
        "missing": facts.missing,
        "output": facts.output,
        "escaped": escaped,
        "blocking": facts.blocking[:50],
        "unexpected": facts.unexpected[:50],
        "never_awaited": facts.never_awaited[:50],
    }


def _read(channel: socket.socket, relay: Relay, inbox: queue.Queue) -> None:
    """Answers go to the requests waiting for them; everything else to the main thread, in order."""
    try:
        while (message := wire.receive(channel)) is not None:
            if message["op"] == "answer":
                relay.deliver(message)
            else:
                inbox.put(message)
    finally:
        inbox.put(None)
        os._exit(0)  # the grader hung up: this check is over, whatever student code is still doing


class Relay:
    """Sends each HTTP request the stubs catch to the grader, and waits for the answer the grader decides."""

    def __init__(self, send: Any) -> None:
        self.send, self.loop = send, None
        self._ids = itertools.count(1)
        self._waiting: dict[int, Any] = {}

    async def ask(self, client: str, url: str, deadline: float | None) -> dict:
        loop = asyncio.get_running_loop()
        key, answer = next(self._ids), loop.create_future()
        self._waiting[key] = (loop, answer)
        self.send({"op": "request", "id": key, "client": client, "url": url, "deadline": deadline})
        try:
            return self._checked(await answer)
        except asyncio.CancelledError:
            self.send({"op": "cancel", "id": key})
            raise
        finally:
            self._waiting.pop(key, None)

    def ask_blocking(self, client: str, url: str) -> dict:
        key, arrived = next(self._ids), threading.Event()
        box: list[dict] = []
        self._waiting[key] = (None, (arrived, box))
        self.send({"op": "request", "id": key, "client": client, "url": url, "deadline": None})
        arrived.wait()
        self._waiting.pop(key, None)
        return self._checked(box[0])

    def deliver(self, message: dict) -> None:
        waiting = self._waiting.get(message.get("id"))
        if waiting is None:
            return
        loop, target = waiting
        if loop is None:
            arrived, box = target
            box.append(message)
            arrived.set()
        else:
            loop.call_soon_threadsafe(lambda: target.done() or target.set_result(message))

    @staticmethod
    def _checked(message: dict) -> dict:
        if message.get("status") == "timeout":
            raise asyncio.TimeoutError()
        return message


class RelayedAPI(FakeAPI):
    """The in-process stand-in's stubs, with every answer decided by the grader instead of here."""

    def __init__(self, probe: Any, relay: Relay) -> None:
        super().__init__(probe, salt="")  # the grader's salt is the grader's: this process never learns it
        self.relay = relay

    async def respond(self, client: str, url: str, deadline: float | None = None) -> Answer:
        self.probe.begin(client, self.path_of(url))  # this process's own count, for a call cancelled mid-batch
        return Answer.from_wire(await self.relay.ask(client, url, deadline))

    def respond_blocking(self, url: str) -> Answer:
        return Answer.from_wire(self.relay.ask_blocking("requests", url))


def main(argv: list[str]) -> None:
    """`python -c BOOT CONTROL_FD PROJECT SANDBOXED MEMORY_MIB`: what the sandbox runs."""
    zygote(int(argv[0]), argv[1], argv[2] == "1", int(argv[3]))


if __name__ == "__main__":
    main(sys.argv[1:])

"""The grader side of official grading: the worker pool, and `Remote`, the runner a check uses to call student code.

The grader never imports the graded file. A check's Harness asks `Remote` to make a call; Remote
has the worker zygote fork a fresh process for the check, sends it the call, answers every HTTP
request it relays (through the same stand-in the in-process stubs use, so the measurements are
the same), and times the call on this side. Only facts come back; the verdict is formed here.
All of this runs on one event loop of its own thread, so sync and async checks share it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import json
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checks.engine import sandbox, stall, wire
from checks.engine.executor import Facts
from checks.engine.harness import TIMED_OUT, Stopped, Verdict, called
from checks.engine.stubs import Answer

START_LIMIT = 30.0
"""Seconds the worker zygote may take to start (a cold bytecode cache compiles aiohttp first)."""
SPAWN_LIMIT = 10.0
"""Seconds a fresh process for a check may take to be forked and to import the graded file."""

MAX_IN_FLIGHT = 5000
"""Relayed requests one check's process may have waiting at once; the exercise needs at most 50."""

DIED = (
    "{name}: the process running your code ended without answering ({why}). Does it call os._exit(), "
    "kill itself, or crash the interpreter?"
)
GARBLED = "{name}: the process running your code sent the grader something it cannot read ({why})."
IMPORT_TIMED_OUT = "importing it did not finish within {seconds:g} s. Is there a loop or a blocking call at module level?"
IMPORT_DIED = "the process importing it ended before it finished ({why}). Does it exit at module level?"


class LoadFailed(Exception):
    """The graded file could not be imported in the worker; the message says why, for the student."""


class GraderLoop:
    """An event loop on its own thread, for everything official grading does on the grader's side."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="official-grader", daemon=True)
        self._thread.start()

    def run(self, coroutine: Any, timeout: float | None = None) -> Any:
        """Run `coroutine` there and wait for it from a thread without a loop (a sync check)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def run_async(self, coroutine: Any) -> Any:
        """Run `coroutine` there and await it from another loop (an async check)."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


class Pool:
    """The worker zygote for one graded file: started on first use, restarted if student code killed it."""

    def __init__(self, project: Path, sandboxed: bool, memory_mib: int = sandbox.MEMORY_MIB) -> None:
        """Nothing starts here: no thread, no folder, no process until the first check asks. A grading
        run may fork into groups after collection, and a fork must not copy a live thread or socket."""
        self.project, self.sandboxed, self.memory_mib = project, sandboxed, memory_mib
        self._grader: GraderLoop | None = None
        self._private_dir: Path | None = None
        self._process: subprocess.Popen | None = None
        self._launch: sandbox.Launch | None = None
        self._control: socket.socket | None = None
        self.netns_pid: int | None = None
        self._lock = threading.Lock()

    @property
    def grader(self) -> GraderLoop:
        if self._grader is None:
            self._grader = GraderLoop()
        return self._grader

    @property
    def _private(self) -> Path:
        if self._private_dir is None:
            self._private_dir = Path(tempfile.mkdtemp(prefix="official-"))
        return self._private_dir

    @property
    def stderr(self) -> Path:
        return self._private / "worker.log"

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        launch = sandbox.launch(self.project, theirs.fileno(), self.sandboxed, self._private, self.memory_mib)
        info_read = info_write = None
        argv = launch.argv
        if launch.sandboxed:
            info_read, info_write = os.pipe()
            argv = [str(info_write) if a == "INFO_FD" else a for a in argv]
        with open(self.stderr, "ab") as log:
            self._process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                pass_fds=[theirs.fileno(), *([info_write] if info_write else [])], start_new_session=True,
            )
        theirs.close()
        self._launch, self._control = launch, ours
        if info_write is not None:
            os.close(info_write)
            with os.fdopen(info_read) as info:
                self.netns_pid = int(json.loads(info.read() or "{}").get("child-pid", 0)) or None
        ours.settimeout(START_LIMIT)
        ready = wire.receive(ours)
        if ready is None or ready.get("op") != "ready":
            self.stop()
            raise RuntimeError(f"the grading worker did not start; its log: {self._log_tail()}")

    def ensure_started(self) -> None:
        with self._lock:
            self._running()

    def _running(self) -> None:
        """Start the zygote if it is not running (never started, or killed by student code)."""
        if self._process is None or self._process.poll() is not None:
            self.stop()
            self._start()

    def spawn(self, base: str, stubbed: bool) -> tuple[socket.socket, int]:
        """A fresh process for one check, connected to the grader by a socket of its own; and its pid there."""
        with self._lock:
            for _ in range(2):
                self._running()
                assert self._control is not None
                try:
                    self._control.settimeout(SPAWN_LIMIT)
                    wire.send(self._control, {"op": "spawn", "base": base, "stubbed": stubbed})
                    data, fds, _, _ = socket.recv_fds(self._control, 8, 1)
                    if len(data) == 8 and fds:
                        return socket.socket(fileno=fds[0]), struct.unpack("!q", data)[0]
                except OSError:
                    pass
                self.stop()  # the zygote was killed or stopped by student code: start a new sandbox
            raise RuntimeError(f"the grading worker could not start a process for a check; its log: {self._log_tail()}")

    def reap(self) -> None:
        """Have the zygote kill whatever the last check's process left running, before anything else runs."""
        with self._lock:
            if self._control is None:
                return
            try:
                wire.send(self._control, {"op": "reap"})
            except OSError:
                self.stop()

    def stop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._process is not None:
            try:
                os.killpg(self._process.pid, signal.SIGKILL)
            except OSError:
                self._process.kill()
            self._process.wait()
            self._process = None
        if self._launch is not None:
            self._launch.release()
            self._launch = None
        self.netns_pid = None

    def close(self) -> None:
        self.stop()
        if self._grader is not None:
            self._grader.close()
            self._grader = None
        if self._private_dir is not None:
            shutil.rmtree(self._private_dir, ignore_errors=True)
            self._private_dir = None

    def _log_tail(self) -> str:
        try:
            return self.stderr.read_text(errors="replace")[-1500:].strip() or "(empty)"
        except OSError:
            return "(none)"


@dataclass
class SessionHandle:
    """Stands for an aiohttp session the check owns: the worker makes the real one, in its own process."""

    id: int

    async def close(self) -> None:
        """The worker's session ends with the check's process."""


class Remote:
    """The runner for one check in official grading: calls go to a fresh worker process, answers come from here.

    `api` is the grader's stand-in (checks/engine/stubs.py) whose probe the check reads; for the
    end-to-end checks it is the loopback server instead, and requests reach it over TCP.
    """

    def __init__(self, pool: Pool, api: Any, base: str, stubbed: bool, deadline: float, limit: float | None = None) -> None:
        self.pool, self.api, self.base, self.stubbed, self.deadline = pool, api, base, stubbed, deadline
        self.limit = limit  # the check's time limit as the student knows it (--timeout), for messages
        self.original_base_url = ""
        self._channel: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._results: asyncio.Queue[dict | None] | None = None
        self._answering: dict[int, asyncio.Task] = {}
        self._pump: asyncio.Task | None = None
        self._sessions = itertools.count(1)
        self._token: str | None = None
        self._worker_pid: int | None = None

    # --- the Runner interface -------------------------------------------------------------------

    async def attempt(
        self, name: str, args: tuple, kwargs: dict, tidy: bool, cancel_after: int | None = None, in_loop: int = 0
    ) -> Facts:
        message = {"op": "call", "kind": "async", "name": name, "args": _encode_all(args),
                   "kwargs": {k: _encode(v) for k, v in kwargs.items()}, "tidy": tidy,
                   "cancel_after": cancel_after, "loop": in_loop}
        return await self.pool.grader.run_async(self._call(message, name))

    async def renew(self, api: Any) -> None:
        """Import the graded file afresh in the check's process, BASE_URL pointed at `api`, whose stand-in
        answers from now on: a scenario of its own, as if it were a new check, for the price of an import.
        Runs on the grader's loop (`pool.grader.run(remote.renew(api))`)."""
        self.api = api
        if self._channel is None:
            try:
                await self.start()
            except LoadFailed as failed:
                raise Verdict(f"{self.pool.project.name} could not be imported: {failed}") from None
            self._channel[1].write(wire.pack({"op": "base", "base": api.base}))
            return
        assert self._results is not None
        self._token = secrets.token_hex(16)
        self._channel[1].write(wire.pack({"op": "fresh", "base": api.base, "token": self._token}))
        try:
            async with asyncio.timeout(max(0.1, self.deadline - time.monotonic())):
                reply = await self._results.get()
        except TimeoutError:
            await self.close()
            raise Stopped(f"importing {self.pool.project.name} again did not finish in time") from None
        if reply is None or reply.get("op") != "freshened":
            await self.close()
            raise Verdict(DIED.format(name=f"importing {self.pool.project.name}", why=(reply or {}).get("why", "no answer")))
        if reply.get("failure"):
            raise Verdict(f"{self.pool.project.name} could not be imported: {str(reply['failure'])[:4000]}")

    def attempt_sync(self, name: str, args: tuple, kwargs: dict) -> Facts:
        message = {"op": "call", "kind": "sync", "name": name, "args": _encode_all(args),
                   "kwargs": {k: _encode(v) for k, v in kwargs.items()}}
        return self.pool.grader.run(self._call(message, name))

    def run_script(self, argv: list[str]) -> Facts:
        name = f"python {self.pool.project.name}"
        return self.pool.grader.run(self._call({"op": "call", "kind": "script", "name": name, "argv": argv}, name))

    async def own_session(self) -> SessionHandle:
        return SessionHandle(next(self._sessions))

    def cpu_waited(self) -> float | None:
        """Seconds the grader's threads and the worker's have waited for a CPU so far (a growing count)."""
        return stall.waited("self", main_thread_of=self._worker_pid)

    async def tidy_up(self) -> None:
        await self.pool.grader.run_async(self._tidy())

    # --- on the grader's loop ---------------------------------------------------------------------

    async def start(self) -> str:
        """Fork the check's process and wait until it has imported the graded file; its own BASE_URL."""
        sock, pid = await asyncio.get_running_loop().run_in_executor(None, self.pool.spawn, self.base, self.stubbed)
        self._worker_pid = pid if not self.pool.sandboxed else sandbox.host_pid(pid, self.pool.netns_pid)
        sock.setblocking(False)
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=wire.MAX_FRAME + 8)
        self._channel = (reader, writer)
        try:
            async with asyncio.timeout(max(0.1, self.deadline - time.monotonic())):
                first = await wire.receive_async(reader)
        except TimeoutError:
            await self.close()
            raise LoadFailed(IMPORT_TIMED_OUT.format(seconds=round(self.deadline - time.monotonic() + 0.5))) from None
        except wire.ProtocolError as error:
            await self.close()
            raise LoadFailed(IMPORT_DIED.format(why=error)) from None
        if first is None:
            await self.close()
            raise LoadFailed(IMPORT_DIED.format(why="no answer"))
        if first["op"] == "load_failure":
            await self.close()
            raise LoadFailed(str(first.get("message", ""))[:4000])
        if first["op"] != "ready":
            await self.close()
            raise LoadFailed(IMPORT_DIED.format(why=f"it said {first['op']!r} instead"))
        self.original_base_url = str(first.get("base_url", ""))
        self._results = asyncio.Queue()
        self._pump = asyncio.create_task(self._read_all(reader))
        return self.original_base_url

    async def _call(self, message: dict, name: str) -> Facts:
        if self._channel is None:
            try:
                await self.start()
            except LoadFailed as failed:
                raise Verdict(f"{called(name)} could not be run: {failed}") from None
        assert self._channel is not None and self._results is not None
        message["served"] = self.api.base
        # A token the worker must echo: frames student code writes on the channel on its own cannot
        # pass for the answer, since the token is made here, after any such code ran at import.
        message["token"] = self._token = secrets.token_hex(16)
        started = time.perf_counter()
        self._channel[1].write(wire.pack(message))
        limit = self.deadline - time.monotonic()
        try:
            async with asyncio.timeout(max(0.1, limit)):
                reply = await self._results.get()
        except TimeoutError:
            await self.close()
            seconds = self.limit or round(time.perf_counter() - started, 1)
            raise Stopped(TIMED_OUT.format(name=called(name), seconds=seconds)) from None
        seconds = time.perf_counter() - started
        if reply is None or reply.get("op") == "died":
            await self.close()
            raise Verdict(DIED.format(name=called(name), why=(reply or {}).get("why", "no answer")))
        if reply.get("op") != "done":
            await self.close()
            raise Verdict(GARBLED.format(name=called(name), why=reply.get("why", reply.get("op"))))
        try:
            facts = _facts(reply.get("facts"), seconds)
        except (wire.ProtocolError, KeyError, TypeError, ValueError) as error:
            await self.close()
            raise Verdict(GARBLED.format(name=called(name), why=error)) from None
        facts.name = name  # what was asked for, whatever the worker says
        self.api.probe.blocking.extend(facts.blocking)
        self.api.probe.unexpected.extend(facts.unexpected)
        return facts

    async def _tidy(self) -> None:
        if self._channel is None or self._results is None:
            return
        self._token = secrets.token_hex(16)
        self._channel[1].write(wire.pack({"op": "tidy", "token": self._token}))
        try:
            async with asyncio.timeout(2):
                await self._results.get()
        except TimeoutError:
            await self.close()

    async def _read_all(self, reader: asyncio.StreamReader) -> None:
        """Everything the check's process sends: requests to answer, and the results of calls."""
        assert self._results is not None
        try:
            while (message := await wire.receive_async(reader)) is not None:
                op = message["op"]
                if op == "request":
                    key = message.get("id")
                    if len(self._answering) >= MAX_IN_FLIGHT:
                        await self._results.put({"op": "garbled", "why": f"more than {MAX_IN_FLIGHT} requests at once"})
                        return
                    # The request is on record as it arrives: a worker that gives up on it at once (a 1 ms
                    # deadline) may cancel it before the task that answers it has even started.
                    span = self.api.probe.begin(*self._client_and_path(message)) if self.stubbed else None
                    task = self._answering[key] = asyncio.create_task(self._answer(key, message, span))
                    task.span = span  # type: ignore[attr-defined]  # for _given_up
                elif op == "cancel":
                    task = self._answering.pop(message.get("id"), None)
                    if task is not None:
                        # Ended as the cancel arrives, not when its task next runs: the worker's next request may
                        # be in the same read, and must not seem to overlap the one it gave up on.
                        self._given_up(task)
                        task.cancel()
                elif op in ("done", "tidied", "freshened"):
                    # Only the answer to the message waiting for one, by its token: none is waiting between
                    # calls, when a forged frame (written at import, say) would otherwise pass for the next one.
                    if self._token is not None and message.get("token") == self._token:
                        self._token = None
                        await self._results.put(message)
                # anything else (a second 'ready', a forged answer) is not the grader's business
        except wire.ProtocolError as error:
            await self._results.put({"op": "garbled", "why": str(error)})
            return
        await self._results.put({"op": "died", "why": "its process ended or closed the connection"})

    def _client_and_path(self, message: dict) -> tuple[str, str]:
        client = message.get("client")
        return client if client in ("aiohttp", "requests") else "other", self.api.path_of(str(message.get("url", "")))

    def _given_up(self, task: asyncio.Task) -> None:
        """A request its worker cancelled: its span ends now, as cancelled by the client."""
        span = getattr(task, "span", None)
        if span is not None and span.outcome == "pending":
            self.api.probe.finish(span, "cancelled")

    async def _answer(self, key: Any, message: dict, span: Any = None) -> None:
        """One relayed request, answered by the grader's stand-in after its delay, as in-process."""
        url, client = str(message.get("url", "")), message.get("client")
        deadline = message.get("deadline")
        deadline = float(deadline) if isinstance(deadline, (int, float)) and not isinstance(deadline, bool) else None
        try:
            answer = await self.api.respond(client if client in ("aiohttp", "requests") else "other", url, deadline, span)
        except asyncio.TimeoutError:
            answer = Answer("timeout")
        except asyncio.CancelledError:
            return
        finally:
            self._answering.pop(key, None)
        if self._channel is not None:
            self._channel[1].write(wire.pack({"op": "answer", "id": key, **answer.to_wire()}))

    async def close(self) -> None:
        """End the check's process: closing its socket ends it (the zygote kills anything left at the next fork)."""
        for task in list(self._answering.values()):
            task.cancel()
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None
        if self._channel is not None:
            self._channel[1].close()
            self._channel = None
            await asyncio.get_running_loop().run_in_executor(None, self.pool.reap)

    async def finish(self) -> None:
        await self.pool.grader.run_async(self.close())


def _encode(value: Any) -> Any:
    if isinstance(value, SessionHandle):
        return {"t": "session", "id": value.id}
    return wire.encode(value)


def _encode_all(values: tuple) -> list:
    return [_encode(v) for v in values]


def _facts(data: Any, seconds: float) -> Facts:
    """Facts rebuilt from what the worker sent, every field checked for its type."""
    if not isinstance(data, dict):
        raise wire.ProtocolError("facts are not a mapping")

    def flag(key: str) -> bool:
        return data.get(key) is True

    def text(key: str) -> str | None:
        value = data.get(key)
        return value[: wire.MAX_TEXT] if isinstance(value, str) else None

    def count(key: str) -> int:
        value = data.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**6 else 0

    def notes(key: str) -> list[str]:
        value = data.get(key)
        return [v[:500] for v in value[:50] if isinstance(v, str)] if isinstance(value, list) else []

    error = wire.decode(data["error"]) if data.get("error") is not None else None
    if error is not None and not isinstance(error, BaseException):
        raise wire.ProtocolError("an error that is not an exception")
    not_async = data.get("not_async")
    return Facts(
        name=text("name") or "",
        value=wire.decode(data.get("value")),
        error=error,
        where=text("where"),
        seconds=seconds,
        sessions_opened=count("sessions_opened"),
        sessions_left_open=count("sessions_left_open"),
        connectors_left_open=count("connectors_left_open"),
        not_async=not_async if isinstance(not_async, bool) else None,
        async_underneath=flag("async_underneath"),
        expired=flag("expired"),
        unawaited=text("unawaited"),
        missing=flag("missing"),
        output=text("output"),
        escaped=text("escaped") if data.get("escaped") in ("KeyboardInterrupt", "SystemExit") else None,
        blocking=notes("blocking"),
        unexpected=notes("unexpected"),
        never_awaited=notes("never_awaited"),
    )

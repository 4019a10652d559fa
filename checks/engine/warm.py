"""A warm grader: one process that has imported pytest, the plugin, the checks and their libraries, and forks a grading per request.

Starting a grading cold costs most of a second before any check runs (Python, pytest, aiohttp,
Hypothesis, the check modules). Where many gradings come one after another (watch mode, the
self-tests), this server pays that once: it collects the checks once, freezes what it has
imported (`gc.freeze()`, so forked children share those pages), and for each request forks a
child that runs `pytest.main(args)` in its own session, with its output in a file. The server is
single-threaded and never grades anything itself, so nothing it forks holds a thread, a loop or a
session.

Protocol, one JSON object per line: the client writes `{"id", "args", "cwd", "output", "env"}`
to its stdin; the server answers `{"id", "exit", "seconds", "cpu"}` (the CPU seconds of the grading and the
processes it waited for) on stdout as each grading ends, at most
`--jobs` at a time; `{"op": "stop", "id"}` stops a grading (its whole process group). Closing stdin
ends the server after the gradings under way.

    python -m checks.engine.warm [--jobs N]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import select
import selectors
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]


def warm_up() -> None:
    """Collect the checks once, as a grading would, so every module a grading needs is imported here."""
    import pytest

    null = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(1), os.dup(2)
    os.dup2(null, 1)
    os.dup2(null, 2)
    try:
        pytest.main(["--co", "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"),
                     f"--project={ROOT / 'solutions' / 'project.py'}", str(ROOT / "checks")])
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)
    gc.collect()
    gc.freeze()


def _child(request: dict) -> None:
    """Run one grading in this forked process; never returns."""
    code = 70
    try:
        os.setsid()
        os.chdir(request.get("cwd") or ROOT)
        os.environ.update({str(k): str(v) for k, v in (request.get("env") or {}).items()})
        out = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - a grading reads nothing from the client
        import pytest

        code = int(pytest.main([str(a) for a in request["args"]]))
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def serve(jobs: int, commands: IO[bytes] = sys.stdin.buffer, answers: IO[str] = sys.stdout) -> None:
    warm_up()
    waiting: deque[dict] = deque()
    running: dict[int, tuple[Any, float]] = {}
    selector = selectors.DefaultSelector()
    selector.register(commands, selectors.EVENT_READ)
    buffer, open_input = b"", True

    def answer(message: dict) -> None:
        answers.write(json.dumps(message) + "\n")
        answers.flush()

    while open_input or waiting or running:
        while waiting and len(running) < jobs:
            request = waiting.popleft()
            pid = os.fork()
            if pid == 0:
                selector.close()
                _child(request)
            running[pid] = (request["id"], time.monotonic())
        for _ in selector.select(timeout=0.02 if running else None) if open_input else ():
            chunk = os.read(commands.fileno(), 1 << 16)
            if not chunk:
                open_input = False
                selector.unregister(commands)
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if not line.strip():
                    continue
                message = json.loads(line)
                if message.get("op") == "stop":
                    _stop(message.get("id"), running, waiting)
                else:
                    waiting.append(message)
        if not open_input and running:
            time.sleep(0.02)
        for pid in list(running):
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                key, started = running.pop(pid)
                code = os.waitstatus_to_exitcode(status)
                answer({"id": key, "exit": code, "seconds": round(time.monotonic() - started, 3),
                        "cpu": round(usage.ru_utime + usage.ru_stime, 3)})


def _stop(key: Any, running: dict, waiting: deque) -> None:
    for pid, (running_key, _) in running.items():
        if running_key == key:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
    for request in list(waiting):
        if request.get("id") == key:
            waiting.remove(request)


class WarmGrader:
    """The client: starts the server, submits gradings, and collects their exit codes."""

    def __init__(self, jobs: int = 2, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "checks.engine.warm", "--jobs", str(jobs)], cwd=ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
            start_new_session=True,  # Ctrl-C in a terminal reaches the client, which stops the server itself
        )
        self._next, self.finished = 0, {}

    def submit(self, args: list[str], output: Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> int:
        self._next += 1
        request = {"id": self._next, "args": [str(a) for a in args], "cwd": str(cwd), "output": str(output), "env": env or {}}
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._next

    def stop(self, key: int) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": "stop", "id": key}) + "\n")
        self.process.stdin.flush()

    def wait(self, key: int, timeout: float | None = None) -> dict | None:
        """The grading's answer ({"exit", "seconds"}) once it has ended, or None if `timeout` passes first."""
        assert self.process.stdout is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        while key not in self.finished:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if left is not None and not select.select([self.process.stdout], [], [], left)[0]:
                return None
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the warm grader ended before answering")
            message = json.loads(line)
            self.finished[message["id"]] = message
        return self.finished[key]  # kept: a caller may ask for the same grading twice

    def close(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m checks.engine.warm", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="gradings at a time (default 2)")
    args = parser.parse_args(argv)
    serve(max(1, args.jobs))


if __name__ == "__main__":
    main()

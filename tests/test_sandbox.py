"""The official worker and its sandbox, held to each promise the README makes, by code that tries to break it.

A spy file takes the place of a student's: its functions look around from inside the worker and
report what they could reach. Every promise is an attack that must fail.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from checks.engine import sandbox
from checks.engine.harness import Verdict
from checks.engine.official import Pool, Remote
from checks.engine.probe import Probe
from checks.engine.stubs import FakeAPI
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(120)
SANDBOX, WHY_NOT = sandbox.available()
needs_sandbox = pytest.mark.skipif(not SANDBOX, reason=f"no sandbox on this machine: {WHY_NOT}")

SPY = '''
import ctypes, os, signal, socket, subprocess, sys, time

ROOT = __ROOT__
GRADER_PID = __GRADER_PID__
CANARY = ("127.0.0.1", __CANARY_PORT__)


def _try(action):
    try:
        return "ok: " + repr(action())[:80]
    except BaseException as error:
        return "refused: " + type(error).__name__


def _write(path, size):
    with open(path, "wb") as out:
        for _ in range(size // 2**20):
            out.write(b"x" * 2**20)
    return size


def _fork_many(limit):
    made = []
    try:
        for _ in range(limit):
            pid = os.fork()
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            made.append(pid)
    except OSError:
        pass
    for pid in made:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return len(made)


def _detach():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            time.sleep(600)
        os._exit(0)
    return True


async def observe():
    status = open("/proc/self/status").read()
    detached = _detach()
    return {
        "detached": detached,
        "uid": os.getuid(),
        "caps": [line.split()[1] for line in status.splitlines() if line.startswith("CapEff")][0],
        "write_checks": _try(lambda: open(os.path.join(ROOT, "checks", "__init__.py"), "a").write("#")),
        "plant_pyc": _try(lambda: open(os.path.join(ROOT, "checks", "__pycache__", "x.pyc"), "wb").write(b"x")),
        "write_site": _try(lambda: open(os.path.join(os.path.dirname(os.__file__), "evil.pth"), "w").write("x")),
        "write_pycache": _try(lambda: open("/pycache/x.pyc", "wb").write(b"x")),
        "solutions": os.path.exists(os.path.join(ROOT, "solutions")),
        "tests": os.path.exists(os.path.join(ROOT, "tests")),
        "readme": os.path.exists(os.path.join(ROOT, "README.md")),
        "tcp_canary": _try(lambda: socket.create_connection(CANARY, timeout=1).send(b"LEAK tcp")),
        "udp_canary": _try(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"LEAK udp", CANARY)),
        "curl_canary": _try(lambda: subprocess.run(["curl", "-s", "-m", "1", "http://%s:%d/" % CANARY], capture_output=True).returncode),
        "interfaces": [name for _, name in socket.if_nameindex()],
        "see_grader": _try(lambda: os.kill(GRADER_PID, 0)),
        "processes": len([p for p in os.listdir("/proc") if p.isdigit()]),
        "big_file": _try(lambda: _write("big", 200 * 2**20)),
        "big_tmp": _try(lambda: _write("/tmp/big", 200 * 2**20)),
        "forks": _fork_many(300),
        "memory": _try(lambda: len(bytearray(3 * 2**30))),
        "raise_limit": _try(lambda: __import__("resource").setrlimit(__import__("resource").RLIMIT_NPROC, (10**6, 10**6))),
    }


async def exits():
    os._exit(3)


async def spins():
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        pass


async def fine():
    return [1, 2, 3]
'''


@pytest.fixture
def canary():
    """A TCP and UDP listener on this machine's loopback: anything it hears from the worker is a leak."""
    heard: list[str] = []
    tcp = socket.create_server(("127.0.0.1", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", tcp.getsockname()[1]))
    tcp.settimeout(0.2)
    udp.settimeout(0.2)
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            for sock in (tcp, udp):
                try:
                    if sock is tcp:
                        conn, _ = sock.accept()
                        heard.append("tcp " + conn.recv(100).decode(errors="replace"))
                        conn.close()
                    else:
                        heard.append("udp " + sock.recv(100).decode(errors="replace"))
                except OSError:
                    pass

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    yield tcp.getsockname()[1], heard
    stop.set()
    thread.join()
    tcp.close()
    udp.close()


def _spy(tmp_path: Path, port: int) -> Path:
    spy = tmp_path / "spy" / "project.py"
    spy.parent.mkdir()
    spy.write_text(
        SPY.replace("__ROOT__", repr(str(ROOT))).replace("__GRADER_PID__", str(os.getpid())).replace("__CANARY_PORT__", str(port))
    )
    return spy


def _call(pool: Pool, name: str, seconds: float = 60):
    api = FakeAPI(Probe())
    remote = Remote(pool, api, api.base, stubbed=True, deadline=time.monotonic() + seconds)
    try:
        return remote, pool.grader.run(remote._call({"op": "call", "kind": "async", "name": name, "args": [], "kwargs": {}}, name))
    finally:
        pool.grader.run(remote.close())


def _uid_processes(uid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        uids = [line.split()[1] for line in status.splitlines() if line.startswith("Uid:")]
        if entry.isdigit() and uids and int(uids[0]) == uid:
            found.append(int(entry))
    return found


@needs_sandbox
def test_the_sandbox_keeps_every_promise(tmp_path: Path, canary) -> None:
    port, heard = canary
    pool = Pool(_spy(tmp_path, port), sandboxed=True)
    try:
        _, facts = _call(pool, "observe")
        uid = pool._launch.uid if pool._launch else None
    finally:
        pool.close()
    seen = facts.value
    assert isinstance(seen, dict), facts
    assert seen["uid"] >= sandbox.FIRST_UID and seen["uid"] == uid
    assert int(seen["caps"], 16) == 0
    for attack in ("write_checks", "plant_pyc", "write_site", "write_pycache", "tcp_canary", "see_grader", "memory", "raise_limit"):
        assert seen[attack].startswith("refused"), (attack, seen[attack])
    assert not seen["curl_canary"].endswith(": 0"), seen["curl_canary"]  # curl ran, and could not connect
    assert seen["big_file"].startswith("refused") and seen["big_tmp"].startswith("refused")
    assert not seen["solutions"] and not seen["tests"] and not seen["readme"]
    assert seen["interfaces"] == ["lo"]
    assert seen["processes"] < 10
    assert seen["forks"] < 70
    time.sleep(0.5)
    assert heard == []  # a datagram "sent" inside the sandbox lands on its own loopback, never here
    assert _uid_processes(uid) == [], "processes of the sandbox's user outlived it"
    assert not list((ROOT / "checks").rglob("x.pyc"))


@pytest.mark.parametrize("sandboxed", [pytest.param(True, marks=needs_sandbox), False], ids=["sandbox", "plain-process"])
def test_a_worker_that_dies_is_named_and_the_next_check_gets_a_fresh_one(tmp_path: Path, sandboxed: bool) -> None:
    pool = Pool(_spy(tmp_path, 9), sandboxed=sandboxed)
    try:
        with pytest.raises(Verdict, match="ended without answering"):
            _call(pool, "exits")
        _, facts = _call(pool, "fine")
        assert facts.value == [1, 2, 3]
    finally:
        pool.close()


@pytest.mark.parametrize("sandboxed", [pytest.param(True, marks=needs_sandbox), False], ids=["sandbox", "plain-process"])
def test_a_call_that_ignores_every_signal_is_stopped_from_outside(tmp_path: Path, sandboxed: bool) -> None:
    pool = Pool(_spy(tmp_path, 9), sandboxed=sandboxed)
    started = time.monotonic()
    try:
        with pytest.raises(Verdict, match="was stopped after"):
            _call(pool, "spins", seconds=1.5)
        assert time.monotonic() - started < 10
        _, facts = _call(pool, "fine")  # the spinning process is gone; a fresh one answers
        assert facts.value == [1, 2, 3]
    finally:
        pool.close()

"""Guards around student code: blocking calls inside the event loop are noted, outside traffic is refused."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import sys
import time
from typing import Any

from checks.engine.probe import Probe

# The originals, even if this module is imported again while a guard is installed.
real_sleep = getattr(time.sleep, "unguarded", time.sleep)
_real_connect = getattr(socket.socket.connect, "unguarded", socket.socket.connect)
_real_connect_ex = getattr(socket.socket.connect_ex, "unguarded", socket.socket.connect_ex)
_real_getaddrinfo = getattr(socket.getaddrinfo, "unguarded", socket.getaddrinfo)

REFUSED = (
    "the grader refused a connection to {where}: while you are graded, requests may only "
    "go to the stand-in API that BASE_URL points at"
)


def in_event_loop() -> bool:
    """True when called from code that an event loop is running in this thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _is_local(host: Any) -> bool:
    if host is None or host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


current: Guard | None = None
"""The guard installed in this process, if any."""


class Guard:
    """Installed once per grading run; `probe` is the measure of the check running now, if any."""

    def __init__(self, project: Any = None) -> None:
        self.probe: Probe | None = None
        self.project = str(project) if project is not None else None  # the graded file, to name its line
        self._replaced: list[tuple[Any, str, Any]] = []

    def where(self) -> str:
        """' (line 42)': the graded file's line that made the call being noted, if it is on the stack."""
        frame = sys._getframe(2)
        while frame is not None and self.project is not None:
            if frame.f_code.co_filename == self.project:
                return f" (line {frame.f_lineno})"
            frame = frame.f_back
        return ""

    def _note(self, kind: str, what: str) -> None:
        if self.probe is not None:
            getattr(self.probe, kind).append(what)

    def install(self) -> None:
        global current
        guard = current = self

        def sleep(seconds: float) -> None:
            if in_event_loop():
                guard._note("blocking", f"time.sleep({seconds!r}){guard.where()}")
            real_sleep(seconds)

        def connect(sock: socket.socket, address: Any) -> Any:
            guard._check_address(sock, address)
            return _real_connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> Any:
            guard._check_address(sock, address)
            return _real_connect_ex(sock, address)

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if not _is_local(host.decode() if isinstance(host, bytes) else host):
                guard._note("unexpected", f"name lookup of {host}")
                raise socket.gaierror(socket.EAI_NONAME, REFUSED.format(where=host))
            return _real_getaddrinfo(host, *args, **kwargs)

        for owner, name, wrapper, original in (
            (time, "sleep", sleep, real_sleep),
            (socket.socket, "connect", connect, _real_connect),
            (socket.socket, "connect_ex", connect_ex, _real_connect_ex),
            (socket, "getaddrinfo", getaddrinfo, _real_getaddrinfo),
        ):
            wrapper.unguarded = original  # type: ignore[attr-defined]
            self._replaced.append((owner, name, getattr(owner, name)))
            setattr(owner, name, wrapper)

    def _check_address(self, sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            self._note("unexpected", f"connection to {address[0]}:{address[1]}")
            raise ConnectionRefusedError(REFUSED.format(where=f"{address[0]}:{address[1]}"))

    def uninstall(self) -> None:
        """Put back what install() replaced, so a grading run inside another leaves the outer one guarded."""
        while self._replaced:
            owner, name, previous = self._replaced.pop()
            setattr(owner, name, previous)

"""A JSONPlaceholder stand-in served over real TCP on loopback, with latency and faults per route or id.

The stubbed checks answer inside the process; this server is for what only real sockets show:
ClientTimeout firing, connections being reused, and the exercise's own `main()` run offline.
It counts requests in flight and TCP connections, so both can be measured from the server side.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import threading
import weakref
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, AsyncIterator

from aiohttp import web

from checks.data import POST_COUNT, USER_COUNT, comments_for, post, user
from checks.engine.probe import Probe

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Behaviour:
    """How the server answers one request: after a delay, with a status, by hanging up, or slowly."""

    delay: float = 0.0
    jitter: float = 0.0  # up to this many seconds more, drawn from a seeded generator
    status: int | None = None  # answer this error status instead of the resource
    drop: bool = False  # close the connection without answering
    slow_body: float = 0.0  # seconds over which the body trickles out after the headers


@dataclass
class Settings:
    """Behaviour for every request: an exact path ("/posts/3") wins over a route ("/posts"), then the default."""

    default: Behaviour = field(default_factory=Behaviour)
    paths: dict[str, Behaviour] = field(default_factory=dict)
    seed: int = 0
    gate: Any = None  # a check's gate (checks/engine/gates.py): answers wait until the expected requests are in

    def for_path(self, path: str) -> Behaviour:
        if path in self.paths:
            return self.paths[path]
        route = "/" + path.strip("/").split("/")[0]
        return self.paths.get(route, self.default)


def client_of(user_agent: str) -> str:
    """Which HTTP library asked, from its User-Agent: the timeline labels rows with it."""
    agent = user_agent.lower()
    if "python-requests" in agent:
        return "requests"
    if "aiohttp" in agent:
        return "aiohttp"
    return "other"


class FakeAPI:
    """The server's state: its settings, the requests it saw (as a Probe) and the connections it accepted."""

    def __init__(self, settings: Settings | None = None, salt: str = "") -> None:
        self.settings = settings or Settings()
        self.salt = salt  # ends every body served (checks/data.py); a grading sets one, the tools do not
        self.probe = Probe()
        self.connections = 0
        self._seen: weakref.WeakSet[Any] = weakref.WeakSet()
        self._aiohttp: weakref.WeakSet[Any] = weakref.WeakSet()
        self._random = random.Random(self.settings.seed)
        self.base_url = ""
        self.app = web.Application()
        self.app.router.add_get("/{tail:.*}", self._handle)

    @property
    def base(self) -> str:
        return self.base_url

    def open_connections(self) -> int:
        """aiohttp connections a client has not closed yet: an unclosed ClientSession keeps its own open.

        Only aiohttp's: a `requests` call that a student made by mistake inside async code keeps its
        own pool, which is not what the session checks are about.
        """
        return sum(1 for transport in list(self._aiohttp) if not transport.is_closing())

    def reset(self) -> None:
        """Forget what was measured (between phases of one run), keeping settings and connections open."""
        self.probe = Probe()
        self.connections = 0
        self._seen, self._aiohttp = weakref.WeakSet(), weakref.WeakSet()

    def _count_connection(self, request: web.Request) -> None:
        # One transport per TCP connection: a transport not seen before is a new connection.
        transport = request.transport
        if transport is not None and transport not in self._seen:
            self._seen.add(transport)
            self.connections += 1
        if transport is not None and client_of(request.headers.get("User-Agent", "")) == "aiohttp":
            self._aiohttp.add(transport)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self._count_connection(request)
        span = self.probe.begin(client_of(request.headers.get("User-Agent", "")), request.path)
        behaviour = self.settings.for_path(request.path)
        try:
            if self.settings.gate is not None:
                await self.settings.gate.admit(span.client)
            await asyncio.sleep(behaviour.delay + self._random.uniform(0, behaviour.jitter))
            if behaviour.drop:
                span.outcome = "dropped"
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError  # nothing more to send on a closed connection
            status, body = (behaviour.status, {}) if behaviour.status else self._resource(request)
            response = await self._send(request, status, body, behaviour.slow_body)
            span.outcome = str(status)  # as the in-process stand-in records it: a picture colours error statuses
            return response
        except asyncio.CancelledError:
            if span.outcome == "pending":
                span.outcome = "cancelled"  # the client gave up (a timeout) or hung up
            raise
        finally:
            self.probe.finish(span, span.outcome if span.outcome != "pending" else "answered")

    def post(self, post_id: int) -> dict[str, Any]:
        return post(post_id, self.salt)

    def user(self, user_id: int) -> dict[str, Any]:
        return user(user_id, self.salt)

    def _resource(self, request: web.Request) -> tuple[int, Any]:
        path = request.path.rstrip("/")
        if path == "/posts":
            return 200, [self.post(i) for i in range(1, POST_COUNT + 1)]
        if path == "/users":
            return 200, [self.user(i) for i in range(1, USER_COUNT + 1)]
        if path == "/comments":
            wanted = request.query.get("postId", "")
            return 200, comments_for(int(wanted)) if wanted.isdigit() else []
        for route, make, count in (("posts", self.post, POST_COUNT), ("users", self.user, USER_COUNT)):
            found = re.fullmatch(rf"/{route}/(\d+)", path)
            if found and 1 <= int(found.group(1)) <= count:
                return 200, make(int(found.group(1)))
        return 404, {}

    @staticmethod
    async def _send(request: web.Request, status: int, body: Any, slow_body: float) -> web.StreamResponse:
        if slow_body <= 0:
            return web.json_response(body, status=status)
        data = web.json_response(body).body
        assert isinstance(data, bytes)
        response = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
        response.content_length = len(data)
        await response.prepare(request)
        pieces = 5
        step = max(1, -(-len(data) // pieces))
        for start in range(0, len(data), step):
            await asyncio.sleep(slow_body / pieces)
            await response.write(data[start : start + step])
        await response.write_eof()
        return response


@asynccontextmanager
async def serve(settings: Settings | None = None, port: int = 0, sock: Any = None, salt: str = "") -> AsyncIterator[FakeAPI]:
    """Run the stand-in on loopback (a free port unless told otherwise) for the length of the block.

    `sock`, a socket already listening, is used instead: official grading makes it inside the
    sandbox's own network, so only the sandbox can reach the server.
    """
    api = FakeAPI(settings, salt)
    # handler_cancellation: a client that gives up (a timeout) cancels its handler, as on a real server.
    runner = web.AppRunner(api.app, access_log=None, handle_signals=False, handler_cancellation=True)
    await runner.setup()
    # A deep accept queue: a client opening 1000 connections at once would otherwise see SYNs dropped
    # past the default 128 and retried a second later, which is the kernel's delay, not the exercise's.
    site = web.SockSite(runner, sock) if sock is not None else web.TCPSite(runner, LOOPBACK, port, backlog=4096)
    await site.start()
    bound = runner.addresses[0][1]  # with port 0, the port the system chose
    api.base_url = f"http://{LOOPBACK}:{bound}"
    try:
        yield api
    finally:
        await runner.cleanup()


class BackgroundServer:
    """The stand-in on its own thread and event loop, for synchronous callers (the run command, benchmarks)."""

    def __init__(self, settings: Settings | None = None, port: int = 0, sock: Any = None, salt: str = "") -> None:
        self._settings, self._port, self._sock, self._salt = settings, port, sock, salt
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fakeapi", daemon=True)
        self._context: Any = None
        self.api: FakeAPI | None = None

    def start(self) -> FakeAPI:
        self._thread.start()
        self._context = serve(self._settings, self._port, self._sock, self._salt)
        self.api = asyncio.run_coroutine_threadsafe(self._context.__aenter__(), self._loop).result(timeout=10)
        return self.api

    def stop(self) -> None:
        if self._context is not None:
            asyncio.run_coroutine_threadsafe(self._context.__aexit__(None, None, None), self._loop).result(timeout=10)
            self._context = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> FakeAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- command line ------------------------------------------------------------------------------

PORT_HELP = "port to listen on, on 127.0.0.1 only (default 0: a free one, printed at start)"
LATENCY_HELP = "seconds before every answer (default 0.2)"
JITTER_HELP = "up to this many extra seconds per answer, from a seeded generator (default 0)"
FAIL_HELP = "answer post ID with an error status, as ID=STATUS (e.g. 3=500); repeatable"
DROP_HELP = "close the connection instead of answering post ID; repeatable"
SLOW_HELP = "trickle every body out over this many seconds after the headers (default 0)"


def settings_from(args: argparse.Namespace) -> Settings:
    default = Behaviour(delay=args.latency, jitter=args.jitter, slow_body=args.slow_body)
    paths: dict[str, Behaviour] = {}
    for rule in args.fail:
        post_id, _, status = rule.partition("=")
        if not (post_id.isdigit() and status.isdigit() and 400 <= int(status) <= 599):
            raise SystemExit(f"--fail takes ID=STATUS with a status from 400 to 599, got {rule!r}")
        paths[f"/posts/{post_id}"] = replace(default, status=int(status))
    for post_id in args.drop:
        paths[f"/posts/{post_id}"] = replace(default, drop=True)
    return Settings(default=default, paths=paths, seed=args.seed)


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m checks.fakeapi", description=__doc__.splitlines()[0])
    cli.add_argument("--port", type=int, default=0, help=PORT_HELP)
    cli.add_argument("--latency", type=float, default=0.2, help=LATENCY_HELP)
    cli.add_argument("--jitter", type=float, default=0.0, help=JITTER_HELP)
    cli.add_argument("--fail", action="append", default=[], metavar="ID=STATUS", help=FAIL_HELP)
    cli.add_argument("--drop", action="append", default=[], metavar="ID", help=DROP_HELP)
    cli.add_argument("--slow-body", type=float, default=0.0, help=SLOW_HELP)
    cli.add_argument("--seed", type=int, default=0, help="seed for the jitter (default 0)")
    return cli


async def _serve_forever(settings: Settings, port: int) -> None:
    async with serve(settings, port) as api:
        print(f"Serving a JSONPlaceholder stand-in at {api.base_url}  (Ctrl-C to stop)", flush=True)
        print(f"Point the exercise at it:  API_BASE_URL={api.base_url} python starter/project.py", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    cli = parser()
    args = cli.parse_args(argv)
    if min(args.latency, args.jitter, args.slow_body) < 0:
        cli.error("--latency, --jitter and --slow-body take seconds from 0")
    if not 0 <= args.port <= 65535:
        cli.error(f"--port takes a number from 0 to 65535 (0 for a free one), got {args.port}")
    try:
        asyncio.run(_serve_forever(settings_from(args), args.port))
    except KeyboardInterrupt:
        pass
    except OSError as error:
        cli.exit(1, f"Could not listen on {LOOPBACK}:{args.port}: {error.strerror or error}. "
                    "Is another server using it? Try another --port, or --port 0 for a free one.\n")


if __name__ == "__main__":
    main()

"""The loopback stand-in and the offline run command: real sockets, measured from the server's side."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time

import aiohttp
import pytest
import requests

from checks.data import comments_for, post, user
from checks.fakeapi import BackgroundServer, Behaviour, Settings, serve
from checks.engine.probe import Probe
from checks.run import run_main
from tests.conftest import ROOT


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, object]:
    async with session.get(url) as response:
        return response.status, await response.json()


async def test_serves_the_same_shapes_as_the_public_api() -> None:
    async with serve() as api, aiohttp.ClientSession() as session:
        assert await _get(session, f"{api.base_url}/posts/7") == (200, post(7))
        assert await _get(session, f"{api.base_url}/users/3") == (200, user(3))
        status, posts = await _get(session, f"{api.base_url}/posts")
        assert status == 200 and len(posts) == 100 and set(posts[0]) == {"userId", "id", "title", "body"}
        status, users = await _get(session, f"{api.base_url}/users")
        assert len(users) == 10
        assert await _get(session, f"{api.base_url}/comments?postId=2") == (200, comments_for(2))
        assert [c["postId"] for c in comments_for(2)] == [2] * 5
        assert await _get(session, f"{api.base_url}/posts/101") == (404, {})
    assert api.base_url.startswith("http://127.0.0.1:")


async def test_faults_per_id_status_drop_and_slow_body() -> None:
    settings = Settings(
        paths={
            "/posts/3": Behaviour(status=500),
            "/posts/4": Behaviour(drop=True),
            "/posts/5": Behaviour(slow_body=0.2),
        }
    )
    async with serve(settings) as api, aiohttp.ClientSession() as session:
        assert (await _get(session, f"{api.base_url}/posts/3"))[0] == 500
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await _get(session, f"{api.base_url}/posts/4")
        started = time.perf_counter()
        assert await _get(session, f"{api.base_url}/posts/5") == (200, post(5))
        assert 0.15 < time.perf_counter() - started < 1.0


async def test_a_client_timeout_really_fires_on_a_slow_answer() -> None:
    async with serve(Settings(default=Behaviour(delay=1.0))) as api:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.1)) as session:
            started = time.perf_counter()
            with pytest.raises(TimeoutError):
                await _get(session, f"{api.base_url}/posts/1")
            assert time.perf_counter() - started < 0.6
        assert len(api.probe.spans) == 1  # it did reach the server: a real timeout, not a refused connection


async def test_jitter_is_seeded_so_two_servers_agree() -> None:
    """Two servers with one seed plan the same delays; each answer takes at least its planned delay.

    Load can only lengthen a measured delay, so the check compares plans and lower bounds, not the
    measured times themselves (which a busy machine stretches by tens of milliseconds)."""

    async def delays(seed: int) -> list[float]:
        async with serve(Settings(default=Behaviour(jitter=0.04), seed=seed)) as api:
            async with aiohttp.ClientSession() as session:
                for i in range(1, 6):
                    await _get(session, f"{api.base_url}/posts/{i}")
            return [s.end - s.start for s in api.probe.spans]

    draws = random.Random(7)
    planned = [draws.uniform(0, 0.04) for _ in range(5)]
    for measured in (await delays(7), await delays(7)):
        assert all(took >= plan - 0.002 for took, plan in zip(measured, planned)), (measured, planned)
    assert len({round(p, 3) for p in planned}) > 1


async def test_connections_are_counted_on_the_server() -> None:
    async with serve(Settings(default=Behaviour(delay=0.01))) as api:
        async with aiohttp.ClientSession() as session:
            for i in range(1, 6):
                await _get(session, f"{api.base_url}/posts/{i}")
        assert api.connections == 1  # one keep-alive connection, reused
        api.reset()
        for i in range(1, 6):
            async with aiohttp.ClientSession() as own:
                await _get(own, f"{api.base_url}/posts/{i}")
        assert api.connections == 5  # a session per request: a connection per request


async def test_peak_in_flight_is_measured_from_the_server() -> None:
    async with serve(Settings(default=Behaviour(delay=0.05))) as api, aiohttp.ClientSession() as session:
        await asyncio.gather(*(_get(session, f"{api.base_url}/posts/{i}") for i in range(1, 11)))
    assert Probe.peak(api.probe.spans) == 10 and {s.client for s in api.probe.spans} == {"aiohttp"}


def test_background_server_serves_synchronous_callers() -> None:
    with BackgroundServer() as api:
        assert requests.get(f"{api.base_url}/posts/2", timeout=5).json() == post(2)
        assert api.probe.spans[0].client == "requests"


def test_run_command_shows_sync_as_a_staircase_and_async_as_a_block() -> None:
    """The README's first command: offline, 50 posts, against the reference solution."""
    latency, count = 0.1, 50
    with BackgroundServer(Settings(default=Behaviour(delay=latency))) as api:
        status, spans = run_main(ROOT / "solutions" / "project.py", count, api)
    assert status == 0
    sync = [s for s in spans if s.client == "requests"]
    fetched_async = [s for s in spans if s.client == "aiohttp"]
    assert len(sync) == len(fetched_async) == count
    assert Probe.peak(sync) == 1 and Probe.peak(fetched_async) == count
    assert Probe.duration(fetched_async) <= 3 * latency  # one wave, not fifty (a busy machine stretches a wave)
    assert Probe.duration(sync) <= 1.2 * count * latency


def test_run_command_prints_the_comparison_and_the_timeline() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "checks", "run", "--project", "solutions/project.py", "--count", "6",
         "--latency", "0.02", "--limit", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Sync total:" in out and "Async total:" in out
    assert "--- Every request of main(): 12 requests, at most 6 in flight" in out
    assert "sync /posts/1 |" in out and "async /posts/6 |" in out
    assert "fetch_async_limited(max_concurrent=2): 6 requests, at most 2 in flight" in out

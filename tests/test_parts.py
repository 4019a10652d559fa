"""Unit tests of the grader's parts: the aiohttp 3.14 bridge, the probe's measures, the guards, the report."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import aiohttp
import pytest
from aioresponses import aioresponses

from checks import plugin
from checks.catalogue import BY_ID, ITEMS
from checks.engine.compat import StubResponse
from checks.data import post
from checks.engine.guard import Guard
from checks.engine.probe import Probe, Span
from checks.reports.results import CheckResult, Grade, Outcome
from checks.engine.stubs import FakeAPI
from tests.conftest import GRADED_IDS, ROOT


async def _get_json(url: str) -> dict:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return await response.json()


async def test_plain_aioresponses_still_needs_the_bridge_on_this_aiohttp() -> None:
    """If this starts failing, aioresponses fixed pnuckowski/aioresponses#289: drop checks/engine/compat.py."""
    with aioresponses() as mocked:
        mocked.get("http://x.test/a", payload={"a": 1})
        with pytest.raises(TypeError, match="stream_writer"):
            await _get_json("http://x.test/a")


async def test_the_bridge_lets_aioresponses_build_responses() -> None:
    with aioresponses() as mocked:
        mocked.get("http://x.test/a", payload={"a": 1}, response_class=StubResponse)
        assert await _get_json("http://x.test/a") == {"a": 1}


def _spans(*pairs: tuple[float, float]) -> list[Span]:
    return [Span("aiohttp", f"/posts/{n}", a, b, "200") for n, (a, b) in enumerate(pairs, 1)]


def test_peak_counts_overlaps_and_not_back_to_back_requests() -> None:
    assert Probe.peak(_spans((0, 1), (1, 2), (2, 3))) == 1
    assert Probe.peak(_spans((0, 3), (0.1, 1), (0.2, 2))) == 3
    assert Probe.peak(_spans((0, 1), (0.5, 2), (1.5, 3))) == 2


def test_slowest_refill_sees_a_group_waiting_for_its_slowest_member() -> None:
    as_one_finishes = _spans((0, 0.1), (0, 0.3), (0.1, 0.2), (0.2, 0.4))
    group_by_group = _spans((0, 0.1), (0, 0.3), (0.3, 0.4), (0.3, 0.5))
    assert Probe.slowest_refill(as_one_finishes, 2) == pytest.approx(0.0)
    assert Probe.slowest_refill(group_by_group, 2) == pytest.approx(0.2)


def test_slowest_refill_sees_one_start_for_two_finishes() -> None:
    """Two finish together at 0.1 and only one starts; the other slot waits for the next finish, at 0.3."""
    one_per_wake_up = _spans((0, 0.1), (0, 0.1), (0.1, 0.3), (0.3, 0.4))
    assert Probe.slowest_refill(one_per_wake_up, 2) == pytest.approx(0.2)


def test_timeline_draws_one_row_per_request_and_summarises_long_runs() -> None:
    probe = Probe()
    few = probe.timeline(_spans((0, 1), (1, 2)))
    assert few.count("|") == 4 and "#" in few
    many = probe.timeline(_spans(*[(i, i + 1) for i in range(40)]), rows=12)
    assert len(many.splitlines()) <= 14 and "more requests" in many


async def test_stand_in_serves_posts_and_counts_requests_in_flight() -> None:
    api = FakeAPI(Probe(), default_delay=0.05)
    with api.serve():
        async with aiohttp.ClientSession() as session:

            async def one(i: int) -> dict:
                async with session.get(f"{api.base}/posts/{i}") as response:
                    return await response.json()

            assert await asyncio.gather(one(1), one(2), one(3)) == [api.post(1), api.post(2), api.post(3)]
    assert Probe.peak(api.probe.spans) == 3
    assert len(api.probe.sessions) == 1 and api.probe.sessions[0].closed


async def test_stand_in_honours_a_session_client_timeout() -> None:
    api = FakeAPI(Probe(), default_delay=1.0)
    with api.serve():
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.05)) as session:
            started = time.perf_counter()
            with pytest.raises(TimeoutError):
                await session.get(f"{api.base}/posts/1")
    assert time.perf_counter() - started < 0.5


async def test_stand_in_refuses_urls_it_does_not_serve() -> None:
    api = FakeAPI(Probe())
    with api.serve():
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientConnectionError, match="does not serve"):
                await session.get("https://jsonplaceholder.typicode.com/posts/1")
    assert api.probe.unexpected == ["https://jsonplaceholder.typicode.com/posts/1"]


def test_guard_refuses_outside_connections_and_notes_blocking_sleeps() -> None:
    before = time.sleep
    guard = Guard()
    guard.install()
    try:
        guard.probe = Probe()
        with pytest.raises(socket.gaierror, match="refused"):
            socket.getaddrinfo("example.com", 80)
        with socket.socket() as sock, pytest.raises(ConnectionRefusedError, match="refused"):
            sock.connect(("192.0.2.1", 80))

        async def blocks() -> None:
            time.sleep(0.001)

        asyncio.run(blocks())
        time.sleep(0.001)  # outside any event loop: fine
        assert guard.probe.blocking == ["time.sleep(0.001)"]
        assert len(guard.probe.unexpected) == 2
    finally:
        guard.uninstall()
    assert time.sleep is before


def test_catalogue_has_the_issue_item_ids_and_sums_to_100() -> None:
    assert [i.id for i in ITEMS] == [*GRADED_IDS, "explain"]
    assert sum(i.points for i in ITEMS if i.graded) == 100
    assert all(i.hint.endswith("?") or "ANSWERS" in i.hint for i in ITEMS)


def test_grade_json_has_the_documented_shape() -> None:
    grade = Grade.empty("p.py")
    grade.add(CheckResult("test_a", "alter-2", Outcome.FAILED, "peak in flight 12, expected 3"))
    grade.add(CheckResult("test_b", "base", Outcome.PASSED))
    data = json.loads(json.dumps(grade.to_json()))
    assert set(data) == {"project", "score", "max_score", "items"}
    assert (data["score"], data["max_score"]) == (20, 100)
    assert [i["id"] for i in data["items"]] == list(BY_ID)
    alter2 = data["items"][2]
    assert alter2["status"] == "failed" and alter2["score"] == 0 and alter2["max_score"] == 15
    assert alter2["checks"] == [{"name": "test_a", "outcome": "failed", "message": "peak in flight 12, expected 3"}]
    assert data["items"][3]["status"] == "ungraded"  # no check ran


async def test_stand_in_honours_a_connector_limit_like_a_real_pool() -> None:
    api = FakeAPI(Probe(), default_delay=0.03)
    with api.serve():
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=3)) as session:

            async def one(i: int) -> None:
                async with session.get(f"{api.base}/posts/{i}") as response:
                    await response.read()

            await asyncio.gather(*(one(i) for i in range(1, 10)))
    assert Probe.peak(api.probe.spans) == 3
    assert Probe.slowest_refill(api.probe.spans, 3) < 0.02


def test_a_check_module_that_cannot_be_collected_is_reported_as_the_graders_fault(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without this the run ends with 'error during collection', no scorecard and no verdict at all."""
    monkeypatch.setattr(plugin, "CHECKS_DIR", pytester.path)
    pytester.makepyfile(
        test_fine='import pytest\n\n@pytest.mark.item("base")\ndef test_ok():\n    pass\n',
        test_broken='raise ImportError("this check module is broken")\n',
    )
    out = pytester.path / "grade.json"
    result = pytester.runpytest_inprocess(
        "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-p", "checks.plugin",
        f"--project={ROOT / 'solutions' / 'project.py'}", f"--grade-json={out}", str(pytester.path),
    )
    assert result.ret != 0
    assert "The grader could not load some of its own checks" in result.stdout.str()
    report = json.loads(out.read_text())
    assert len(report["grader_errors"]) == 1 and "this check module is broken" in report["grader_errors"][0]

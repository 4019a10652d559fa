"""`python -m checks.bench`: how long grading takes here, and how the reference scales against the stand-in.

Every figure is measured on the machine it runs on, in one run, and printed with its ideal so the
ratios can be compared across machines: sync against the sum of the delays, async against one
delay, a limit of k against ceil(N / k) delays.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from types import ModuleType

from checks.data import POST_COUNT
from checks.engine.durations import TABLE

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "solutions" / "project.py"
GRADE = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--project={REFERENCE}"]


def grading_times(repeat: int, *extra: str) -> list[float]:
    """Wall time of whole `pytest --project=solutions/project.py` processes, as a person would wait for them."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([*GRADE, *extra], cwd=ROOT, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return times


class Warm:
    """A warm grader (checks/engine/warm.py) started once: its times are from asking it for a grading of the
    reference to that grading's end, what watch mode and the self-tests pay per grading once it has started."""

    def __init__(self) -> None:
        from checks.engine.warm import WarmGrader

        self.grader, self.folder = WarmGrader(jobs=1), tempfile.TemporaryDirectory()
        self.cpu: list[float] = []  # CPU seconds of each timed grading and the groups it waited for
        self.times(1)
        self.cpu.clear()  # the first grading waits for the server's own start: not what a save costs

    def times(self, repeat: int, *extra: str) -> list[float]:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            answer = self.grader.wait(self.grader.submit([*GRADE[3:], *extra], Path(self.folder.name) / "output.txt"))
            times.append(time.perf_counter() - started)
            self.cpu.append(float(answer["cpu"]))
        return times

    def close(self) -> None:
        self.grader.close()
        self.folder.cleanup()


def durations() -> dict[str, float]:
    """Seconds each check of the reference's grading takes, run one after another (for checks/engine/durations.json)."""
    with tempfile.TemporaryDirectory() as folder:
        junit = Path(folder) / "junit.xml"
        subprocess.run([*GRADE, "--groups=off", f"--junitxml={junit}"], cwd=ROOT, capture_output=True, check=False)
        return {case.get("name", ""): round(float(case.get("time", 0)), 3) for case in ElementTree.parse(junit).iter("testcase")}


def item_times() -> dict[str, float]:
    """Seconds spent in each item's checks (setup, call and teardown), from one graded run's JUnit XML."""
    with tempfile.TemporaryDirectory() as folder:
        junit, report = Path(folder) / "junit.xml", Path(folder) / "grade.json"
        subprocess.run([*GRADE, f"--junitxml={junit}", f"--grade-json={report}"], cwd=ROOT, capture_output=True, check=False)
        owner = {c["name"]: item["id"] for item in json.loads(report.read_text())["items"] for c in item["checks"]}
        spent: dict[str, float] = {}
        for case in ElementTree.parse(junit).iter("testcase"):
            item_id = owner.get(case.get("name", ""), "?")
            spent[item_id] = spent.get(item_id, 0.0) + float(case.get("time", 0))
    return spent


FLOOR_CHECK = """
import aiohttp, pytest, requests, responses
from aioresponses import aioresponses

from checks.engine.compat import StubResponse


@pytest.mark.parametrize("n", range({count}))
async def test_one_stubbed_request(n):
    with aioresponses() as stubbed:
        stubbed.get("http://api.floor.test/posts/1", payload={{"id": 1}}, response_class=StubResponse)
        async with aiohttp.ClientSession() as session:
            async with session.get("http://api.floor.test/posts/1") as response:
                assert (await response.json())["id"] == 1
"""
FLOOR_CONFIG = """[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
addopts = ["-p", "no:cacheprovider"]
timeout = 15
pythonpath = [{root!r}]
"""


def check_count() -> int:
    """How many checks a grading of the reference runs."""
    listed = subprocess.run([*GRADE, "--co"], cwd=ROOT, capture_output=True, text=True, check=False).stdout
    return sum("::" in line for line in listed.splitlines())


def floor_times(repeat: int, count: int) -> list[float]:
    """Wall time of a pytest run of `count` near-empty async checks, one stubbed request each, with the
    same pytest, plugins and libraries as grading: what any grader built on them pays before it measures
    anything. Grading the reference minus this is the grader's own work."""
    times = []
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "pyproject.toml").write_text(FLOOR_CONFIG.format(root=str(ROOT)))
        (Path(folder) / "test_floor.py").write_text(FLOOR_CHECK.format(count=count))
        for _ in range(repeat):
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=folder, capture_output=True, text=True, check=False)
            times.append(time.perf_counter() - started)
            if done.returncode != 0:
                raise RuntimeError(f"the floor run failed:\n{done.stdout[-2000:]}")
    return times


def _reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reference_for_bench", REFERENCE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _start_server(latency: float) -> tuple[subprocess.Popen, str]:
    """The stand-in in its own process, so it does not compete with the client for one interpreter."""
    server = subprocess.Popen(
        [sys.executable, "-m", "checks.fakeapi", "--latency", str(latency)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline()
    return server, line.split(" at ")[1].split()[0]


async def _all_at_once(project: ModuleType, ids: list[int]) -> list:
    """The reference's fetch_one with aiohttp's pool uncapped: its default of 100 connections makes
    the reference's own fetch_async go in waves of 100 above that."""
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        return await asyncio.gather(*(project.fetch_one(session, i) for i in ids))


def scaling(sizes: list[int], latency: float, slow_up_to: int) -> list[dict]:
    project = _reference()
    server, base = _start_server(latency)
    project.BASE_URL = base
    rows = []
    try:
        for n in sizes:
            ids = [i % POST_COUNT + 1 for i in range(n)]  # the stand-in has 100 posts: ask for them again
            runs = {
                "async": (lambda: asyncio.run(project.fetch_async(ids)), latency),
                "async, no pool cap": (lambda: asyncio.run(_all_at_once(project, ids)), latency),
                "limited 50": (lambda: asyncio.run(project.fetch_async_limited(ids, 50)), math.ceil(n / 50) * latency),
            }
            if n <= slow_up_to:
                runs["limited 5"] = (lambda: asyncio.run(project.fetch_async_limited(ids, 5)), math.ceil(n / 5) * latency)
                runs["sync"] = (lambda: project.fetch_sync(ids), n * latency)
            for name, (work, ideal) in runs.items():
                started = time.perf_counter()
                work()
                took = time.perf_counter() - started
                rows.append({"n": n, "run": name, "seconds": took, "ideal": ideal, "ratio": took / ideal})
    finally:
        server.terminate()
        server.wait()
    return rows


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m checks.bench", description=__doc__.splitlines()[0])
    cli.add_argument("--repeat", type=int, default=5, help="gradings of the reference to time (default 5)")
    cli.add_argument("--latency", type=float, default=0.2, help="stand-in delay per request, seconds (default 0.2)")
    cli.add_argument("--sizes", default="10,50,200,1000", help="post counts for the scaling table (default 10,50,200,1000)")
    cli.add_argument("--slow-up-to", type=int, default=200,
                     help="largest count also fetched one at a time and 5 at a time (default 200)")
    cli.add_argument("--grading-only", action="store_true", help="time the gradings only: no floor, items or scaling")
    cli.add_argument("--durations", action="store_true",
                     help="measure each check's time and write checks/engine/durations.json (how groups are dealt), then stop")
    args = cli.parse_args(argv)
    sizes = [int(n) for n in args.sizes.split(",")]
    if args.repeat < 1 or args.latency <= 0 or min(sizes) < 1:
        cli.error("--repeat and --sizes take whole numbers from 1, --latency seconds above 0")
    print(f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    if args.durations:
        measured = durations()
        TABLE.write_text(json.dumps({"measured": "python -m checks.bench --durations", "seconds": measured}, indent=1) + "\n")
        print(f"Wrote {len(measured)} check times to {TABLE.relative_to(ROOT)}")
        return 0

    count = check_count()
    runs: dict[str, list[float]] = {"self-grading, cold": [], "official, cold": [], "self-grading, warm": []}
    floor: list[float] = []
    warm = Warm()
    try:
        for _ in range(args.repeat):  # alternated, so that all see the same load
            runs["self-grading, cold"] += grading_times(1)
            runs["official, cold"] += grading_times(1, "--official")
            runs["self-grading, warm"] += warm.times(1)
            if not args.grading_only:
                floor += floor_times(1, count)
    finally:
        warm.close()
    print(f"\nGrading the reference ({count} checks, {args.repeat} runs of each, alternated):")
    for name, times in runs.items():
        print(f"  {name:<20} best {min(times):.2f} s, median {statistics.median(times):.2f} s")
    ratio = statistics.median(runs["official, cold"]) / statistics.median(runs["self-grading, cold"])
    print(f"  official takes {ratio:.2f} times as long as self-grading (medians)")
    print(f"  CPU of a warm self-grading and its groups: median {statistics.median(warm.cpu):.2f} s "
          "(on 2 cores, the least it can take is half of it)")
    if args.grading_only:
        return 0
    print(f"The floor, {count} near-empty async checks with the same pytest and libraries ({args.repeat} runs): "
          f"best {min(floor):.2f} s, median {statistics.median(floor):.2f} s")
    print("\nSeconds per item (one run):")
    for item_id, seconds in item_times().items():
        print(f"  {item_id:<8} {seconds:5.2f}")

    print(f"\nThe reference against the stand-in over loopback, {args.latency:g} s per request:")
    print(f"  {'N':>5}  {'run':<18} {'seconds':>8} {'ideal':>8} {'ratio':>6}")
    for row in scaling(sizes, args.latency, args.slow_up_to):
        print(f"  {row['n']:>5}  {row['run']:<18} {row['seconds']:8.2f} {row['ideal']:8.2f} {row['ratio']:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m checks run`: the exercise's own main() against the local stand-in, then a picture of every request."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from checks.fakeapi import BackgroundServer, Behaviour, FakeAPI, Settings
from checks.engine.probe import Probe, Span

ROOT = Path(__file__).resolve().parent.parent

PROJECT_HELP = "the file to run (default: starter/project.py)"
COUNT_HELP = "how many posts each run fetches (default 10)"
LATENCY_HELP = "seconds the stand-in takes to answer each request (default 0.15)"
LIMIT_HELP = "also run fetch_async_limited(ids, K) and draw its waves of at most K requests"

_LIMITED = """
import asyncio, importlib.util, sys
spec = importlib.util.spec_from_file_location("project", sys.argv[1])
project = importlib.util.module_from_spec(spec)
spec.loader.exec_module(project)
ids = list(range(1, int(sys.argv[2]) + 1))
asyncio.run(project.fetch_async_limited(ids, max_concurrent=int(sys.argv[3])))
"""


def _label(span: Span) -> str:
    kind = {"requests": "sync", "aiohttp": "async"}.get(span.client, span.client)
    return f"{kind} {span.path}"


def _show(title: str, spans: list[Span], probe: Probe, rows: int) -> None:
    """One picture per client (sync, then async) on a shared time axis: a staircase, then a block."""
    print(f"\n--- {title}: {len(spans)} requests, at most {Probe.peak(spans)} in flight, "
          f"{Probe.duration(spans):.2f} s from first to last ---")
    if not spans:
        print(probe.timeline(spans))
        return
    window = (min(s.start for s in spans), max(s.end if s.end is not None else probe.now() for s in spans))
    groups = [[s for s in spans if s.client == client] for client in dict.fromkeys(s.client for s in spans)]
    pad = max(len(_label(s)) for s in spans)  # one column for every picture, so their time axes line up
    for group in groups:
        print(probe.timeline(group, width=56, rows=max(6, rows // len(groups)), label=_label, window=window, pad=pad))


def run_main(project: Path, count: int, api: FakeAPI) -> tuple[int, list[Span]]:
    """Run `python PROJECT COUNT` against the stand-in; its exit status and the requests the server saw."""
    api.reset()
    env = {**os.environ, "API_BASE_URL": api.base_url}
    finished = subprocess.run([sys.executable, str(project), str(count)], env=env, check=False)
    return finished.returncode, list(api.probe.spans)


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m checks run", description=__doc__.splitlines()[0])
    cli.add_argument("--project", type=Path, default=ROOT / "starter" / "project.py", help=PROJECT_HELP)
    cli.add_argument("--count", type=int, default=10, help=COUNT_HELP)
    cli.add_argument("--latency", type=float, default=0.15, help=LATENCY_HELP)
    cli.add_argument("--limit", type=int, default=None, metavar="K", help=LIMIT_HELP)
    args = cli.parse_args(argv)
    if args.count < 1 or args.latency < 0 or (args.limit is not None and args.limit < 1):
        cli.error("--count and --limit take whole numbers from 1, --latency seconds from 0")
    if not args.project.is_file():
        cli.error(f"{args.project}: {'is a folder, not a file' if args.project.is_dir() else 'no such file'}")

    with BackgroundServer(Settings(default=Behaviour(delay=args.latency))) as api:
        print(f"Stand-in API at {api.base_url}, answering each request after {args.latency:g} s.\n", flush=True)
        status, spans = run_main(args.project, args.count, api)
        _show("Every request of main()", spans, api.probe, rows=24)
        if status != 0:
            print(f"\n{args.project.name} exited with status {status}.")
            return status
        if args.limit:
            api.reset()
            env = {**os.environ, "API_BASE_URL": api.base_url}
            limited = subprocess.run(
                [sys.executable, "-c", _LIMITED, str(args.project), str(args.count), str(args.limit)],
                env=env, check=False,
            )
            if limited.returncode != 0:
                print("\nfetch_async_limited() did not run to the end (is it written yet?).")
                return limited.returncode
            _show(f"fetch_async_limited(max_concurrent={args.limit})", list(api.probe.spans), api.probe, rows=24)
    return 0

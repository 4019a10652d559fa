"""`python -m checks run`: the exercise's own main() against the local stand-in, then a picture of every request."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from checks.fakeapi import BackgroundServer, Behaviour, FakeAPI, Settings
from checks.engine.probe import Probe, Span
from checks.reports import timeline

ROOT = Path(__file__).resolve().parent.parent

PROJECT_HELP = "the file to run (default: starter/project.py)"
COUNT_HELP = "how many posts each run fetches (default 10)"
LATENCY_HELP = "seconds the stand-in takes to answer each request (default 0.15)"
LIMIT_HELP = "also run fetch_async_limited(ids, K) and draw its waves of at most K requests"
HTML_HELP = (
    "also run the Alter/Break/Fix functions (limited, two endpoints, failures, timeouts) and write "
    "every run's requests as bars on a time axis to this HTML file"
)
MERMAID_HELP = "also write the same pictures as Mermaid gantt charts (Markdown) to this file"

HTML_LIMIT = 3
"""The cap the HTML report gives fetch_async_limited when --limit does not say: waves show best well below the count."""

# Runs one student function in its own process, as `python project.py` would run main(): a function
# that hangs or crashes ends that process, not this command. Exit 3: the function is still a TODO.
_CALL = """
import asyncio, importlib.util, inspect, json, sys
spec = importlib.util.spec_from_file_location("project", sys.argv[1])
project = importlib.util.module_from_spec(spec)
spec.loader.exec_module(project)
function = getattr(project, sys.argv[2], None)
if function is None:
    sys.exit(4)
try:
    result = function(*json.loads(sys.argv[3]))
    if inspect.isawaitable(result):
        asyncio.run(result)
except NotImplementedError:
    sys.exit(3)
"""


@dataclass(frozen=True)
class Scene:
    """One run the HTML report draws: a student function, its arguments, and how the stand-in behaves."""

    title: str
    function: str
    arguments: list
    paths: dict[str, Behaviour] = field(default_factory=dict)


def scenes(count: int, latency: float, limit: int) -> list[Scene]:
    """The exercise's runs beyond main(): one per thing the picture teaches (waves, one batch, faults, deadlines)."""
    ids = list(range(1, count + 1))
    slow = Behaviour(delay=latency * 6)
    faults = {
        f"/posts/{ids[min(2, count - 1)]}": Behaviour(delay=latency, status=500),
        f"/posts/{ids[min(4, count - 1)]}": Behaviour(delay=latency, drop=True),
    }
    return [
        Scene(f"fetch_async_limited(max_concurrent={limit})", "fetch_async_limited", [ids, limit]),
        Scene("fetch_two_endpoints: posts and users in one gather()", "fetch_two_endpoints", [ids, [1, 2, 3, 4, 5]]),
        Scene("fetch_async_safe: post 3 answers 500, post 5 is dropped", "fetch_async_safe", [ids], faults),
        Scene(
            f"fetch_async_with_timeout(timeout={latency * 2:g}): posts 2 and 7 are slow",
            "fetch_async_with_timeout",
            [ids, latency * 2],
            {f"/posts/{ids[min(1, count - 1)]}": slow, f"/posts/{ids[min(6, count - 1)]}": slow},
        ),
    ]


def _show(title: str, spans: list[Span], probe: Probe, rows: int) -> None:
    """One picture per client (sync, then async) on a shared time axis: a staircase, then a block."""
    print(f"\n--- {title}: {len(spans)} requests, at most {Probe.peak(spans)} in flight, "
          f"{Probe.duration(spans):.2f} s from first to last ---")
    if not spans:
        print(probe.timeline(spans))
        return
    window = (min(s.start for s in spans), max(s.end if s.end is not None else probe.now() for s in spans))
    groups = [[s for s in spans if s.client == client] for client in dict.fromkeys(s.client for s in spans)]
    label = timeline.client_label
    pad = max(len(label(s)) for s in spans)  # one column for every picture, so their time axes line up
    for group in groups:
        print(probe.timeline(group, width=56, rows=max(6, rows // len(groups)), label=label, window=window, pad=pad))


def run_main(project: Path, count: int, api: FakeAPI) -> tuple[int, list[Span]]:
    """Run `python PROJECT COUNT` against the stand-in; its exit status and the requests the server saw."""
    api.reset()
    env = {**os.environ, "API_BASE_URL": api.base_url}
    finished = subprocess.run([sys.executable, str(project), str(count)], env=env, check=False)
    return finished.returncode, list(api.probe.spans)


def run_function(project: Path, scene: Scene, api: FakeAPI, default: Behaviour, time_limit: float = 60) -> timeline.Picture:
    """Call one student function against the stand-in set up for `scene`; the requests it made, as a Picture."""
    api.reset()
    api.settings.paths = dict(scene.paths)
    api.settings.default = default
    env = {**os.environ, "API_BASE_URL": api.base_url}
    command = [sys.executable, "-c", _CALL, str(project), scene.function, json.dumps(scene.arguments)]
    note = ""
    try:
        finished = subprocess.run(command, env=env, check=False, capture_output=True, text=True, timeout=time_limit)
        if finished.returncode == 3:
            note = f"{scene.function}() is still a TODO: nothing to draw yet."
        elif finished.returncode == 4:
            note = f"{project.name} has no function {scene.function}()."
        elif finished.returncode != 0:
            last = (finished.stderr.strip().splitlines() or ["(no message)"])[-1]
            note = f"{scene.function}() ended with an error: {last}"
    except subprocess.TimeoutExpired:
        note = f"{scene.function}() did not finish within {time_limit:g} s and was stopped."
    finally:
        api.settings.paths = {}
    return timeline.picture(scene.title, list(api.probe.spans), note=note, now=api.probe.now())


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m checks run", description=__doc__.splitlines()[0])
    cli.add_argument("--project", type=Path, default=ROOT / "starter" / "project.py", help=PROJECT_HELP)
    cli.add_argument("--count", type=int, default=10, help=COUNT_HELP)
    cli.add_argument("--latency", type=float, default=0.15, help=LATENCY_HELP)
    cli.add_argument("--limit", type=int, default=None, metavar="K", help=LIMIT_HELP)
    cli.add_argument("--html", type=Path, default=None, metavar="PATH", help=HTML_HELP)
    cli.add_argument("--mermaid", type=Path, default=None, metavar="PATH", help=MERMAID_HELP)
    args = cli.parse_args(argv)
    if args.count < 1 or args.latency < 0 or (args.limit is not None and args.limit < 1):
        cli.error("--count and --limit take whole numbers from 1, --latency seconds from 0")
    if not args.project.is_file():
        cli.error(f"{args.project}: {'is a folder, not a file' if args.project.is_dir() else 'no such file'}")

    pictures: list[timeline.Picture] = []
    default = Behaviour(delay=args.latency)
    with BackgroundServer(Settings(default=default)) as api:
        print(f"Stand-in API at {api.base_url}, answering each request after {args.latency:g} s.\n", flush=True)
        status, spans = run_main(args.project, args.count, api)
        _show("Every request of main()", spans, api.probe, rows=24)
        pictures.append(timeline.picture(f"main({args.count}): sync, then async", spans, now=api.probe.now()))
        if status != 0:
            print(f"\n{args.project.name} exited with status {status}.")
            _write(args, pictures)
            return status
        if args.limit and not (args.html or args.mermaid):
            api.reset()
            env = {**os.environ, "API_BASE_URL": api.base_url}
            limited = subprocess.run(
                [sys.executable, "-c", _CALL, str(args.project), "fetch_async_limited",
                 json.dumps([list(range(1, args.count + 1)), args.limit])],
                env=env, check=False,
            )
            if limited.returncode != 0:
                print("\nfetch_async_limited() did not run to the end (is it written yet?).")
                return limited.returncode
            _show(f"fetch_async_limited(max_concurrent={args.limit})", list(api.probe.spans), api.probe, rows=24)
        if args.html or args.mermaid:
            for scene in scenes(args.count, args.latency, args.limit or HTML_LIMIT):
                shown = run_function(args.project, scene, api, default)
                if scene.function == "fetch_async_limited" and args.limit and shown.bars:
                    _show(scene.title, list(api.probe.spans), api.probe, rows=24)
                else:
                    print(f"\n--- {shown.title}: {shown.summary} ---")
                for retry in shown.retries:
                    print(retry)
                pictures.append(shown)
    _write(args, pictures)
    return 0


def _write(args: argparse.Namespace, pictures: list[timeline.Picture]) -> None:
    """The pictures as HTML and Mermaid, where asked; a folder that does not exist yet is made."""
    intro = f"{args.project.name} against the local stand-in, {args.latency:g} s per answer."
    if args.html:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(timeline.html_page(pictures, intro=intro), encoding="utf-8")
        print(f"\nWrote {args.html}: {len(pictures)} runs, one bar per request. Open it in a browser.")
    if args.mermaid:
        args.mermaid.parent.mkdir(parents=True, exist_ok=True)
        args.mermaid.write_text(timeline.markdown(pictures, open_titles=[p.title for p in pictures]), encoding="utf-8")
        print(f"Wrote {args.mermaid}: the same runs as Mermaid gantt charts.")

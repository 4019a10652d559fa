"""`python -m checks watch`: grade the project again on every save, and show what changed.

Each grading is a `pytest` run in a process of its own, in a session of its own, forked by a warm
grader (checks/engine/warm.py) that imported pytest and the checks once: a student file that hangs,
crashes or calls os._exit() ends that run (pytest's own time limits apply), never the watcher, and
Ctrl-C reaches only the watcher, which then stops the run it started.

Every save grades every item. Student code reaches every item (fetch_one is under nearly all of
them, and code at module level runs before any), so no smaller set of items would be sound. What
keeps it quick instead: the previous scorecard stays on screen while the next run works, a save
made while a run is going stops that run and starts one on the newest text, and changes are
grouped over a short window so one editor save (often two or three writes) is graded once.
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import watchfiles

from checks.engine.warm import WarmGrader

from checks.reports.scorecard import screen_lines

ROOT = Path(__file__).resolve().parent.parent

PROJECT_HELP = "the file to grade on every save (default: starter/project.py)"
HINTS_HELP = "show the hint of every failing item, not only the next one's"
STEP_HELP = "milliseconds without another change before a save is graded (default 50)"
RUN_LIMIT = 600.0
"""Seconds one grading may take before the watcher stops it: well past pytest's own budget (240 s)."""

CLEAR = "\x1b[H\x1b[2J\x1b[3J"
WATCHING = "Watching {project}: save to re-grade, Ctrl-C to stop."
GRADING = "Grading {project} ..."
REGRADING = "Saved: re-grading (the scorecard above is from the save before)."
GRADED = "Graded at {clock} in {seconds:.1f} s{after}."
AFTER_SAVE = ", started {delay:.2f} s after the save"
GRADED_LONGEST = GRADED.format(clock="00:00:00", seconds=999.9, after=AFTER_SAVE.format(delay=99.99))
ENDED = "The grader ended with exit code {code} and no scorecard: {last}"
STOPPED = "Stopped watching {project}."
BELOW_SCREEN = 2
"""Rows kept free under the scorecard: one for the "Saved: re-grading" line, one for the cursor, so neither scrolls the top away."""


def relevant(project: Path):
    """The changes worth a grade: the graded file, ANSWERS.md, and helper modules beside them.

    Not the progress file the grader itself writes there (that would re-grade forever), nor caches.
    """
    folder = project.parent.resolve()

    def keep(change: watchfiles.Change, path: str) -> bool:
        changed = Path(path)
        return changed.parent.resolve() == folder and (changed.suffix == ".py" or changed.name == "ANSWERS.md")

    return keep


def _watch(project: Path, changes: queue.Queue, stop: threading.Event, step: int) -> None:
    """Feed change sets to `changes` until `stop` is set (runs on a thread of its own)."""
    try:
        for found in watchfiles.watch(
            project.parent, watch_filter=relevant(project), step=step, debounce=400, recursive=False,
            stop_event=stop, raise_interrupt=False, rust_timeout=200, yield_on_timeout=False,
        ):
            changes.put(found)
    except Exception as error:  # noqa: BLE001 - the folder went away, the watch limit was hit: say so and stop
        changes.put(error)


class Grader:
    """One grading at a time, forked by a warm grader that has pytest and the checks imported already; a grading
    is stopped whole (its process group) if a newer save or Ctrl-C comes first. When the grader's own files
    change (checks/, the requirements), the warm grader is started again, so it never grades with old checks."""

    def __init__(self, project: Path, extra: list[str]) -> None:
        self.project, self.extra = project, extra
        self.warm, self.source = WarmGrader(jobs=1), _grader_files()
        self.key: int | None = None
        self.answer: dict | None = None
        handle, name = tempfile.mkstemp(prefix="watch-output-", suffix=".txt")
        os.close(handle)
        self.output = Path(name)
        handle, name = tempfile.mkstemp(prefix="watch-screen-", suffix=".txt")
        os.close(handle)
        self.screen = Path(name)  # the scorecard fitted to the window, written by the run (--watch-screen)
        self.started = 0.0

    def arguments(self) -> list[str]:
        return ["-q", "-p", "no:cacheprovider", f"--project={self.project}", "--progress=on",
                f"--watch-screen={self.screen}", *self.extra]

    def start(self, columns: int = 80, lines: int = 24) -> None:
        """Start a run whose scorecard is fitted to `columns` x `lines` (what the screen has below its header)."""
        self.stop()
        if _grader_files() != self.source:
            self.warm.close()
            self.warm, self.source = WarmGrader(jobs=1), _grader_files()
        self.screen.write_text("", encoding="utf-8")
        self.started, self.answer = time.monotonic(), None
        env = {"COLUMNS": str(columns), "LINES": str(max(lines, 1))}
        self.key = self.warm.submit(self.arguments(), self.output, cwd=ROOT, env=env)

    def finished(self) -> bool:
        if self.key is None:
            return False
        self.answer = self.warm.wait(self.key, timeout=0)
        if self.answer is None and time.monotonic() - self.started > RUN_LIMIT:
            self.stop()
        return self.answer is not None

    def result(self) -> tuple[int, str, str]:
        """Exit code, everything the run printed, and its fitted scorecard ("" when it wrote none)."""
        assert self.answer is not None
        read = lambda path: path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""  # noqa: E731
        self.key = None
        return int(self.answer["exit"]), read(self.output), read(self.screen)

    def close(self) -> None:
        self.stop()
        self.warm.close()
        self.output.unlink(missing_ok=True)
        self.screen.unlink(missing_ok=True)

    def stop(self) -> None:
        """End the run and anything it started (its whole process group)."""
        if self.key is None:
            return
        self.warm.stop(self.key)
        self.warm.wait(self.key, timeout=10)
        self.key = None


def _grader_files() -> dict[str, float]:
    """When each of the grader's own files last changed: the warm grader must not outlive an edit of them."""
    found = {str(p): p.stat().st_mtime for p in (ROOT / "checks").rglob("*.py")}
    found.update({str(p): p.stat().st_mtime for p in ROOT.glob("requirements*.txt")})
    found.update({str(p): p.stat().st_mtime for p in (ROOT / "pyproject.toml", ROOT / "conftest.py") if p.exists()})
    return found


def _shown(project: Path) -> str:
    try:
        return str(project.relative_to(Path.cwd()))
    except ValueError:
        return str(project)


def _saved_at(project: Path, changes: set) -> float | None:
    """When the newest change was written, by the files' own clock: the reaction time is measured from it."""
    times = []
    for _, path in changes:
        try:
            times.append(os.stat(path).st_mtime)
        except OSError:
            pass
    return max(times) if times else None


def _header(project: Path, width: int, graded: str = GRADED_LONGEST) -> list[str]:
    """The lines above the scorecard: what is watched, and when it was graded."""
    return screen_lines([WATCHING.format(project=_shown(project)), graded], width)


def _room(project: Path, size: os.terminal_size) -> int:
    """Rows the scorecard may fill: the window less its header and the rows kept free below it."""
    return size.lines - len(_header(project, size.columns)) - BELOW_SCREEN


def _screen(project: Path, result: tuple[int, str, str], seconds: float, saved: float | None, size: os.terminal_size) -> str:
    """The whole screen after a run: header, then the fitted scorecard, or the end of what the run printed."""
    code, output, fitted = result
    after = AFTER_SAVE.format(delay=max(0.0, saved)) if saved is not None else ""
    graded = GRADED.format(clock=time.strftime("%H:%M:%S"), seconds=seconds, after=after)
    lines = _header(project, size.columns, graded)
    if fitted.strip():
        lines += fitted.rstrip("\n").splitlines()
    else:  # no scorecard: the run crashed or was stopped; its last lines say why
        said = output.rstrip().splitlines() or ["(no output)"]
        ended = screen_lines([ENDED.format(code=code, last=said[-1])], size.columns)
        room = max(size.lines - len(lines) - len(ended) - BELOW_SCREEN, 0)
        lines += screen_lines(said, size.columns)[-room:] if room else []
        lines += ended
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m checks watch", description=__doc__.splitlines()[0])
    cli.add_argument("--project", type=Path, default=ROOT / "starter" / "project.py", help=PROJECT_HELP)
    cli.add_argument("--hints", action="store_true", help=HINTS_HELP)
    cli.add_argument("--step", type=int, default=50, help=STEP_HELP)
    args = cli.parse_args(argv)
    project = args.project.resolve()
    if not project.parent.is_dir():
        cli.error(f"{args.project}: its folder does not exist")
    if args.step < 1:
        cli.error("--step takes a whole number of milliseconds from 1")
    clear = CLEAR if sys.stdout.isatty() else "\n" + "=" * 72 + "\n"

    changes: queue.Queue = queue.Queue()
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(project, changes, stop, args.step), name="watch", daemon=True)
    grader = Grader(project, ["--hints"] if args.hints else [])
    saved: float | None = None
    announced = False  # the "Saved: re-grading" line is on screen: one is enough, however many saves follow
    try:
        watcher.start()
        size = shutil.get_terminal_size()
        shown = screen_lines([WATCHING.format(project=_shown(project)), GRADING.format(project=_shown(project))], size.columns)
        print(clear + "\n".join(shown), flush=True)
        grader.start(size.columns, _room(project, size))
        while True:
            try:
                found = changes.get(timeout=0.05)
            except queue.Empty:
                found = None
            if isinstance(found, Exception):
                print(f"\nStopped watching: {found}", flush=True)
                return 1
            if found:
                written = _saved_at(project, found)
                saved = time.time() - written if written is not None else None
                size = shutil.get_terminal_size()
                grader.start(size.columns, _room(project, size))  # a newer save wins over a run still going
                if not announced:
                    print("\n".join(screen_lines([REGRADING], size.columns)), flush=True)
                    announced = True
                continue
            if grader.finished():
                print(clear + _screen(project, grader.result(), time.monotonic() - grader.started, saved, size), flush=True)
                saved, announced = None, False
    except KeyboardInterrupt:
        grader.stop()
        print("\n" + STOPPED.format(project=_shown(project)), flush=True)
        return 0
    finally:
        stop.set()
        watcher.join(timeout=2)
        grader.close()

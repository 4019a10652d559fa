"""`python -m checks.batch DIR`: grade a whole class, each submission in its own process on a private copy.

Every entry of DIR gets a row: a loose `NAME.py` is graded as it is; in a folder, the shallowest
`project.py` (any case) is graded, with the ANSWERS.md beside it, and the row's note says which file
when it was not plainly FOLDER/project.py; a folder without one gets its only `.py` file graded, or a
row of 0 saying what it holds (checks.tools.submissions has the rule). One submission that hangs,
kills its own process or exhausts memory gets a row that says so; it cannot touch another's copy, the
others' grades or the instructor's files. Each grader runs with `--official` (student code in a worker
process, sandboxed where the machine allows), and every report is validated and rescored before it is
believed. `--shard K/N` grades one machine's share of a class; `python -m checks.merge` joins them.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from checks.engine import sandbox
from checks.tools import grading, preflight
from checks.tools.gradebook import MAX_SCORE, Row, grade_all
from checks.tools.shards import parse_shard
from checks.tools.submissions import OUTPUT_FOLDER, find_class
from checks.tools.validation import one_line

JOBS_HELP = "how many submissions to grade at once (default 2)"
GROUPS_HELP = ("the --groups each grader runs its checks in (default: the grader's own, five). With many cores, "
               "--jobs near their number and --groups 1 spend the least CPU a submission: every group of an "
               "official grading starts a sandbox and a worker of its own")
OUT_HELP = "folder for gradebook.csv, gradebook.json and one log per submission (default: DIR/grades)"
LIMIT_HELP = f"seconds one submission may take before it is stopped (default {grading.TIME_LIMIT:g})"
MEMORY_HELP = f"address-space cap per submission, in MiB (default {grading.MEMORY_MIB}; POSIX only)"
REQUIRE_SANDBOX_HELP = "refuse to grade (exit 2) unless submissions run sandboxed; also passed to every grader"
IN_PROCESS_HELP = (
    "for trusted files only (e.g. your own solutions): run each file's code inside its grader process, "
    "without --official, so nothing but the process boundary stands between it and the grade"
)
SHARD_HELP = (
    "grade only shard K of N (K from 1 to N): the submissions whose name hashes to K, so a student added later "
    "moves no one else; join the shards' --out folders with python -m checks.merge"
)
BOTH_MODES = "--in-process and --require-sandbox contradict each other: choose one"
BAD_NUMBERS = ("--jobs takes a whole number from 1, --groups one from 1 or 'off', --time-limit seconds above 0, "
               "--memory at least 256 MiB")
NOT_A_FOLDER = "{folder}: not a folder"
NOTHING = "{folder}: no submissions in it: put one folder (or one .py file) per student there"

SANDBOX_ON = "Sandbox: on ({how})"
SANDBOX_OFF = (
    "Sandbox: OFF ({why}). Each submission still runs in its own worker process, but its code can reach "
    "the network and read files this user can read. Use --require-sandbox to refuse."
)
SANDBOX_IN_PROCESS = (
    "Sandbox: OFF (--in-process). Each submission's code runs inside its grader process, with this user's "
    "rights, and could change its own grade: for trusted files only."
)
SANDBOX_REQUIRED = (
    "python -m checks.batch: refusing to grade: --require-sandbox, and no sandbox can be made here ({why})."
)
PASSED_OVER = "Not submissions, so no rows: {entries}."
PROGRESS = "[{done}/{total}] {name:<24} {score}/{max_score}{note}  ({seconds:.1f} s)"
SUMMARY = "{count} in {seconds:.0f} s{rate} with --jobs {jobs}: {kinds}. Gradebook: {path}"
RATE = " ({rate:.1f} per minute)"
SHARD_SUMMARY = "Shard {k}/{n}: {count} of the class's {total} submissions."
KINDS = ("{n} graded", "{n} with nothing to grade", "{n} not graded (see the notes)")


def sandbox_line(in_process: bool, ready: bool, how: str) -> str:
    """The first line the batch prints: whether submissions run sandboxed, and what that means if not."""
    if in_process:
        return SANDBOX_IN_PROCESS
    return SANDBOX_ON.format(how=how) if ready else SANDBOX_OFF.format(why=how)


def submissions(count: int) -> str:
    """'1 submission', '3 submissions'."""
    return f"{count} submission{'' if count == 1 else 's'}"


def summary(rows: list[Row], seconds: float, jobs: int, path: Path) -> str:
    """The last line: how many rows, and how many of them hold a grade, held nothing to grade, or went wrong;
    the rate counts the entries that had a file to grade (the others take no time)."""
    graded = sum(row.report is not None for row in rows)
    empty = sum(not row.found for row in rows)
    counts = (graded, empty, len(rows) - graded - empty)
    kinds = ", ".join(kind.format(n=n) for kind, n in zip(KINDS, counts) if n) or "none"
    timed = len(rows) - empty
    rate = RATE.format(rate=timed / (max(seconds, 0.001) / 60)) if timed else ""
    return SUMMARY.format(count=submissions(len(rows)), seconds=seconds, rate=rate, jobs=jobs, kinds=kinds, path=path)


def _print_progress(done: int, total: int, row: Row) -> None:
    note = f"  {row.note}" if row.note else ""
    print(PROGRESS.format(done=done, total=total, name=one_line(row.name, 60), score=row.total,
                          max_score=MAX_SCORE, note=note, seconds=row.seconds), flush=True)


@contextlib.contextmanager
def _sigterm_stops_the_batch() -> Iterator[None]:
    """While grading, SIGTERM ends the batch as Ctrl-C does, through grade_all's clean-up: its graders lead
    sessions of their own, so without this they would outlive it with no one left to enforce their limits."""

    def stop(number: int, _frame) -> None:
        raise SystemExit(128 + number)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _groups_ok(value: str) -> bool:
    return value == "off" or (value.isdigit() and int(value) >= 1)


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m checks.batch", description=__doc__.splitlines()[0])
    cli.add_argument("submissions", type=Path, metavar="DIR")
    cli.add_argument("--jobs", type=int, default=2, help=JOBS_HELP)
    cli.add_argument("--groups", default=None, metavar="N", help=GROUPS_HELP)
    cli.add_argument("--out", type=Path, default=None, help=OUT_HELP)
    cli.add_argument("--time-limit", type=float, default=grading.TIME_LIMIT, help=LIMIT_HELP)
    cli.add_argument("--memory", type=int, default=grading.MEMORY_MIB, metavar="MIB", help=MEMORY_HELP)
    cli.add_argument("--require-sandbox", action="store_true", help=REQUIRE_SANDBOX_HELP)
    cli.add_argument("--in-process", action="store_true", help=IN_PROCESS_HELP)
    cli.add_argument("--shard", default="1/1", metavar="K/N", help=SHARD_HELP)
    args = cli.parse_args(argv)
    try:
        shard = parse_shard(args.shard)
    except ValueError as error:
        cli.error(str(error))
    if not args.submissions.is_dir():
        cli.error(NOT_A_FOLDER.format(folder=args.submissions))
    if args.jobs < 1 or args.time_limit <= 0 or args.memory < 256 or not _groups_ok(args.groups or "off"):
        cli.error(BAD_NUMBERS)
    if args.in_process and args.require_sandbox:
        cli.error(BOTH_MODES)
    unfit = preflight.problem()
    if unfit:
        print(f"python -m checks.batch: {unfit}", file=sys.stderr)
        return 2
    out = args.out or args.submissions / OUTPUT_FOLDER
    everyone, passed_over = find_class(args.submissions, skip=out)
    if not everyone:
        cli.error(NOTHING.format(folder=args.submissions))
    ready, how = sandbox.available()
    if args.require_sandbox and not ready:
        print(SANDBOX_REQUIRED.format(why=how), file=sys.stderr)
        return 2
    print(sandbox_line(args.in_process, ready, how), flush=True)
    if passed_over:
        print(PASSED_OVER.format(entries=", ".join(passed_over)), flush=True)
    started = time.monotonic()
    with _sigterm_stops_the_batch():
        rows = grade_all(args.submissions, out, args.jobs, args.time_limit, args.memory, _print_progress,
                         official=not args.in_process, require_sandbox=args.require_sandbox, shard=shard,
                         groups=args.groups)
    if shard != (1, 1):
        print(SHARD_SUMMARY.format(k=shard[0], n=shard[1], count=len(rows), total=len(everyone)), flush=True)
    print(summary(rows, time.monotonic() - started, args.jobs, out / "gradebook.csv"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

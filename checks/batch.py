"""`python -m checks.batch DIR`: grade a whole class, each submission in its own process on a private copy.

A submission is every `*.py` directly in DIR, or every `*/project.py` (a folder per student, whose
ANSWERS.md comes along). One that hangs, kills its own process or exhausts memory gets a row that
says so; it cannot touch another submission's copy, the others' grades or the instructor's files.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from checks.catalogue import ITEMS

ROOT = Path(__file__).resolve().parent.parent
GRADED = [item for item in ITEMS if item.graded]

JOBS_HELP = "how many submissions to grade at once (default 2)"
OUT_HELP = "folder for gradebook.csv, gradebook.json and one log per submission (default: DIR/grades)"
LIMIT_HELP = "seconds one submission may take before it is stopped (default 180)"
MEMORY_HELP = "address-space cap per submission, in MiB (default 4096; POSIX only)"
LOG_CAP = 256 * 1024
"""Bytes of a submission's output kept in its log: a file that prints without end cannot fill the disk."""


@dataclass
class Graded:
    """One submission's outcome: its JSON report if it wrote one, and what went wrong if not."""

    name: str
    report: dict | None
    note: str = ""
    seconds: float = 0.0
    scores: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return int(self.report["score"]) if self.report else 0


def find_submissions(folder: Path) -> list[tuple[str, Path]]:
    """(name, path) for each submission: loose .py files, then one project.py per subfolder."""
    loose = [(p.stem, p) for p in sorted(folder.glob("*.py"))]
    nested = [(p.parent.name, p) for p in sorted(folder.glob("*/project.py"))]
    return loose + nested


def _limit_memory(mebibytes: int):
    def apply() -> None:
        try:
            import resource

            cap = mebibytes * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        except (ImportError, ValueError, OSError):
            pass  # no such limit here: the time limit still applies

    return apply


def grade_one(name: str, source: Path, out: Path, time_limit: float = 180, memory_mib: int = 4096) -> Graded:
    """Grade one submission in a child process, on a copy in a private folder that is its working directory."""
    started = time.monotonic()
    log_path = out / "logs" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="grade-") as private:
        work = Path(private) / "submission"
        work.mkdir()
        shutil.copy2(source, work / "project.py")
        answers = source.with_name("ANSWERS.md")
        if source.name == "project.py" and answers.is_file():
            shutil.copy2(answers, work / "ANSWERS.md")
        report_path = Path(private) / "grade.json"
        command = [
            sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
            "-p", "no:cacheprovider", "-q", f"--project={work / 'project.py'}", f"--grade-json={report_path}",
            str(ROOT / "checks"),
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
        with open(Path(private) / "output.log", "wb") as log:
            child = subprocess.Popen(
                command, cwd=work, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True, preexec_fn=_limit_memory(memory_mib) if os.name == "posix" else None,
            )
            note = ""
            try:
                code = child.wait(timeout=time_limit)
            except subprocess.TimeoutExpired:
                _kill_group(child)
                code, note = None, f"timed out after {time_limit:g} s and was stopped"
        _keep_log(Path(private) / "output.log", log_path)
        report = _read(report_path)
        if report is None and not note:
            note = f"crashed before writing a report ({_describe_exit(code)})"
        elif code not in (0, 1, None) and not note:
            note = f"grader exited with {_describe_exit(code)}"
    graded = Graded(name, report, note or _import_failure(report), time.monotonic() - started)
    if report:
        graded.scores = {item["id"]: item["score"] for item in report["items"]}
    return graded


def _import_failure(report: dict | None) -> str:
    """The one-line reason when a submission did not import (every check errored with it)."""
    checks = [c for item in (report or {}).get("items", []) if item["status"] != "ungraded" for c in item["checks"]]
    if checks and all(c["outcome"] == "error" for c in checks):
        reason = checks[0]["message"].splitlines()[0]
        return reason if len(reason) <= 160 else reason[:157] + "..."
    return ""


def _kill_group(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        child.kill()
    child.wait()


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "no exit status"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exit status {code}"


def _keep_log(source: Path, target: Path) -> None:
    with open(source, "rb") as full, open(target, "wb") as kept:
        data = full.read(LOG_CAP + 1)
        kept.write(data[:LOG_CAP])
        if len(data) > LOG_CAP:
            kept.write(b"\n[... output cut at 256 KiB ...]\n")


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_gradebook(results: list[Graded], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "gradebook.csv", "w", newline="", encoding="utf-8") as sheet:
        writer = csv.writer(sheet)
        writer.writerow(["submission", *(i.id for i in GRADED), "total", "max", "notes"])
        for r in results:
            max_score = r.report["max_score"] if r.report else sum(i.points for i in GRADED)
            writer.writerow([r.name, *(r.scores.get(i.id, 0) for i in GRADED), r.total, max_score, r.note])
    book = {r.name: {"note": r.note, "seconds": round(r.seconds, 2), "report": r.report} for r in results}
    (out / "gradebook.json").write_text(json.dumps(book, indent=2) + "\n", encoding="utf-8")


def grade_all(folder: Path, out: Path, jobs: int = 2, time_limit: float = 180, memory_mib: int = 4096,
              progress=None) -> list[Graded]:
    submissions = find_submissions(folder)
    results: dict[str, Graded] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(grade_one, name, path, out, time_limit, memory_mib): name for name, path in submissions}
        for done, future in enumerate(as_completed(futures), 1):
            graded = future.result()
            results[graded.name] = graded
            if progress:
                progress(done, len(submissions), graded)
    ordered = [results[name] for name, _ in submissions]
    write_gradebook(ordered, out)
    return ordered


def _print_progress(done: int, total: int, graded: Graded) -> None:
    status = f"{graded.total}/100" + (f"  {graded.note}" if graded.note else "")
    print(f"[{done}/{total}] {graded.name:<24} {status}  ({graded.seconds:.1f} s)", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m checks.batch", description=__doc__.splitlines()[0])
    cli.add_argument("submissions", type=Path, metavar="DIR")
    cli.add_argument("--jobs", type=int, default=2, help=JOBS_HELP)
    cli.add_argument("--out", type=Path, default=None, help=OUT_HELP)
    cli.add_argument("--time-limit", type=float, default=180, help=LIMIT_HELP)
    cli.add_argument("--memory", type=int, default=4096, metavar="MIB", help=MEMORY_HELP)
    args = cli.parse_args(argv)
    if not args.submissions.is_dir():
        cli.error(f"{args.submissions}: not a folder")
    if args.jobs < 1 or args.time_limit <= 0 or args.memory < 256:
        cli.error("--jobs takes a whole number from 1, --time-limit seconds above 0, --memory at least 256 MiB")
    if not find_submissions(args.submissions):
        cli.error(f"{args.submissions}: no *.py or */project.py to grade")
    out = args.out or args.submissions / "grades"
    started = time.monotonic()
    results = grade_all(args.submissions, out, args.jobs, args.time_limit, args.memory, _print_progress)
    minutes = (time.monotonic() - started) / 60
    print(f"Graded {len(results)} submissions in {minutes * 60:.0f} s ({len(results) / minutes:.1f} per minute) "
          f"with --jobs {args.jobs}. Gradebook: {out / 'gradebook.csv'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

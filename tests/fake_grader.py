"""A stand-in for `python -m pytest` that batch grading runs in place of the grader: no student code runs.

    python tests/fake_grader.py MODE RECORD [the grader's pytest arguments...]

It writes RECORD (its pid and what it was given: arguments, environment, files in its working folder) and then does what MODE
says: writes an honest or a forged report, or ends in one of the ways a grader can end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from checks.catalogue import ITEMS  # noqa: E402
from checks.reports.results import CheckResult, Grade, Outcome  # noqa: E402


def honest() -> dict:
    """What the grader writes for a file that passes everything: one passing check per item."""
    grade = Grade.empty("project.py")
    for item in ITEMS:
        grade.add(CheckResult(f"test_{item.id}", item.id, Outcome.PASSED))
    return grade.to_json()


def forged() -> dict:
    """A report claiming 100 whose base check failed: statuses and scores say otherwise."""
    report = honest()
    base = next(i for i in report["items"] if i["id"] == "base")
    base["checks"].append({"name": "test_base_really", "outcome": "failed", "message": "fetch_async ran one at a time"})
    report["score"] = 100
    return report


def main(mode: str, record: str, args: list[str]) -> int:
    options = dict(a[2:].split("=", 1) for a in args if a.startswith("--") and "=" in a)
    report = Path(options["grade-json"])
    cache = os.environ.get("PYTHONPYCACHEPREFIX", "")
    seen = {"pid": os.getpid(), "argv": args, "env": dict(os.environ), "files": sorted(os.listdir(".")),
            "cache_is_folder": bool(cache) and os.path.isdir(cache)}
    if mode == "straggler":  # leaves a child behind in its process group, then ends normally
        seen["straggler"] = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]).pid
    Path(record).write_text(json.dumps(seen), encoding="utf-8")
    if mode in ("honest", "straggler"):
        report.write_text(json.dumps(honest()), encoding="utf-8")
    elif mode == "forged":
        report.write_text(json.dumps(forged()), encoding="utf-8")
    elif mode == "garbage":
        report.write_text("{not json", encoding="utf-8")
        return 1
    elif mode == "fifo":
        os.mkfifo(report)
    elif mode == "link":
        target = report.with_name("elsewhere.json")
        target.write_text(json.dumps(honest()), encoding="utf-8")
        report.symlink_to(target)
    elif mode == "memory":
        print("Traceback (most recent call last):\nMemoryError", file=sys.stderr)
        return 1
    elif mode == "sigterm":
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    elif mode == "sleep":
        time.sleep(120)
    elif mode == "exit3":
        return 3
    return 0  # "silent": ends well without a report


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))

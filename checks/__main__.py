"""`python -m checks COMMAND`: the grader's command-line tools."""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:
    # Run as a folder, `python ../checks watch` from starter/: Python put this folder first on the path,
    # where `checks` itself cannot be found (and its modules would shadow others). Its parent, the
    # project's root, is what `python -m checks` from the root would have put there.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

USAGE = """usage: python -m checks COMMAND [options]   (from the project's root)
       python ../checks COMMAND [options]    (from starter/, or any path to the checks folder)

commands:
  run    run a project's main() against the local stand-in API and draw every request
         (python -m checks run --help for its options; --html report.html draws every run)
  watch  grade the project again on every save and show what changed (Ctrl-C to stop)

tools with their own entry points:
  python -m checks.fakeapi       the stand-in API on its own, on 127.0.0.1
  python -m checks.batch DIR     grade a whole class into a gradebook
  python -m checks.bench         grading time and scaling figures for this machine
  python -m checks.fingerprint   the hash that shows whether the checks were edited

Grading itself is `pytest` (see the README)."""


def main() -> int:
    command, rest = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if command == "run":
        from checks.run import main as run

        return run(rest)
    if command == "watch":
        from checks.watch import main as watch

        return watch(rest)
    print(USAGE, file=sys.stderr if command not in ("-h", "--help") else sys.stdout)
    return 0 if command in ("-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main())

"""Before grading: is this Python new enough, and does it have the grader's libraries? One line if not.

    python -m checks.tools.preflight VARIABLE

run_autograder and run.sh run this first, with the interpreter they were given, and print its line
instead of the grader's tracebacks; VARIABLE is the environment variable that chooses that interpreter,
so the line can say what to set. python -m checks.batch asks problem() before it starts any grader.
It uses the standard library only, and no syntax newer than 3.6, so that an old Python reaches the line too.
"""

import importlib.util
import sys

NEEDED = ("aiohttp", "aioresponses", "pytest", "pytest_asyncio", "pytest_timeout", "requests", "responses")
"""What grading imports (requirements.txt pins them); watchfiles is for students' `python -m checks watch` only."""
OLDEST = (3, 11)

TOO_OLD = "{python} is Python {version}, and the grader needs {oldest} or newer: {instead}"
MISSING = (
    "{python} has no {names}: install the grader's libraries with `{python} -m pip install -r requirements.txt`, "
    "or {instead}"
)
SET_VARIABLE = "set {variable} to a Python 3.11 or newer with requirements.txt installed"
RUN_ANOTHER = "run this with a Python 3.11 or newer that has requirements.txt installed (is the virtual environment active?)"


def problem(instead=RUN_ANOTHER):
    """What keeps this Python from grading, in one line that ends with `instead`; empty when nothing does."""
    if sys.version_info < OLDEST:
        version = ".".join(map(str, sys.version_info[:2]))
        return TOO_OLD.format(python=sys.executable, version=version, oldest=".".join(map(str, OLDEST)),
                              instead=instead)
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        return MISSING.format(python=sys.executable, names=", ".join(missing), instead=instead)
    return ""


def main(argv):
    found = problem(SET_VARIABLE.format(variable=argv[0]) if argv else RUN_ANOTHER)
    if found:
        print(found)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

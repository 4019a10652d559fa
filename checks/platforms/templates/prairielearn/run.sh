#!/usr/bin/env bash
# PrairieLearn's entrypoint (externalGradingOptions.entrypoint), run for every submission in the grading
# container. It grades the project.py found under /grade/student in the official mode and writes
# /grade/results/results.json. GRADE_ROOT moves /grade; GRADER_PYTHON names the interpreter (default:
# python3, the image's). If the grader cannot even start, one line says why and the result still says so.
GRADE_ROOT="${GRADE_ROOT:-/grade}"
HERE="$(cd "$(dirname "$0")" && pwd)"
PYTHON="${GRADER_PYTHON:-python3}"
RESULTS="$GRADE_ROOT/results/results.json"

mkdir -p "$GRADE_ROOT/results"
rm -f "$RESULTS"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "run.sh: no Python at $PYTHON: set GRADER_PYTHON to a Python 3.11 or newer with requirements.txt installed" >&2
elif ! problem="$(cd "$HERE" && "$PYTHON" -m checks.tools.preflight GRADER_PYTHON 2>&1)"; then
  echo "run.sh: $(printf '%s\n' "$problem" | tail -n 1)" >&2
else
  (cd "$HERE" && exec "$PYTHON" -m checks.platforms.prairielearn run)
fi
if [ ! -s "$RESULTS" ]; then
  printf '{"gradable": false, "format_errors": ["The grader could not start, or stopped before writing a result. This is not a verdict on your code: tell your instructor."]}\n' > "$RESULTS"
fi
exit 0

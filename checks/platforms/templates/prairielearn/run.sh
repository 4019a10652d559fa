#!/usr/bin/env bash
# PrairieLearn's entrypoint (externalGradingOptions.entrypoint), run for every submission in the grading
# container. It grades the project.py found under /grade/student in the official mode and writes
# /grade/results/results.json; if the grader cannot even start, the lines below still write a result.
GRADE_ROOT="${GRADE_ROOT:-/grade}"
HERE="$(cd "$(dirname "$0")" && pwd)"
PYTHON="${GRADER_PYTHON:-python3}"
RESULTS="$GRADE_ROOT/results/results.json"

mkdir -p "$GRADE_ROOT/results"
rm -f "$RESULTS"
(cd "$HERE" && exec "$PYTHON" -m checks.platforms.prairielearn run)
status=$?
if [ ! -s "$RESULTS" ]; then
  printf '{"gradable": false, "format_errors": ["The grader stopped (status %s) before writing a result. This is not a verdict on your code: tell your instructor."]}\n' "$status" > "$RESULTS"
fi
exit 0

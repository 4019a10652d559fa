#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image (with network access).
# It installs bubblewrap (the sandbox), a Python the grader supports (3.11 or newer) and the pinned
# requirements, into a virtual environment that run_autograder uses. Choose an Ubuntu 22.04 or
# 24.04 base image: 24.04 has Python 3.12; on 22.04 (Python 3.10) python3.11 comes from Ubuntu's
# own archive, or from the deadsnakes PPA where that archive lacks it.
set -euo pipefail

ROOT="${AUTOGRADER_ROOT:-/autograder}"
export DEBIAN_FRONTEND=noninteractive

apt-get update
apt-get install -y --no-install-recommends bubblewrap util-linux ca-certificates

supported() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

PYTHON=""
for candidate in python3.14 python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null && supported "$candidate"; then
    PYTHON="$(command -v "$candidate")"
    break
  fi
done
if [ -z "$PYTHON" ]; then
  if ! apt-get install -y --no-install-recommends python3.11 python3.11-venv; then
    apt-get install -y --no-install-recommends software-properties-common
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update
    apt-get install -y --no-install-recommends python3.11 python3.11-venv
  fi
  PYTHON="$(command -v python3.11)"
fi

# Debian splits venv (ensurepip) into its own package, named after the version.
if ! "$PYTHON" -m venv "$ROOT/venv"; then
  apt-get install -y --no-install-recommends "$(basename "$PYTHON")-venv"
  rm -rf "$ROOT/venv"
  "$PYTHON" -m venv "$ROOT/venv"
fi
"$ROOT/venv/bin/python" -m pip install --no-cache-dir --upgrade pip
"$ROOT/venv/bin/python" -m pip install --no-cache-dir -r "$ROOT/source/requirements.txt"
(cd "$ROOT/source" && "$ROOT/venv/bin/python" -c 'import aiohttp, pytest, checks.platforms.gradescope') \
  || { echo "setup.sh: the grader does not import; see the lines above" >&2; exit 1; }

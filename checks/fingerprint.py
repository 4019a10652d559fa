"""`python -m checks.fingerprint`: one hash over the checks and the pinned requirements, to spot edited checks on a fork."""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COVERED = ("checks", "requirements.txt", "pyproject.toml", "conftest.py")
"""What decides a grade: the checks, the libraries they run on, and the pytest settings and plugin loading."""


def covered_files(root: Path = ROOT) -> list[Path]:
    found: list[Path] = []
    for name in COVERED:
        path = root / name
        if path.is_dir():
            found += [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
        elif path.is_file():
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def fingerprint(root: Path = ROOT) -> str:
    """SHA-256 over each file's relative path and content, line endings folded, so any checkout agrees."""
    digest = hashlib.sha256()
    for path in covered_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


PUBLISHED = re.compile(r"Checks fingerprint: `([0-9a-f]{64})`")


def published(readme: Path = ROOT / "README.md") -> str | None:
    """The fingerprint the README publishes, if it publishes one."""
    found = PUBLISHED.search(readme.read_text(encoding="utf-8")) if readme.is_file() else None
    return found.group(1) if found else None


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m checks.fingerprint", description=__doc__.splitlines()[0])
    which = cli.add_mutually_exclusive_group()
    which.add_argument("--verify", metavar="HEX", help="exit 1 unless the fingerprint is this one")
    which.add_argument("--verify-readme", action="store_true", help="exit 1 unless it is the one README.md publishes")
    args = cli.parse_args(argv)
    current = fingerprint()
    if args.verify_readme:
        args.verify = published()
        if args.verify is None:
            print("README.md publishes no 'Checks fingerprint: `...`' line.", file=sys.stderr)
            return 1
    if args.verify is None:
        print(current)
        return 0
    if args.verify.strip().lower() == current:
        print(f"checks unchanged: {current}")
        return 0
    print(
        f"The checks differ from the published ones.\n  expected {args.verify.strip()}\n  found    {current}\n"
        "Something under checks/, requirements.txt, pyproject.toml or conftest.py was edited.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())

"""Known-bad scenarios stored as one-change patches on the reference solution.

Each `tests/scenarios/NAME/` holds `change.patch`, a unified diff against `solutions/project.py`,
beside its `expected.json`: the diff shows the mistake at a glance, and an edit of the reference
reaches every scenario. The rare file that is not "the reference plus a mistake" keeps a whole
`project.py` instead, and its `expected.json` says why.

The applier is a few lines of our own rather than `patch`, `git apply` or a library: neither tool is
on every maintainer's machine, and this one is stricter than both. Every context and removed line
must match exactly (no fuzz, no whitespace leniency); a hunk may only move as a whole, to the
nearest place where all its lines match, when the reference gained or lost lines above it. A hunk
that no longer applies stops the run with the scenario's name and the command that refreshes it.
The patches stay ordinary unified diffs (`git apply` and `patch -p1` read them too).

    python -m tests.scenario_patches show NAME [OUT.py]    the scenario's file, to stdout or OUT.py
    python -m tests.scenario_patches make NAME EDITED.py   write tests/scenarios/NAME/change.patch
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "solutions" / "project.py"
SCENARIOS = ROOT / "tests" / "scenarios"
PATCH = "change.patch"
WHOLE_FILE = "project.py"
CONTEXT = 3
HEADERS = (b"a/solutions/project.py", b"b/solutions/project.py")
NO_NEWLINE = b"\\ No newline at end of file"
HUNK_HEADER = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
REFRESH = "python -m tests.scenario_patches make {name} EDITED.py"


class PatchError(ValueError):
    """A patch that is malformed or no longer applies; the message names the scenario."""


@dataclass
class Hunk:
    """One `@@` block: where it claims to start, and the lines it expects and leaves (with their endings)."""

    header: str
    old_start: int
    old: list[bytes] = field(default_factory=list)
    new: list[bytes] = field(default_factory=list)


# --- Writing a patch ---------------------------------------------------------------------------


def make_patch(reference: bytes, edited: bytes) -> bytes:
    """The unified diff that turns `reference` into `edited`, as `diff -u` would write it."""
    lines = difflib.diff_bytes(
        difflib.unified_diff,
        reference.splitlines(keepends=True),
        edited.splitlines(keepends=True),
        HEADERS[0],
        HEADERS[1],
        n=CONTEXT,
    )
    # difflib leaves a last line without its newline glued to the next one; diff marks it instead.
    return b"".join(line if line.endswith(b"\n") else line + b"\n" + NO_NEWLINE + b"\n" for line in lines)


# --- Reading and applying one --------------------------------------------------------------------


def parse(patch: bytes, name: str) -> list[Hunk]:
    """The hunks of a one-file unified diff, checked against the line counts their headers give."""
    lines = patch.splitlines(keepends=True)
    hunks: list[Hunk] = []
    at = 0
    while at < len(lines) and not lines[at].startswith(b"@@"):  # `diff`, `index`, `---`, `+++` lines
        if lines[at].strip() and not lines[at].startswith((b"diff ", b"index ", b"--- ", b"+++ ")):
            raise PatchError(f"scenario {name}: {PATCH} line {at + 1} is not part of a unified diff: {lines[at]!r}")
        at += 1
    while at < len(lines):
        match = HUNK_HEADER.match(lines[at])
        if not match:
            raise PatchError(f"scenario {name}: {PATCH} line {at + 1} should start a hunk (@@ ... @@), or the patch touches a second file: {lines[at]!r}")
        old_count = 1 if match[2] is None else int(match[2])
        new_count = 1 if match[4] is None else int(match[4])
        hunk = Hunk(lines[at].decode(errors="replace").rstrip(), int(match[1]))
        at += 1
        while len(hunk.old) < old_count or len(hunk.new) < new_count:
            if at == len(lines):
                raise PatchError(f"scenario {name}: {PATCH} ends inside hunk {hunk.header}: it promises {old_count} old and {new_count} new lines")
            line = lines[at]
            kind, text = line[:1], line[1:]
            if line in (b"\n", b"\r\n"):  # an editor that strips trailing spaces turns " \n" into "\n"
                kind, text = b" ", line
            if kind not in (b" ", b"-", b"+"):
                raise PatchError(f"scenario {name}: {PATCH} line {at + 1} in hunk {hunk.header} starts with neither ' ', '-' nor '+': {line!r}")
            if kind in (b" ", b"-"):
                hunk.old.append(text)
            if kind in (b" ", b"+"):
                hunk.new.append(text)
            at += 1
            if at < len(lines) and lines[at].rstrip(b"\r\n") == NO_NEWLINE:
                for side, marked in ((hunk.old, kind in (b" ", b"-")), (hunk.new, kind in (b" ", b"+"))):
                    if marked:
                        side[-1] = side[-1].removesuffix(b"\n")
                at += 1
        if len(hunk.old) != old_count or len(hunk.new) != new_count:
            raise PatchError(f"scenario {name}: hunk {hunk.header} has {len(hunk.old)} old and {len(hunk.new)} new lines, not the counts its header gives")
        hunks.append(hunk)
    if not hunks:
        raise PatchError(f"scenario {name}: {PATCH} has no hunks: it changes nothing")
    return hunks


def apply_patch(reference: bytes, patch: bytes, name: str) -> bytes:
    """`reference` with every hunk of `patch` applied; PatchError, naming `name`, if any hunk does not match."""
    lines = reference.splitlines(keepends=True)
    out: list[bytes] = []
    done = 0  # lines of `reference` already copied or replaced
    shift = 0  # how far the hunks so far moved from their stated lines: later ones likely moved as much
    for hunk in parse(patch, name):
        stated = hunk.old_start - 1 if hunk.old else hunk.old_start  # an insertion names the line before it
        near = stated + shift
        starts = _matches(lines, hunk.old, near, done)
        if not starts or len(starts) > 1 and abs(starts[0] - near) == abs(starts[1] - near):
            raise PatchError(_stale(name, hunk, lines, near, starts))
        shift = starts[0] - stated
        out += lines[done : starts[0]] + hunk.new
        done = starts[0] + len(hunk.old)
    return b"".join(out + lines[done:])


def _matches(lines: list[bytes], block: list[bytes], near: int, earliest: int) -> list[int]:
    """Every start, not before `earliest`, where `block` matches exactly, nearest to `near` first."""
    if not block:  # a pure insertion into an empty file has nothing to match: only its stated place will do
        return [near] if earliest <= near <= len(lines) else []
    starts = [s for s in range(earliest, len(lines) - len(block) + 1) if lines[s : s + len(block)] == block]
    return sorted(starts, key=lambda s: abs(s - near))


def _stale(name: str, hunk: Hunk, lines: list[bytes], near: int, starts: list[int]) -> str:
    """Why a hunk does not apply: two equally near places (guessing could patch the wrong function), or none."""
    if starts:
        detail = f"its lines match at lines {starts[0] + 1} and {starts[1] + 1}, as near as each other to line {near + 1}"
    else:
        detail = "its lines match nowhere in the reference"
        for offset, wanted in enumerate(hunk.old):
            found = lines[near + offset] if 0 <= near + offset < len(lines) else b"(end of file)"
            if found != wanted:
                detail = f"at line {near + offset + 1} it expects {wanted!r} but the reference has {found!r}"
                break
    return (
        f"scenario {name}: hunk {hunk.header} of {PATCH} no longer applies to solutions/project.py "
        f"({detail}). Re-make the mistake on the current reference and run `{REFRESH.format(name=name)}`."
    )


# --- Scenarios -----------------------------------------------------------------------------------


def names(scenarios: Path = SCENARIOS) -> list[str]:
    """Every scenario: a folder with an expected.json."""
    return sorted(p.name for p in scenarios.iterdir() if (p / "expected.json").is_file())


def source(name: str, scenarios: Path = SCENARIOS, reference: Path = REFERENCE) -> bytes:
    """The scenario's file: the reference with its change applied, or its whole project.py."""
    folder = scenarios / name
    patch, whole = folder / PATCH, folder / WHOLE_FILE
    if patch.is_file() and whole.is_file():
        refresh = REFRESH.format(name=name).replace("EDITED.py", f"tests/scenarios/{name}/{WHOLE_FILE}")
        raise PatchError(f"scenario {name}: has both {PATCH} and {WHOLE_FILE}; keep one (`{refresh}` turns the file into the patch)")
    if whole.is_file():
        return whole.read_bytes()
    if not patch.is_file():
        raise PatchError(f"scenario {name}: has neither {PATCH} nor {WHOLE_FILE}")
    return apply_patch(reference.read_bytes(), patch.read_bytes(), name)


def materialise(name: str, folder: Path, scenarios: Path = SCENARIOS) -> Path:
    """Write the scenario's file to folder/NAME/project.py (checks may print the path, so it names the scenario)."""
    target = folder / name / "project.py"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source(name, scenarios))
    return target


def make(name: str, edited: Path, scenarios: Path = SCENARIOS, reference: Path = REFERENCE) -> Path:
    """Write NAME/change.patch from an edited copy of the reference, check it reproduces that copy, drop a stale project.py."""
    original, wanted = reference.read_bytes(), edited.read_bytes()
    if original == wanted:
        raise PatchError(f"scenario {name}: {edited} is the reference unchanged, so it has no mistake to store")
    patch = make_patch(original, wanted)
    if apply_patch(original, patch, name) != wanted:  # the applier is ours: prove the round trip every time
        raise PatchError(f"scenario {name}: the patch made from {edited} does not reproduce it; please report this")
    folder = scenarios / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PATCH).write_bytes(patch)
    (folder / WHOLE_FILE).unlink(missing_ok=True)  # the patch now holds that file (it may have been `edited` itself)
    return folder / PATCH


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.scenario_patches", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("show", help="write a scenario's file (the reference with its change) to stdout or OUT")
    show.add_argument("name")
    show.add_argument("out", nargs="?", type=Path)
    make_ = commands.add_parser("make", help="create or refresh tests/scenarios/NAME/change.patch from an edited copy of the reference")
    make_.add_argument("name")
    make_.add_argument("edited", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "show":
            text = source(args.name)
            if args.out:
                args.out.write_bytes(text)
            else:
                sys.stdout.buffer.write(text)
            return 0
        written = make(args.name, args.edited)
    except (PatchError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {written.relative_to(ROOT) if written.is_relative_to(ROOT) else written}")
    if not (written.parent / "expected.json").is_file():
        print(f"now write {written.parent / 'expected.json'}: its description, the items it must fail, message fragments")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m checks.merge OUT SHARD...`: join the gradebooks of a class graded in shards into the one a single machine writes.

Each `python -m checks.batch DIR --shard K/N --out SHARD` run leaves a gradebook and a manifest
(`shard.json`: K/N, the whole class's names in order, the items and the checks' fingerprint). The
merge is a join, not a regrading: rows and reports are taken as the shards wrote them and put back
in the class's order, so the merged gradebook.csv is byte for byte the one a single run writes. It
refuses, and writes nothing, when the shards do not make exactly one class: a shard missing or
given twice, a student in two shards, shards graded from different class lists, items or checks.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from checks.tools.files import write_atomically
from checks.tools.shards import MANIFEST, shard_of

REFUSING = "python -m checks.merge: refusing to merge: {why}"
NOT_A_SHARD = "{folder} has no readable {file} ({why}): pass the --out folders of python -m checks.batch --shard runs"
DIFFERENT = (
    "{a} and {b} were graded with different {what}: grade every shard from the same class folder with the same "
    "checkout, then merge"
)
WHAT_DIFFERS = {"class": "class lists", "items": "items", "checks": "checks (fingerprint)"}
OTHER_COUNT = "{a} is one of {n} shards and {b} one of {m}: pass the shards of one --shard K/N split"
TWICE = "{a} and {b} are both shard {k}/{n}: pass each shard once"
MISSING = "shard {k}/{n} is missing ({names}): pass all {n} shards"
NOT_ITS_SHARD = "{folder} holds {name!r}, which is not in its shard {k}/{n}"
UNKNOWN_NAME = "{folder} holds {name!r}, who is not in the class list"
INCONSISTENT = "{folder}: gradebook.csv and gradebook.json do not list the same submissions"
HEADERS_DIFFER = "{a} and {b} have different gradebook.csv columns"
OUT_IS_A_SHARD = "{out} is one of the shards: write the merged gradebook to another folder"
MERGED = "Merged {shards} shards: {count} submissions. Gradebook: {path}"
NAMES_SHOWN = 3


class Refused(Exception):
    """Shards that do not make one class; the message says which and what to do."""


@dataclass
class Shard:
    """One shard's output folder, as read: its manifest, its CSV rows by name and its gradebook.json entries."""

    folder: Path
    manifest: dict
    header: list[str]
    rows: dict[str, list[str]]
    book: dict[str, dict]

    @property
    def k(self) -> int:
        return self.manifest["shard"][0]

    @property
    def n(self) -> int:
        return self.manifest["shard"][1]


def read_shard(folder: Path) -> Shard:
    """A shard folder's manifest and gradebook, each checked for the shape checks.batch writes."""
    manifest = _read_json(folder, MANIFEST)
    book = _read_json(folder, "gradebook.json")
    shape = (
        isinstance(manifest, dict) and isinstance(book, dict)
        and isinstance(manifest.get("shard"), list) and len(manifest["shard"]) == 2
        and all(isinstance(x, int) for x in manifest["shard"]) and 1 <= manifest["shard"][0] <= manifest["shard"][1]
        and isinstance(manifest.get("class"), list) and all(isinstance(x, str) for x in manifest["class"])
    )
    if not shape:
        raise Refused(NOT_A_SHARD.format(folder=folder, file=MANIFEST, why="not in the shape checks.batch writes"))
    try:
        with open(folder / "gradebook.csv", newline="", encoding="utf-8") as sheet:
            table = list(csv.reader(sheet))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise Refused(NOT_A_SHARD.format(folder=folder, file="gradebook.csv", why=error)) from None
    names = list(book)
    # checks.batch writes both files from one list of rows, in one order; a row's first cell is the name,
    # with a quote in front where a spreadsheet would read a formula.
    if not table or len(table) - 1 != len(names) or any(
        not row or row[0] not in (name, "'" + name) for row, name in zip(table[1:], names)
    ):
        raise Refused(INCONSISTENT.format(folder=folder))
    return Shard(folder, manifest, table[0], dict(zip(names, table[1:])), book)


def _read_json(folder: Path, name: str) -> object:
    try:
        return json.loads((folder / name).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        why = error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__
        raise Refused(NOT_A_SHARD.format(folder=folder, file=name, why=why)) from None


def check_together(shards: list[Shard]) -> list[str]:
    """The class's names in order, once the shards are shown to be exactly one class's N shards; Refused if not."""
    first = shards[0]
    for other in shards[1:]:
        for key, what in WHAT_DIFFERS.items():
            if other.manifest.get(key) != first.manifest.get(key):
                raise Refused(DIFFERENT.format(a=first.folder, b=other.folder, what=what) + _who(first, other, key))
        if other.n != first.n:
            raise Refused(OTHER_COUNT.format(a=first.folder, n=first.n, b=other.folder, m=other.n))
        if other.header != first.header:
            raise Refused(HEADERS_DIFFER.format(a=first.folder, b=other.folder))
    by_k: dict[int, Shard] = {}
    for shard in shards:
        if shard.k in by_k:
            raise Refused(TWICE.format(a=by_k[shard.k].folder, b=shard.folder, k=shard.k, n=shard.n))
        by_k[shard.k] = shard
    everyone = first.manifest["class"]
    known = set(everyone)
    for shard in shards:
        for name in shard.book:
            if name not in known:
                raise Refused(UNKNOWN_NAME.format(folder=shard.folder, name=name))
            if shard_of(name, shard.n) != shard.k:
                raise Refused(NOT_ITS_SHARD.format(folder=shard.folder, name=name, k=shard.k, n=shard.n))
    for k in range(1, first.n + 1):
        if k not in by_k:
            absent = [name for name in everyone if shard_of(name, first.n) == k]
            shown = ", ".join(absent[:NAMES_SHOWN]) + (", ..." if len(absent) > NAMES_SHOWN else "")
            raise Refused(MISSING.format(k=k, n=first.n, names=shown or "no submissions"))
    graded = {name for shard in shards for name in shard.book}
    missing = [name for name in everyone if name not in graded]
    if missing:  # each name hashes to one shard, every shard is here and holds only its own: a shard lost rows
        owner = by_k[shard_of(missing[0], first.n)]
        raise Refused(INCONSISTENT.format(folder=owner.folder))
    return everyone


def _who(a: Shard, b: Shard, key: str) -> str:
    """For class lists that differ, the first student on one list and not the other."""
    if key != "class":
        return ""
    one, other = a.manifest["class"], b.manifest["class"]
    odd = [(name, a.folder) for name in one if name not in other] + [(name, b.folder) for name in other if name not in one]
    return f" ({odd[0][0]!r} is only in {odd[0][1]}'s)" if odd else " (the same names in another order)"


def merge(out: Path, folders: list[Path]) -> list[str]:
    """Write OUT's gradebook.csv, gradebook.json, logs and manifest from the shard folders; the class's names."""
    resolved = {folder.resolve() for folder in folders}
    if out.resolve() in resolved:
        raise Refused(OUT_IS_A_SHARD.format(out=out))
    shards = [read_shard(folder) for folder in folders]
    everyone = check_together(shards)
    owner = {name: shard for shard in shards for name in shard.book}
    sheet = io.StringIO(newline="")
    csv.writer(sheet).writerows([shards[0].header, *(owner[name].rows[name] for name in everyone)])
    book = {name: owner[name].book[name] for name in everyone}
    manifest = {**shards[0].manifest, "shard": [1, 1]}
    write_atomically(out / "gradebook.csv", sheet.getvalue().encode("utf-8"))
    write_atomically(out / "gradebook.json", (json.dumps(book, indent=2) + "\n").encode("utf-8"))
    for name in everyone:
        _copy_log(owner[name].folder / "logs" / f"{name}.log", out / "logs" / f"{name}.log")
    write_atomically(out / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
    return everyone


def _copy_log(source: Path, target: Path) -> None:
    """A shard's log for one submission, if it is a regular file (a row refused before grading has none)."""
    try:
        if not stat.S_ISREG(os.lstat(source).st_mode):
            return
    except FileNotFoundError:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m checks.merge", description=__doc__.splitlines()[0])
    cli.add_argument("out", type=Path, metavar="OUT", help="folder for the merged gradebook")
    cli.add_argument("shards", type=Path, nargs="+", metavar="SHARD", help="the --out folder of each shard")
    args = cli.parse_args(argv)
    try:
        everyone = merge(args.out, args.shards)
    except Refused as refusal:
        print(REFUSING.format(why=refusal), file=sys.stderr)
        return 2
    print(MERGED.format(shards=len(args.shards), count=len(everyone), path=args.out / "gradebook.csv"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Which file of a submission is graded: one rule for every entry of a class folder and for one platform upload.

The rule, in order:
1. the shallowest `project.py`, its name matched without regard to case; at one depth the file spelled
   exactly `project.py` comes first, then the first by path, and the note names the others;
2. with no such file, the only `.py` file, if there is exactly one;
3. else nothing is graded, and the note says what the folder holds instead.
`ANSWERS.md` (any case) is taken from beside the graded file, else the shallowest one. Hidden entries
(`.git`, `.DS_Store`) and folders starting with `__` (`__pycache__`, `__MACOSX`) are never searched.
Symbolic links are never followed: a link is listed like a file, so that grading it is refused out loud.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

PROJECT = "project.py"
ANSWERS = "ANSWERS.md"
OUTPUT_FOLDER = "grades"
"""The batch's default output folder's name: a subfolder of a class by this name is never a submission."""
SEARCH_CAP = 20_000
"""Entries looked at in one submission: a handed-in virtual environment cannot make the search run for long."""
NAMES_SHOWN = 5

GRADED = "graded {path}"
GRADED_OF_SEVERAL = "graded {path}, the first of {count} at that depth (also {others})"
GRADED_ONLY_PYTHON = "graded {path}: no project.py, and it is the only Python file"
MANY_PYTHON = "no project.py, and {count} Python files to choose from ({files}): rename the one to grade project.py"
NO_PYTHON = "no project.py: the folder holds {files}"
EMPTY = "no project.py: the folder is empty"
SEARCH_CUT = " (only the first {cap} entries were searched)"
NOT_A_FOLDER = "not a folder or a .py file, so nothing was graded: unpack an archive into a folder of its own"
HIDDEN = "hidden"
OUTPUT_NAME = "named like batch grading's output folder: rename it to grade it"


@dataclass(frozen=True)
class Found:
    """What to grade in one submission folder (paths relative to it), and a note when it is not plainly project.py."""

    project: tuple[str, ...] | None
    answers: tuple[str, ...] | None = None
    note: str = ""


@dataclass(frozen=True)
class Submission:
    """One entry of a class folder: its row's name, what to grade (relative to the class folder) and a note."""

    name: str
    project: tuple[str, ...] | None
    answers: tuple[str, ...] | None = None
    note: str = ""


def find_project(folder: Path, label: str = "") -> Found:
    """The file to grade under folder, by the rule above. `label` starts the paths a note shows (a student's
    folder name in a class; nothing for a platform's upload)."""
    files, cut = _walk(folder)
    projects = [path for path in files if path[-1].lower() == PROJECT]
    if projects:
        depth = min(len(path) for path in projects)
        level = sorted((path for path in projects if len(path) == depth), key=lambda p: (p[-1] != PROJECT, p))
        chosen = level[0]
        if len(level) > 1:
            others = ", ".join(_shown(label, path) for path in level[1:NAMES_SHOWN + 1])
            note = GRADED_OF_SEVERAL.format(path=_shown(label, chosen), count=len(level), others=others)
        else:
            note = "" if chosen == (PROJECT,) else GRADED.format(path=_shown(label, chosen))
        return Found(chosen, _answers(files, chosen), note)
    python = [path for path in files if path[-1].lower().endswith(".py")]
    if len(python) == 1:
        return Found(python[0], _answers(files, python[0]), GRADED_ONLY_PYTHON.format(path=_shown(label, python[0])))
    found = SEARCH_CUT.format(cap=SEARCH_CAP) if cut else ""
    if python:
        return Found(None, note=MANY_PYTHON.format(count=len(python), files=_listed(python)) + found)
    return Found(None, note=(NO_PYTHON.format(files=_listed(files)) if files else EMPTY) + found)


def find_class(folder: Path, skip: Path | None = None) -> tuple[list[Submission], list[str]]:
    """Every entry of a class folder as a submission, and the entries passed over, each with why: hidden ones,
    and a folder named `grades` that is not this run's output folder (`skip`, which is passed over unsaid). Loose .py files come first, then folders, then anything else, each in name order;
    a name two entries share (x.py and x/) gets a suffix on the later one, so no row stands for two."""
    with os.scandir(folder) as listing:
        entries = sorted(listing, key=lambda entry: entry.name)
    loose, folders, others, passed = [], [], [], []
    for entry in entries:
        if entry.name.startswith("."):
            passed.append(f"{entry.name} ({HIDDEN})")
        elif _is_output(entry, skip):
            if skip is None or Path(entry.path).resolve() != skip.resolve():
                passed.append(f"{entry.name}/ ({OUTPUT_NAME})")
        elif entry.name.lower().endswith(".py") and not entry.is_dir(follow_symlinks=False):
            loose.append(Submission(Path(entry.name).stem, (entry.name,)))  # a link stays, to be refused on copy
        elif entry.is_symlink():  # never looked into: grading it is refused at its first step
            folders.append(Submission(entry.name, (entry.name, PROJECT)))
        elif entry.is_dir(follow_symlinks=False):
            found = find_project(Path(entry.path), entry.name)
            folders.append(Submission(entry.name, _under(entry.name, found.project), _under(entry.name, found.answers),
                                      found.note))
        else:
            others.append(Submission(entry.name, None, note=NOT_A_FOLDER))
    taken: set[str] = set()
    return [replace(s, name=_unique(s.name, taken)) for s in loose + folders + others], passed


def _walk(folder: Path) -> tuple[list[tuple[str, ...]], bool]:
    """Every file (and link) under folder as a path of names, shallowest first, in name order; and whether
    the search stopped at SEARCH_CAP entries."""
    files: list[tuple[str, ...]] = []
    level: list[tuple[str, ...]] = [()]
    seen = 0
    while level:
        deeper = []
        for place in level:
            try:
                with os.scandir(folder.joinpath(*place)) as listing:
                    entries = sorted(listing, key=lambda entry: entry.name)
            except OSError:
                continue  # unreadable, or gone meanwhile: nothing in it can be graded either
            for entry in entries:
                seen += 1
                if seen > SEARCH_CAP:
                    return files, True
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if not entry.name.startswith("__"):
                        deeper.append((*place, entry.name))
                else:
                    files.append((*place, entry.name))
        level = deeper
    return files, False


def _answers(files: list[tuple[str, ...]], project: tuple[str, ...]) -> tuple[str, ...] | None:
    """ANSWERS.md beside the graded file, else the shallowest; the exact spelling first at each place."""
    candidates = [path for path in files if path[-1].lower() == ANSWERS.lower()]
    beside = [path for path in candidates if path[:-1] == project[:-1]]
    return min(beside or candidates, key=lambda p: (len(p), p[-1] != ANSWERS, p), default=None)


def _shown(label: str, path: tuple[str, ...]) -> str:
    return "/".join((label, *path) if label else path)


def _listed(paths: list[tuple[str, ...]]) -> str:
    shown = ", ".join("/".join(path) for path in paths[:NAMES_SHOWN])
    return shown + (f" and {len(paths) - NAMES_SHOWN} more" if len(paths) > NAMES_SHOWN else "")


def _under(name: str, path: tuple[str, ...] | None) -> tuple[str, ...] | None:
    return None if path is None else (name, *path)


def _is_output(entry: os.DirEntry, skip: Path | None) -> bool:
    """The batch's own output folder: what lies in it was written by graders, not handed in by students.
    (A link to it is not: it stays a submission, to be refused as a link.)"""
    if entry.is_symlink():
        return False
    if entry.name == OUTPUT_FOLDER and entry.is_dir(follow_symlinks=False):
        return True
    return skip is not None and Path(entry.path).resolve() == skip.resolve()


def _unique(name: str, taken: set[str]) -> str:
    """name, or name~2, name~3 ... when an earlier submission has it."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}~{n}"
    taken.add(candidate)
    return candidate

"""Imports the graded file and, when it cannot, says where it broke in one line instead of a traceback."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import itertools
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

_serial = itertools.count(1)


@dataclass(frozen=True)
class LoadFailure:
    """Why the graded file could not be imported; every check reports it instead of running."""

    path: Path
    message: str


def load(path: Path) -> ModuleType | LoadFailure:
    """Import `path` under a fresh module name, so grading two files in one process never mixes them."""
    if not path.is_file():
        return LoadFailure(path, no_such_file(path))
    wrong_encoding = _not_utf8(path)
    if wrong_encoding:
        return LoadFailure(path, wrong_encoding)
    name = f"graded_project_{next(_serial)}"
    spec = importlib.util.spec_from_file_location(name, path, loader=_CompilingOnce(name, str(path)))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    sys.path.insert(0, folder)  # the student's own helper modules beside project.py
    sys.modules[name] = module
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _FollowingStream("stdout", streams[0]), _FollowingStream("stderr", streams[1])
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        sys.modules.pop(name, None)
        text = (error.text or "").rstrip("\n")
        pointer = f"\n    {text.strip()}" if text.strip() else ""
        return LoadFailure(path, f"{path}, line {error.lineno}: {type(error).__name__}: {error.msg}{pointer}")
    except BaseException as error:  # noqa: BLE001 - SystemExit or KeyboardInterrupt at import is the student's too
        sys.modules.pop(name, None)
        where = called_at_import(path, error.__traceback__) or location(path, error.__traceback__) or "while importing"
        return LoadFailure(path, f"{path}, {where}: {describe(error)}")
    finally:
        sys.stdout, sys.stderr = streams
        if folder in sys.path:
            sys.path.remove(folder)
    return module


class _CompilingOnce(importlib.machinery.SourceFileLoader):
    """A source loader that compiles the same text once per process, however often it is imported.

    Every check imports the graded file afresh, and where no bytecode cache can be written (a
    read-only checkout, PYTHONDONTWRITEBYTECODE) Python would compile it again each time. A code
    object is never changed by running it, so each fresh module still gets fresh state.
    """

    _last: dict[str, tuple[bytes, Any]] = {}

    def source_to_code(self, data: Any, path: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        key, text = str(path), bytes(data)
        known = self._last.get(key)
        if known is None or known[0] != text:
            known = self._last[key] = (text, super().source_to_code(data, path, *args, **kwargs))
        return known[1]


NOT_UTF8 = "{path}, line {line}: this file is not saved as UTF-8 ({why}). Save it as UTF-8 and grade it again."
_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


def _not_utf8(path: Path) -> str | None:
    """Why Python would read this file wrongly, said plainly, or None.

    Python reports a UTF-16 file as "source code cannot contain null bytes" with no line, and a
    Latin-1 one at a line that may not be the one with the stray byte. A file that declares its
    own encoding (PEP 263) is left to Python.
    """
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:4096]:
        return NOT_UTF8.format(path=path, line=1, why="it looks like UTF-16")
    if any(_CODING.match(line) for line in data.splitlines()[:2]):
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        return NOT_UTF8.format(path=path, line=line, why=f"byte 0x{data[error.start]:02x} is not UTF-8; Latin-1 or Windows-1252?")
    return None


def no_such_file(path: Path) -> str:
    what = "is a folder, not a file" if path.is_dir() else "no such file"
    return f"{path}: {what}. Pass the file to grade with --project=PATH."


class _FollowingStream:
    """What the graded file sees as sys.stdout (or stderr) while it is imported: every write goes to
    the stream of the moment. A logging handler made at import (logging.basicConfig(stream=sys.stdout))
    keeps the stream it was given; without this its lines would miss the capture of a later check."""

    def __init__(self, name: str, during_import: object) -> None:
        self._name, self._during_import = name, during_import

    def _target(self) -> Any:
        current = getattr(sys, self._name)
        return self._during_import if current is self else current

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._target(), attribute)


def location(path: Path, tb: TracebackType | None) -> str | None:
    """'line 42, in fetch_async' for the deepest frame of `tb` that is in the graded file."""
    found = None
    for frame in traceback.extract_tb(tb):
        if Path(frame.filename).resolve() == path.resolve():
            found = frame
    return f"line {found.lineno}, in {found.name}" if found else None


UNGUARDED = (
    "line {line}, at module level: `{call}` runs as soon as the file is imported, so grading ran it too "
    "(is `if __name__ == \"__main__\":` missing above it?). It failed at {inner}"
)


def called_at_import(path: Path, tb: TracebackType | None) -> str | None:
    """For an error raised inside a function that the file calls at module level (an unguarded main()),
    the line of that call, with where it failed: the call is the line to change, not the innermost one."""
    mine = [frame for frame in traceback.extract_tb(tb) if Path(frame.filename).resolve() == path.resolve()]
    if len(mine) < 2 or mine[0].name != "<module>":
        return None
    call, inner = mine[0], mine[-1]
    return UNGUARDED.format(line=call.lineno, call=(call.line or "").strip(), inner=f"line {inner.lineno}, in {inner.name}")


def describe(error: BaseException) -> str:
    """'ValueError: bad id', or just the type when the exception has no text."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__

"""Reading files students handed in without following a link, and writing results whole or not at all."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

IS_A_LINK = "is a symbolic link"
NOT_A_FILE = "is not a regular file"
OUTSIDE = "lies outside the class folder"


class Refused(Exception):
    """A file that will not be opened: which one (relative to its folder), and why not."""

    def __init__(self, what: str, why: str) -> None:
        super().__init__(f"{what} {why}")
        self.what, self.why = what, why


def open_regular(root: Path, parts: tuple[str, ...]) -> int:
    """A read-only descriptor for root/parts..., following no symbolic link below root and opening
    nothing but a regular file (a FIFO would block the reader forever). Raises Refused if not."""
    if ".." in parts or not parts:
        raise Refused("/".join(parts) or ".", OUTSIDE)
    if os.open not in os.supports_dir_fd or not hasattr(os, "O_NOFOLLOW"):
        return _open_regular_by_path(root, parts)
    folder = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        for depth, part in enumerate(parts[:-1], 1):
            inner = _open_step(part, os.O_RDONLY | os.O_DIRECTORY, folder, "/".join(parts[:depth]))
            os.close(folder)
            folder = inner
        fd = _open_step(parts[-1], os.O_RDONLY | os.O_NONBLOCK, folder, "/".join(parts))
    finally:
        os.close(folder)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Refused("/".join(parts), NOT_A_FILE)
    return fd


def _open_step(name: str, flags: int, folder: int, what: str) -> int:
    """Open one path component inside an open folder; a link there is refused, even one swapped in just now."""
    try:
        return os.open(name, flags | os.O_NOFOLLOW, dir_fd=folder)
    except OSError:
        if stat.S_ISLNK(os.lstat(name, dir_fd=folder).st_mode):
            raise Refused(what, IS_A_LINK) from None
        raise


def _open_regular_by_path(root: Path, parts: tuple[str, ...]) -> int:
    """Where descriptors relative to a folder are not to be had (Windows): check each step, then open."""
    for depth in range(1, len(parts) + 1):
        if root.joinpath(*parts[:depth]).is_symlink():
            raise Refused("/".join(parts[:depth]), IS_A_LINK)
    path = root.joinpath(*parts)
    if root.resolve() not in path.resolve().parents:
        raise Refused("/".join(parts), OUTSIDE)
    if not path.is_file():
        raise Refused("/".join(parts), NOT_A_FILE)
    return os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))


def copy_regular(root: Path, parts: tuple[str, ...], target: Path) -> None:
    """Copy root/parts... to target (which must not exist yet), through a descriptor opened without following links."""
    with os.fdopen(open_regular(root, parts), "rb") as source, open(target, "xb") as copy:
        shutil.copyfileobj(source, copy)


def read_regular(root: Path, parts: tuple[str, ...], cap: int) -> bytes:
    """At most cap + 1 bytes of root/parts...: one byte more than the cap tells the caller it was larger."""
    with os.fdopen(open_regular(root, parts), "rb") as file:
        return file.read(cap + 1)


def write_atomically(path: Path, data: bytes) -> None:
    """Write a temporary file beside path, then rename it over path: never half a file, and never through a
    link planted at path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise

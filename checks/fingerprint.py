"""`python -m checks.fingerprint`: one hash over the checks and the pinned requirements, to spot edited checks on a fork."""

from __future__ import annotations

import argparse
import ast
import base64
import concurrent.futures
import functools
import hashlib
import importlib.metadata
import importlib.util
import marshal
import multiprocessing
import os
import re
import site
import sys
from collections.abc import Iterable
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


# Stray files: what Python runs that the hash above never reads. The hash skips compiled files (they differ
# between machines), yet Python runs a compiled file instead of its source whenever the file's header matches,
# and runs every .pth file and sitecustomize module of the environment before anything else.

CACHE_DIR = "__pycache__"
HEADER = 16
"""A compiled file's header (PEP 552): magic number, flags, then mtime and size of the source or its hash."""
GRADER_CACHE = Path(".cache", "concurrent-requests-grader")
"""Under the home folder: where official grading keeps the only bytecode its sandboxed Python reads, as
`checks.engine.sandbox.bytecode_cache` names it (unless PYTHONPYCACHEPREFIX names another folder)."""
STARTUP_HOOKS = ("sitecustomize", "usercustomize")
"""Modules the site module imports at every start, wherever on sys.path they are."""

SOURCELESS = "compiled file outside __pycache__: Python imports it as a module that has no source to check"
ORPHAN = "compiled file for {source}, which does not exist, so nothing can show what it holds"
FORGED = "{loader} runs it instead of {source}, and it is not what {source} compiles to"
UNREADABLE = "{loader} runs it instead of {source}, and it is not even valid compiled code"
CACHE_LOADER = "official grading's {loader}"
"""Who runs a file of the grader's bytecode cache: the sandboxed worker, which reads compiled code from there only."""
CACHE_LINK = "a link in the grader's bytecode cache, which the grader never makes: Python would follow it unchecked"
UNOWNED_STARTUP = "runs at every start of this Python, and no installed distribution lists it"
EDITED_STARTUP = "runs at every start of this Python, and differs from what {owner} installed"
STRAY_HEADING = "Files that the fingerprint does not cover, and that Python would run:"
STRAY_ADVICE = (
    "Delete them: a __pycache__ folder, or the grader's bytecode cache (~/.cache/concurrent-requests-grader), can "
    "always be deleted, Python and the grader rebuild them. For a file in the environment, "
    "make a new virtual environment and install into it with `python -m pip install -r requirements.txt`."
)
DIFFERS = (
    "The checks differ from the published ones.\n  expected {expected}\n  found    {found}\n"
    "Something under checks/, requirements.txt, pyproject.toml or conftest.py was edited."
)
NOT_PUBLISHED = "README.md publishes no 'Checks fingerprint: `...`' line."


def stray_files(
    root: Path = ROOT,
    site_dirs: Iterable[Path] | None = None,
    distributions: Iterable | None = None,
    caches: Iterable[Path] | None = None,
) -> list[str]:
    """Everything that would change a grade while the fingerprint stays the same, one line each saying why.

    `caches`: the grader's bytecode caches to check; by default the one official grading uses, if it exists.
    """
    found = stray_bytecode(root)
    for cache in default_caches() if caches is None else caches:
        found += stray_cached_bytecode(Path(cache))
    return found + stray_startup_files(site_dirs, distributions)


def stray_bytecode(root: Path = ROOT) -> list[str]:
    """Compiled files in the covered tree that Python (or pytest) would run and that are not their source, compiled.

    A compiled file that Python would skip now (its header names another version of the source) is left alone: every
    edit leaves one until the next import, and Python replaces it rather than run it.
    """
    found = []
    for path in _bytecode_files(root):
        why = _bytecode_problem(path, root)
        if why:
            found.append(f"{path.relative_to(root).as_posix()}: {why}")
    return found


def _bytecode_files(root: Path) -> list[Path]:
    """Every compiled file Python could import from the covered tree, and from the root, which is on sys.path."""
    candidates = [p for name in COVERED if (root / name).is_dir() for p in (root / name).rglob("*")]
    candidates += [*root.glob("*.pyc"), *(root / CACHE_DIR).glob("*")]
    compiled = {p for p in candidates if p.suffix == ".pyc" or (p.suffix == ".pyo" and p.parent.name == CACHE_DIR)}
    return sorted((p for p in compiled if p.is_file()), key=lambda p: p.relative_to(root).as_posix())


def _bytecode_problem(path: Path, root: Path) -> str | None:
    """Why this compiled file is stray, or None when it is its source's own (or one that nothing here would load)."""
    if path.parent.name != CACHE_DIR:
        return SOURCELESS
    source, kind = _source_of(path.parent.parent, path.name)
    return _compiled_problem(path, source, source.relative_to(root).as_posix(), kind)


def _compiled_problem(
    path: Path, source: Path, shown: str, kind: tuple[str, tuple[int, ...]] | None, loader_name: str = "{loader}"
) -> str | None:
    """Why the compiled file `path`, which `kind` loads for `source`, is stray; None when it is the source's own."""
    if not source.is_file():
        return ORPHAN.format(source=shown)
    if kind is None:
        return None  # another Python's (or another pytest's): this one cannot compile for it, and will never load it
    loader, levels = kind
    data, source_bytes = path.read_bytes(), source.read_bytes()
    if not _runs_instead_of_source(loader, data[:HEADER], source, source_bytes):
        return None
    named = loader_name.format(loader=loader)
    compiled = _expected_code(loader, source, source_bytes, levels)
    if data[HEADER:] in compiled:
        return None  # byte for byte what compiling the source gives: the common case, and no need to digest
    try:
        found = code_digest(data[HEADER:])
    except ValueError:
        return UNREADABLE.format(loader=named, source=shown)
    if found not in {code_digest(code) for code in compiled}:
        return FORGED.format(loader=named, source=shown)
    return None


def _source_of(folder: Path, name: str) -> tuple[Path, tuple[str, tuple[int, ...]] | None]:
    """The source in `folder` that a compiled file named `name` belongs to, and who loads it here (`_cache_kinds`).

    A name this interpreter loads loses exactly its ending (`a.b.cpython-311.pyc` belongs to `a.b.py`); another
    Python's keeps the part before its first dot, unless a longer part names a source that exists.
    """
    for ending, kind in _cache_kinds().items():
        if name.endswith(ending) and len(name) > len(ending):
            return folder / (name.removesuffix(ending) + ".py"), kind
    sources = [folder / f"{name[:i]}.py" for i, c in enumerate(name) if c == "." and i] or [folder / f"{name}.py"]
    return next((source for source in sources if source.is_file()), sources[0]), None


@functools.cache
def _cache_kinds() -> dict[str, tuple[str, tuple[int, ...]]]:
    """Who loads a compiled file with this ending on this interpreter, and at which optimization levels.

    Python loads `NAME.<cache tag>[.opt-N].pyc`; pytest loads the modules it rewrites (tests, conftest files,
    plugins) from `NAME.<cache tag>-pytest-<version>.pyc` (`.pyo` under -O or -OO).
    """
    tag = sys.implementation.cache_tag
    if tag is None:
        return {}
    kinds = {f".{tag}.pyc": ("Python", (0,))} | {f".{tag}.opt-{n}.pyc": ("Python", (n,)) for n in (1, 2)}
    version = _pytest_version()
    if version is not None:
        kinds |= {f".{tag}-pytest-{version}.pyc": ("pytest", (0,)), f".{tag}-pytest-{version}.pyo": ("pytest", (1, 2))}
    return kinds


def _pytest_version() -> str | None:
    try:
        return importlib.metadata.version("pytest")
    except importlib.metadata.PackageNotFoundError:
        return None


def _runs_instead_of_source(loader: str, header: bytes, source: Path, source_bytes: bytes) -> bool:
    """Whether the header makes Python (or pytest) run the compiled file now, under their default settings."""
    if len(header) < HEADER or header[:4] != importlib.util.MAGIC_NUMBER:
        return False
    flags = int.from_bytes(header[4:8], "little")
    hashed = header[8:16] == importlib.util.source_hash(source_bytes)
    if loader == "pytest":
        return flags == 0b11 and hashed
    if flags == 0:
        stat = source.stat()
        return header[8:16] == _uint32(int(stat.st_mtime)) + _uint32(stat.st_size)
    return flags == 0b01 or (flags == 0b11 and hashed)  # unchecked hash: loaded whatever the source now says


def _uint32(number: int) -> bytes:
    return (number & 0xFFFFFFFF).to_bytes(4, "little")


def _expected_code(loader: str, source: Path, source_bytes: bytes, levels: tuple[int, ...]) -> list[bytes]:
    """What compiling the source gives, marshalled, as Python (or pytest, which first rewrites the asserts) would."""
    expected = []
    for level in levels:
        try:
            if loader == "pytest":
                code = _pytest_rewritten(source, source_bytes, level)
            else:
                code = compile(source_bytes, str(source), "exec", dont_inherit=True, optimize=level)
        except (SyntaxError, ValueError):
            continue  # a source that does not compile has no compiled file of its own
        expected.append(marshal.dumps(code))
    return expected


def _pytest_rewritten(source: Path, source_bytes: bytes, level: int):
    """The code pytest caches for a module whose asserts it rewrites, as `_pytest.assertion.rewrite._rewrite_test` does.

    Imported here, not at the top: the module stays stdlib-only, and only a pytest cache file needs pytest.
    """
    from _pytest.assertion.rewrite import rewrite_asserts

    tree = ast.parse(source_bytes, filename=str(source))
    rewrite_asserts(tree, source_bytes, str(source), None)
    return compile(tree, str(source), "exec", dont_inherit=True, optimize=level)


def code_digest(data: bytes) -> bytes:
    """A digest of the code that marshalled `data` holds, equal for two compiles of one source (ValueError if invalid).

    `marshal.loads` is not meant for hostile data, and comparing bytes is not enough: two compiles of one source by
    one interpreter differ in co_filename (the path it was compiled under, which Python replaces with the real one
    when it loads the file) and may differ in bookkeeping (which objects are shared by reference, the order of a
    frozenset). So this reads the format itself and digests the values, leaving those out.
    """
    reader = _MarshalDigest(data)
    try:
        found = reader.item(0)
    except RecursionError:
        raise ValueError("nested too deep") from None
    if reader.pos != len(data) or len(reader.filenames) != 1:
        raise ValueError("trailing data, or code objects that name different files")
    return found


def _digest(tag: bytes, *parts: bytes) -> bytes:
    digest = hashlib.sha256(tag + b"\0")
    for part in parts:
        digest.update(len(part).to_bytes(8, "little") + part)
    return digest.digest()


class _MarshalDigest:
    """Reads CPython's marshal format (3.11 to 3.14, Python/marshal.c) without building an object, only digests.

    It keeps CPython's numbering of shared objects exactly, so that a reference resolves to what CPython would load,
    and refuses anything that compiled code never holds (text floats, references into an unfinished object).
    """

    MAX_DEPTH = 100
    FLAG_REF = 0x80
    SINGLETONS = {ord(c): c.encode() for c in "NFTS."}  # None, False, True, StopIteration, Ellipsis
    NULL, REF = ord("0"), ord("r")

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0
        self.refs: list[bytes | None] = []
        self.filenames: set[bytes] = set()

    def take(self, count: int) -> bytes:
        if count < 0 or self.pos + count > len(self.data):
            raise ValueError("truncated")
        self.pos += count
        return self.data[self.pos - count : self.pos]

    def int32(self) -> int:
        return int.from_bytes(self.take(4), "little", signed=True)

    def size(self) -> int:
        count = self.int32()
        if count < 0:
            raise ValueError("negative size")
        return count

    def item(self, depth: int) -> bytes:
        found = self.read(depth)
        if found is None:
            raise ValueError("NULL where an object belongs")
        return found

    def items(self, count: int, depth: int) -> list[bytes]:
        found = []
        for _ in range(count):
            found.append(self.item(depth))
        return found

    def read(self, depth: int) -> bytes | None:
        if depth > self.MAX_DEPTH:
            raise ValueError("nested too deep")
        code = self.take(1)[0]
        kind = code & ~self.FLAG_REF
        if kind == self.NULL:
            return None
        if kind in self.SINGLETONS:  # marshal.c numbers none of these, even with FLAG_REF set
            return _digest(b"singleton", self.SINGLETONS[kind])
        if kind == self.REF:
            index = self.int32()
            if not 0 <= index < len(self.refs) or self.refs[index] is None:
                raise ValueError("reference to nothing, or into an unfinished object")
            return self.refs[index]
        slot = None
        if code & self.FLAG_REF:  # numbered before its contents are read, as marshal.c does
            slot = len(self.refs)
            self.refs.append(None)
        found = self.value(chr(kind), depth + 1)
        if slot is not None:
            self.refs[slot] = found
        return found

    def value(self, kind: str, depth: int) -> bytes:
        if kind in "iIl":
            return _digest(b"int", self.integer(kind))
        if kind in "gy":
            return _digest(b"float" if kind == "g" else b"complex", self.take(8 if kind == "g" else 16))
        if kind == "s":
            return _digest(b"bytes", self.take(self.size()))
        if kind in "ut":
            return self.text(self.take(self.size()).decode("utf-8", "surrogatepass"))
        if kind in "aA":
            return self.text(self.take(self.size()).decode("latin-1"))
        if kind in "zZ":
            return self.text(self.take(self.take(1)[0]).decode("latin-1"))
        if kind in "()[":
            count = self.take(1)[0] if kind == ")" else self.size()
            return _digest(b"list" if kind == "[" else b"tuple", *self.items(count, depth))
        if kind in "<>":
            return _digest(b"set" if kind == "<" else b"frozenset", *sorted(self.items(self.size(), depth)))
        if kind == "{":
            pairs = []
            while (key := self.read(depth)) is not None:
                pairs += [key, self.item(depth)]
            return _digest(b"dict", *pairs)
        if kind == ":":
            return _digest(b"slice", *self.items(3, depth))
        if kind == "c":
            return self.code(depth)
        raise ValueError(f"marshal type {kind!r} has no place in compiled code")

    def integer(self, kind: str) -> bytes:
        if kind == "i":
            value = self.int32()
        elif kind == "I":
            value = int.from_bytes(self.take(8), "little", signed=True)
        else:
            size = self.int32()
            digits = [int.from_bytes(self.take(2), "little") for _ in range(abs(size))]
            if any(d >= 1 << 15 for d in digits) or (digits and digits[-1] == 0):
                raise ValueError("malformed long")
            value = sum(d << (15 * i) for i, d in enumerate(digits)) * (-1 if size < 0 else 1)
        return value.to_bytes(value.bit_length() // 8 + 1, "little", signed=True)

    @staticmethod
    def text(value: str) -> bytes:
        return _digest(b"str", value.encode("utf-8", "surrogatepass"))

    def code(self, depth: int) -> bytes:
        """A code object, whose fields are the same from 3.11 to 3.14: argcount, posonlyargcount, kwonlyargcount,
        stacksize, flags; code, consts, names, localsplusnames, localspluskinds, filename, name, qualname; firstlineno;
        linetable, exceptiontable."""
        counts = self.take(20)
        first = self.items(8, depth)
        self.filenames.add(first.pop(5))
        firstlineno = self.take(4)
        return _digest(b"code", counts, *first, firstlineno, *self.items(2, depth))


def default_caches() -> list[Path]:
    """The bytecode cache official grading would read now (`checks.engine.sandbox.bytecode_cache`), if it exists."""
    given = os.environ.get("PYTHONPYCACHEPREFIX")
    folder = Path(given) if given else Path.home() / GRADER_CACHE / str(sys.implementation.cache_tag)
    return [folder] if folder.is_dir() else []


def stray_cached_bytecode(cache: Path) -> list[str]:
    """Compiled files in the grader's bytecode cache that a grading worker would run and that are not their source's.

    With a pycache prefix, Python (and pytest) read the compiled form of `/a/b/c.py` from `<cache>/a/b/c.<tag>.pyc`,
    never from `__pycache__`. The grader fills this cache, but student code graded in-process on the same account can
    write there too, and every later official grading would run what it left. Checked as in `stray_bytecode`, except
    for a file whose source is gone: one that Python checks by timestamp is left alone (see `_cached_problem`).
    """
    found: list[str] = []
    paths = _cache_files(cache, found)
    found += [line for line in _map(functools.partial(_cached_problem, cache), paths) if line]
    return sorted(found)


def _cache_files(cache: Path, links: list[str]) -> list[Path]:
    """The compiled files under `cache`. A link goes to `links` instead: the grader never makes one, and the walk
    does not follow one, while Python would."""
    compiled = []
    for folder, dirs, files in os.walk(cache):
        for name in [*dirs, *files]:
            path = Path(folder, name)
            if path.is_symlink():
                links.append(f"{path}: {CACHE_LINK}")
            elif name in files and name.endswith((".pyc", ".pyo")):
                compiled.append(path)
    return sorted(compiled)


def _cached_problem(cache: Path, path: Path) -> str | None:
    """A report line when the compiled file `path` in `cache` is stray, else None.

    Its source is the file at the same path with the cache folder taken off the front and the cache tag off the end.
    When that source is gone, a file checked by timestamp stays unreported: Python would run it only for a source with
    exactly that mtime (to the second) and size, the same bet as a stale file, and it is compared the moment such a
    source exists. That is what every removed project leaves behind (a worker graded without the sandbox writes
    here). A hash-checked file, or one with no valid header, is reported: a source with known content, or any
    source at all for an unchecked hash, would run it.
    """
    source, kind = _source_of(Path("/", *path.parent.relative_to(cache).parts), path.name)
    if not source.is_file():
        with path.open("rb") as handle:
            header = handle.read(HEADER)
        timestamped = len(header) == HEADER and header[4:8] == bytes(4)
        return None if timestamped else f"{path}: {ORPHAN.format(source=source)}"
    why = _compiled_problem(path, source, str(source), kind, CACHE_LOADER)
    return f"{path}: {why}" if why else None


PARALLEL_FROM = 64
"""Files from which checking the cache is spread over processes: compiling a cache's ~1,000 sources takes seconds."""


def _map(function, items: list) -> list:
    """`map`, over one process per CPU (at most 8) when there are many items and the system can fork."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = min(cpus, 8)
    if workers < 2 or len(items) < PARALLEL_FROM or "fork" not in multiprocessing.get_all_start_methods():
        return list(map(function, items))
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(function, items, chunksize=max(1, len(items) // (workers * 8))))


def stray_startup_files(site_dirs: Iterable[Path] | None = None, distributions: Iterable | None = None) -> list[str]:
    """`.pth` files and sitecustomize/usercustomize modules in site-packages that no installed distribution owns.

    Python runs them at every start, before pytest or the checks exist, so they can change any grade. A file counts as
    owned when a distribution's RECORD lists it with a hash and the file still has that hash.
    """
    folders = _site_dirs() if site_dirs is None else [Path(d) for d in site_dirs]
    owned = _recorded_startup_files(importlib.metadata.distributions() if distributions is None else distributions)
    found = []
    for folder in folders:
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            if not _runs_at_startup(path):
                continue
            owner, expected = owned.get(path.resolve(), (None, None))
            if owner is None:
                found.append(f"{path}: {UNOWNED_STARTUP}")
            elif not path.is_file() or _record_hash(path.read_bytes(), expected.mode) != expected.value:
                found.append(f"{path}: {EDITED_STARTUP.format(owner=owner)}")
    return found


def _site_dirs() -> list[Path]:
    """The site-packages folders whose .pth files this interpreter reads at start (the user's only when enabled)."""
    folders = [*site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        folders.append(site.getusersitepackages())
    unique: dict[Path, Path] = {}
    for folder in folders:
        unique.setdefault(Path(folder).resolve(), Path(folder))
    return list(unique.values())


def _runs_at_startup(path: Path) -> bool:
    return path.suffix == ".pth" or path.name.partition(".")[0] in STARTUP_HOOKS


def _recorded_startup_files(distributions: Iterable) -> dict[Path, tuple[str, importlib.metadata.FileHash]]:
    """Startup files the distributions list with a hash in their RECORD: resolved path -> (distribution, hash)."""
    owned = {}
    for dist in distributions:
        for entry in dist.files or []:
            hashed = entry.hash is not None and entry.hash.mode in hashlib.algorithms_guaranteed
            if hashed and _runs_at_startup(Path(entry.name)):
                owned[Path(dist.locate_file(entry)).resolve()] = (dist.name, entry.hash)
    return owned


def _record_hash(data: bytes, mode: str) -> str:
    """A file's hash as RECORD writes it (PEP 376, wheel spec): urlsafe base64 without padding."""
    return base64.urlsafe_b64encode(hashlib.new(mode, data).digest()).rstrip(b"=").decode()


def _report_stray(stray: list[str]) -> None:
    if stray:
        print("\n".join([STRAY_HEADING, *(f"  {line}" for line in stray), STRAY_ADVICE]), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m checks.fingerprint", description=__doc__.splitlines()[0])
    which = cli.add_mutually_exclusive_group()
    which.add_argument("--verify", metavar="HEX", help="exit 1 unless the fingerprint is this one and nothing is stray")
    which.add_argument("--verify-readme", action="store_true", help="exit 1 unless it is the one README.md publishes")
    args = cli.parse_args(argv)
    current = fingerprint()
    if args.verify_readme:
        args.verify = published()
        if args.verify is None:
            print(NOT_PUBLISHED, file=sys.stderr)
            return 1
    stray = stray_files()
    if args.verify is None:
        print(current)
        _report_stray(stray)
        return 0
    same = args.verify.strip().lower() == current
    if not same:
        print(DIFFERS.format(expected=args.verify.strip(), found=current), file=sys.stderr)
    _report_stray(stray)
    if same and not stray:
        print(f"checks unchanged: {current}")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())

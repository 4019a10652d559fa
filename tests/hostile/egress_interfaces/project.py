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


# --- attack: list network interfaces and try to reach the canary through any that is not lo ---
_HOSTILE_CLASS_DIR = "__CLASS_DIR__"  # tests/test_hostile.py writes the class folder here; left as is, nothing below runs


_HOSTILE_LEAK = b"LEAK egress_interfaces\n"


def _hostile_port(placeholder="__CANARY_PORT__"):
    return int(placeholder)


if os.path.isabs(_HOSTILE_CLASS_DIR):
    try:
        import socket

        _hostile_names = set()
        try:
            _hostile_names |= {name for _index, name in socket.if_nameindex()}
        except BaseException:
            pass
        try:
            _hostile_names |= set(os.listdir("/sys/class/net"))
        except BaseException:
            pass
        for _hostile_name in sorted(_hostile_names - {"lo"}):
            for _hostile_type, _hostile_port_of in ((socket.SOCK_STREAM, _hostile_port),
                                                    (socket.SOCK_DGRAM, lambda: int("__CANARY_UDP_PORT__"))):
                _hostile_sock = socket.socket(socket.AF_INET, _hostile_type)
                try:
                    _hostile_sock.settimeout(3)
                    _hostile_sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_BINDTODEVICE", 25), _hostile_name.encode())
                    _hostile_sock.connect(("127.0.0.1", _hostile_port_of()))
                    _hostile_sock.send(_HOSTILE_LEAK)
                except BaseException:
                    pass
                finally:
                    _hostile_sock.close()
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

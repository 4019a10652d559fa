"""Concurrent Requests, in a compact functional style, with main() reporting through its own logger.

gather() is fed with map() and functools.partial; fetch_two_endpoints zips ids and results back
apart. A module-level logger with a StreamHandler(sys.stdout) (not basicConfig) prints main()'s
lines. Fix 3 uses try / except / else / finally, returning from the else branch.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from functools import partial

import aiohttp
import requests

BASE_URL = os.environ.get("API_BASE_URL", "https://jsonplaceholder.typicode.com")
POST_IDS = list(range(1, 11))

log = logging.getLogger("concurrent_requests")
_handler = logging.StreamHandler(sys.stdout)
_handler.setFormatter(logging.Formatter("%(message)s"))
log.addHandler(_handler)
log.setLevel(logging.INFO)
log.propagate = False


def _get(url):
    response = requests.get(url, timeout=10)
    response.raise_for_status()
    return response.json()


def fetch_sync(post_ids=POST_IDS):
    return list(map(_get, (f"{BASE_URL}/posts/{i}" for i in post_ids)))


async def _get_json(session, url):
    async with session.get(url) as response:
        response.raise_for_status()
        return await response.json()


async def fetch_one(session, post_id):
    return await _get_json(session, f"{BASE_URL}/posts/{post_id}")


async def fetch_async(post_ids=POST_IDS):
    async with aiohttp.ClientSession() as session:
        return list(await asyncio.gather(*map(partial(fetch_one, session), post_ids)))


async def fetch_async_limited(post_ids=POST_IDS, max_concurrent=5):
    semaphore = asyncio.Semaphore(max_concurrent)

    async def one(session, post_id):
        async with semaphore:
            return await fetch_one(session, post_id)

    async with aiohttp.ClientSession() as session:
        return list(await asyncio.gather(*map(partial(one, session), post_ids)))


async def fetch_two_endpoints(post_ids=POST_IDS, user_ids=range(1, 6)):
    urls = [*(f"{BASE_URL}/posts/{i}" for i in post_ids), *(f"{BASE_URL}/users/{i}" for i in user_ids)]
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*map(partial(_get_json, session), urls))
    kinds = ["/posts/" in url for url in urls]
    posts = [r for r, is_post in zip(results, kinds) if is_post]
    users = [r for r, is_post in zip(results, kinds) if not is_post]
    return posts, users


async def _result_or_error(coro):
    try:
        return await coro
    except Exception as error:
        return error


async def fetch_async_safe(post_ids=POST_IDS):
    async with aiohttp.ClientSession() as session:
        return list(await asyncio.gather(*(_result_or_error(fetch_one(session, i)) for i in post_ids)))


async def fetch_one_with_timeout(session, post_id, timeout):
    return await asyncio.wait_for(fetch_one(session, post_id), timeout=timeout)


async def fetch_async_with_timeout(post_ids=POST_IDS, timeout=1.0):
    async with aiohttp.ClientSession() as session:
        fetch = partial(fetch_one_with_timeout, session, timeout=timeout)
        return list(await asyncio.gather(*(_result_or_error(fetch(i)) for i in post_ids)))


async def fetch_async_manual_session(post_ids=POST_IDS):
    session = aiohttp.ClientSession()
    try:
        posts = await asyncio.gather(*map(partial(fetch_one, session), post_ids))
    except Exception:
        log.warning("the batch failed")
        raise
    else:
        return list(posts)
    finally:
        await session.close()


def _log_post(post):
    log.info('Fetched post %s: "%s..." (%s chars)', post["id"], post["title"][:15], len(post["body"]))


def main(count=10):
    post_ids = range(1, count + 1)

    log.info("--- Sync requests (one at a time) ---")
    started = time.perf_counter()
    for post in fetch_sync(post_ids):
        _log_post(post)
    log.info("Sync total: ~%.1f seconds for %d requests", time.perf_counter() - started, count)

    log.info("")
    log.info("--- Async requests (all at once) ---")
    started = time.perf_counter()
    for post in asyncio.run(fetch_async(post_ids)):
        _log_post(post)
    log.info("Async total: ~%.1f seconds for %d requests", time.perf_counter() - started, count)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)

"""Concurrent Requests, built from two generic helpers, with an older-style event loop in main().

`get_json(session, path)` fetches any path (posts and users alike) and `settle(awaitable)` turns a
failure into a value, so Fix 1 and Fix 2 are one line each. Fix 3 checks `session.closed` in its
finally block. main() makes its own event loop (new_event_loop / run_until_complete / close) and
prints its totals with %-formatting.
"""

import asyncio
import os
import sys
import time

import aiohttp
import requests

BASE_URL = os.environ.get("API_BASE_URL", "https://jsonplaceholder.typicode.com")
POST_IDS = list(range(1, 11))


def fetch_sync(post_ids=POST_IDS):
    def get(post_id):
        response = requests.get("%s/posts/%s" % (BASE_URL, post_id), timeout=10)
        response.raise_for_status()
        return response.json()

    return [get(post_id) for post_id in post_ids]


async def get_json(session, path):
    async with session.get(BASE_URL + path) as response:
        response.raise_for_status()
        return await response.json()


async def settle(awaitable):
    """The awaitable's result, or the exception it raised."""
    try:
        return await awaitable
    except Exception as error:
        return error


async def fetch_one(session, post_id):
    return await get_json(session, f"/posts/{post_id}")


async def fetch_async(post_ids=POST_IDS):
    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*[get_json(session, f"/posts/{i}") for i in post_ids])


async def fetch_async_limited(post_ids=POST_IDS, max_concurrent=5):
    gate = asyncio.Semaphore(max_concurrent)

    async def gated(session, path):
        async with gate:
            return await get_json(session, path)

    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*[gated(session, f"/posts/{i}") for i in post_ids])


async def fetch_two_endpoints(post_ids=POST_IDS, user_ids=range(1, 6)):
    paths = [f"/posts/{i}" for i in post_ids] + [f"/users/{i}" for i in user_ids]
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*[get_json(session, p) for p in paths])
    posts = [r for p, r in zip(paths, results) if p.startswith("/posts/")]
    users = [r for p, r in zip(paths, results) if p.startswith("/users/")]
    return posts, users


async def fetch_async_safe(post_ids=POST_IDS):
    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*[settle(fetch_one(session, i)) for i in post_ids])


async def fetch_one_with_timeout(session, post_id, timeout):
    return await asyncio.wait_for(fetch_one(session, post_id), timeout)


async def fetch_async_with_timeout(post_ids=POST_IDS, timeout=1.0):
    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*[settle(fetch_one_with_timeout(session, i, timeout)) for i in post_ids])


async def fetch_async_manual_session(post_ids=POST_IDS):
    session = aiohttp.ClientSession()
    try:
        return await asyncio.gather(*[fetch_one(session, i) for i in post_ids])
    finally:
        if not session.closed:
            await session.close()


def show(post):
    print('Fetched post %d: "%s..." (%d chars)' % (post["id"], post["title"][:15], len(post["body"])))


def main(count=10):
    post_ids = list(range(1, count + 1))

    print("--- Sync requests (one at a time) ---")
    start = time.perf_counter()
    for post in fetch_sync(post_ids):
        show(post)
    print("Sync total: ~%.1f seconds for %d requests" % (time.perf_counter() - start, count))
    print()

    print("--- Async requests (all at once) ---")
    start = time.perf_counter()
    loop = asyncio.new_event_loop()
    try:
        posts = loop.run_until_complete(fetch_async(post_ids))
    finally:
        loop.close()
    for post in posts:
        show(post)
    print("Async total: ~%.1f seconds for %d requests" % (time.perf_counter() - start, count))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)

"""Concurrent Requests, where fetch_one takes an optional semaphore and every batch shares one code path.

fetch_one(session, post_id, semaphore=None) holds the semaphore (or contextlib.nullcontext()) for
the whole request, body included; Alter 2 is fetch_async with a semaphore passed in. The deadline
is an `async with asyncio.timeout(...)` inside each request's own wrapper. main() prints ids as
"#N" and totals in "secs".
"""

import asyncio
import contextlib
import os
import sys
import time

import aiohttp
import requests

BASE_URL = os.environ.get("API_BASE_URL", "https://jsonplaceholder.typicode.com")
POST_IDS = list(range(1, 11))


def fetch_sync(post_ids=POST_IDS):
    posts = []
    session = requests.Session()
    for post_id in post_ids:
        response = session.get(f"{BASE_URL}/posts/{post_id}", timeout=10)
        response.raise_for_status()
        posts.append(response.json())
    session.close()
    return posts


async def fetch_one(session, post_id, semaphore=None):
    async with semaphore or contextlib.nullcontext():
        async with session.get(f"{BASE_URL}/posts/{post_id}") as response:
            response.raise_for_status()
            return await response.json()


async def _batch(post_ids, semaphore=None, wrap=None):
    async with aiohttp.ClientSession() as session:
        jobs = [fetch_one(session, post_id, semaphore) for post_id in post_ids]
        if wrap is not None:
            jobs = [wrap(job) for job in jobs]
        return await asyncio.gather(*jobs)


async def fetch_async(post_ids=POST_IDS):
    return await _batch(post_ids)


async def fetch_async_limited(post_ids=POST_IDS, max_concurrent=5):
    return await _batch(post_ids, semaphore=asyncio.Semaphore(max_concurrent))


async def fetch_user(session, user_id):
    async with session.get(f"{BASE_URL}/users/{user_id}") as response:
        response.raise_for_status()
        return await response.json()


async def fetch_two_endpoints(post_ids=POST_IDS, user_ids=range(1, 6)):
    post_ids, user_ids = list(post_ids), list(user_ids)
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(
            *[fetch_one(session, p) for p in post_ids],
            *[fetch_user(session, u) for u in user_ids],
        )
    return results[: len(post_ids)], results[len(post_ids):]


async def _or_exception(job):
    try:
        return await job
    except Exception as exc:
        return exc


async def fetch_async_safe(post_ids=POST_IDS):
    return await _batch(post_ids, wrap=_or_exception)


async def fetch_one_with_timeout(session, post_id, timeout):
    async with asyncio.timeout(timeout):
        return await fetch_one(session, post_id)


async def fetch_async_with_timeout(post_ids=POST_IDS, timeout=1.0):
    async def one(session, post_id):
        try:
            async with asyncio.timeout(timeout):
                return await fetch_one(session, post_id)
        except TimeoutError as exc:
            return exc

    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*[one(session, p) for p in post_ids])


async def fetch_async_manual_session(post_ids=POST_IDS):
    session = aiohttp.ClientSession()
    try:
        posts = await asyncio.gather(*[fetch_one(session, p) for p in post_ids])
    except Exception:
        print("a request failed; closing the session", file=sys.stderr)
        raise
    finally:
        await session.close()
    return posts


def main(count=10):
    post_ids = list(range(1, count + 1))

    print("--- Sync requests (one at a time) ---")
    start = time.perf_counter()
    posts = fetch_sync(post_ids)
    elapsed = time.perf_counter() - start
    for post in posts:
        print(f"Fetched post #{post['id']}: \"{post['title'][:15]}...\" ({len(post['body'])} chars)")
    print(f"Sync total: ~{elapsed:.1f} secs for {count} requests")

    print()
    print("--- Async requests (all at once) ---")
    start = time.perf_counter()
    posts = asyncio.run(fetch_async(post_ids))
    elapsed = time.perf_counter() - start
    for post in posts:
        print(f"Fetched post #{post['id']}: \"{post['title'][:15]}...\" ({len(post['body'])} chars)")
    print(f"Async total: ~{elapsed:.1f} secs for {count} requests")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)

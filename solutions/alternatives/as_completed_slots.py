"""Concurrent Requests, collecting results with asyncio.as_completed and putting each back in its slot.

Each coroutine hands back (slot, result), so the results can be placed in the order of the ids even
though they are read in the order they finish. fetch_one raises ClientResponseError by hand and
parses `await response.text()` with json.loads; fetch_sync raises requests.HTTPError by hand too.
Posts and users come back from one gather() of two inner gathers. main() times with time.time().
"""

import asyncio
import json
import os
import sys
import time

import aiohttp
import requests

BASE_URL = os.environ.get("API_BASE_URL", "https://jsonplaceholder.typicode.com")
POST_IDS = list(range(1, 11))


def fetch_sync(post_ids=POST_IDS):
    posts = []
    for post_id in post_ids:
        url = f"{BASE_URL}/posts/{post_id}"
        response = requests.get(url, timeout=10)
        if response.status_code >= 400:
            raise requests.HTTPError(f"{response.status_code} error for {url}", response=response)
        posts.append(response.json())
    return posts


async def fetch_one(session, post_id):
    async with session.get(f"{BASE_URL}/posts/{post_id}") as response:
        if response.status >= 400:
            raise aiohttp.ClientResponseError(
                response.request_info,
                response.history,
                status=response.status,
                message=response.reason or "",
                headers=response.headers,
            )
        text = await response.text()
    return json.loads(text)


async def _in_slot(slot, coro):
    return slot, await coro


async def _collect(coros):
    """Await every coroutine at once; results go back in the order the coroutines were given."""
    results = [None] * len(coros)
    for finished in asyncio.as_completed([_in_slot(i, c) for i, c in enumerate(coros)]):
        slot, value = await finished
        results[slot] = value
    return results


async def fetch_async(post_ids=POST_IDS):
    async with aiohttp.ClientSession() as session:
        return await _collect([fetch_one(session, pid) for pid in post_ids])


async def fetch_async_limited(post_ids=POST_IDS, max_concurrent=5):
    semaphore = asyncio.Semaphore(max_concurrent)

    async def limited(session, post_id):
        async with semaphore:
            return await fetch_one(session, post_id)

    async with aiohttp.ClientSession() as session:
        return await _collect([limited(session, pid) for pid in post_ids])


async def fetch_user(session, user_id):
    async with session.get(f"{BASE_URL}/users/{user_id}") as response:
        response.raise_for_status()
        return json.loads(await response.text())


async def fetch_two_endpoints(post_ids=POST_IDS, user_ids=range(1, 6)):
    async with aiohttp.ClientSession() as session:
        posts, users = await asyncio.gather(
            asyncio.gather(*[fetch_one(session, pid) for pid in post_ids]),
            asyncio.gather(*[fetch_user(session, uid) for uid in user_ids]),
        )
    return posts, users


async def fetch_async_safe(post_ids=POST_IDS):
    async def fetch_or_exception(session, post_id):
        try:
            return await fetch_one(session, post_id)
        except Exception as exc:
            return exc

    async with aiohttp.ClientSession() as session:
        return await _collect([fetch_or_exception(session, pid) for pid in post_ids])


async def fetch_one_with_timeout(session, post_id, timeout):
    async with asyncio.timeout(timeout):
        return await fetch_one(session, post_id)


async def fetch_async_with_timeout(post_ids=POST_IDS, timeout=1.0):
    async def fetch_or_timeout(session, post_id):
        try:
            return await fetch_one_with_timeout(session, post_id, timeout)
        except TimeoutError as exc:
            return exc

    async with aiohttp.ClientSession() as session:
        return await _collect([fetch_or_timeout(session, pid) for pid in post_ids])


async def fetch_async_manual_session(post_ids=POST_IDS):
    session = aiohttp.ClientSession()
    try:
        return await asyncio.gather(*[fetch_one(session, pid) for pid in post_ids])
    finally:
        await session.close()


def show(post):
    print(f'Fetched post {post["id"]}: "{post["title"][:15]}..." ({len(post["body"])} chars)')


def main(count=10):
    post_ids = list(range(1, count + 1))

    print("--- Sync requests (one at a time) ---")
    start = time.time()
    for post in fetch_sync(post_ids):
        show(post)
    print(f"Sync total: ~{time.time() - start:.1f} seconds for {count} requests")

    print()
    print("--- Async requests (all at once) ---")
    start = time.time()
    for post in asyncio.run(fetch_async(post_ids)):
        show(post)
    print(f"Async total: ~{time.time() - start:.1f} seconds for {count} requests")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)

"""Concurrent Requests, reading raw bytes, with raise_for_status=True on the sessions it makes, and Fix 1 built on asyncio.wait.

fetch_one checks `response.ok` itself (the session it is given may not raise), reads
`await response.read()` and parses it with json.loads. The sessions this file opens are made with
raise_for_status=True. Fix 1 starts one task per post, waits for all with asyncio.wait, then reads
each task's exception or result. main() prints "Fetched post #N" and totals in "s".
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import aiohttp
import requests

BASE_URL = os.environ.get("API_BASE_URL", "https://jsonplaceholder.typicode.com")
POST_IDS = list(range(1, 11))


def new_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(raise_for_status=True)


def fetch_sync(post_ids=POST_IDS):
    posts = []
    for post_id in post_ids:
        response = requests.get(f"{BASE_URL}/posts/{post_id}", timeout=10)
        response.raise_for_status()
        posts.append(json.loads(response.content))
    return posts


async def fetch_one(session, post_id):
    async with session.get(f"{BASE_URL}/posts/{post_id}") as response:
        if not response.ok:
            response.raise_for_status()
        raw = await response.read()
    return json.loads(raw)


async def fetch_async(post_ids=POST_IDS):
    async with new_session() as session:
        return await asyncio.gather(*(fetch_one(session, pid) for pid in post_ids))


async def fetch_async_limited(post_ids=POST_IDS, max_concurrent=5):
    semaphore = asyncio.Semaphore(max_concurrent)

    async def fetch_in_turn(session, pid):
        async with semaphore:
            return await fetch_one(session, pid)

    async with new_session() as session:
        return await asyncio.gather(*(fetch_in_turn(session, pid) for pid in post_ids))


async def fetch_user(session, user_id):
    async with session.get(f"{BASE_URL}/users/{user_id}") as response:
        return json.loads(await response.read())


async def fetch_two_endpoints(post_ids=POST_IDS, user_ids=range(1, 6)):
    post_ids = list(post_ids)
    async with new_session() as session:
        results = await asyncio.gather(
            *(fetch_one(session, pid) for pid in post_ids),
            *(fetch_user(session, uid) for uid in user_ids),
        )
    return results[: len(post_ids)], results[len(post_ids):]


async def fetch_async_safe(post_ids=POST_IDS):
    async with new_session() as session:
        tasks = [asyncio.create_task(fetch_one(session, pid)) for pid in post_ids]
        if tasks:  # asyncio.wait() refuses an empty set
            await asyncio.wait(tasks)
    return [task.exception() or task.result() for task in tasks]


async def fetch_one_with_timeout(session, post_id, timeout):
    return await asyncio.wait_for(fetch_one(session, post_id), timeout=timeout)


async def fetch_async_with_timeout(post_ids=POST_IDS, timeout=1.0):
    async with new_session() as session:
        tasks = [asyncio.create_task(fetch_one_with_timeout(session, pid, timeout)) for pid in post_ids]
        if tasks:
            await asyncio.wait(tasks)
    results = []
    for task in tasks:
        error = task.exception()
        if error is not None and not isinstance(error, asyncio.TimeoutError):
            raise error
        results.append(error or task.result())
    return results


async def fetch_async_manual_session(post_ids=POST_IDS):
    session = new_session()
    try:
        return await asyncio.gather(*(fetch_one(session, pid) for pid in post_ids))
    finally:
        await session.close()


def show(post):
    title, body = post["title"], post["body"]
    print(f'Fetched post #{post["id"]}: "{title[:15]}..." ({len(body)} chars)')


def main(count=10):
    post_ids = list(range(1, count + 1))

    print("--- Sync requests (one at a time) ---")
    begin = time.perf_counter()
    for post in fetch_sync(post_ids):
        show(post)
    print(f"Sync total: ~{time.perf_counter() - begin:.3f} s for {count} requests")

    print()
    print("--- Async requests (all at once) ---")
    begin = time.perf_counter()
    for post in asyncio.run(fetch_async(post_ids)):
        show(post)
    print(f"Async total: ~{time.perf_counter() - begin:.3f} s for {count} requests")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)

"""Concurrent Requests, with connectors made and closed by hand, and a limiter that waits before creating each task.

Fix 3 makes a TCPConnector and a session that does not own it (connector_owner=False), so the
finally block closes both. fetch_async enters the connector and the session in one `async with`.
Alter 2 acquires the semaphore before it creates each request's task and releases it from the
task's done callback. The deadline in Fix 2 is an asyncio.timeout_at() block.
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
    out = []
    for post_id in post_ids:
        resp = requests.get(f"{BASE_URL}/posts/{post_id}", timeout=10)
        resp.raise_for_status()
        out.append(resp.json())
    return out


async def fetch_one(session, post_id):
    async with session.get(f"{BASE_URL}/posts/{post_id}") as resp:
        resp.raise_for_status()
        return await resp.json()


async def fetch_async(post_ids=POST_IDS):
    async with aiohttp.TCPConnector() as connector, aiohttp.ClientSession(connector=connector) as session:
        return await asyncio.gather(*(fetch_one(session, pid) for pid in post_ids))


async def fetch_async_limited(post_ids=POST_IDS, max_concurrent=5):
    slots = asyncio.Semaphore(max_concurrent)
    tasks = []
    async with aiohttp.ClientSession() as session:
        try:
            for post_id in post_ids:
                await slots.acquire()
                task = asyncio.create_task(fetch_one(session, post_id))
                task.add_done_callback(lambda _: slots.release())
                tasks.append(task)
            return await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()


async def fetch_user(session, user_id):
    async with session.get(f"{BASE_URL}/users/{user_id}") as resp:
        resp.raise_for_status()
        return await resp.json()


async def fetch_two_endpoints(post_ids=POST_IDS, user_ids=range(1, 6)):
    post_ids = list(post_ids)
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(
            *(fetch_one(session, pid) for pid in post_ids),
            *(fetch_user(session, uid) for uid in user_ids),
        )
    return results[: len(post_ids)], results[len(post_ids):]


async def fetch_async_safe(post_ids=POST_IDS):
    async def attempt(session, post_id):
        try:
            return await fetch_one(session, post_id)
        except Exception as e:
            return e

    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*(attempt(session, pid) for pid in post_ids))


async def fetch_one_with_timeout(session, post_id, timeout):
    deadline = asyncio.get_running_loop().time() + timeout
    async with asyncio.timeout_at(deadline):
        return await fetch_one(session, post_id)


async def fetch_async_with_timeout(post_ids=POST_IDS, timeout=1.0):
    async def attempt(session, post_id):
        try:
            return await fetch_one_with_timeout(session, post_id, timeout)
        except asyncio.TimeoutError as e:
            return e

    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*(attempt(session, pid) for pid in post_ids))


async def fetch_async_manual_session(post_ids=POST_IDS):
    connector = aiohttp.TCPConnector()
    session = aiohttp.ClientSession(connector=connector, connector_owner=False)
    try:
        return await asyncio.gather(*(fetch_one(session, pid) for pid in post_ids))
    finally:
        await session.close()
        await connector.close()


def print_post(post):
    print(f'Fetched post {post["id"]}: "{post["title"][:15]}..." ({len(post["body"])} chars)', flush=True)


def main(count=10):
    post_ids = list(range(1, count + 1))

    print("--- Sync requests (one at a time) ---")
    t = time.perf_counter()
    for post in fetch_sync(post_ids):
        print_post(post)
    t = time.perf_counter() - t
    print(f"Sync total: ~{t:.1f} seconds for {count} requests")

    print()
    print("--- Async requests (all at once) ---")
    t = time.perf_counter()
    posts = asyncio.run(fetch_async(post_ids))
    t = time.perf_counter() - t
    for post in posts:
        print_post(post)
    print(f"Async total: ~{t:.1f} seconds for {count} requests")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)

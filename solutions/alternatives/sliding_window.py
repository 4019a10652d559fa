"""Concurrent Requests, limiting Alter 2 with a sliding window of tasks and asyncio.wait(FIRST_COMPLETED).

At most max_concurrent tasks exist at a time; each time some finish, as many new ones start. Fix 1
makes tasks up front and hands them to gather(return_exceptions=True). fetch_one awaits
session.get() without `async with` and releases the response in a finally block. main() runs one
coroutine per phase with asyncio.run(), and that coroutine prints each post as it arrives.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import aiohttp
import requests

BASE_URL = os.environ.get("API_BASE_URL", "https://jsonplaceholder.typicode.com")
POST_IDS = list(range(1, 11))


def fetch_sync(post_ids=POST_IDS):
    """One request after another, on one requests.Session closed at the end."""
    http = requests.Session()
    try:
        results = []
        for post_id in post_ids:
            response = http.get(f"{BASE_URL}/posts/{post_id}", timeout=10)
            response.raise_for_status()
            results.append(response.json())
        return results
    finally:
        http.close()


async def fetch_one(session, post_id):
    response = await session.get(f"{BASE_URL}/posts/{post_id}")
    try:
        response.raise_for_status()
        return await response.json()
    finally:
        response.release()


async def fetch_async(post_ids=POST_IDS):
    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(fetch_one(session, pid)) for pid in post_ids]
        return await asyncio.gather(*tasks)


async def fetch_async_limited(post_ids=POST_IDS, max_concurrent=5):
    """Keep a window of at most max_concurrent running tasks; refill it whenever any finish."""
    results = [None] * len(post_ids)
    waiting = list(enumerate(post_ids))
    waiting.reverse()  # pop() from the end takes them in order
    running = {}  # task -> slot

    async with aiohttp.ClientSession() as session:

        def refill():
            while waiting and len(running) < max_concurrent:
                slot, post_id = waiting.pop()
                running[asyncio.create_task(fetch_one(session, post_id))] = slot

        refill()
        try:
            while running:
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    results[running.pop(task)] = task.result()
                refill()
        finally:
            for task in running:
                task.cancel()
    return results


async def fetch_user(session, user_id):
    response = await session.get(f"{BASE_URL}/users/{user_id}")
    try:
        response.raise_for_status()
        return await response.json()
    finally:
        response.release()


async def fetch_two_endpoints(post_ids=POST_IDS, user_ids=range(1, 6)):
    post_ids, user_ids = list(post_ids), list(user_ids)
    async with aiohttp.ClientSession() as session:
        everything = await asyncio.gather(
            *[fetch_one(session, pid) for pid in post_ids],
            *[fetch_user(session, uid) for uid in user_ids],
        )
    n = len(post_ids)
    return list(everything[:n]), list(everything[n:])


async def fetch_async_safe(post_ids=POST_IDS):
    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(fetch_one(session, pid)) for pid in post_ids]
        return await asyncio.gather(*tasks, return_exceptions=True)


async def fetch_one_with_timeout(session, post_id, timeout):
    return await asyncio.wait_for(fetch_one(session, post_id), timeout)


async def fetch_async_with_timeout(post_ids=POST_IDS, timeout=1.0):
    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(fetch_one_with_timeout(session, pid, timeout)) for pid in post_ids]
        return await asyncio.gather(*tasks, return_exceptions=True)


async def fetch_async_manual_session(post_ids=POST_IDS):
    session = aiohttp.ClientSession()
    try:
        tasks = [asyncio.create_task(fetch_one(session, pid)) for pid in post_ids]
        return await asyncio.gather(*tasks)
    finally:
        await session.close()


def line(post, seconds):
    return f'Fetched post {post["id"]}: "{post["title"][:15]}..." ({len(post["body"])} chars) in {seconds:.2f}s'


async def async_phase(post_ids):
    """Fetch everything at once and print each post the moment it arrives."""

    async def timed(session, post_id):
        began = time.perf_counter()
        post = await fetch_one(session, post_id)
        print(line(post, time.perf_counter() - began))
        return post

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(timed(session, pid) for pid in post_ids))


def main(count=10):
    post_ids = list(range(1, count + 1))

    print("--- Sync requests (one at a time) ---")
    began_all = time.perf_counter()
    with requests.Session() as http:
        for post_id in post_ids:
            began = time.perf_counter()
            response = http.get(f"{BASE_URL}/posts/{post_id}", timeout=10)
            response.raise_for_status()
            print(line(response.json(), time.perf_counter() - began))
    print(f"Sync total: {time.perf_counter() - began_all:.2f}s for {count} requests")

    print()
    print("--- Async requests (all at once) ---")
    began_all = time.perf_counter()
    asyncio.run(async_phase(post_ids))
    print(f"Async total: {time.perf_counter() - began_all:.2f}s for {count} requests")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)

"""Concurrent Requests, with a decorator that limits a coroutine function and results kept in a dict by slot.

Alter 2 wraps fetch_one in `limited(semaphore)`, a decorator that holds the semaphore for each
call. The batches store each result in a dict keyed by its position in the ids (a repeated id keeps
both of its slots) and read it back in order. Fix 2 runs one TaskGroup of requests, each inside
its own `async with asyncio.timeout(...)`.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import time

import aiohttp
import requests

BASE_URL = os.environ.get("API_BASE_URL", "https://jsonplaceholder.typicode.com")
POST_IDS = list(range(1, 11))


def fetch_sync(post_ids=POST_IDS):
    """Each request waits for the one before it; an error status raises requests.HTTPError."""
    with requests.Session() as http:
        posts = []
        for post_id in post_ids:
            response = http.get(f"{BASE_URL}/posts/{post_id}", timeout=10)
            if not response.ok:
                response.raise_for_status()
            posts.append(response.json())
        return posts


async def fetch_one(session, post_id):
    async with session.get(f"{BASE_URL}/posts/{post_id}") as response:
        response.raise_for_status()
        return await response.json()


def limited(semaphore):
    """Decorator: every call of the wrapped coroutine function holds `semaphore` until it returns."""

    def decorate(fn):
        @functools.wraps(fn)
        async def wrapper(*args, **kwargs):
            async with semaphore:
                return await fn(*args, **kwargs)

        return wrapper

    return decorate


async def _in_order(jobs):
    """Run every job at once; the results in the order the jobs were given."""
    results = {}

    async def run(slot, job):
        results[slot] = await job

    await asyncio.gather(*(run(slot, job) for slot, job in enumerate(jobs)))
    return [results[slot] for slot in range(len(jobs))]


async def fetch_async(post_ids=POST_IDS):
    async with aiohttp.ClientSession() as session:
        return await _in_order([fetch_one(session, pid) for pid in post_ids])


async def fetch_async_limited(post_ids=POST_IDS, max_concurrent=5):
    fetch = limited(asyncio.Semaphore(max_concurrent))(fetch_one)
    async with aiohttp.ClientSession() as session:
        return await _in_order([fetch(session, pid) for pid in post_ids])


async def fetch_user(session, user_id):
    async with session.get(f"{BASE_URL}/users/{user_id}") as response:
        response.raise_for_status()
        return await response.json()


async def fetch_two_endpoints(post_ids=POST_IDS, user_ids=range(1, 6)):
    post_ids, user_ids = list(post_ids), list(user_ids)
    async with aiohttp.ClientSession() as session:
        everything = await _in_order(
            [fetch_one(session, pid) for pid in post_ids] + [fetch_user(session, uid) for uid in user_ids]
        )
    return everything[: len(post_ids)], everything[len(post_ids):]


async def fetch_async_safe(post_ids=POST_IDS):
    async def caught(session, post_id):
        try:
            return await fetch_one(session, post_id)
        except Exception as error:
            return error

    async with aiohttp.ClientSession() as session:
        return await _in_order([caught(session, pid) for pid in post_ids])


async def fetch_one_with_timeout(session, post_id, timeout):
    try:
        async with asyncio.timeout(timeout):
            return await fetch_one(session, post_id)
    except TimeoutError:
        raise TimeoutError(f"post {post_id} took longer than {timeout} s") from None


async def fetch_async_with_timeout(post_ids=POST_IDS, timeout=1.0):
    results = {}

    async def one(slot, session, post_id):
        try:
            results[slot] = await fetch_one_with_timeout(session, post_id, timeout)
        except TimeoutError as error:
            results[slot] = error

    async with aiohttp.ClientSession() as session:
        async with asyncio.TaskGroup() as group:
            for slot, post_id in enumerate(post_ids):
                group.create_task(one(slot, session, post_id))
    return [results[slot] for slot in range(len(post_ids))]


async def fetch_async_manual_session(post_ids=POST_IDS):
    session = aiohttp.ClientSession()
    try:
        return await _in_order([fetch_one(session, pid) for pid in post_ids])
    finally:
        await session.close()


def _line(post):
    return f'Fetched post {post["id"]}: "{post["title"][:15]}..." ({len(post["body"])} chars)'


def main(count=10):
    post_ids = list(range(1, count + 1))

    print("--- Sync requests (one at a time) ---")
    started = time.perf_counter()
    print("\n".join(_line(post) for post in fetch_sync(post_ids)))
    print(f"Sync total: ~{time.perf_counter() - started:.1f} seconds for {count} requests")

    print("\n--- Async requests (all at once) ---")
    started = time.perf_counter()
    print("\n".join(_line(post) for post in asyncio.run(fetch_async(post_ids))))
    print(f"Async total: ~{time.perf_counter() - started:.1f} seconds for {count} requests")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)

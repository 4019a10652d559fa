"""Concurrent Requests, built on asyncio.create_task and asyncio.wait instead of gather.

Tasks are created up front (so every request is in flight at once) and results read from them in
the order of the ids; the batch deadline cancels the tasks still pending and records a TimeoutError
in their slots. The other functions are the reference's.
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


# --- Sync: one request at a time -------------------------------------------------------------


def fetch_sync(post_ids=POST_IDS):
    """Fetch each post with `requests`, waiting for one before asking for the next."""
    posts = []
    with requests.Session() as http:
        for post_id in post_ids:
            response = http.get(f"{BASE_URL}/posts/{post_id}", timeout=10)
            response.raise_for_status()
            posts.append(response.json())
    return posts


# --- Async: all at once ----------------------------------------------------------------------


async def fetch_one(session, post_id):
    """Fetch one post through the caller's session; an error status raises."""
    async with session.get(f"{BASE_URL}/posts/{post_id}") as response:
        response.raise_for_status()
        return await response.json()


async def fetch_async(post_ids=POST_IDS):
    """One task per post, all started before any is awaited, sharing one session."""
    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(fetch_one(session, post_id)) for post_id in post_ids]
        if tasks:  # asyncio.wait() refuses an empty set
            await asyncio.wait(tasks)
        return [task.result() for task in tasks]


# --- Alter 2: at most N at once --------------------------------------------------------------


async def fetch_async_limited(post_ids=POST_IDS, max_concurrent=5):
    """Fetch every post, never more than `max_concurrent` in flight at a time."""
    limit = asyncio.Semaphore(max_concurrent)

    async def fetch_when_allowed(session, post_id):
        async with limit:
            return await fetch_one(session, post_id)

    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*(fetch_when_allowed(session, pid) for pid in post_ids))


# --- Alter 3: two endpoints in one gather ----------------------------------------------------


async def fetch_user(session, user_id):
    """Fetch one user through the caller's session; an error status raises."""
    async with session.get(f"{BASE_URL}/users/{user_id}") as response:
        response.raise_for_status()
        return await response.json()


async def fetch_two_endpoints(post_ids=POST_IDS, user_ids=range(1, 6)):
    """Fetch posts and users together; return (posts, users)."""
    post_ids, user_ids = list(post_ids), list(user_ids)
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(
            *(fetch_one(session, pid) for pid in post_ids),
            *(fetch_user(session, uid) for uid in user_ids),
        )
    return results[: len(post_ids)], results[len(post_ids) :]


# --- Fix 1: one failure does not sink the batch ----------------------------------------------


async def fetch_async_safe(post_ids=POST_IDS):
    """Fetch every post at once; a failed request leaves its exception in its slot."""

    async def fetch_or_error(session, post_id):
        try:
            return await fetch_one(session, post_id)
        except Exception as error:  # every per-request failure belongs in its slot
            return error

    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*(fetch_or_error(session, pid) for pid in post_ids))


# --- Fix 2 / Break 3: a deadline per request -------------------------------------------------


async def fetch_one_with_timeout(session, post_id, timeout):
    """Fetch one post, giving up with TimeoutError after `timeout` seconds."""
    return await asyncio.wait_for(fetch_one(session, post_id), timeout=timeout)


async def fetch_async_with_timeout(post_ids=POST_IDS, timeout=1.0):
    """Start every request, wait at most `timeout`, and give each one still running a TimeoutError."""
    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(fetch_one(session, post_id)) for post_id in post_ids]
        if not tasks:
            return []
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        results = []
        for task in tasks:
            if task in pending:
                results.append(TimeoutError(f"no answer within {timeout} s"))
            elif task.exception() is not None:
                results.append(task.exception())
            else:
                results.append(task.result())
        return results


# --- Break 1 / Fix 3: a session without `async with` -----------------------------------------


async def fetch_async_manual_session(post_ids=POST_IDS):
    """A session made by hand; the finally block runs whether the batch worked or raised."""
    session = aiohttp.ClientSession()
    try:
        tasks = [asyncio.create_task(fetch_one(session, post_id)) for post_id in post_ids]
        return [await task for task in tasks]
    finally:
        for task in tasks:
            task.cancel()
        await session.close()


# --- The comparison the exercise prints ------------------------------------------------------


def _describe(post, seconds):
    title = post.get("title", "")
    return f'Fetched post {post.get("id")}: "{title[:15]}..." ({len(post.get("body", ""))} chars) in {seconds:.1f}s'


async def _timed_fetch(session, post_id):
    started = time.perf_counter()
    post = await fetch_one(session, post_id)
    print(_describe(post, time.perf_counter() - started))
    return post


async def _fetch_async_verbose(post_ids):
    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*(_timed_fetch(session, pid) for pid in post_ids))


def main(count=10):
    """Fetch `count` posts one at a time, then all at once, and print both totals."""
    post_ids = list(range(1, count + 1))

    print("--- Sync requests (one at a time) ---")
    started = time.perf_counter()
    with requests.Session() as http:
        for post_id in post_ids:
            request_started = time.perf_counter()
            response = http.get(f"{BASE_URL}/posts/{post_id}", timeout=10)
            response.raise_for_status()
            print(_describe(response.json(), time.perf_counter() - request_started))
    print(f"Sync total: ~{time.perf_counter() - started:.1f} seconds for {count} requests")

    print()
    print("--- Async requests (all at once) ---")
    started = time.perf_counter()
    asyncio.run(_fetch_async_verbose(post_ids))
    print(f"Async total: ~{time.perf_counter() - started:.1f} seconds for {count} requests")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)

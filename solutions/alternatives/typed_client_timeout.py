"""Concurrent Requests, fully type-hinted, with aiohttp.ClientTimeout on each request for Fix 2.

fetch_one_with_timeout passes ClientTimeout(total=timeout) to session.get(), so aiohttp's own timer
covers the request and the body; the batch builds on it. Alter 2 uses an asyncio.BoundedSemaphore
handed to a helper. Fix 1 catches (aiohttp.ClientError, asyncio.TimeoutError). main() times each
phase with a small context manager around time.monotonic().
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeAlias

import aiohttp
import requests

BASE_URL: str = os.environ.get("API_BASE_URL", "https://jsonplaceholder.typicode.com")
POST_IDS: list[int] = list(range(1, 11))

JSON: TypeAlias = dict[str, Any]
Slot: TypeAlias = JSON | BaseException


def post_url(post_id: int) -> str:
    return f"{BASE_URL}/posts/{post_id}"


def fetch_sync(post_ids: Iterable[int] = POST_IDS) -> list[JSON]:
    posts: list[JSON] = []
    with requests.Session() as http:
        for post_id in post_ids:
            response: requests.Response = http.get(post_url(post_id), timeout=10)
            response.raise_for_status()
            posts.append(response.json())
    return posts


async def fetch_one(session: aiohttp.ClientSession, post_id: int) -> JSON:
    async with session.get(post_url(post_id)) as response:
        response.raise_for_status()
        data: JSON = await response.json()
        return data


async def fetch_async(post_ids: Iterable[int] = POST_IDS) -> list[JSON]:
    async with aiohttp.ClientSession() as session:
        return list(await asyncio.gather(*(fetch_one(session, post_id) for post_id in post_ids)))


async def _fetch_with_permit(session: aiohttp.ClientSession, post_id: int, permits: asyncio.BoundedSemaphore) -> JSON:
    async with permits:
        return await fetch_one(session, post_id)


async def fetch_async_limited(post_ids: Iterable[int] = POST_IDS, max_concurrent: int = 5) -> list[JSON]:
    permits = asyncio.BoundedSemaphore(max_concurrent)
    async with aiohttp.ClientSession() as session:
        return list(await asyncio.gather(*(_fetch_with_permit(session, pid, permits) for pid in post_ids)))


async def fetch_user(session: aiohttp.ClientSession, user_id: int) -> JSON:
    async with session.get(f"{BASE_URL}/users/{user_id}") as response:
        response.raise_for_status()
        data: JSON = await response.json()
        return data


async def fetch_two_endpoints(
    post_ids: Iterable[int] = POST_IDS, user_ids: Iterable[int] = range(1, 6)
) -> tuple[list[JSON], list[JSON]]:
    posts_wanted: Sequence[int] = list(post_ids)
    users_wanted: Sequence[int] = list(user_ids)
    async with aiohttp.ClientSession() as session:
        results: list[JSON] = await asyncio.gather(
            *(fetch_one(session, pid) for pid in posts_wanted),
            *(fetch_user(session, uid) for uid in users_wanted),
        )
    split = len(posts_wanted)
    return results[:split], results[split:]


async def _kept(job: Any) -> Slot:
    """Await `job`; a request's failure comes back as the value instead of being raised."""
    try:
        return await job
    except Exception as failure:  # an HTTP error, a timeout, or a body that is not JSON
        return failure


async def fetch_async_safe(post_ids: Iterable[int] = POST_IDS) -> list[Slot]:
    async with aiohttp.ClientSession() as session:
        return list(await asyncio.gather(*(_kept(fetch_one(session, pid)) for pid in post_ids)))


async def fetch_one_with_timeout(session: aiohttp.ClientSession, post_id: int, timeout: float) -> JSON:
    async with session.get(post_url(post_id), timeout=aiohttp.ClientTimeout(total=timeout)) as response:
        response.raise_for_status()
        data: JSON = await response.json()
        return data


async def fetch_async_with_timeout(post_ids: Iterable[int] = POST_IDS, timeout: float = 1.0) -> list[Slot]:
    async with aiohttp.ClientSession() as session:
        return list(
            await asyncio.gather(*(_kept(fetch_one_with_timeout(session, pid, timeout)) for pid in post_ids))
        )


async def fetch_async_manual_session(post_ids: Iterable[int] = POST_IDS) -> list[JSON]:
    session = aiohttp.ClientSession()
    try:
        return list(await asyncio.gather(*(fetch_one(session, pid) for pid in post_ids)))
    finally:
        await session.close()


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """Yields a one-item list that holds the elapsed seconds once the block ends."""
    elapsed = [0.0]
    start = time.monotonic()
    try:
        yield elapsed
    finally:
        elapsed[0] = time.monotonic() - start


def describe(post: JSON) -> str:
    return f'Fetched post {post["id"]}: "{post["title"][:15]}..." ({len(post["body"])} chars)'


def main(count: int = 10) -> None:
    post_ids = list(range(1, count + 1))

    print("--- Sync requests (one at a time) ---")
    with stopwatch() as took:
        posts = fetch_sync(post_ids)
    for post in posts:
        print(describe(post))
    print(f"Sync total: ~{took[0]:.2f} seconds for {len(posts)} requests")

    print()
    print("--- Async requests (all at once) ---")
    with stopwatch() as took:
        posts = asyncio.run(fetch_async(post_ids))
    for post in posts:
        print(describe(post))
    print(f"Async total: ~{took[0]:.2f} seconds for {len(posts)} requests")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)

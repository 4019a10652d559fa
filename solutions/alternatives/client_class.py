"""Concurrent Requests, built around a small client class that the exercise's functions wrap.

`PostsClient` is a dataclass holding one ClientSession for a batch: `async with PostsClient() as
client` opens and closes it, and its methods do the fetching (functools.partial + map feed
gather). The module-level functions the exercise asks for are thin wrappers; Fix 3 opens the
client's session by hand with open() and closes it in finally. The semaphore for Alter 2 is an
optional field of the client.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import aiohttp
import requests

BASE_URL = os.environ.get("API_BASE_URL", "https://jsonplaceholder.typicode.com")
POST_IDS = list(range(1, 11))


def fetch_sync(post_ids=POST_IDS):
    with requests.Session() as http:
        return [_get_sync(http, f"{BASE_URL}/posts/{post_id}") for post_id in post_ids]


def _get_sync(http, url):
    response = http.get(url, timeout=10)
    response.raise_for_status()
    return response.json()


async def _get_json(session, url):
    async with session.get(url) as response:
        response.raise_for_status()
        return await response.json()


async def fetch_one(session, post_id):
    return await _get_json(session, f"{BASE_URL}/posts/{post_id}")


@dataclass
class PostsClient:
    max_concurrent: int | None = None
    session: aiohttp.ClientSession | None = None
    _limit: Any = field(init=False, repr=False, default=None)

    def __post_init__(self):
        self._limit = asyncio.Semaphore(self.max_concurrent) if self.max_concurrent else nullcontext()

    def open(self):
        self.session = aiohttp.ClientSession()
        return self

    async def close(self):
        if self.session is not None:
            await self.session.close()

    async def __aenter__(self):
        return self.open()

    async def __aexit__(self, *exc_info):
        await self.close()

    async def post(self, post_id):
        async with self._limit:
            return await fetch_one(self.session, post_id)

    async def user(self, user_id):
        async with self._limit:
            return await _get_json(self.session, f"{BASE_URL}/users/{user_id}")

    async def post_or_error(self, post_id, timeout=None):
        try:
            if timeout is None:
                return await self.post(post_id)
            return await fetch_one_with_timeout(self.session, post_id, timeout)
        except Exception as error:
            return error

    async def posts(self, post_ids, keep_errors=False, timeout=None):
        fetch = partial(self.post_or_error, timeout=timeout) if keep_errors else self.post
        return list(await asyncio.gather(*map(fetch, post_ids)))


async def fetch_async(post_ids=POST_IDS):
    async with PostsClient() as client:
        return await client.posts(post_ids)


async def fetch_async_limited(post_ids=POST_IDS, max_concurrent=5):
    async with PostsClient(max_concurrent=max_concurrent) as client:
        return await client.posts(post_ids)


async def fetch_two_endpoints(post_ids=POST_IDS, user_ids=range(1, 6)):
    post_ids, user_ids = list(post_ids), list(user_ids)
    async with PostsClient() as client:
        both = await asyncio.gather(*map(client.post, post_ids), *map(client.user, user_ids))
    return list(both[: len(post_ids)]), list(both[len(post_ids) :])


async def fetch_async_safe(post_ids=POST_IDS):
    async with PostsClient() as client:
        return await client.posts(post_ids, keep_errors=True)


async def fetch_one_with_timeout(session, post_id, timeout):
    return await asyncio.wait_for(fetch_one(session, post_id), timeout=timeout)


async def fetch_async_with_timeout(post_ids=POST_IDS, timeout=1.0):
    async with PostsClient() as client:
        return await client.posts(post_ids, keep_errors=True, timeout=timeout)


async def fetch_async_manual_session(post_ids=POST_IDS):
    client = PostsClient().open()
    try:
        return await client.posts(post_ids)
    finally:
        await client.close()


def _print_post(post):
    print(f'Fetched post {post["id"]}: "{post["title"][:15]}..." ({len(post["body"])} chars)')


def main(count=10):
    post_ids = list(range(1, count + 1))
    print("--- Sync requests (one at a time) ---")
    started = time.perf_counter()
    for post in fetch_sync(post_ids):
        _print_post(post)
    print(f"Sync total: ~{time.perf_counter() - started:.1f} seconds for {count} requests\n")

    print("--- Async requests (all at once) ---")
    started = time.perf_counter()
    for post in asyncio.run(fetch_async(post_ids)):
        _print_post(post)
    print(f"Async total: ~{time.perf_counter() - started:.1f} seconds for {count} requests")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)

"""Concurrent Requests, with a queue drained by worker tasks (queue.join()) and aiohttp's ClientTimeout.

Alter 2: max_concurrent workers wait on `await queue.get()`, mark each id done with task_done(), and
are cancelled once queue.join() returns; results go into a list by slot, and the first failure is
raised afterwards. Fix 2: the batch's session carries ClientTimeout(total=timeout), which aiohttp
applies to every request it makes; fetch_one_with_timeout passes one to its own request. Fix 1
catches aiohttp.ClientError (error statuses, lost connections) rather than every Exception.
main() writes with sys.stdout.write and times with time.monotonic().
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
    posts = []
    for post_id in post_ids:
        r = requests.get(BASE_URL + "/posts/" + str(post_id), timeout=10)
        r.raise_for_status()
        posts.append(r.json())
    return posts


async def fetch_one(session, post_id):
    async with session.get(BASE_URL + "/posts/" + str(post_id)) as r:
        r.raise_for_status()
        return await r.json()


async def fetch_async(post_ids=POST_IDS):
    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*[fetch_one(session, i) for i in post_ids])


async def fetch_async_limited(post_ids=POST_IDS, max_concurrent=5):
    queue: asyncio.Queue = asyncio.Queue()
    for slot, post_id in enumerate(post_ids):
        queue.put_nowait((slot, post_id))
    results = [None] * len(post_ids)
    errors = []

    async def worker(session):
        while True:
            slot, post_id = await queue.get()
            try:
                results[slot] = await fetch_one(session, post_id)
            except Exception as exc:
                errors.append(exc)
            finally:
                queue.task_done()

    async with aiohttp.ClientSession() as session:
        workers = [asyncio.create_task(worker(session)) for _ in range(max_concurrent)]
        try:
            await queue.join()
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
    if errors:
        raise errors[0]
    return results


async def fetch_user(session, user_id):
    async with session.get(BASE_URL + "/users/" + str(user_id)) as r:
        r.raise_for_status()
        return await r.json()


async def fetch_two_endpoints(post_ids=POST_IDS, user_ids=range(1, 6)):
    post_ids = list(post_ids)
    async with aiohttp.ClientSession() as session:
        out = await asyncio.gather(
            *[fetch_one(session, i) for i in post_ids], *[fetch_user(session, i) for i in user_ids]
        )
    return out[: len(post_ids)], out[len(post_ids) :]


async def fetch_async_safe(post_ids=POST_IDS):
    async def safe(session, post_id):
        try:
            return await fetch_one(session, post_id)
        except Exception as exc:  # any failure, a body that is not JSON too, stays in its slot
            return exc

    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*[safe(session, i) for i in post_ids])


async def fetch_one_with_timeout(session, post_id, timeout):
    url = BASE_URL + "/posts/" + str(post_id)
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as r:
        r.raise_for_status()
        return await r.json()


async def fetch_async_with_timeout(post_ids=POST_IDS, timeout=1.0):
    async def within(session, post_id):
        try:
            return await fetch_one(session, post_id)
        except asyncio.TimeoutError as exc:
            return exc

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        return await asyncio.gather(*[within(session, i) for i in post_ids])


async def fetch_async_manual_session(post_ids=POST_IDS):
    session = aiohttp.ClientSession()
    try:
        results = await asyncio.gather(*[fetch_one(session, i) for i in post_ids])
    finally:
        await session.close()
    return results


def report(post):
    sys.stdout.write('Fetched post %d: "%s..." (%d chars)\n' % (post["id"], post["title"][:15], len(post["body"])))


def main(count=10):
    ids = list(range(1, count + 1))

    sys.stdout.write("--- Sync requests (one at a time) ---\n")
    t0 = time.monotonic()
    for post in fetch_sync(ids):
        report(post)
    sys.stdout.write("Sync total: %.2f s for %d requests\n\n" % (time.monotonic() - t0, count))

    sys.stdout.write("--- Async requests (all at once) ---\n")
    t0 = time.monotonic()
    for post in asyncio.run(fetch_async(ids)):
        report(post)
    sys.stdout.write("Async total: %.2f s for %d requests\n" % (time.monotonic() - t0, count))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)

"""The reviewed survivors of `python -m tests.mutants run`: mutants the grader may pass, each with why.

EQUIVALENT holds mutants that behave as the contract (README, "What you implement") allows: no
check could fail them without failing a correct solution. ARGUABLE holds mutants that the contract
as written allows but a reader could call a mistake; each reason says what is left open, so that a
maintainer who settles the question moves the entry out (and writes the check) or into EQUIVALENT.

Never list a mutant here because the grader misses it today: a survivor that breaks the contract is
a miss of the grader, and `pytest tests/test_mutants.py --mutants` should go on failing on it until
a check catches it. An entry whose mutant is no longer generated fails the always-on tests (stale).
"""

from __future__ import annotations

_HEADING = "main()'s `--- ... ---` headings and blank lines are decoration: the contract reads only the `Fetched post N` lines and the two totals."
_PER_POST_TIME = "the seconds at the end of each `Fetched post N` line are decoration: the contract reads the post's number there, and times only the two totals."
_DESCRIBE = "the text after `Fetched post N` is decoration; every post the API serves has a title and a body, so a missing default or a shorter or longer excerpt changes nothing the contract reads."
_REQUESTS_TIMEOUT = "any positive timeout longer than the slowest answer behaves the same, and the contract asks nothing of the requests timeout (the starter's 10 is a good habit, not a rule)."
_REQUESTS_SESSION = "a requests.Session that is not closed keeps its pooled connections until it is collected, with no warning; the contract leaves how the sync run makes its requests open (requests.get opens and closes one per call)."
_RELEASED_BY_AIOHTTP = "without `async with`, `await session.get(...)` gives the same response; aiohttp releases its connection once json() has read the body, and raise_for_status() releases it before raising, so nothing is left open."
_ALREADY_CAUGHT = "the inner fetch_or_error already turns every Exception into its slot's value, so return_exceptions=True changes only what happens to a cancelled task, which the contract does not cover."
_SEQUENCES = "the list() copies matter only for one-shot iterators; the contract passes ids as lists and ranges, which len() and a second pass read the same."
_BATCH_ERRORS = (
    "arguable: with return_exceptions=True a failed request's exception comes back in its slot instead of being raised. "
    "The contract says how errors leave fetch_one, fetch_sync (break-2), fetch_async_safe (fix-1), the deadline batch "
    "(break-3, fix-2) and the manual session (fix-3, which the grader holds to raising), but not this function."
)
_USER_STATUS = (
    "arguable: fetch_two_endpoints returns a missing user's `{}` instead of raising. Break-2 asks fetch_one and "
    "fetch_sync to raise for an error status; alter-3 says nothing of failures, and comes before break-2 in the exercise."
)
_MAIN_STATUS = (
    "arguable: main()'s own sync loop no longer raises for an error status. Break-2 names fetch_one and fetch_sync; "
    "the contract says only what main() prints when every post arrives."
)

EQUIVALENT: dict[str, str] = {
    "<module>:statements-swapped:BASE_URL = os.environ.get('API_BASE_URL', 'https://jsonp... / POST_IDS = list(range(1, 11))":
        "swaps two independent module-level assignments: neither reads the other.",
    "fetch_sync:with-not-entered:with requests.Session()": _REQUESTS_SESSION,
    "fetch_sync:constant:timeout=10 -> 11": _REQUESTS_TIMEOUT,
    "fetch_sync:constant:timeout=10 -> 9": _REQUESTS_TIMEOUT,
    "fetch_one:with-not-entered:async with session.get(f'{}/posts/{}')": _RELEASED_BY_AIOHTTP,
    "fetch_user:with-not-entered:async with session.get(f'{}/users/{}')": _RELEASED_BY_AIOHTTP,
    "fetch_two_endpoints:statement-removed:(post_ids, user_ids) = (list(post_ids), list(user_ids))": _SEQUENCES,
    "fetch_two_endpoints:statements-swapped:(post_ids, user_ids) = (list(post_ids), list(user_ids)) / async with aiohttp.ClientSession()": _SEQUENCES,
    "fetch_async_safe:gather-return-exceptions:asyncio.gather(*(...))": _ALREADY_CAUGHT,
    "fetch_async_with_timeout:gather-return-exceptions:asyncio.gather(*(...))": _ALREADY_CAUGHT,
    "_describe:argument-dropped:post.get('title', '') arg 2": _DESCRIBE,
    "_describe:argument-dropped:post.get('body', '') arg 2": _DESCRIBE,
    "_describe:constant:title[:15]: 15 -> 16": _DESCRIBE,
    "_describe:constant:title[:15]: 15 -> 14": _DESCRIBE,
    "_describe:constant:title[:15]: 15 -> 0": _DESCRIBE,
    "_timed_fetch:statements-swapped:started = time.perf_counter() / post = await fetch_one(session, post_id)": _PER_POST_TIME,
    "_timed_fetch:operator:time.perf_counter() - started: - -> +": _PER_POST_TIME,
    "_timed_fetch:statement-removed:return post":
        "main() throws away what the verbose async run returns; each post is printed before it would have been returned.",
    "main:statements-swapped:post_ids = list(range(1, count + 1)) / print('--- Sync requests (o...')":
        "swaps a heading and an assignment that neither reads the other; the heading still comes first on screen.",
    "main:statement-removed:print('--- Sync requests (o...')": _HEADING,
    "main:statements-swapped:print('--- Sync requests (o...') / started = time.perf_counter()":
        "the heading is printed inside the timed sync run instead of just before it: microseconds, far below the total's 0.1 s digit. " + _HEADING,
    "main:argument-dropped:print('--- Sync requests (o...') arg 1": _HEADING,
    "main:with-not-entered:with requests.Session()": _REQUESTS_SESSION,
    "main:statements-swapped:request_started = time.perf_counter() / response = http.get(f'{}/posts/{}', timeout=10)": _PER_POST_TIME,
    "main:constant:timeout=10 -> 11": _REQUESTS_TIMEOUT,
    "main:constant:timeout=10 -> 9": _REQUESTS_TIMEOUT,
    "main:operator:time.perf_counter() - request...: - -> +": _PER_POST_TIME,
    "main:statements-swapped:print(f'Sync total: ~{} s...') / print()":
        "the blank line moves from after the sync total to before it. " + _HEADING,
    "main:statement-removed:print()": _HEADING,
    "main:statements-swapped:print() / print('--- Async requests (...')": _HEADING,
    "main:statement-removed:print('--- Async requests (...')": _HEADING,
    "main:statements-swapped:print('--- Async requests (...') / started = time.perf_counter()":
        "the heading is printed inside the timed async run instead of just before it: microseconds. " + _HEADING,
    "main:argument-dropped:print('--- Async requests (...') arg 1": _HEADING,
}

ARGUABLE: dict[str, str] = {
    "<module>:string:'API_BASE_URL' -> 'API_URL'": (
        "arguable: the grader sets BASE_URL itself, and the contract asks only that every URL is built from it; the "
        "variable serves `python -m checks run` and the starter's comment, which grading does not use."
    ),
    "<module>:string:'https://jsonplaceholder.typicode.com' -> 'https://jsonplaceholder.typicode.com/v2'": (
        "arguable: the default address only matters when the file runs against the real API, which grading never "
        "reaches (it sets BASE_URL to its stand-in, with and without a path); the contract asks that every URL be "
        "built from BASE_URL, not what BASE_URL holds by default. A check of the default's value would read a "
        "constant, not behaviour, and would need the worker to report it in official grading."
    ),
    "fetch_sync:keyword-dropped:http.get(timeout=)":
        "arguable: without a timeout requests waits as long as the server takes; the contract asks nothing of the timeout and the stand-in always answers.",
    "main:keyword-dropped:http.get(timeout=)":
        "arguable: main()'s sync loop waits as long as the server takes; the contract asks nothing of the timeout and the stand-in always answers.",
    "fetch_async:gather-return-exceptions:asyncio.gather(*(...))": _BATCH_ERRORS,
    "fetch_async_limited:gather-return-exceptions:asyncio.gather(*(...))": _BATCH_ERRORS,
    "fetch_two_endpoints:gather-return-exceptions:asyncio.gather(*(...), *(...))": _BATCH_ERRORS,
    "fetch_user:statement-removed:response.raise_for_status()": _USER_STATUS,
    "fetch_user:statements-swapped:response.raise_for_status() / return await response.json()": _USER_STATUS,
    "_fetch_async_verbose:gather-return-exceptions:asyncio.gather(*(...))":
        "arguable: main()'s async run would print its total even if a post failed; the contract says what main() prints only when every post arrives.",
    "main:statement-removed:response.raise_for_status()": _MAIN_STATUS,
    "main:statements-swapped:response.raise_for_status() / print(_describe(response.json(), ...))": _MAIN_STATUS,
}

REVIEWED: dict[str, str] = {**EQUIVALENT, **ARGUABLE}
"""Every reviewed survivor and why it may survive: what the mutation test accepts."""

"""The graded items: the one list that the checks, the scorecard and every report read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    points: int
    hint: str
    goal: str
    functions: tuple[str, ...] = ()  # what the student writes for it; CI annotations point at the first named
    graded: bool = True
    hint_more: str = ""  # the second, more concrete question, for a student stuck on the item for several runs


ITEMS: tuple[Item, ...] = (
    Item(
        id="base",
        title="Sync one at a time, async all at once",
        points=20,
        hint=(
            "Does fetch_sync wait for each post before asking for the next, and does "
            "fetch_async start every request before awaiting any of them, through one session?"
        ),
        goal="Use aiohttp and asyncio.gather to fetch many URLs concurrently.",
        functions=("fetch_async", "fetch_sync", "fetch_one", "main"),
        hint_more=(
            "If fetch_async takes about as long as fetch_sync, is an `await` inside its loop making each "
            "request finish before the next one is asked for? What changes if the loop only collects the "
            "coroutines, and one gather() call awaits them all, each given the session fetch_async "
            "opened?"
        ),
    ),
    Item(
        id="alter-1",
        title="Scale up to 50 posts",
        points=5,
        hint="What does main(50) fetch today? Where does it decide which ids to ask for?",
        goal="See that the async total stays flat while the sync total grows with the count.",
        functions=("main",),
        hint_more=(
            "main(count) is given the number, but which list of ids does it hand to fetch_sync and "
            "fetch_async? If that list were built from count, would both runs and both total lines say "
            "50?"
        ),
    ),
    Item(
        id="alter-2",
        title="At most N requests in flight (semaphore)",
        points=15,
        hint=(
            "Where would an asyncio.Semaphore(max_concurrent) go so that each request holds "
            "it only while it is in flight, and the next one starts the moment one finishes?"
        ),
        goal="Use a semaphore to limit concurrency.",
        functions=("fetch_async_limited",),
        hint_more=(
            "Is there exactly one Semaphore for the whole batch, made inside fetch_async_limited rather "
            "than one per request or one at module level? Does its `async with` wrap only the request "
            "itself, so a slot is handed back the moment that request is answered?"
        ),
    ),
    Item(
        id="alter-3",
        title="Two endpoints in one gather()",
        points=10,
        hint="Can one gather() take the post fetches and the user fetches together, then split the results?",
        goal="Fetch from several sources in one concurrent batch.",
        functions=("fetch_two_endpoints",),
        hint_more=(
            "How many gather() calls does fetch_two_endpoints make? If every post coroutine came first "
            "and every user coroutine after it in a single gather(), how many results, counted from the "
            "front, would be posts?"
        ),
    ),
    Item(
        id="break-1",
        title="A session opened without async with",
        points=5,
        hint="Once you write session = aiohttp.ClientSession() yourself, who closes it, and when?",
        goal="Know what a ClientSession holds and why it must be closed.",
        functions=("fetch_async_manual_session",),
        hint_more=(
            "When fetch_async_manual_session returns, is session.closed true? Which method of the session "
            "has to be awaited to close it, and does your code ever reach that line?"
        ),
    ),
    Item(
        id="break-2",
        title="A missing post is an error, not {}",
        points=10,
        hint=(
            "What does the server send for a post that does not exist, and which call turns "
            "an error status into an exception (aiohttp and requests both have one)?"
        ),
        goal="Tell a failed request from an empty answer, in sync and async code.",
        functions=("fetch_one", "fetch_sync"),
        hint_more=(
            "Inside `async with session.get(...) as response`, which method of the response raises for a "
            "4xx or 5xx status, and is it called before .json()? Does the requests response in fetch_sync "
            "have a method of the same name?"
        ),
    ),
    Item(
        id="break-3",
        title="A very short timeout",
        points=5,
        hint="With timeout=0.001, which exception lands in each slot, and does the batch still come back?",
        goal="Recognise the TimeoutError a deadline raises.",
        functions=("fetch_async_with_timeout", "fetch_one_with_timeout"),
        hint_more=(
            "With a 0.001 s deadline no request can make it: does every slot then hold a TimeoutError "
            "object, rather than a post, a None or an exception that ends the whole call? Where is that "
            "exception caught: inside each request's coroutine, or around gather()?"
        ),
    ),
    Item(
        id="fix-1",
        title="One failure does not sink the batch",
        points=15,
        hint=(
            "If each request catches its own exception and returns it, what does gather() "
            "hand back for a batch where one request failed?"
        ),
        goal="Add error handling per request in a batch.",
        functions=("fetch_async_safe",),
        hint_more=(
            "Is your try/except around the whole gather(), or inside a small async function that each "
            "request runs through? Which of the two lets the other requests keep their posts, and does "
            "the except hand the exception back with return instead of raising it?"
        ),
    ),
    Item(
        id="fix-2",
        title="A deadline for every request",
        points=10,
        hint="What does asyncio.wait_for(fetch_one(...), timeout) do to one slow request, and to the others?",
        goal="Bound each request's time without slowing down the rest.",
        functions=("fetch_async_with_timeout", "fetch_one_with_timeout"),
        hint_more=(
            "Is asyncio.wait_for put around each fetch_one on its own, with the timeout as its second "
            "argument, or once around the whole gather()? Which of those lets a slow request fail alone "
            "while the quick ones still return their posts?"
        ),
    ),
    Item(
        id="fix-3",
        title="Close the session in finally",
        points=5,
        hint="If one request raises, does your code still reach session.close()? What would a finally block change?",
        goal="Release a hand-made session on every path.",
        functions=("fetch_async_manual_session",),
        hint_more=(
            "If one request raises inside the gather(), which lines after it never run? Does a `try:` "
            "start right after the session is made, with the `await session.close()` in its `finally:`?"
        ),
    ),
    Item(
        id="explain",
        title="Explain it (ANSWERS.md)",
        points=0,
        hint="Write your answers in ANSWERS.md, next to project.py.",
        goal="Explain why requests blocks the event loop and what a session and a semaphore are for.",
        graded=False,
    ),
)

BY_ID: dict[str, Item] = {item.id: item for item in ITEMS}


def item(item_id: str) -> Item:
    """Look an item up by id; an unknown id is a bug in the checks, so say which."""
    try:
        return BY_ID[item_id]
    except KeyError:
        raise KeyError(f"unknown item id {item_id!r}; the catalogue has {', '.join(BY_ID)}") from None


PROPERTY_HINTS: dict[str, str] = {
    # Hints for the property a failing scenario broke (checks/contract/judge.py): more precise than the
    # item's own hint, since they follow what the smallest failing case shows. A plain check may name one too.
    "session kept": (
        "Does fetch_one close the session it is given, with `async with session:` or `session.close()`? The caller "
        "opened that session and uses it for the other requests; the caller closes it."
    ),
    "urls": (
        "Is every URL built from BASE_URL when the function runs, as BASE_URL + '/posts/' + id, keeping any path "
        "BASE_URL has? (urljoin with '/posts/1' drops it.)"
    ),
    "raised": (
        "Which line raised it? The function should return its results here: is something assumed about the ids "
        "(their kind, their number, none at all) or about an earlier call that does not hold?"
    ),
    "raised_safe": (
        "Does each request catch its own exception around everything it does, reading the body too, and does it "
        "catch every Exception (a body that is not JSON raises ValueError, not an aiohttp error)?"
    ),
    "silent_error": (
        "Which call turns an error status into an exception, whatever the body holds (JSON, {}, text, HTML), and "
        "is every response checked, wherever it comes in the list?"
    ),
    "decoded_first": (
        "Is the status checked before the body is decoded? An error page is rarely JSON: decoding it first raises "
        "a decoding error instead of the one for the status."
    ),
    "wrong_error": "Is the exception the request raised kept as it is, rather than replaced by one of your own?",
    "unawaited": (
        "Is an `await` missing? Calling an async function only makes a coroutine: nothing runs, and no request is "
        "made, until it is awaited (or gathered)."
    ),
    "kept_failure": (
        "Does the request's exception come out of the call once the session is closed? A `return` inside "
        "`finally`, or gather(..., return_exceptions=True), swallows it."
    ),
    "cancel": (
        "If the caller gives up (a wait_for around the call cancels it), does your cleanup still run? "
        "`except Exception` does not see a cancellation; `finally` does."
    ),
    "requests_missing": (
        "Does every call ask the server for every id it is given, each time it is called? A result that was not "
        "asked for (kept from an earlier call, or made up) is not the server's."
    ),
    "requests_repeated": "Is a request sent twice for one id, or tried again after it failed?",
    "requests_extra": "Does the function ask only for the ids it is given, and not also for its defaults?",
    "requests_order": "Are the posts asked for one after another, in the order given?",
    "client": "Which library should this function use: requests for the sync version, aiohttp for the async ones?",
    "shape": (
        "Does it return one result per id given, in a list (or a (posts, users) pair), even for an empty list or "
        "a repeated id, and the same on a second call?"
    ),
    "slot": "Does each slot hold what the server sent for that id, as a dict, in the order the ids were given?",
    "slot_order": "Are the results kept in the order the ids were given, rather than the order they finished in?",
    "slot_failure": (
        "Does each slot of a failed request hold the exception that request raised, itself, with the posts of the "
        "requests that worked around it?"
    ),
    "own_session": "Does fetch_one use the session it is given instead of opening one?",
    "sessions": "Is exactly one ClientSession opened for the whole batch, and used for every request?",
    "closed": (
        "Is the session closed on every path, including an empty batch and a batch whose requests failed, and "
        "does it own its connector?"
    ),
}

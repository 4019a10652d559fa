"""The stand-in API's content: 100 posts and 10 users shaped like JSONPlaceholder's, with text made up here."""

from __future__ import annotations

import random
from typing import Any

POST_COUNT, USER_COUNT = 100, 10


def shuffled(count: int, seed: int) -> list[int]:
    """Ids 1 to `count` in an order that is not ascending, the same every run.

    The checks ask for ids in orders like this one, so a solution that sorts its results, or that
    counts from 1 instead of using the ids it was given, shows.
    """
    ids = random.Random(seed).sample(range(1, count + 1), count)
    return ids if ids != sorted(ids) else ids[::-1]

_WORDS = (
    "async await gather session socket latency request reply batch queue worker "
    "limit token timeout retry signal buffer stream window packet header cursor"
).split()


def post(post_id: int, salt: str = "") -> dict[str, Any]:
    """The stand-in's post `post_id`: same shape as the public API's, text made up here.

    `salt` ends the body: a grading serves posts salted with a token of its own, so code that makes up
    the posts (from this module, say) instead of asking for them shows, since it cannot know the token.
    """
    words = [_WORDS[(post_id * k + 3) % len(_WORDS)] for k in range(1, 6)]
    body = "\n".join(" ".join(words[i:] + words[:i]) for i in range(4))
    return {
        "userId": (post_id - 1) // 10 + 1,
        "id": post_id,
        "title": " ".join(words[:3]) + f" {post_id}",
        "body": body + (f"\n{salt}" if salt else ""),
    }


def user(user_id: int, salt: str = "") -> dict[str, Any]:
    name = f"{_WORDS[user_id % len(_WORDS)].title()} {_WORDS[(user_id * 7) % len(_WORDS)].title()}"
    handle = name.lower().replace(" ", ".")
    found = {"id": user_id, "name": name, "username": handle, "email": f"{handle}@example.test"}
    return {**found, "website": f"{handle}.{salt}.example.test"} if salt else found


COMMENTS_PER_POST = 5


def comment(comment_id: int) -> dict[str, Any]:
    """Comment `comment_id`; comments 5k-4 to 5k belong to post k, as on the public API."""
    post_id = (comment_id - 1) // COMMENTS_PER_POST + 1
    words = [_WORDS[(comment_id * k + 1) % len(_WORDS)] for k in range(1, 5)]
    return {
        "postId": post_id,
        "id": comment_id,
        "name": " ".join(words[:3]),
        "email": f"{words[0]}.{comment_id}@example.test",
        "body": " ".join(words + words[::-1]),
    }


def comments_for(post_id: int) -> list[dict[str, Any]]:
    if not 1 <= post_id <= POST_COUNT:
        return []
    first = (post_id - 1) * COMMENTS_PER_POST + 1
    return [comment(i) for i in range(first, first + COMMENTS_PER_POST)]

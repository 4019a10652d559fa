"""The stand-in API's content: 100 posts and 10 users shaped like JSONPlaceholder's, with text made up here."""

from __future__ import annotations

from typing import Any

POST_COUNT, USER_COUNT = 100, 10

_WORDS = (
    "async await gather session socket latency request reply batch queue worker "
    "limit token timeout retry signal buffer stream window packet header cursor"
).split()


def post(post_id: int) -> dict[str, Any]:
    """The stand-in's post `post_id`: same shape as the public API's, text made up here."""
    words = [_WORDS[(post_id * k + 3) % len(_WORDS)] for k in range(1, 6)]
    return {
        "userId": (post_id - 1) // 10 + 1,
        "id": post_id,
        "title": " ".join(words[:3]) + f" {post_id}",
        "body": "\n".join(" ".join(words[i:] + words[:i]) for i in range(4)),
    }


def user(user_id: int) -> dict[str, Any]:
    name = f"{_WORDS[user_id % len(_WORDS)].title()} {_WORDS[(user_id * 7) % len(_WORDS)].title()}"
    handle = name.lower().replace(" ", ".")
    return {"id": user_id, "name": name, "username": handle, "email": f"{handle}@example.test"}

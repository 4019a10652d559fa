"""A scenario, as data a reader can print: the calls one fresh import of the graded file gets, and how the stand-in answers.

Checks that explore (checks/engine/explore.py) generate scenarios, run each through the same
runner as every other check, and hold what happened to the model of the contract (model.py). When
one fails, the smallest failing scenario is what the student reads, so every part of it can say
itself in words: `fetch_async_safe([4, 2, 4]) where /posts/2 answers 503 with an HTML page`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from checks.engine.stubs import Reply

MISSING = 9999
"""An id the stand-in has no post for: like the real API it answers 404."""


@dataclass(frozen=True)
class Ids:
    """The ids a call is given, and the kind of sequence they come in (list, tuple or range)."""

    values: tuple[int, ...]
    kind: str = "list"

    @classmethod
    def range(cls, start: int, stop: int) -> Ids:
        return cls(tuple(range(start, stop)), "range")

    def make(self) -> Any:
        if self.kind == "tuple":
            return tuple(self.values)
        if self.kind == "range":
            return range(self.values[0], self.values[-1] + 1) if self.values else range(1, 1)
        return list(self.values)

    def shown(self) -> str:
        if self.kind == "range":
            return f"range({self.values[0]}, {self.values[-1] + 1})" if self.values else "range(1, 1)"
        inner = ", ".join(map(str, self.values))
        return f"({inner}{',' if len(self.values) == 1 else ''})" if self.kind == "tuple" else f"[{inner}]"


@dataclass(frozen=True)
class Call:
    """One call of a student function. `ids`/`users` are its id arguments (None: the function's default);
    `post_id` is fetch_one's, which is given a session the check owns. `options` are keyword arguments."""

    function: str
    ids: Ids | None = None
    users: Ids | None = None
    post_id: int | None = None
    options: tuple[tuple[str, Any], ...] = ()
    in_loop: int = 0  # the event loop it runs in: a second loop is a second asyncio.run()
    cancel_after: int | None = None  # the caller gives up once this many requests have arrived

    @property
    def session_first(self) -> bool:
        return self.post_id is not None

    def shown(self) -> str:
        parts = []
        if self.session_first:
            parts += ["session", str(self.post_id)]
        elif self.ids is not None:
            parts.append(self.ids.shown())
        if self.users is not None:
            parts.append(self.users.shown())
        parts += [f"{k}={v!r}" for k, v in self.options]
        return f"{self.function}({', '.join(parts)})"

    def post_ids(self, default: tuple[int, ...]) -> tuple[int, ...]:
        if self.session_first:
            return (self.post_id,)  # type: ignore[return-value]
        return self.ids.values if self.ids is not None else default


@dataclass(frozen=True)
class Scenario:
    """The calls, in order, on one fresh import; the stand-in's replies by path (any other path answers
    at once with its resource); and the path BASE_URL carries, if any."""

    calls: tuple[Call, ...]
    replies: tuple[tuple[str, Reply], ...] = ()
    base_path: str = ""
    note: str = field(default="", compare=False)  # what an explicit example is there to show

    def reply(self, path: str) -> Reply:
        return dict(self.replies).get(path, Reply())

    def shown(self) -> str:
        """The scenario in words, for a student: the calls, then what is unusual about the stand-in."""
        calls = [c.shown() for c in self.calls]
        text = calls[0]
        for k, call in enumerate(self.calls[1:], start=1):
            again = "again" if call.shown() == calls[k - 1] else call.shown()
            loop = ", in a new event loop" if call.in_loop != self.calls[k - 1].in_loop else ""
            text += f", then {again}{loop}"
        if len(self.calls) > 1:
            text += " (one import)"
        if any(c.cancel_after for c in self.calls):
            cancel = next(c.cancel_after for c in self.calls if c.cancel_after)
            text += f", cancelled by its caller once {cancel} request{'s' if cancel != 1 else ''} had arrived"
        cancelled = any(c.cancel_after for c in self.calls)  # then how the stand-in answers is beside the point
        details = [] if cancelled else [f"{path} {said(reply)}" for path, reply in self.replies if said(reply)]
        if self.base_path:
            details.append(f"BASE_URL ends in the path {self.base_path}")
        return text + (" where " + "; ".join(details) if details else "")


def said(reply: Reply) -> str:
    """What is unusual about a reply, in words ('' for an ordinary, prompt answer)."""
    words = []
    if reply.dropped:
        words.append("drops the connection")
    elif reply.held:
        words.append("never answers in time")
    elif reply.status >= 400:
        words.append(f"answers {reply.status} ({HTTPStatus(reply.status).phrase}) with {BODY_WORDS[reply.body]}")
    elif reply.body in ("not_json", "cut"):
        words.append(f"answers 200 with {BODY_WORDS[reply.body]}")
    if reply.delay and not reply.held:
        words.append(f"takes {reply.delay:g} s to answer")
    if reply.body_delay:
        how = "trickles in over" if reply.trickle else "comes"
        words.append(f"its body {how} {reply.body_delay:g} s after the headers" if not reply.trickle else f"its body {how} {reply.body_delay:g} s")
    return ", ".join(words)


BODY_WORDS = {
    "resource": "its JSON",
    "empty": "{} as its body",
    "error_json": 'a JSON error object ({"error": ...})',
    "text": "a plain-text body",
    "html": "an HTML page",
    "not_json": "a body that is not valid JSON",
    "cut": "a body cut off half-way (the connection was lost)",
}

"""The one bridge between aioresponses 0.7.9 and aiohttp >= 3.14, kept apart so it is easy to drop."""

from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import Any
from unittest.mock import Mock

from aiohttp import ClientResponse


class StubResponse(ClientResponse):
    """A ClientResponse that aioresponses can build on every aiohttp this project supports.

    aiohttp 3.14 made `stream_writer` a required keyword of `ClientResponse.__init__`, and
    aioresponses 0.7.9 (the newest) does not pass it, so every stubbed request fails with a
    TypeError (pnuckowski/aioresponses#289). A stubbed response has already been "sent", so
    a writer that reports zero bytes written is all the constructor needs. Remove this class
    once an aioresponses release passes the argument itself.
    """

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        if _NEEDS_STREAM_WRITER:
            kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        # aioresponses hands every response a Mock loop that says it is in debug mode, and in debug
        # mode aiohttp records the whole call stack per response (about a millisecond each, a third
        # of a second per grading). Nothing reads that record: the Mock loop swallows the warning it
        # is kept for. The grader's own loop and its debug setting are left as they are.
        loop = kwargs.get("loop")
        if isinstance(loop, Mock):
            loop.get_debug.return_value = False
        super().__init__(method, url, **kwargs)


_NEEDS_STREAM_WRITER = "stream_writer" in inspect.signature(ClientResponse.__init__).parameters


def without_local_constants() -> None:
    """Make Hypothesis draw only from its own constants, never from the modules that happen to be loaded.

    Hypothesis (6.13x and later) sometimes draws a constant found in "local" modules, those outside
    site-packages and the standard library, which here would include the graded file itself: two
    students, or one student graded in-process and officially (where the grader never imports the
    file), would be given different scenarios. Every grading must see the same ones, so the pool of
    local constants is kept empty. This is the one place that touches Hypothesis's internals; a
    self-test (tests/test_contract.py) fails when it stops working.
    """
    from hypothesis.internal.conjecture import providers

    empty = providers.Constants()
    providers._get_local_constants = lambda: empty  # noqa: SLF001 - see the docstring

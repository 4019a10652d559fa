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
        if isinstance(loop, (Mock, StandInLoop)):
            loop.get_debug.return_value = False
        super().__init__(method, url, **kwargs)


class StandInLoop:
    """What aioresponses hands each stubbed response as its event loop, in place of the Mock it builds.

    aioresponses makes two Mocks per response for this, and on Python 3.11 a Mock costs a few tenths
    of a millisecond of CPU to make (it lists and inspects the attributes of its spec, even of none):
    most of a stubbed request's cost. The response only asks this object whether debug mode is on
    and whether it is closed; like a Mock, it answers anything else with another one of itself.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.return_value: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.return_value if self.return_value is not None else StandInLoop()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return StandInLoop()


def cheaper_response_loops() -> None:
    """Have aioresponses build its responses' loops from StandInLoop instead of Mock (see StandInLoop)."""
    import aioresponses.core

    aioresponses.core.Mock = StandInLoop  # the one name core.py uses Mock for is that loop


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
